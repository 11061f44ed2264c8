// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libpam uprobes in sshd: pam_start (the user as typed), and the return values of
 * pam_authenticate, pam_acct_mgmt, pam_open_session and pam_close_session. The loader attaches
 * them to every libpam that an sshd maps (through /proc/PID/root for containers). Other users
 * of libpam (sudo, su, cron) hit the probe but leave at the comm compare.
 * Accepts and log writes come from the raw syscall hooks (cred.bpf.c, helpers in ssh.bpf.h).
 */
#include "ssh.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int ktrail_pam_emit(void *ctx, __u32 op, long ret, const char *service,
					   const char *user)
{
	struct task_struct *task = ktrail_current();
	struct ktrail_ssh_pam *e;

	if (ktrail_is_agent() || !ktrail_ssh_wanted(task))
		return 0;
	e = ktrail_scratch();
	if (!e)
		return 0;
	KTRAIL_ZERO(e, sizeof(*e));
	e->op = op;
	e->ret = ret;
	if (service)
		bpf_probe_read_user_str(e->service, sizeof(e->service), service);
	if (user)
		bpf_probe_read_user_str(e->user, sizeof(e->user), user);
	/* Which connection: a kbd-interactive PAM child shares the monitor's socket too. */
	ktrail_find_tcp_peer(task, &e->peer, &e->local);
	ktrail_fill_header(&e->hdr, task, KTRAIL_EV_SSH_PAM, sizeof(*e));
	ktrail_emit(ctx, e, sizeof(*e), KTRAIL_HOOK_SSH_PAM);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe__pam_start, const char *service, const char *user)
{
	return ktrail_pam_emit(ctx, KTRAIL_PAM_START, 0, service, user);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe__pam_authenticate, long ret)
{
	return ktrail_pam_emit(ctx, KTRAIL_PAM_AUTHENTICATE, (int)ret, NULL, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe__pam_acct_mgmt, long ret)
{
	return ktrail_pam_emit(ctx, KTRAIL_PAM_ACCT_MGMT, (int)ret, NULL, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe__pam_open_session, long ret)
{
	return ktrail_pam_emit(ctx, KTRAIL_PAM_OPEN_SESSION, (int)ret, NULL, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe__pam_close_session, long ret)
{
	return ktrail_pam_emit(ctx, KTRAIL_PAM_CLOSE_SESSION, (int)ret, NULL, NULL);
}
