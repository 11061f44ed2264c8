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
#include "sinks/sink.h"

namespace ktrail {

struct PipelineStats {
  uint64_t records = 0;
  uint64_t emitted = 0;
  uint64_t decode_errors = 0;
  uint64_t write_errors = 0;
  uint64_t filtered = 0;
};

class Pipeline {
 public:
  Pipeline(HostInfo host, Enricher &enricher, std::vector<std::unique_ptr<Sink>> sinks);
  // A raw record from the transport.
  void on_record(const void *data, size_t size);
  // Cumulative kernel drop counters per hook (index = enum ktrail_hook_id): deltas become
  // `lost` events. source: "kernel" or "perf_buffer".
  void account_drops(const std::vector<uint64_t> &dropped_per_hook, const char *source);
  void account_transport_lost(uint64_t cumulative);
  void emit(Event &e);
  void flush();
  const PipelineStats &stats() const { return stats_; }
  uint64_t next_sequence() const { return seq_ + 1; }

 private:
  void emit_lost(const std::string &hook, const std::string &source, uint64_t count);
  HostInfo host_;
  Enricher &enricher_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  uint64_t seq_ = 0;
  std::vector<uint64_t> drops_seen_;
  uint64_t transport_lost_seen_ = 0;
  uint64_t decode_lost_reported_ = 0;
  PipelineStats stats_;
  std::string json_, table_;
  DecodeResult last_internal_;  // reused: internal records are frequent at container start
};

}  // namespace ktrail
