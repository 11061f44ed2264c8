// Capability-check summaries: the kernel only ever adds to a key's count; this remembers what
// was reported per key and turns the difference into a `capable` record every interval.
// Keys idle for kIdleScans scans are removed from the kernel map (atomically, with their
// final count reported), so the map keeps room for new keys.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "loader/loader.h"

namespace ktrail {

class CapSummarizer {
 public:
  static constexpr int kIdleScans = 2;
  // take(key, value): atomically read and delete a kernel entry; false if it is gone.
  using Take = std::function<bool(const std::vector<uint8_t> &, std::vector<uint8_t> &)>;
  // emit(record bytes): a struct ktrail_capable with origin SUMMARY and the count since the
  // last report; hdr.boot_ns is the key's last check.
  using Emit = std::function<void(const void *, size_t)>;

  // One pass over the map's entries. final: report everything, evict nothing (shutdown).
  void scan(const std::vector<CapAggEntry> &entries, const Take &take, const Emit &emit,
            bool final = false);
  uint64_t summaries() const { return summaries_; }
  uint64_t evicted() const { return evicted_; }
  size_t tracked() const { return seen_.size(); }

 private:
  struct State {
    uint64_t reported = 1;  // the kernel reported the first check itself (count 1)
    int idle = 0;
  };
  void report(const std::vector<uint8_t> &value, uint64_t delta, const Emit &emit);
  std::map<std::vector<uint8_t>, State> seen_;
  uint64_t summaries_ = 0, evicted_ = 0;
};

}  // namespace ktrail
