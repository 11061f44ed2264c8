// decode -> enrich -> sequence -> format -> sinks, plus loss accounting: every record the
// kernel or the agent could not deliver becomes an in-band `lost` event.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decode/decode.h"
#include "decode/event.h"
#include "enrich/enricher.h"
#include "enrich/host.h"
#include "integrity/notary.h"
#include "sinks/format.h"
#include "sinks/sink.h"

namespace ktrail {

struct PipelineStats {
  uint64_t records = 0;
  uint64_t emitted = 0;
  uint64_t decode_errors = 0;
  uint64_t enrich_errors = 0;  // enrichment threw; the event was still emitted
  uint64_t write_errors = 0;
  uint64_t filtered = 0;
  uint64_t state_errors = 0;
};

// Sees every record after it is sequenced and written out (metrics, alert rules). Events it
// pushes to `derived` (alerts) are emitted right after, sequenced and chained like any other
// record, and observed in turn: an observer must not derive from derived records, or it loops.
class EventObserver {
 public:
  virtual ~EventObserver() = default;
  virtual void observe(const Event &e, std::vector<Event> &derived) = 0;
};

class Pipeline {
 public:
  Pipeline(HostInfo host, Enricher &enricher, std::vector<std::unique_ptr<Sink>> sinks);
  // A raw record from the transport.
  void on_record(const void *data, size_t size);
  // The same record, earlier: the transport shows a drain's records here before on_record
  // gets the first of them (EventSource::set_look_ahead).
  void look_ahead(const void *data, size_t size);
  // Cumulative kernel drop counters per hook (index = enum ktrail_hook_id): deltas become
  // `lost` events. source: "kernel" or "perf_buffer".
  void account_drops(const std::vector<uint64_t> &dropped_per_hook, const char *source);
  void account_transport_lost(uint64_t cumulative);
  // Kernel drops already reported (by this agent, or by the one whose pinned state it resumed).
  const std::vector<uint64_t> &drops_reported() const { return drops_seen_; }
  void set_drops_reported(std::vector<uint64_t> v) { drops_seen_ = std::move(v); }
  void emit(Event &e);
  // Not owned; must outlive the pipeline's last emit (finish()).
  void add_observer(EventObserver *o) { observers_.push_back(o); }
  // Emits derived events whose wait is over (CLOCK_BOOTTIME ns; UINT64_MAX: all, at exit).
  void tick(uint64_t now_boot_ns);
  void flush();
  const PipelineStats &stats() const { return stats_; }
  uint64_t next_sequence() const { return seq_ + 1; }

  // Tamper-evident trail (integrity/): every record is chained, checkpoints are written, and
  // the sequence continues from the notary's state. Without a notary records are unchained.
  void set_notary(std::unique_ptr<Notary> notary);
  // ECS (default) or OCSF records; the chain seals whichever is emitted.
  void set_schema(Schema s) { schema_ = s; }
  // The run's first record (agent_start), linking to the previous run's last one.
  void begin();
  // The final checkpoint, then everything flushed and the state saved. Call once, at the end.
  void finish();

 private:
  void emit_all(std::vector<Event> &events);
  void emit_lost(const std::string &hook, const std::string &source, uint64_t count);
  bool report_output_losses();  // true if it emitted a lost event
  bool reporting_losses_ = false;
  void write_out();
  void after_record();
  void emit_checkpoint(const char *reason);
  void release();
  int64_t now_realtime();
  std::unique_ptr<Notary> notary_;
  std::vector<EventObserver *> observers_;
  size_t pending_bytes_ = 0;
  HostInfo host_;
  Enricher &enricher_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  uint64_t seq_ = 0;
  std::vector<uint64_t> drops_seen_;
  uint64_t transport_lost_seen_ = 0;
  uint64_t decode_lost_reported_ = 0;
  PipelineStats stats_;
  std::string json_, table_;
  Schema schema_ = Schema::Ecs;
  DecodeResult last_internal_;  // reused: internal records are frequent at container start
  Event record_;                // reused by on_record (see there)
};

}  // namespace ktrail
