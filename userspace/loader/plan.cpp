#include "loader/plan.h"

namespace ktrail {

const char *hook_mode_name(HookMode m) {
  return m == HookMode::TpBtf ? "tp_btf" : m == HookMode::Tracepoint ? "tracepoint" : "auto";
}

const char *buffer_kind_name(BufferKind b) {
  return b == BufferKind::Ring ? "ring" : b == BufferKind::Perf ? "perf" : "auto";
}

namespace {

bool syscall_selected(const PlanRequest &req, SyscallClass c) {
  switch (c) {
    case SyscallClass::Cred: return req.trace_cred;
    case SyscallClass::Exec: return req.trace_exec;
    case SyscallClass::Ssh: return req.trace_ssh;
    case SyscallClass::File: return req.trace_file;
  }
  return false;
}

// Per-syscall tracepoints where they cover every selected syscall the kernel has; the raw
// sys_enter/sys_exit hooks (every syscall of every task pays for them) otherwise.
SyscallPlan plan_syscalls(const PlanRequest &req, const PlanKernel &k) {
  SyscallPlan s;
  if (req.hooks == HookMode::TpBtf) {
    s.reason = "raw sys_enter/sys_exit: --hooks tp_btf";
    return s;
  }
  // The ia32 guard runs raw sys_enter/sys_exit programs on every syscall anyway. Next to the
  // per-syscall tracepoints, whose perf handler is itself a probe on raw_syscalls, each syscall
  // would run two probes, and two turn the tracepoint's static call into a loop of indirect
  // calls: ~180 ns per syscall on the CI VM against ~118 for the raw programs alone
  // (bench/RESULTS.md "Latest"). So where the guard is needed they carry every syscall.
  if (req.hooks == HookMode::Auto && req.trace_ia32 && k.ia32) {
    s.reason = "raw sys_enter/sys_exit: the ia32 guard runs them on every syscall anyway, and alone "
               "they cost less than next to per-syscall tracepoints";
    return s;
  }
  if (req.pin && !k.perf_link) {
    s.reason = "raw sys_enter/sys_exit: --pin, and tracepoint links cannot be pinned before 5.15";
    return s;
  }
  std::vector<std::string> gaps;
  for (const SyscallHookDef &d : kSyscallHooks) {
    if (!syscall_selected(req, d.cls)) continue;
    if (k.has_syscall_tp && k.has_syscall_tp(d.name)) {
      if (!(d.exit_regs && k.task_pt_regs)) s.enter.push_back(d.name);
      s.exit.push_back(d.name);
    } else if (k.has_syscall && k.has_syscall(d.name)) {
      gaps.push_back(d.name);
    } else {
      s.absent.push_back(d.name);
    }
  }
  if (!gaps.empty() || s.exit.empty()) {
    s.enter.clear();
    s.exit.clear();
    s.reason = s.exit.empty() && gaps.empty()
                   ? "raw sys_enter/sys_exit: no syscall selected has a per-syscall tracepoint"
                   : "raw sys_enter/sys_exit: no per-syscall tracepoint for " + gaps.front() +
                         " (tracefs or CONFIG_FTRACE_SYSCALLS missing)";
    return s;
  }
  s.per_syscall = true;
  s.raw_compat_only = true;
  s.reason = "per-syscall tracepoints for " + std::to_string(s.exit.size()) +
             " syscalls: other syscalls run no BPF program";
  if (!s.absent.empty()) {
    s.reason += "; not on this kernel:";
    for (const auto &a : s.absent) s.reason += " " + a;
  }
  return s;
}

}  // namespace

AttachPlan plan_attach(const PlanRequest &req, const PlanKernel &k) {
  AttachPlan p;
  switch (req.buffer) {
    case BufferKind::Perf:
      p.use_perf = true;
      p.buffer_reason = "perf buffer: forced by --buffer perf";
      break;
    case BufferKind::Ring:
      p.buffer_reason = "ring buffer: forced by --buffer ring";
      if (!k.ringbuf)
        p.buffer_problem = "--buffer ring, but this kernel has no BPF ring buffer (added in 5.8); "
                           "use --buffer auto or perf";
      break;
    case BufferKind::Auto:
      p.use_perf = !k.ringbuf;
      p.buffer_reason = k.ringbuf ? "ring buffer: supported by this kernel"
                                  : "perf buffer: this kernel has no BPF ring buffer (added in 5.8)";
      break;
  }

  const bool syscalls = req.trace_cred || req.trace_exec || req.trace_ssh || req.trace_file;
  if (syscalls) p.syscalls = plan_syscalls(req, k);
  const bool ia32_raw = p.syscalls.per_syscall && k.ia32 && req.trace_ia32;
  if (p.syscalls.per_syscall && k.ia32 && !req.trace_ia32)
    p.syscalls.ia32_gap = "--ia32 off: ia32 syscalls (int $0x80, 32-bit binaries) are not traced; "
                          "the per-syscall tracepoints never see them";
  for (const char *name : kHookNames) {
    HookPlan h;
    h.hook = name;
    std::string n = name;
    const bool raw = n == "sys_enter" || n == "sys_exit";
    h.wanted = n == "sched_process_exec" ? req.trace_exec
               : n == "sched_process_exit" ? req.trace_exit
               : n == "cgroup_mkdir"       ? req.trace_cgroup
               : n == "syscalls"           ? p.syscalls.per_syscall
               : raw && p.syscalls.per_syscall ? ia32_raw
                                           : syscalls;
    if (!h.wanted) {
      h.reason = n == "syscalls" && syscalls ? p.syscalls.reason
                 : raw && syscalls ? (p.syscalls.ia32_gap.empty()
                                          ? (k.ia32_off_at_boot
                                                 ? "the per-syscall tracepoints carry every syscall (ia32 emulation is off at boot: int $0x80 faults)"
                                                 : "the per-syscall tracepoints carry every syscall (no ia32 syscalls on this kernel)")
                                          : p.syscalls.ia32_gap)
                                   : "not needed by --events";
      p.hooks.push_back(h);
      continue;
    }
    if (n == "syscalls") {
      h.load_tracepoint = true;
      h.first = "tracepoint";
      h.reason = p.syscalls.reason;
      p.hooks.push_back(h);
      continue;
    }
    const bool btf_type = k.has_tp_btf && k.has_tp_btf(n);
    // Both variants are loaded where both can be, so a failed tp_btf attach can still fall
    // back at runtime; a variant the kernel lacks is never loaded (it would fail the object).
    h.load_tp_btf = btf_type && req.hooks != HookMode::Tracepoint;
    h.load_tracepoint = req.hooks != HookMode::TpBtf;
    if (h.load_tp_btf) {
      h.first = "tp_btf";
      h.fallback = h.load_tracepoint ? "tracepoint" : "";
      h.reason = req.hooks == HookMode::TpBtf ? "forced by --hooks tp_btf"
                                              : "preferred: no tracefs needed, BTF-typed arguments";
    } else if (h.load_tracepoint) {
      h.first = "tracepoint";
      h.reason = req.hooks == HookMode::Tracepoint
                     ? "forced by --hooks tracepoint"
                     : "fallback: the kernel BTF has no btf_trace_" + n + " type";
    } else {
      h.reason = "--hooks tp_btf, but the kernel BTF has no btf_trace_" + n + " type";
    }
    // The per-syscall tracepoints ignore ia32 syscalls on x86_64: an `int $0x80` setuid
    // would pass unseen without these. They leave at once for every 64-bit syscall.
    if (raw && p.syscalls.per_syscall) h.reason = "ia32 syscalls only (" + h.reason + ")";
    p.hooks.push_back(h);
  }
  return p;
}

}  // namespace ktrail
