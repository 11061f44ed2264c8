// The attach plan is a pure function; `ktrail run` executes it and `ktrail probe` prints it.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>

#include "loader/plan.h"
#include "loader/prog_probe.h"

namespace ktrail {
namespace {

PlanKernel kernel(bool ringbuf, std::set<std::string> tp_btf) {
  PlanKernel k;
  k.ringbuf = ringbuf;
  k.has_tp_btf = [tp_btf](const std::string &h) { return tp_btf.count(h) > 0; };
  return k;
}

const std::set<std::string> kAll = {"sched_process_exec", "sched_process_exit", "sys_enter", "sys_exit",
                                    "cgroup_mkdir"};

TEST(Plan, ModernKernelPrefersTpBtfAndRingWithTracepointFallback) {
  AttachPlan p = plan_attach(PlanRequest{}, kernel(true, kAll));
  EXPECT_FALSE(p.use_perf);
  EXPECT_TRUE(p.buffer_problem.empty());
  ASSERT_EQ(p.hooks.size(), std::size(kHookNames));
  for (size_t i = 0; i < p.hooks.size(); i++) {
    const HookPlan &h = p.hooks[i];
    EXPECT_EQ(h.hook, kHookNames[i]);
    if (h.hook == "syscalls") {  // this kernel model has no per-syscall tracepoints
      EXPECT_FALSE(h.wanted);
      continue;
    }
    EXPECT_TRUE(h.wanted);
    EXPECT_TRUE(h.load_tp_btf);
    EXPECT_TRUE(h.load_tracepoint);  // loaded too, so a failed tp_btf attach can fall back
    EXPECT_EQ(h.first, "tp_btf");
    EXPECT_EQ(h.fallback, "tracepoint");
  }
}

TEST(Plan, KernelWithoutRingBufferUsesPerf) {
  AttachPlan p = plan_attach(PlanRequest{}, kernel(false, kAll));
  EXPECT_TRUE(p.use_perf);
  EXPECT_NE(p.buffer_reason.find("no BPF ring buffer"), std::string::npos) << p.buffer_reason;
  EXPECT_TRUE(p.buffer_problem.empty());
}

TEST(Plan, ForcedRingOnKernelWithoutItIsAProblemNotASilentSwitch) {
  PlanRequest r;
  r.buffer = BufferKind::Ring;
  AttachPlan p = plan_attach(r, kernel(false, kAll));
  EXPECT_FALSE(p.use_perf);
  EXPECT_FALSE(p.buffer_problem.empty());
  r.buffer = BufferKind::Perf;
  p = plan_attach(r, kernel(true, kAll));
  EXPECT_TRUE(p.use_perf);
  EXPECT_TRUE(p.buffer_problem.empty());
}

TEST(Plan, MissingBtfTraceTypeFallsBackPerHook) {
  AttachPlan p = plan_attach(PlanRequest{}, kernel(true, {"sys_enter", "sys_exit"}));
  EXPECT_EQ(p.hooks[0].first, "tracepoint");
  EXPECT_FALSE(p.hooks[0].load_tp_btf);
  EXPECT_TRUE(p.hooks[0].load_tracepoint);
  EXPECT_EQ(p.hooks[0].fallback, "");
  EXPECT_NE(p.hooks[0].reason.find("btf_trace_sched_process_exec"), std::string::npos) << p.hooks[0].reason;
  EXPECT_EQ(p.hooks[2].first, "tp_btf");
}

TEST(Plan, ForcedTracepointNeverLoadsTpBtf) {
  PlanRequest r;
  r.hooks = HookMode::Tracepoint;
  for (const HookPlan &h : plan_attach(r, kernel(true, kAll)).hooks) {
    if (h.hook == "syscalls") continue;  // no per-syscall tracepoints in this kernel model
    EXPECT_FALSE(h.load_tp_btf);
    EXPECT_TRUE(h.load_tracepoint);
    EXPECT_EQ(h.first, "tracepoint");
    EXPECT_EQ(h.fallback, "");
  }
}

TEST(Plan, ForcedTpBtfHasNoFallbackAndNothingWhereTheTypeIsMissing) {
  PlanRequest r;
  r.hooks = HookMode::TpBtf;
  AttachPlan p = plan_attach(r, kernel(true, {"sched_process_exec"}));
  EXPECT_EQ(p.hooks[0].first, "tp_btf");
  EXPECT_EQ(p.hooks[0].fallback, "");
  EXPECT_FALSE(p.hooks[0].load_tracepoint);
  EXPECT_EQ(p.hooks[1].first, "");
  EXPECT_FALSE(p.hooks[1].load_tp_btf);
  EXPECT_FALSE(p.hooks[1].load_tracepoint);
  EXPECT_NE(p.hooks[1].reason.find("--hooks tp_btf"), std::string::npos);
}

TEST(Plan, EventsSelectHooks) {
  PlanRequest r;
  r.trace_cred = false;
  r.trace_exec = false;  // exit only: no syscall hooks, no exec hook
  AttachPlan p = plan_attach(r, kernel(true, kAll));
  EXPECT_FALSE(p.hooks[0].wanted);
  EXPECT_TRUE(p.hooks[1].wanted);
  EXPECT_FALSE(p.hooks[2].wanted);
  EXPECT_FALSE(p.hooks[3].wanted);
  EXPECT_EQ(p.hooks[0].reason, "not needed by --events");
  r = PlanRequest{};
  r.trace_cred = false;  // exec alone still needs sys_enter/sys_exit for failed execs
  r.trace_exit = false;
  p = plan_attach(r, kernel(true, kAll));
  EXPECT_TRUE(p.hooks[2].wanted);
  EXPECT_TRUE(p.hooks[3].wanted);
  EXPECT_FALSE(p.hooks[1].wanted);
}

TEST(Plan, NoBtfCallbackMeansTracepoints) {
  PlanKernel k;
  k.ringbuf = true;  // has_tp_btf left empty: nothing known about the BTF
  for (const HookPlan &h : plan_attach(PlanRequest{}, k).hooks)
    if (h.hook != "syscalls") EXPECT_EQ(h.first, "tracepoint");
}

// A kernel like the CI host: tracefs with per-syscall events, ia32 emulation, task_pt_regs.
PlanKernel syscall_kernel(std::set<std::string> missing_tp = {}, std::set<std::string> missing_sys = {},
                          bool ia32 = true, bool task_pt_regs = true) {
  PlanKernel k = kernel(true, kAll);
  k.has_syscall_tp = [missing_tp, missing_sys](const std::string &n) {
    return !missing_tp.count(n) && !missing_sys.count(n);
  };
  k.has_syscall = [missing_sys](const std::string &n) { return !missing_sys.count(n); };
  k.ia32 = ia32;
  k.task_pt_regs = task_pt_regs;
  return k;
}

const HookPlan &hook(const AttachPlan &p, const std::string &name) {
  for (const HookPlan &h : p.hooks)
    if (h.hook == name) return h;
  throw std::runtime_error("no hook " + name);
}

bool has(const std::vector<std::string> &v, const std::string &s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Where the ia32 guard is needed its raw programs run on every syscall anyway: next to the
// per-syscall tracepoints' probe they would cost more than carrying every syscall alone.
TEST(PlanSyscalls, Ia32GuardCarriesEverySyscallInTheRawPrograms) {
  PlanRequest r;
  r.trace_file = true;
  AttachPlan p = plan_attach(r, syscall_kernel());
  EXPECT_FALSE(p.syscalls.per_syscall);
  EXPECT_FALSE(p.syscalls.raw_compat_only);
  EXPECT_TRUE(p.syscalls.ia32_gap.empty());
  EXPECT_NE(p.syscalls.reason.find("ia32 guard"), std::string::npos) << p.syscalls.reason;
  EXPECT_FALSE(hook(p, "syscalls").wanted);
  for (const char *raw : {"sys_enter", "sys_exit"}) {
    EXPECT_TRUE(hook(p, raw).wanted) << raw;
    EXPECT_EQ(hook(p, raw).first, "tp_btf") << raw;
    EXPECT_EQ(hook(p, raw).reason.find("ia32 syscalls only"), std::string::npos) << hook(p, raw).reason;
  }
  // Without the guard (--ia32 off, or a kernel that runs no ia32 syscall): per-syscall.
  r.trace_ia32 = false;
  EXPECT_TRUE(plan_attach(r, syscall_kernel()).syscalls.per_syscall);
  r.trace_ia32 = true;
  EXPECT_TRUE(plan_attach(r, syscall_kernel({}, {}, /*ia32=*/false)).syscalls.per_syscall);
}

TEST(PlanSyscalls, PerSyscallTracepointsWithoutTheIa32Guard) {
  PlanRequest r;
  r.trace_file = true;
  AttachPlan p = plan_attach(r, syscall_kernel({}, {}, /*ia32=*/false));
  EXPECT_TRUE(p.syscalls.per_syscall);
  EXPECT_TRUE(p.syscalls.raw_compat_only);
  EXPECT_TRUE(p.syscalls.ia32_gap.empty());
  EXPECT_TRUE(hook(p, "syscalls").wanted);
  EXPECT_EQ(hook(p, "syscalls").first, "tracepoint");
  for (const char *raw : {"sys_enter", "sys_exit"}) EXPECT_FALSE(hook(p, raw).wanted) << raw;
  // Opens are matched at exit from the registers: no enter program, no map update per open.
  EXPECT_TRUE(has(p.syscalls.exit, "openat"));
  EXPECT_FALSE(has(p.syscalls.enter, "openat"));
  EXPECT_TRUE(has(p.syscalls.enter, "setresuid"));
  EXPECT_TRUE(has(p.syscalls.exit, "setresuid"));
  EXPECT_TRUE(has(p.syscalls.enter, "fchmod"));  // the old mode is read before the call
  // A failed exec is reported at exit from the registers; a successful one by sched_process_exec.
  EXPECT_TRUE(has(p.syscalls.exit, "execve"));
  EXPECT_FALSE(has(p.syscalls.enter, "execve"));
  EXPECT_FALSE(has(p.syscalls.enter, "execveat"));
  // --events without ssh: sshd's write/accept are not hooked at all.
  EXPECT_FALSE(has(p.syscalls.exit, "write"));
  EXPECT_FALSE(has(p.syscalls.exit, "accept"));
  r.trace_ssh = true;
  p = plan_attach(r, syscall_kernel({}, {}, false));
  // Every write on the host runs sys_exit_write; with task_pt_regs it is the only program.
  EXPECT_FALSE(has(p.syscalls.enter, "write"));
  EXPECT_TRUE(has(p.syscalls.exit, "write"));
  EXPECT_FALSE(has(p.syscalls.enter, "accept4"));
  EXPECT_TRUE(has(p.syscalls.exit, "accept4"));
  p = plan_attach(r, syscall_kernel({}, {}, false, /*task_pt_regs=*/false));
  EXPECT_TRUE(has(p.syscalls.enter, "write"));
  EXPECT_TRUE(has(p.syscalls.exit, "sendmsg"));
}

TEST(PlanSyscalls, WithoutTaskPtRegsOpensAreTrackedFromEnter) {
  PlanRequest r;
  r.trace_file = true;
  AttachPlan p = plan_attach(r, syscall_kernel({}, {}, false, /*task_pt_regs=*/false));
  EXPECT_TRUE(has(p.syscalls.enter, "openat"));
  EXPECT_TRUE(has(p.syscalls.exit, "openat"));
  EXPECT_TRUE(has(p.syscalls.enter, "execve"));
  EXPECT_TRUE(has(p.syscalls.exit, "execve"));
}

TEST(PlanSyscalls, SyscallsTheKernelLacksAreSkipped) {
  PlanRequest r;
  r.trace_file = true;
  AttachPlan p = plan_attach(r, syscall_kernel({}, {"openat2", "fchmodat2"}, false));
  EXPECT_TRUE(p.syscalls.per_syscall);
  EXPECT_FALSE(has(p.syscalls.exit, "openat2"));
  EXPECT_TRUE(has(p.syscalls.absent, "openat2"));
  EXPECT_TRUE(has(p.syscalls.absent, "fchmodat2"));
  EXPECT_NE(p.syscalls.reason.find("not on this kernel: openat2 fchmodat2"), std::string::npos)
      << p.syscalls.reason;
}

TEST(PlanSyscalls, AMissingTracepointForAnExistingSyscallMeansRawHooks) {
  // A syscall the kernel has but cannot trace per syscall would pass unseen: raw hooks instead.
  AttachPlan p = plan_attach(PlanRequest{}, syscall_kernel({"setresuid"}, {}, false));
  EXPECT_FALSE(p.syscalls.per_syscall);
  EXPECT_FALSE(p.syscalls.raw_compat_only);
  EXPECT_FALSE(hook(p, "syscalls").wanted);
  EXPECT_NE(p.syscalls.reason.find("setresuid"), std::string::npos) << p.syscalls.reason;
  EXPECT_TRUE(hook(p, "sys_enter").wanted);
  EXPECT_EQ(hook(p, "sys_enter").reason.find("ia32"), std::string::npos);
}

TEST(PlanSyscalls, PinBefore515KeepsRawHooks) {
  PlanRequest r;
  r.pin = true;
  PlanKernel k = syscall_kernel({}, {}, false);
  k.perf_link = false;  // 5.10: a tracepoint's link is not a real BPF link
  AttachPlan p = plan_attach(r, k);
  EXPECT_FALSE(p.syscalls.per_syscall);
  EXPECT_NE(p.syscalls.reason.find("--pin"), std::string::npos) << p.syscalls.reason;
  k.perf_link = true;
  EXPECT_TRUE(plan_attach(r, k).syscalls.per_syscall);
}

TEST(PlanSyscalls, ForcedTpBtfUsesRawHooksForEverything) {
  PlanRequest r;
  r.hooks = HookMode::TpBtf;
  AttachPlan p = plan_attach(r, syscall_kernel());
  EXPECT_FALSE(p.syscalls.per_syscall);
  EXPECT_FALSE(hook(p, "syscalls").wanted);
  EXPECT_EQ(hook(p, "sys_enter").first, "tp_btf");
}

TEST(PlanSyscalls, ForcedTracepointUsesPerSyscallAndClassicRawForIa32) {
  PlanRequest r;
  r.hooks = HookMode::Tracepoint;
  AttachPlan p = plan_attach(r, syscall_kernel());
  EXPECT_TRUE(p.syscalls.per_syscall);
  EXPECT_EQ(hook(p, "sys_exit").first, "tracepoint");
  EXPECT_TRUE(hook(p, "sys_exit").reason.find("ia32 syscalls only") == 0) << hook(p, "sys_exit").reason;
}

TEST(PlanSyscalls, Ia32OffIsAReportedGapAndNoRawHooks) {
  PlanRequest r;
  r.trace_ia32 = false;
  AttachPlan p = plan_attach(r, syscall_kernel());
  EXPECT_FALSE(hook(p, "sys_enter").wanted);
  EXPECT_FALSE(hook(p, "sys_exit").wanted);
  EXPECT_NE(p.syscalls.ia32_gap.find("not traced"), std::string::npos);
  EXPECT_EQ(hook(p, "sys_enter").reason, p.syscalls.ia32_gap);
  // Without ia32 emulation there is nothing to miss: no gap, no raw hooks.
  p = plan_attach(PlanRequest{}, syscall_kernel({}, {}, /*ia32=*/false));
  EXPECT_TRUE(p.syscalls.ia32_gap.empty());
  EXPECT_FALSE(hook(p, "sys_enter").wanted);
  // With raw hooks for everything, --ia32 off changes nothing: they see ia32 anyway.
  r.hooks = HookMode::TpBtf;
  p = plan_attach(r, syscall_kernel());
  EXPECT_TRUE(p.syscalls.ia32_gap.empty());
  EXPECT_TRUE(hook(p, "sys_enter").wanted);
}

// ia32 emulation built in but off at boot (ia32_emulation=0, 6.7+): int $0x80 faults, so there
// is nothing to guard and the plan says why the raw hooks stay away.
TEST(PlanSyscalls, Ia32OffAtBootNeedsNoRawHooks) {
  PlanKernel k = syscall_kernel({}, {}, /*ia32=*/false);
  k.ia32_off_at_boot = true;
  AttachPlan p = plan_attach(PlanRequest{}, k);
  EXPECT_TRUE(p.syscalls.per_syscall);
  EXPECT_TRUE(p.syscalls.ia32_gap.empty());
  for (const char *raw : {"sys_enter", "sys_exit"}) {
    EXPECT_FALSE(hook(p, raw).wanted) << raw;
    EXPECT_NE(hook(p, raw).reason.find("ia32 emulation is off at boot"), std::string::npos) << hook(p, raw).reason;
  }
}

TEST(ProbeParse, LsmList) {
  EXPECT_EQ(parse_lsm_list("lockdown,capability,landlock,bpf"),
            (std::vector<std::string>{"lockdown", "capability", "landlock", "bpf"}));
  EXPECT_EQ(parse_lsm_list("capability,yama\n"), (std::vector<std::string>{"capability", "yama"}));
  EXPECT_TRUE(parse_lsm_list("").empty());
}

}  // namespace
}  // namespace ktrail
