// The attach plan as a pure function of the request and the probed kernel features. The loader
// executes it and `ktrail probe` prints it, so the two can never disagree.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace ktrail {

enum class BufferKind { Auto, Ring, Perf };
enum class HookMode { Auto, TpBtf, Tracepoint };

// Every hook ktrail attaches, in attach order. Each has a tp_btf and a classic tracepoint variant.
inline constexpr const char *kHookNames[] = {"sched_process_exec", "sched_process_exit", "sys_enter",
                                             "sys_exit", "cgroup_mkdir"};

struct PlanRequest {
  bool trace_exec = true;
  bool trace_exit = true;
  bool trace_cred = true;
  bool trace_ssh = false;  // sshd accepts and log writes ride on sys_enter/sys_exit
  bool trace_cgroup = true;
  bool trace_file = false;  // watched-path syscalls ride on sys_enter/sys_exit  // cgroup2 mkdir: container identity (agent-internal records)
  BufferKind buffer = BufferKind::Auto;
  HookMode hooks = HookMode::Auto;
};

struct PlanKernel {
  bool ringbuf = false;
  // btf_trace_<hook> exists in the kernel's BTF (tp_btf can load).
  std::function<bool(const std::string &hook)> has_tp_btf;
};

struct HookPlan {
  std::string hook;
  bool wanted = false;          // selected by --events
  bool load_tp_btf = false;     // load the tp_btf program
  bool load_tracepoint = false; // load the classic tracepoint program
  std::string first;            // variant attached first: "tp_btf", "tracepoint", "" (none)
  std::string fallback;         // variant tried if the first fails to attach, or ""
  std::string reason;           // why this choice, in words
};

struct AttachPlan {
  bool use_perf = false;
  std::string buffer_reason;
  std::string buffer_problem;  // non-empty: the request cannot work on this kernel
  std::vector<HookPlan> hooks;
};

AttachPlan plan_attach(const PlanRequest &req, const PlanKernel &kernel);

const char *hook_mode_name(HookMode m);
const char *buffer_kind_name(BufferKind b);

}  // namespace ktrail
