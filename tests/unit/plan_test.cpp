// The attach plan is a pure function; `ktrail run` executes it and `ktrail probe` prints it.
#include <gtest/gtest.h>

#include <set>
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
  for (const HookPlan &h : plan_attach(PlanRequest{}, k).hooks) EXPECT_EQ(h.first, "tracepoint");
}

TEST(ProbeParse, LsmList) {
  EXPECT_EQ(parse_lsm_list("lockdown,capability,landlock,bpf"),
            (std::vector<std::string>{"lockdown", "capability", "landlock", "bpf"}));
  EXPECT_EQ(parse_lsm_list("capability,yama\n"), (std::vector<std::string>{"capability", "yama"}));
  EXPECT_TRUE(parse_lsm_list("").empty());
}

}  // namespace
}  // namespace ktrail
