#include "loader/probe.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ktrail {

bool KernelFeatures::has_tp_btf(const std::string &tp) const {
  if (!vmlinux_btf) return false;
  auto *btf = static_cast<struct btf *>(vmlinux_btf.get());
  return btf__find_by_name_kind(btf, ("btf_trace_" + tp).c_str(), BTF_KIND_TYPEDEF) > 0;
}

namespace {

bool btf_has_func(const std::shared_ptr<void> &b, const std::string &name) {
  if (!b) return false;
  return btf__find_by_name_kind(static_cast<struct btf *>(b.get()), name.c_str(), BTF_KIND_FUNC) > 0;
}

bool btf_enum_has(const std::shared_ptr<void> &b, const char *type, const char *value) {
  if (!b) return false;
  auto *btf = static_cast<struct btf *>(b.get());
  int id = btf__find_by_name_kind(btf, type, BTF_KIND_ENUM);
  if (id <= 0) return false;
  const struct btf_type *t = btf__type_by_id(btf, id);
  const struct btf_enum *e = btf_enum(t);
  for (int i = 0; i < btf_vlen(t); i++)
    if (!strcmp(btf__name_by_offset(btf, e[i].name_off), value)) return true;
  return false;
}

}  // namespace

bool KernelFeatures::has_syscall(const std::string &name) const {
  return btf_has_func(vmlinux_btf, "__x64_sys_" + name);
}

bool KernelFeatures::has_syscall_tp(const std::string &name) const {
  const std::string events = tracefs + "/events";
  if (access(events.c_str(), F_OK) == 0) {
    const std::string dir = events + "/syscalls/sys_";
    return access((dir + "enter_" + name + "/id").c_str(), F_OK) == 0 &&
           access((dir + "exit_" + name + "/id").c_str(), F_OK) == 0;
  }
  return btf_has_func(vmlinux_btf, "perf_syscall_enter") && has_syscall(name);
}

std::string parse_lockdown(const std::string &s) {
  auto l = s.find('['), r = s.find(']');
  if (l == std::string::npos || r == std::string::npos || r < l) return "";
  return s.substr(l + 1, r - l - 1);
}

bool is_mounted(const char *target) {
  std::ifstream f("/proc/self/mounts");
  std::string dev, mnt;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    ss >> dev >> mnt;
    if (mnt == target) return true;
  }
  return false;
}

std::string ensure_mounted(const char *fstype, const char *target) {
  if (is_mounted(target)) return "";
  mkdir(target, 0700);
  if (mount(fstype, target, fstype, 0, nullptr) != 0 && errno != EBUSY)
    return std::string("cannot mount ") + fstype + " at " + target + ": " + strerror(errno);
  return "";
}

// Since 6.7 a kernel built with CONFIG_IA32_EMULATION can still refuse ia32 syscalls
// (ia32_emulation=0 on the command line, or CONFIG_IA32_EMULATION_DEFAULT_DISABLED): the int
// $0x80 gate is then not installed and the caller takes SIGSEGV. No BTF or sysfs file tells,
// so a child tries it. Only that exact verdict drops the raw ia32 hooks; anything else (a
// seccomp filter on the agent alone, a failed fork) keeps them, because guessing "off" wrongly
// would let `int $0x80` pass unseen.
bool ia32_disabled_at_boot() {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_DUMPABLE, 0);  // no core dump for the expected fault, even to a pipe
    signal(SIGSEGV, SIG_DFL);
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "r8", "r9", "r10", "r11", "memory", "cc");  // ia32 getpid
    _exit(r == getpid() ? 0 : 1);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return false;
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

KernelFeatures probe_kernel(const std::string &custom_btf) {
  KernelFeatures f;
  struct utsname u;
  if (uname(&u) == 0) f.release = u.release;
  f.btf_path = custom_btf.empty() ? "/sys/kernel/btf/vmlinux" : custom_btf;
  struct btf *btf = custom_btf.empty() ? btf__load_vmlinux_btf() : btf__parse(custom_btf.c_str(), nullptr);
  if (btf && !libbpf_get_error(btf)) {
    f.btf = true;
    f.vmlinux_btf = std::shared_ptr<void>(btf, [](void *p) { btf__free(static_cast<struct btf *>(p)); });
  }
  std::ifstream ld("/sys/kernel/security/lockdown");
  if (ld) {
    std::stringstream ss;
    ss << ld.rdbuf();
    f.lockdown = parse_lockdown(ss.str());
  }
  f.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  f.ia32 = btf_has_func(f.vmlinux_btf, "__ia32_sys_setuid");
  // The running kernel decides, whichever BTF describes it (--btf).
  if (f.ia32 && ia32_disabled_at_boot()) {
    f.ia32 = false;
    f.ia32_off_at_boot = true;
  }
  f.task_pt_regs = btf_enum_has(f.vmlinux_btf, "bpf_func_id", "BPF_FUNC_task_pt_regs");
  f.perf_link = btf_enum_has(f.vmlinux_btf, "bpf_link_type", "BPF_LINK_TYPE_PERF_EVENT");
  return f;
}

std::string missing_bpf_capabilities() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return "CAP_BPF, CAP_PERFMON (capget failed)";
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1; };
  constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
  if (has(kCapSysAdmin)) return "";
  std::string missing;
  if (!has(kCapBpf)) missing += "CAP_BPF";
  if (!has(kCapPerfmon)) missing += std::string(missing.empty() ? "" : ", ") + "CAP_PERFMON";
  return missing.empty() ? "" : missing + " (or CAP_SYS_ADMIN)";
}

}  // namespace ktrail
