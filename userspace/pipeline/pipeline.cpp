#include "pipeline/pipeline.h"

#include "common/log.h"
#include "decode/decode.h"
#include "sinks/format.h"

namespace ktrail {

Pipeline::Pipeline(HostInfo host, Enricher &enricher, std::vector<std::unique_ptr<Sink>> sinks)
    : host_(std::move(host)), enricher_(enricher), sinks_(std::move(sinks)) {}

void Pipeline::on_record(const void *data, size_t size) {
  stats_.records++;
  if (CgroupRecord cg; decode_cgroup_record(data, size, cg, last_internal_)) {
    if (last_internal_.ok) enricher_.observe_cgroup(cg.id, cg.path, cg.boot_ns);
    else stats_.decode_errors++;
    return;
  }
  Event e;
  DecodeResult r = decode_record(data, size, e);
  if (!r.ok) {
    // A record we cannot read is a loss like any other: counted and reported in-band.
    stats_.decode_errors++;
    KLOG_WARN("dropping undecodable record: %s", r.error.c_str());
    emit_lost(hook_name(r.hook), "decode", 1);
    return;
  }
  enricher_.enrich(e);
  emit(e);
  enricher_.after_emit(e);
}

void Pipeline::emit(Event &e) {
  e.sequence = ++seq_;
  json_.clear();
  table_.clear();
  bool need_json = false, need_table = false;
  for (auto &s : sinks_) (s->format() == Format::Json ? need_json : need_table) = true;
  if (need_json) format_json(e, host_, json_);
  if (need_table) format_table(e, table_);
  for (auto &s : sinks_) {
    if (!s->write(s->format() == Format::Json ? json_ : table_)) {
      if (stats_.write_errors++ == 0) KLOG_ERROR("writing to %s failed", s->describe().c_str());
    }
  }
  stats_.emitted++;
}

void Pipeline::emit_lost(const std::string &hook, const std::string &source, uint64_t count) {
  Event e;
  e.kind = EventKind::Lost;
  e.boot_ns = Clock::boot_now();
  e.realtime_ns = enricher_.clock().to_realtime(e.boot_ns);
  e.lost_hook = hook;
  e.lost_source = source;
  e.lost_count = count;
  emit(e);
}

void Pipeline::account_drops(const std::vector<uint64_t> &dropped, const char *source) {
  if (drops_seen_.size() < dropped.size()) drops_seen_.resize(dropped.size(), 0);
  for (size_t h = 0; h < dropped.size(); h++) {
    if (dropped[h] > drops_seen_[h]) {
      emit_lost(hook_name(static_cast<uint32_t>(h)), source, dropped[h] - drops_seen_[h]);
      drops_seen_[h] = dropped[h];
    }
  }
}

void Pipeline::account_transport_lost(uint64_t cumulative) {
  // A full perf buffer both fails bpf_perf_event_output (counted per hook by the BPF side,
  // reported by account_drops) and later emits PERF_RECORD_LOST for the same samples, so
  // these are logged as a cross-check, not reported twice.
  if (cumulative > transport_lost_seen_) {
    KLOG_DEBUG("perf buffer reported %llu lost samples",
               static_cast<unsigned long long>(cumulative - transport_lost_seen_));
    transport_lost_seen_ = cumulative;
  }
}

void Pipeline::flush() {
  for (auto &s : sinks_)
    if (!s->flush()) {
      if (stats_.write_errors++ == 0) KLOG_ERROR("flushing %s failed", s->describe().c_str());
    }
}

}  // namespace ktrail
