// emptytp: attaches a BPF program that does nothing (r0 = 0; exit) to one classic tracepoint,
// the way libbpf attaches ktrail's: one perf event (pid -1, cpu 0) whose program runs for hits
// on every CPU. What remains is the kernel's own price for running any program there. (bpftrace
// opens one perf event per CPU for a tracepoint, so its "empty" program runs once per CPU per
// hit and overstates the floor on SMP.)
//   emptytp syscalls/sys_exit_openat     prints "Attaching" once attached, detaches on SIGINT/SIGTERM
//   emptytp raw:sys_enter                the same as a raw tracepoint (BPF_RAW_TRACEPOINT_OPEN), the
//                                        way ktrail's tp_btf programs run (the ia32 guard's floor)
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

// The empty program (r0 = 0; exit) of the given type; -1 after saying why.
static int load_empty(enum bpf_prog_type type) {
  static const struct bpf_insn insns[2] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT},
  };
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = type;
  attr.insns = (unsigned long)insns;
  attr.insn_cnt = 2;
  attr.license = (unsigned long)"GPL";
  int prog = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  if (prog < 0) perror("BPF_PROG_LOAD");
  return prog;
}

static int attach_raw(const char *name) {
  int prog = load_empty(BPF_PROG_TYPE_RAW_TRACEPOINT);
  if (prog < 0) return -1;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.raw_tracepoint.name = (unsigned long)name;
  attr.raw_tracepoint.prog_fd = prog;
  if (syscall(SYS_bpf, BPF_RAW_TRACEPOINT_OPEN, &attr, sizeof(attr)) < 0) {
    perror("BPF_RAW_TRACEPOINT_OPEN");
    return -1;
  }
  return 0;
}

static int attach_tracepoint(const char *event) {
  char path[512];
  snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", event);
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return -1;
  }
  unsigned long long id = 0;
  int n = fscanf(f, "%llu", &id);
  fclose(f);
  if (n != 1) return -1;
  int prog = load_empty(BPF_PROG_TYPE_TRACEPOINT);
  if (prog < 0) return -1;
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof(pe));
  pe.type = PERF_TYPE_TRACEPOINT;
  pe.size = sizeof(pe);
  pe.config = id;
  pe.sample_period = 1;
  pe.wakeup_events = 1;
  int ev = syscall(SYS_perf_event_open, &pe, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  if (ev < 0 || ioctl(ev, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(ev, PERF_EVENT_IOC_ENABLE, 0)) {
    perror("perf_event_open/attach");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: emptytp CATEGORY/EVENT | raw:NAME\n");
    return 2;
  }
  if (strncmp(argv[1], "raw:", 4) == 0 ? attach_raw(argv[1] + 4) : attach_tracepoint(argv[1])) return 1;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("Attaching 1 probe to %s\n", argv[1]);
  fflush(stdout);
  while (!stop) pause();
  return 0;
}
