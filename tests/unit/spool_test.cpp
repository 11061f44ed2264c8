// The delivery spool: append/replay/ack, crash recovery (torn tail, CRC mismatch), eviction of
// the oldest records with the exact lost range, and ordering across segments.
#include "delivery/spool.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.h"

namespace ktrail::delivery {
namespace {

std::string payload_for(uint64_t seq) { return "{\"event\":{\"sequence\":" + std::to_string(seq) + "}}"; }

std::unique_ptr<Spool> open_spool(const std::string &dir, SpoolOptions o = {}, SpoolRecovery *rec = nullptr) {
  std::unique_ptr<Spool> s;
  Status st = Spool::open(dir, o, s, rec);
  EXPECT_TRUE(st) << st.message;
  return s;
}

std::vector<SpoolRecord> read_all(Spool &s, uint64_t from) {
  std::vector<SpoolRecord> all, batch;
  for (;;) {
    EXPECT_TRUE(s.read(from, 100, 1 << 20, batch));
    if (batch.empty()) return all;
    from = batch.back().next;
    all.insert(all.end(), batch.begin(), batch.end());
  }
}

std::vector<std::string> segments(const std::string &dir) {
  std::vector<std::string> v;
  for (auto &e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".seg") v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(Spool, Crc32cKnownValue) {
  // RFC 3720 B.4: CRC-32C of "123456789".
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
}

TEST(Spool, Crc32cVectorsAndChaining) {
  // RFC 3720 B.4 again: whole 8-byte words (the hardware path's main loop) and odd tails.
  std::string zeros(32, '\0'), ones(32, '\xff'), up(32, 0);
  for (int i = 0; i < 32; i++) up[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up.data(), 32), 0x46DD794Eu);
  // The spool checksums the sequence, then the payload, as one stream.
  std::string text = "The quick brown fox jumps over the lazy dog, 0123456789";
  for (size_t cut = 0; cut <= text.size(); cut++)
    EXPECT_EQ(crc32c(text.data() + cut, text.size() - cut, crc32c(text.data(), cut)), crc32c(text.data(), text.size()))
        << cut;
}

TEST(Spool, AppendIsInvisibleUntilFlushThenReadInOrder) {
  test::TempDir t;
  auto s = open_spool(t.path());
  for (uint64_t i = 1; i <= 5; i++) ASSERT_TRUE(s->append(i, payload_for(i)));
  EXPECT_TRUE(read_all(*s, s->acked()).empty());
  ASSERT_TRUE(s->flush());
  auto recs = read_all(*s, s->acked());
  ASSERT_EQ(recs.size(), 5u);
  for (uint64_t i = 0; i < 5; i++) {
    EXPECT_EQ(recs[i].sequence, i + 1);
    EXPECT_EQ(recs[i].payload, payload_for(i + 1));
    if (i) {
      EXPECT_EQ(recs[i].offset, recs[i - 1].next);
    }
  }
}

TEST(Spool, ReplaysOnlyUnacknowledgedRecordsAfterRestart) {
  test::TempDir t;
  {
    auto s = open_spool(t.path());
    for (uint64_t i = 1; i <= 10; i++) ASSERT_TRUE(s->append(i, payload_for(i)));
    ASSERT_TRUE(s->flush());
    auto recs = read_all(*s, s->acked());
    ASSERT_TRUE(s->ack(recs[3].next));  // 1..4 delivered
  }
  SpoolRecovery rec;
  auto s = open_spool(t.path(), {}, &rec);
  EXPECT_EQ(rec.pending_records, 6u);
  EXPECT_EQ(rec.discarded_bytes, 0u);
  auto recs = read_all(*s, s->acked());
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(recs.front().sequence, 5u);
  EXPECT_EQ(recs.back().sequence, 10u);
  // New appends continue after the replayed ones.
  ASSERT_TRUE(s->append(11, payload_for(11)));
  ASSERT_TRUE(s->flush());
  recs = read_all(*s, s->acked());
  ASSERT_EQ(recs.size(), 7u);
  EXPECT_EQ(recs.back().sequence, 11u);
}

TEST(Spool, UnflushedAppendsAreNotOnDisk) {
  test::TempDir t;
  {
    auto s = open_spool(t.path());
    ASSERT_TRUE(s->append(1, payload_for(1)));
    ASSERT_TRUE(s->flush());
    ASSERT_TRUE(s->append(2, payload_for(2)));  // flushed by the destructor
  }
  auto s = open_spool(t.path());
  EXPECT_EQ(read_all(*s, s->acked()).size(), 2u);
}

TEST(Spool, TornTailIsCutAndAppendsResumeCleanly) {
  test::TempDir t;
  {
    auto s = open_spool(t.path());
    for (uint64_t i = 1; i <= 3; i++) ASSERT_TRUE(s->append(i, payload_for(i)));
  }
  auto segs = segments(t.path());
  ASSERT_EQ(segs.size(), 1u);
  auto size = std::filesystem::file_size(segs[0]);
  std::filesystem::resize_file(segs[0], size - 5);  // a kill in the middle of record 3
  SpoolRecovery rec;
  auto s = open_spool(t.path(), {}, &rec);
  EXPECT_EQ(rec.pending_records, 2u);
  EXPECT_GT(rec.discarded_bytes, 0u);
  ASSERT_TRUE(s->append(4, payload_for(4)));
  ASSERT_TRUE(s->flush());
  auto recs = read_all(*s, s->acked());
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].sequence, 1u);
  EXPECT_EQ(recs[1].sequence, 2u);
  EXPECT_EQ(recs[2].sequence, 4u);
}

