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
  // One Event for every record: decode resets it by copy-assignment from a default one, which
  // leaves its strings' and vectors' heap buffers in place, so a record's paths, names and
  // arguments are copied into memory the previous record already allocated. (Nothing handles a record from inside
  // another's handling: only derived events are emitted there, and they are their own.)
  Event &e = record_;
  DecodeResult r = decode_record(data, size, e);
  if (!r.ok) {
    // A record we cannot read is a loss like any other: counted and reported in-band.
    stats_.decode_errors++;
    KLOG_WARN("dropping undecodable record: %s", r.error.c_str());
    emit_lost(hook_name(r.hook), "decode", 1);
    return;
  }
  // Enrichment reads /proc, passwd files and caches; whatever fails there, the kernel's record
  // is still emitted (with what was added so far), never dropped.
  try {
    enricher_.enrich(e);
  } catch (const std::exception &ex) {
    stats_.enrich_errors++;
    if (stats_.enrich_errors == 1 || stats_.enrich_errors % 1000 == 0)
      KLOG_WARN("enrichment failed (%llu so far), emitting the event without it: %s",
                static_cast<unsigned long long>(stats_.enrich_errors), ex.what());
  }
  try {
    // SSH: events derived from this one (auth outcomes, session start/end) around it.
    emit_all(enricher_.derived_before());
    if (!e.suppress)
      emit(e);
    else
      stats_.filtered++;
    emit_all(enricher_.derived_after());
    enricher_.after_emit(e);
  } catch (const std::exception &ex) {
    // Last resort: the record could not be written; report it as lost in-band.
    KLOG_ERROR("emitting a record failed: %s", ex.what());
    emit_lost(hook_name(r.hook), "agent", 1);
  }
}

void Pipeline::look_ahead(const void *data, size_t size) {
  uint32_t pid;
  if (peek_exit(data, size, pid)) enricher_.exit_ahead(pid);
}

void Pipeline::emit_all(std::vector<Event> &events) {
  for (Event &d : events) emit(d);
  events.clear();
}

void Pipeline::tick(uint64_t now_boot_ns) {
  std::vector<Event> due;
  enricher_.tick(now_boot_ns, due);
  emit_all(due);
}

void Pipeline::emit(Event &e) {
  e.sequence = ++seq_;
  json_.clear();
  table_.clear();
  bool need_json = notary_ != nullptr, need_table = false;  // the chain hashes the JSON form
  for (auto &s : sinks_) (s->format() == Format::Json ? need_json : need_table) = true;
  if (need_json) format_record(schema_, e, host_, json_);
  if (need_table) format_table(e, table_);
  write_out();
  if (notary_) after_record();
  report_output_losses();
  if (!observers_.empty()) {
    std::vector<Event> derived;
    for (auto *o : observers_) o->observe(e, derived);
    for (auto &d : derived) emit(d);
  }
}

// A full delivery spool dropped its oldest records: said in-band, on every output. Not
// recursive: a loss caused by this report, or by a record that is not an event (agent_start,
// a checkpoint), is reported with the next event or at the next flush, whichever comes first.
bool Pipeline::report_output_losses() {
  if (reporting_losses_) return false;
  reporting_losses_ = true;
  bool reported = false;
  // A full spool evicted these ("spool"); a collector refused them for good ("rejected").
  using Take = bool (Sink::*)(uint64_t &, uint64_t &, uint64_t &);
  for (auto [take, source] : {std::pair<Take, const char *>{&Sink::take_loss, "spool"},
                              std::pair<Take, const char *>{&Sink::take_rejected, "rejected"}}) {
    for (size_t i = 0; i < sinks_.size(); i++) {
      uint64_t count = 0, first = 0, last = 0;
      if (!(sinks_[i].get()->*take)(count, first, last) || count == 0) continue;
      Event e;
      e.kind = EventKind::Lost;
      e.boot_ns = Clock::boot_now();
      e.realtime_ns = enricher_.clock().to_realtime(e.boot_ns);
      e.lost_hook = sinks_[i]->describe();
      e.lost_source = source;
      e.lost_count = count;
      e.lost_first_sequence = first;
      e.lost_last_sequence = last;
      emit(e);
      reported = true;
    }
  }
  reporting_losses_ = false;
  return reported;
}

