// RAII owner of the BPF skeleton: open -> configure -> load -> attach, with the attach plan
// (preferred variant per hook, fallback chosen by a feature probe).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "loader/probe.h"
#include "loader/transport.h"

struct ktrail_bpf;

namespace ktrail {

enum class BufferKind { Auto, Ring, Perf };
enum class HookMode { Auto, TpBtf, Tracepoint };

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

 private:
  ktrail_bpf *skel_ = nullptr;
  std::unique_ptr<KernelFeatures> features_;
  std::unique_ptr<EventSource> source_;
  std::vector<HookStatus> hooks_;
  std::vector<void *> links_;
};

// Maps a load failure to an exit code and an actionable message (unit tested).
Status classify_load_error(int err, const std::string &lockdown);

}  // namespace ktrail
