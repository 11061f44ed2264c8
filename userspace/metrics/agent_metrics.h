// The agent's own metrics: an EventObserver for what the event stream says (events by action
// and outcome, failed SSH authentications per source, privilege escalations), collectors for
// what other modules hold (kernel counters, ring fill, outputs, caches, CPU and memory), and
// the /healthz verdict. See README "Metrics" for every series.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "loader/loader.h"
#include "metrics/registry.h"
#include "metrics/server.h"
#include "pipeline/pipeline.h"
#include "sinks/sink.h"

namespace ktrail::metrics {

// Counts per key with at most `limit` keys; a new key past the limit replaces the key with
// the smallest count, whose count moves to "other" (space-saving): the sum over all series
// stays the true total and every series only grows, but a replaced key that comes back
// starts again from 1 (Prometheus sees a counter reset). Thread-safe.
class BoundedCounts {
 public:
  explicit BoundedCounts(size_t limit) : limit_(limit) {}
  void add(const std::string &key, uint64_t n = 1);
  std::vector<std::pair<std::string, uint64_t>> snapshot(uint64_t &other) const;

 private:
  size_t limit_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, uint64_t> counts_;
  uint64_t other_ = 0;
};

// A credential change toward uid 0 by a process that was not root (real and effective uid
// non-zero; sshd's privsep self-check excluded), or the exec of a set-user-id-root binary by
// a non-root user. Pure; unit tested.
bool is_privilege_escalation(const Event &e);

inline constexpr size_t kSshSourceLimit = 100;
inline constexpr double kStallSeconds = 10;

class AgentMetrics : public EventObserver {
 public:
  explicit AgentMetrics(Registry &r);
  void observe(const Event &e, std::vector<Event> &derived) override;
  // The run loop calls this every iteration: /healthz calls the pipeline stalled when it
  // stopped and no event was observed for kStallSeconds.
  void heartbeat();
  // Events the pipeline holds back between drains (SSH authentications waiting for their
  // partner signal); the run loop samples it every second.
  void set_pending_events(uint64_t n) { pending_events_.store(n, std::memory_order_relaxed); }
  // Sources read at scrape time; all must outlive the metrics server.
  void watch_loader(Loader &loader);  // kernel counters, ring fill, and its hooks
  void watch_hooks(const std::vector<HookStatus> &hooks) { hooks_ = &hooks; }
  void watch_outputs(std::vector<const Sink *> outputs);
  // 200 when at least one hook is attached, every network output's sender thread runs and the
  // pipeline is not stalled; 503 otherwise. The body (JSON) says why, and each collector's state.
  Response health();
  Registry &registry() { return reg_; }

 private:
  struct EventSeries {
    const char *action;
    uint8_t outcome;  // 0 failure, 1 success, 2 unknown (alerts carry no event.outcome)
    std::atomic<uint64_t> n{0};
  };
  void collect(std::vector<Family> &out) const;
  EventSeries *series_for(const char *action, uint8_t outcome);

  Registry &reg_;
  // Written by the pipeline thread only. seq_ is a seqlock (odd while an event is counted),
  // so a scrape sees the counters and last_sequence_ of one moment: tests can match the
  // counters exactly against the records in an output.
  std::atomic<uint64_t> seq_{0};
  std::atomic<uint64_t> last_sequence_{0};
  std::atomic<uint64_t> events_total_{0};
  mutable std::mutex series_mu_;  // guards the maps' shape, taken only when a key is new
  std::map<std::pair<uintptr_t, uint8_t>, std::unique_ptr<EventSeries>> events_;
  std::unordered_map<uintptr_t, EventSeries *> fast_[3];  // pipeline thread's lock-free view
  std::map<std::pair<std::string, bool>, std::unique_ptr<std::atomic<uint64_t>>> escalations_;
  BoundedCounts ssh_failures_{kSshSourceLimit};

  std::atomic<int64_t> heartbeat_ns_{0};
  std::atomic<uint64_t> pending_events_{0};
  Loader *loader_ = nullptr;
  const std::vector<HookStatus> *hooks_ = nullptr;
  std::vector<const Sink *> outputs_;
  std::mutex health_mu_;
  uint64_t health_events_ = 0;
  int64_t health_change_ns_ = 0;
};

// process_cpu_seconds_total and process_resident_memory_bytes from /proc/self (unit tested).
bool read_self_usage(double &cpu_seconds, uint64_t &rss_bytes, double &start_time_seconds);

}  // namespace ktrail::metrics
