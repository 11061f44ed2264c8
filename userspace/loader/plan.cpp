#include "loader/plan.h"

namespace ktrail {

const char *hook_mode_name(HookMode m) {
  return m == HookMode::TpBtf ? "tp_btf" : m == HookMode::Tracepoint ? "tracepoint" : "auto";
}

const char *buffer_kind_name(BufferKind b) {
  return b == BufferKind::Ring ? "ring" : b == BufferKind::Perf ? "perf" : "auto";
}

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
  for (const char *name : kHookNames) {
    HookPlan h;
    h.hook = name;
    std::string n = name;
    h.wanted = n == "sched_process_exec" ? req.trace_exec
               : n == "sched_process_exit" ? req.trace_exit
               : n == "cgroup_mkdir"       ? req.trace_cgroup
                                           : syscalls;
    if (!h.wanted) {
      h.reason = "not needed by --events";
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
    p.hooks.push_back(h);
  }
  return p;
}

}  // namespace ktrail