TEST(Spool, CrcMismatchCutsTheDamagedRecordAndWhatFollows) {
  test::TempDir t;
  uint64_t second_offset;
  {
    auto s = open_spool(t.path());
    for (uint64_t i = 1; i <= 3; i++) ASSERT_TRUE(s->append(i, payload_for(i)));
    ASSERT_TRUE(s->flush());
    second_offset = read_all(*s, s->acked())[1].offset;
  }
  auto segs = segments(t.path());
  {
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(second_offset + 16 + 3));  // one payload byte of record 2
    f.put('X');
  }
  SpoolRecovery rec;
  auto s = open_spool(t.path(), {}, &rec);
  EXPECT_EQ(rec.pending_records, 1u);
  auto recs = read_all(*s, s->acked());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].sequence, 1u);
}

TEST(Spool, DamagedCursorReplaysEverything) {
  test::TempDir t;
  {
    auto s = open_spool(t.path());
    for (uint64_t i = 1; i <= 3; i++) ASSERT_TRUE(s->append(i, payload_for(i)));
    ASSERT_TRUE(s->flush());
    ASSERT_TRUE(s->ack(s->end()));
  }
  t.write("cursor", "garbage-garbage");
  auto s = open_spool(t.path());
  EXPECT_EQ(read_all(*s, s->acked()).size(), 3u);  // duplicates, never a loss
}

TEST(Spool, FullSpoolEvictsOldestAndReportsTheExactRange) {
  test::TempDir t;
  SpoolOptions o;
  o.max_bytes = 8192;  // segments of 2048 bytes
  o.fsync = false;
  auto s = open_spool(t.path(), o);
  std::string pad(100, 'x');
  uint64_t n = 400;
  for (uint64_t i = 1; i <= n; i++) {
    ASSERT_TRUE(s->append(i, pad));
    if (i % 10 == 0) {
      ASSERT_TRUE(s->flush());
    }
  }
  ASSERT_TRUE(s->flush());
  EXPECT_LE(s->disk_bytes(), o.max_bytes);
  SpoolLoss loss = s->take_loss();
  auto recs = read_all(*s, s->acked());
  ASSERT_FALSE(recs.empty());
  // Exactly the records before the oldest one held went, and nothing was acknowledged.
  EXPECT_EQ(loss.first_sequence, 1u);
  EXPECT_EQ(loss.last_sequence, recs.front().sequence - 1);
  EXPECT_EQ(loss.count, recs.front().sequence - 1);
  EXPECT_EQ(recs.back().sequence, n);
  for (size_t i = 1; i < recs.size(); i++) EXPECT_EQ(recs[i].sequence, recs[i - 1].sequence + 1);
  EXPECT_EQ(s->take_loss().count, 0u);  // reported once
}

TEST(Spool, EvictionOfAcknowledgedRecordsIsNoLoss) {
  test::TempDir t;
  SpoolOptions o;
  o.max_bytes = 8192;
  o.fsync = false;
  auto s = open_spool(t.path(), o);
  std::string pad(100, 'x');
  uint64_t from = s->acked();
  for (uint64_t i = 1; i <= 400; i++) {
    ASSERT_TRUE(s->append(i, pad));
    ASSERT_TRUE(s->flush());
    auto recs = read_all(*s, from);
    if (!recs.empty()) from = recs.back().next;
    ASSERT_TRUE(s->ack(from));
  }
  EXPECT_EQ(s->take_loss().count, 0u);
  EXPECT_LE(segments(t.path()).size(), 2u);  // delivered segments are deleted
}

TEST(Spool, ReaderBehindAnEvictionSkipsToTheOldestHeld) {
  test::TempDir t;
  SpoolOptions o;
  o.max_bytes = 8192;
  o.fsync = false;
  auto s = open_spool(t.path(), o);
  uint64_t stale = s->acked();
  for (uint64_t i = 1; i <= 300; i++) ASSERT_TRUE(s->append(i, std::string(100, 'y')));
  ASSERT_TRUE(s->flush());
  SpoolLoss loss = s->take_loss();
  std::vector<SpoolRecord> batch;
  ASSERT_TRUE(s->read(stale, 1, 1 << 20, batch));
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].sequence, loss.last_sequence + 1);
}

TEST(Spool, OrderingHoldsAcrossSegmentsAndRestarts) {
  test::TempDir t;
  SpoolOptions o;
  o.max_bytes = 1 << 20;
  o.segment_bytes = 4096;
  o.fsync = false;
  uint64_t seq = 0;
  for (int run = 0; run < 3; run++) {
    auto s = open_spool(t.path(), o);
    for (int i = 0; i < 200; i++) {
      ++seq;
      ASSERT_TRUE(s->append(seq, payload_for(seq)));
    }
  }
  EXPECT_GT(segments(t.path()).size(), 3u);
  auto s = open_spool(t.path(), o);
  auto recs = read_all(*s, s->acked());
  ASSERT_EQ(recs.size(), seq);
  for (uint64_t i = 0; i < seq; i++) ASSERT_EQ(recs[i].sequence, i + 1);
}

TEST(Spool, RejectsATinySpool) {
  test::TempDir t;
  std::unique_ptr<Spool> s;
  SpoolOptions o;
  o.max_bytes = 100;
  Status st = Spool::open(t.path(), o, s);
  EXPECT_FALSE(st);
  EXPECT_NE(st.message.find("4096"), std::string::npos);
}

}  // namespace
}  // namespace ktrail::delivery
