// A bounded, durable, write-ahead spool for one network output. The pipeline thread appends
// formatted records; the output's sender thread reads them in order and acknowledges what the
// collector has taken. Records survive collector outages and agent restarts (at-least-once):
// on start, everything after the acknowledged cursor is sent again, in order.
//
// On disk: DIR/<20-digit logical offset>.seg segment files, each a run of records
//   u32 payload length | u32 CRC-32C over (sequence, payload) | u64 event.sequence | payload
// (little endian), and DIR/cursor, the acknowledged logical offset, replaced atomically
// (write + fsync + rename). A torn or corrupt tail (a kill mid-write) is cut at open.
// When the spool is full the oldest segment goes, acknowledged or not; what was not yet
// delivered is reported (take_loss) so the pipeline can emit an in-band `lost` event.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ktrail::delivery {

struct SpoolOptions {
  uint64_t max_bytes = 256ull << 20;     // on disk, all segments together
  uint64_t segment_bytes = 16ull << 20;  // capped at max_bytes/4 so eviction stays fine-grained
  bool fsync = true;                     // fsync segments and cursor on every flush()/ack()
};

struct SpoolRecord {
  uint64_t offset = 0;  // logical offset of the record
  uint64_t next = 0;    // offset just past it: what to acknowledge once it is delivered
  uint64_t sequence = 0;
  std::string payload;
};

// Undelivered records evicted by a full spool.
struct SpoolLoss {
  uint64_t count = 0;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
};

// What open() found.
struct SpoolRecovery {
  uint64_t pending_records = 0;  // after the cursor: will be sent again
  uint64_t discarded_bytes = 0;  // torn or corrupt bytes cut off
};

uint32_t crc32c(const void *data, size_t size, uint32_t crc = 0);

class Spool {
 public:
  static Status open(const std::string &dir, const SpoolOptions &opt, std::unique_ptr<Spool> &out,
                     SpoolRecovery *recovery = nullptr);
  ~Spool();
  Spool(const Spool &) = delete;
  Spool &operator=(const Spool &) = delete;

  // --- producer (pipeline thread): never waits for the consumer ---
  // Buffered in memory until flush(); may evict the oldest segment to make room.
  Status append(uint64_t sequence, std::string_view payload);
  // Writes what append() buffered (fsync per policy) and wakes the reader.
  Status flush();
  // Undelivered records evicted since the last call (count 0: none).
  SpoolLoss take_loss();

  // --- consumer (sender thread) ---
  // Up to max_records flushed records starting at `from` (an offset from a previous record's
  // `next`, or acked()); an evicted `from` skips ahead to the oldest record still held.
  Status read(uint64_t from, size_t max_records, size_t max_bytes, std::vector<SpoolRecord> &out);
  // Delivered everything before `next`: persisted, and whole segments before it deleted.
  Status ack(uint64_t next);
  uint64_t acked() const;
  // Flushed end: records before it are readable.
  uint64_t end() const;
  // Waits until end() > from, or wake(), or the timeout. True if data is readable.
  bool wait_for_data(uint64_t from, std::chrono::milliseconds timeout);
  void wake();
  uint64_t disk_bytes() const;
  // Seconds since the oldest record not yet acknowledged was appended (0: none pending), to
  // within a second; records recovered at open count from the open. For /metrics.
  double oldest_pending_age() const;
  const std::string &dir() const { return dir_; }

 private:
  Spool(std::string dir, SpoolOptions opt) : dir_(std::move(dir)), opt_(opt) {}
  Status recover(SpoolRecovery &rec);
  Status write_buffer();
  Status roll();
  void evict_locked(uint64_t need);
  void prune_stamps_locked() const;
  Status persist_cursor(uint64_t offset);
  std::string seg_path(uint64_t start) const;

  std::string dir_;
  SpoolOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, uint64_t> segs_;  // start -> end written to the file
  int active_fd_ = -1;                 // the last segment, open for appending
  std::string buf_;                    // appended, not yet written (belongs to the last segment)
  uint64_t flushed_end_ = 0;
  uint64_t acked_ = 0;
  uint64_t cursor_persisted_ = UINT64_MAX;
  SpoolLoss loss_;
  bool woken_ = false;
  // (offset, CLOCK_MONOTONIC ns) of the first record appended in each second: the records
  // from that offset up to the next stamp's were appended at or after that time.
  mutable std::deque<std::pair<uint64_t, uint64_t>> stamps_;
};

}  // namespace ktrail::delivery