// Seals the formatted record (once, so every output carries the same chain) and hands it to
// every sink.
void Pipeline::write_out() {
  if (notary_) notary_->seal(seq_, json_);
  for (auto &s : sinks_) {
    // Unchained, a file rotates at any record; chained, only before a checkpoint (see there).
    if (!notary_ && s->rotation_due() && !s->rotate())
      if (stats_.write_errors++ == 0) KLOG_ERROR("rotating %s failed", s->describe().c_str());
    if (!s->write_record(seq_, s->format() == Format::Json ? json_ : table_)) {
      if (stats_.write_errors++ == 0) KLOG_ERROR("writing to %s failed", s->describe().c_str());
    }
  }
  stats_.emitted++;
  pending_bytes_ += json_.size() + table_.size();
  if (pending_bytes_ >= (1u << 20)) release();
}

void Pipeline::after_record() {
  bool rotate = false;
  for (auto &s : sinks_) rotate |= s->rotation_due();
  if (rotate) emit_checkpoint("rotation");
  else if (notary_->checkpoint_due_by_records()) emit_checkpoint("records");
}

void Pipeline::emit_checkpoint(const char *reason) {
  // A full file closes before the checkpoint, which then opens the next file: every file but
  // the first starts with a record that carries its own anchor (the head it signs).
  bool released = false;
  for (auto &s : sinks_) {
    if (!s->rotation_due()) continue;
    if (!released) release();
    released = true;
    if (!s->rotate())
      if (stats_.write_errors++ == 0) KLOG_ERROR("rotating %s failed", s->describe().c_str());
  }
  ++seq_;
  json_.clear();
  table_.clear();
  notary_->checkpoint_record(seq_, now_realtime(), reason, json_, table_);
  write_out();
  release();  // a checkpoint goes out, and into the state, at once
}

void Pipeline::set_notary(std::unique_ptr<Notary> notary) {
  notary_ = std::move(notary);
  std::string line;
  for (auto &s : sinks_)
    if (s->last_line(line)) notary_->consider_output_tail(line, s->describe());
  seq_ = notary_->sequence();
}

void Pipeline::begin() {
  if (!notary_) return;
  ++seq_;
  json_.clear();
  table_.clear();
  notary_->start_record(seq_, now_realtime(), json_, table_);
  write_out();
  release();
}

void Pipeline::finish() {
  if (notary_) emit_checkpoint("shutdown");
  // The last records (that checkpoint, a loss report) can fill a spool in turn: nothing comes
  // after them to carry the report, so it goes here, sealed by another checkpoint. Each round
  // frees a whole segment; only a spool a few records small could keep this going.
  for (int round = 0; round < 4 && report_output_losses(); round++)
    if (notary_) emit_checkpoint("shutdown");
  for (auto &s : sinks_) {
    uint64_t count = 0, first = 0, last = 0;
    if (s->take_loss(count, first, last))
      KLOG_WARN("%s: %llu records (sequences %llu..%llu) dropped from a full spool at shutdown",
                s->describe().c_str(), static_cast<unsigned long long>(count),
                static_cast<unsigned long long>(first), static_cast<unsigned long long>(last));
  }
  release();
  if (notary_)  // everything written: the next run has nothing to declare
    if (Status st = notary_->commit(/*durable=*/true); !st)
      if (stats_.state_errors++ == 0) KLOG_ERROR("%s", st.message.c_str());
}

int64_t Pipeline::now_realtime() { return enricher_.clock().to_realtime(Clock::boot_now()); }

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
  report_output_losses();
  if (notary_ && notary_->checkpoint_due_by_time(Clock::boot_now())) emit_checkpoint("interval");
  else release();
}

void Pipeline::release() {
  // The chain state reaches the disk before the records it describes reach any output: after a
  // crash it may be ahead of the outputs (declared at restart), never behind (a fork).
  if (notary_)
    if (Status st = notary_->commit(); !st)
      if (stats_.state_errors++ == 0) KLOG_ERROR("%s", st.message.c_str());
  for (auto &s : sinks_)
    if (!s->flush()) {
      if (stats_.write_errors++ == 0) KLOG_ERROR("flushing %s failed", s->describe().c_str());
    }
  if (notary_) notary_->released();
  pending_bytes_ = 0;
}

}  // namespace ktrail
