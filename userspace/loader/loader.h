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

struct LoaderConfig {
  bool trace_exec = true;  // exec + failed exec
  bool trace_exit = true;
  bool trace_cred = true;
  bool trace_cgroup = true;  // cgroup2 mkdir: container identity for short-lived containers
  BufferKind buffer = BufferKind::Auto;
  HookMode hooks = HookMode::Auto;
  uint32_t buffer_mb = 8;            // ring buffer size (perf: split per CPU)
  uint64_t wakeup_bytes = 256 * 1024;
  std::string btf_path;              // custom BTF for kernels without /sys/kernel/btf/vmlinux
  // SSH: accepts and log writes of sshd processes, libpam uprobes.
  bool trace_ssh = false;
  std::vector<std::string> ssh_exe_names{"sshd", "sshd-session", "sshd-auth"};
  std::string proc_root = "/proc";   // where sshd's libpam is looked up
  // bpffs directory: programs, ring buffer and counters stay pinned there when the agent stops,
  // so the next agent with the same configuration resumes them (ring buffer only).
  std::string pin_dir;
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

 private:
  void attach_ssh(const LoaderConfig &cfg, const std::vector<PamProbe> &probes);
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

// Maps a load failure to an exit code and an actionable message (unit tested).
Status classify_load_error(int err, const std::string &lockdown);

}  // namespace ktrail
