#include "pipeline/cap_summary.h"

#include <cstring>
#include <set>

#include "ktrail/abi/events.h"

namespace ktrail {

void CapSummarizer::report(const std::vector<uint8_t> &value, uint64_t delta, const Emit &emit) {
  if (value.size() < sizeof(ktrail_cap_agg) || delta == 0) return;
  ktrail_cap_agg agg;
  std::memcpy(&agg, value.data(), sizeof(agg));
  ktrail_capable rec = agg.first;
  rec.count = delta;
  rec.origin = KTRAIL_CAP_SUMMARY;
  rec.hdr.boot_ns = agg.last_boot_ns;
  emit(&rec, sizeof(rec));
  summaries_++;
}

void CapSummarizer::scan(const std::vector<CapAggEntry> &entries, const Take &take,
                         const Emit &emit, bool final) {
  std::set<std::vector<uint8_t>> present;
  for (const auto &e : entries) {
    if (e.value.size() < sizeof(ktrail_cap_agg)) continue;
    present.insert(e.key);
    uint64_t count;
    std::memcpy(&count, e.value.data() + offsetof(ktrail_cap_agg, count), sizeof(count));
    State &st = seen_[e.key];
    if (count > st.reported) {
      report(e.value, count - st.reported, emit);
      st.reported = count;
      st.idle = 0;
      continue;
    }
    if (final || ++st.idle < kIdleScans) continue;
    // Idle: remove it; lookup-and-delete returns the count including any late additions.
    std::vector<uint8_t> last;
    if (take(e.key, last)) {
      uint64_t c;
      std::memcpy(&c, last.data() + offsetof(ktrail_cap_agg, count), sizeof(c));
      if (c > st.reported) report(last, c - st.reported, emit);
      evicted_++;
    }
    seen_.erase(e.key);
    present.erase(e.key);
  }
  // Keys removed by someone else (or never seen again) are forgotten.
  for (auto it = seen_.begin(); it != seen_.end();)
    it = present.count(it->first) ? std::next(it) : seen_.erase(it);
}

}  // namespace ktrail
