// RAII owner of the BPF skeleton: open -> configure -> load -> attach, with the attach plan
// (preferred variant per hook, fallback chosen by a feature probe).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "loader/plan.h"
#include "loader/probe.h"
#include "loader/ssh_probes.h"
#include "loader/transport.h"

struct ktrail_bpf;

namespace ktrail {

// cap_capable variants, in order of preference (--cap-hook forces one).
enum class CapHook { Auto, TpBtf, Fentry, Kprobe };
enum class CapPolicy : uint32_t { Off = 0, Denials = 1, All = 2 };

// One --watch entry as the kernel filter compares it (see policy/watch_list.h).
struct WatchSpec {
  std::string path;    // absolute; "/dir/" = prefix; "*/x" = suffix
  uint32_t flags = 0;  // enum ktrail_watch_flags
};

// One entry of the capability aggregation map, as raw ABI structs.
struct CapAggEntry {
  std::vector<uint8_t> key;    // struct ktrail_cap_key
  std::vector<uint8_t> value;  // struct ktrail_cap_agg
};

struct LoaderConfig {
  bool trace_exec = true;  // exec + failed exec
  bool trace_exit = true;
  bool trace_cred = true;
  bool trace_cgroup = true;  // cgroup2 mkdir: container identity for short-lived containers
  BufferKind buffer = BufferKind::Auto;
  HookMode hooks = HookMode::Auto;
  uint32_t buffer_mb = 4;            // ring buffer size (perf: split per CPU)
  uint64_t wakeup_bytes = 256 * 1024;
  std::string btf_path;              // custom BTF for kernels without /sys/kernel/btf/vmlinux
  // SSH: accepts and log writes of sshd processes, libpam uprobes.
  bool trace_ssh = false;
  std::vector<std::string> ssh_exe_names{"sshd", "sshd-session", "sshd-auth"};
  std::string proc_root = "/proc";   // where sshd's libpam is looked up
  // bpffs directory: programs, ring buffer and counters stay pinned there when the agent stops,
  // so the next agent with the same configuration resumes them (ring buffer only).
  std::string pin_dir;
  // Capability checks (capable.bpf.c).
  CapPolicy cap_policy = CapPolicy::Denials;
  uint64_t cap_always = 0;           // bitmask of CAP_* reported one by one
  bool cap_by_process = false;       // aggregation key: process instead of cgroup
  CapHook cap_hook = CapHook::Auto;
  // Sensitive files (file.bpf.h).
  bool trace_file = false;
  std::vector<WatchSpec> watches;
  bool trace_ia32 = true;  // raw sys_enter/sys_exit for ia32 syscalls (see PlanRequest)
};

struct HookStatus {
  std::string hook;     // "sched_process_exec", "sys_enter", ...
  std::string variant;  // "tp_btf", "tracepoint"
  bool attached = false;
  std::string error;
};

struct HookCounters {
  uint64_t emitted = 0;
  uint64_t dropped = 0;
};

class Loader {
 public:
  Loader();
  ~Loader();
  Loader(const Loader &) = delete;
  Loader &operator=(const Loader &) = delete;

  Status start(const LoaderConfig &cfg, EventSource::Callback cb);
  const std::vector<HookStatus> &hooks() const { return hooks_; }
  EventSource *source() { return source_.get(); }
  const KernelFeatures &features() const { return *features_; }
  // Per-hook counters summed over CPUs, indexed by enum ktrail_hook_id.
  std::vector<HookCounters> read_counters() const;
  const char *buffer_name() const { return source_ ? source_->name() : "none"; }
  // --pin: true if this agent resumed the pinned programs and buffer of a previous one.
  bool resumed() const { return resumed_; }
  // Drop counts the previous agent already reported (zeros unless resumed).
  std::vector<uint64_t> reported_drops() const;
  // Persists what this agent reported, for the next one (no-op without a pin).
  void save_reported_drops(const std::vector<uint64_t> &reported);
  // Capability aggregation map: every entry, and an atomic read-and-remove of one entry
  // (BPF_MAP_LOOKUP_AND_DELETE_ELEM, so no count the kernel adds meanwhile is lost).
  std::vector<CapAggEntry> read_cap_agg() const;
  bool take_cap_agg(const std::vector<uint8_t> &key, std::vector<uint8_t> &value) const;
  // Per-CPU capability counters summed, indexed by enum ktrail_cap_counter.
  std::vector<uint64_t> read_cap_counters() const;

 private:
  void attach_ssh(const LoaderConfig &cfg, const std::vector<PamProbe> &probes);
  CapHook choose_cap_hook(const LoaderConfig &cfg) const;
  void attach_capable(CapHook variant);
  ktrail_bpf *skel_ = nullptr;
  std::unique_ptr<KernelFeatures> features_;
  std::unique_ptr<EventSource> source_;
  std::vector<HookStatus> hooks_;
  std::vector<void *> links_;
  std::string pin_dir_;  // non-empty once everything is pinned there
  bool resumed_ = false;
  int stats_fd_ = -1;
  int meta_fd_ = -1;
  std::vector<int> owned_fds_;
  Status resume(const LoaderConfig &cfg, uint64_t config_hash, EventSource::Callback &cb, bool &resumed);
  void pin_all(uint64_t config_hash);
};

// The plan inputs for this configuration and kernel (the PlanKernel refers to `features`).
PlanRequest plan_request(const LoaderConfig &cfg);
PlanKernel plan_kernel(const KernelFeatures &features);
// The cap_capable variant for a kernel: forced, or tp_btf -> fentry -> kprobe by what exists
// (unit tested). has_fentry: BTF has the cap_capable function and the kernel allows tracing
// programs; has_kprobe: cap_capable is in available_filter_functions.
CapHook pick_cap_hook(CapHook forced, bool has_tp, bool has_fentry, bool has_kprobe);
const char *cap_hook_name(CapHook h);

// Maps a load failure to an exit code and an actionable message (unit tested).
Status classify_load_error(int err, const std::string &lockdown);

}  // namespace ktrail
