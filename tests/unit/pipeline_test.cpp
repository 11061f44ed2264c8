#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/log.h"
#include "ktrail/abi/events.h"
#include "pipeline/pipeline.h"
#include "sinks/sink.h"
#include "temp_dir.h"
#include "test_records.h"

namespace ktrail {
namespace {

using json = nlohmann::json;
using namespace std::string_literals;

struct Captured {
  std::vector<std::string> lines;
  int flushes = 0;
};

class CaptureSink : public Sink {
 public:
  CaptureSink(Format f, std::shared_ptr<Captured> into, bool fail = false)
      : fmt_(f), into_(std::move(into)), fail_(fail) {}
  Format format() const override { return fmt_; }
  bool write(const std::string &line) override {
    into_->lines.push_back(line);
    return !fail_;
  }
  bool flush() override {
    into_->flushes++;
    return !fail_;
  }
  std::string describe() const override { return "capture"; }

 private:
  Format fmt_;
  std::shared_ptr<Captured> into_;
  bool fail_;
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::set_level(log::Level::Error);  // the decode warnings are expected here
    etc_.write("passwd", "root:x:0:0::/:\n");
    etc_.write("group", "root:x:0:\n");
    enricher_ = std::make_unique<Enricher>(proc_.path(), etc_.path());
    std::vector<std::unique_ptr<Sink>> sinks;
    sinks.push_back(std::make_unique<CaptureSink>(Format::Json, json_));
    sinks.push_back(std::make_unique<CaptureSink>(Format::Table, table_));
    pipeline_ = std::make_unique<Pipeline>(HostInfo{"h", "id"}, *enricher_, std::move(sinks));
  }
  void TearDown() override { log::set_level(log::Level::Info); }

  std::vector<json> events() const {
    std::vector<json> out;
    for (const auto &l : json_->lines) out.push_back(json::parse(l));
    return out;
  }
  void feed_exit(uint32_t pid) {
    ktrail_exit x;
    std::memset(&x, 0, sizeof(x));
    test::fill_header(x.hdr, KTRAIL_EV_EXIT, sizeof(x));
    x.hdr.pid = pid;
    pipeline_->on_record(&x, sizeof(x));
  }

  test::TempDir proc_, etc_;
  std::shared_ptr<Captured> json_ = std::make_shared<Captured>();
  std::shared_ptr<Captured> table_ = std::make_shared<Captured>();
  std::unique_ptr<Enricher> enricher_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, SequenceNumbersHaveNoGaps) {
  EXPECT_EQ(pipeline_->next_sequence(), 1u);
  auto rec = test::exec_record("/bin/true", "", "true\0"s);
  pipeline_->on_record(rec.data(), rec.size());
  feed_exit(4242);
  pipeline_->on_record("junk", 4);              // undecodable: still a numbered event
  pipeline_->account_drops({0, 0, 3}, "kernel");  // a lost event
  feed_exit(4243);

  auto ev = events();
  ASSERT_EQ(ev.size(), 5u);
  for (size_t i = 0; i < ev.size(); i++)
    EXPECT_EQ(ev[i].at("event").at("sequence"), i + 1) << ev[i].dump();
  EXPECT_EQ(ev[0].at("event").at("action"), "exec");
  EXPECT_EQ(ev[1].at("event").at("action"), "exit");
  EXPECT_EQ(ev[2].at("event").at("action"), "lost");
  EXPECT_EQ(ev[3].at("event").at("action"), "lost");
  EXPECT_EQ(ev[4].at("event").at("action"), "exit");
  EXPECT_EQ(pipeline_->next_sequence(), 6u);

  // Every sink saw every event, each in its own format.
  ASSERT_EQ(table_->lines.size(), 5u);
  EXPECT_NE(table_->lines[0].find("/bin/true"), std::string::npos) << table_->lines[0];
  EXPECT_EQ(table_->lines[0].front() == '{', false);

  const PipelineStats &s = pipeline_->stats();
  EXPECT_EQ(s.records, 4u);
  EXPECT_EQ(s.emitted, 5u);
  EXPECT_EQ(s.decode_errors, 1u);
  EXPECT_EQ(s.write_errors, 0u);
}

TEST_F(PipelineTest, DropCountersBecomeLostEventsOnce) {
  pipeline_->account_drops({0, 0, 0, 0}, "kernel");
  EXPECT_TRUE(json_->lines.empty()) << "no drops, no event";

  pipeline_->account_drops({5, 0, 0, 2}, "kernel");
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].at("ktrail").at("lost"), json({{"hook", "exec"}, {"source", "kernel"}, {"count", 5}}));
  EXPECT_EQ(ev[1].at("ktrail").at("lost"), json({{"hook", "cred"}, {"source", "kernel"}, {"count", 2}}));
  EXPECT_EQ(ev[0].at("event").at("category"), json::array({"host"}));

  // Same cumulative values again: nothing new.
  pipeline_->account_drops({5, 0, 0, 2}, "kernel");
  EXPECT_EQ(json_->lines.size(), 2u);

  // Only the delta is reported.
  pipeline_->account_drops({5, 1, 0, 9}, "perf_buffer");
  ev = events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].at("ktrail").at("lost"),
            json({{"hook", "exec_failed"}, {"source", "perf_buffer"}, {"count", 1}}));
  EXPECT_EQ(ev[3].at("ktrail").at("lost"),
            json({{"hook", "cred"}, {"source", "perf_buffer"}, {"count", 7}}));

  // A longer counter vector (more hooks) starts from zero for the new slots. The last slot
  // stays unnamed however many hooks are appended.
  std::vector<uint64_t> longer(KTRAIL_HOOK_MAX, 0);
  longer[0] = 5, longer[1] = 1, longer[3] = 9, longer[KTRAIL_HOOK_MAX - 1] = 4;
  pipeline_->account_drops(longer, "kernel");
  ev = events();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[4].at("ktrail").at("lost").at("count"), 4);
  EXPECT_EQ(ev[4].at("ktrail").at("lost").at("hook"), "unknown");
  pipeline_->account_drops(longer, "kernel");
  EXPECT_EQ(json_->lines.size(), 5u);
}

TEST_F(PipelineTest, TransportLostIsNotReportedTwice) {
  pipeline_->account_transport_lost(10);
  pipeline_->account_transport_lost(10);
  EXPECT_TRUE(json_->lines.empty()) << "perf LOST records are a cross-check of the drop counters";
}

TEST_F(PipelineTest, UndecodableRecordBecomesLostEvent) {
  // Short record: hook unknown.
  pipeline_->on_record("xyz", 3);
  // Exec record whose size field overruns the buffer: hook known from the type.
  auto rec = test::exec_record("/bin/ls", "", "ls\0"s);
  pipeline_->on_record(rec.data(), rec.size() - 2);
  // Unknown type.
  ktrail_exit x;
  std::memset(&x, 0, sizeof(x));
  test::fill_header(x.hdr, 77, sizeof(x));
  pipeline_->on_record(&x, sizeof(x));

  auto ev = events();
  ASSERT_EQ(ev.size(), 3u);
  for (const auto &e : ev) {
    EXPECT_EQ(e.at("event").at("action"), "lost");
    EXPECT_EQ(e.at("ktrail").at("lost").at("source"), "decode");
    EXPECT_EQ(e.at("ktrail").at("lost").at("count"), 1);
    EXPECT_FALSE(e.contains("process"));
  }
  EXPECT_EQ(ev[0].at("ktrail").at("lost").at("hook"), "unknown");
  EXPECT_EQ(ev[1].at("ktrail").at("lost").at("hook"), "exec");
  EXPECT_EQ(ev[2].at("ktrail").at("lost").at("hook"), "unknown");
  EXPECT_EQ(pipeline_->stats().decode_errors, 3u);
  EXPECT_EQ(pipeline_->stats().records, 3u);
}

TEST_F(PipelineTest, ExitRemovesProcessAfterEmit) {
  auto rec = test::exec_record("/usr/bin/sleep", "", "sleep\0" "1\0"s);
  pipeline_->on_record(rec.data(), rec.size());
  ASSERT_NE(enricher_->procs().find(4242), nullptr);
  feed_exit(4242);
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].at("process").at("executable"), "/usr/bin/sleep") << "enriched before removal";
  EXPECT_EQ(ev[1].at("process").at("args"), json::array({"sleep", "1"}));
  EXPECT_EQ(enricher_->procs().find(4242), nullptr);
}

TEST(PipelineErrors, WriteAndFlushErrorsCounted) {
  log::set_level(log::Level::Error);
  test::TempDir proc, etc;
  Enricher en(proc.path(), etc.path());
  auto cap = std::make_shared<Captured>();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<CaptureSink>(Format::Json, cap, /*fail=*/true));
  testing::internal::CaptureStderr();
  Pipeline p(HostInfo{}, en, std::move(sinks));
  p.account_drops({1}, "kernel");
  p.account_drops({2}, "kernel");
  p.flush();
  std::string err = testing::internal::GetCapturedStderr();
  log::set_level(log::Level::Info);
  EXPECT_EQ(cap->lines.size(), 2u);
  EXPECT_EQ(cap->flushes, 1);
  EXPECT_EQ(p.stats().write_errors, 3u);
  EXPECT_EQ(p.stats().emitted, 2u);
}

// A network output whose spool evicted undelivered records: the pipeline says so in-band,
// once, on every output, with the exact event.sequence range.
class LossySink : public CaptureSink {
 public:
  using CaptureSink::CaptureSink;
  bool write_record(uint64_t seq, const std::string &line) override {
    last_seq = seq;
    return write(line);
  }
  bool take_loss(uint64_t &count, uint64_t &first, uint64_t &last) override {
    if (!pending) return false;
    pending = false;
    count = 3, first = 1, last = 3;
    return true;
  }
  bool pending = false;
  uint64_t last_seq = 0;
};

TEST(PipelineOutputLoss, SpoolEvictionBecomesALostEventWithTheRange) {
  log::set_level(log::Level::Error);
  test::TempDir proc, etc;
  Enricher en(proc.path(), etc.path());
  auto cap = std::make_shared<Captured>();
  auto lossy = std::make_unique<LossySink>(Format::Json, cap);
  LossySink *l = lossy.get();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(lossy));
  Pipeline p(HostInfo{}, en, std::move(sinks));
  p.account_drops({1}, "kernel");
  l->pending = true;
  p.account_drops({2}, "kernel");
  log::set_level(log::Level::Info);
  ASSERT_EQ(cap->lines.size(), 3u);
  json lost = json::parse(cap->lines[2]);
  EXPECT_EQ(lost["event"]["sequence"], 3);
  EXPECT_EQ(l->last_seq, 3u);  // outputs see each record's sequence
  EXPECT_EQ(lost["ktrail"]["lost"]["source"], "spool");
  EXPECT_EQ(lost["ktrail"]["lost"]["hook"], "capture");
  EXPECT_EQ(lost["ktrail"]["lost"]["count"], 3);
  EXPECT_EQ(lost["ktrail"]["lost"]["first_sequence"], 1);
  EXPECT_EQ(lost["ktrail"]["lost"]["last_sequence"], 3);
  EXPECT_FALSE(json::parse(cap->lines[1])["ktrail"]["lost"].contains("first_sequence"));
}

// The final checkpoint's own append fills the spool and drops two older records.
class EvictedByShutdownSink : public CaptureSink {
 public:
  using CaptureSink::CaptureSink;
  bool write_record(uint64_t seq, const std::string &line) override {
    if (!fired && line.find("\"reason\":\"shutdown\"") != std::string::npos) {
      fired = true;
      pending = true;
      first = seq - 2;
    }
    return write(line);
  }
  bool take_loss(uint64_t &count, uint64_t &f, uint64_t &l) override {
    if (!pending) return false;
    pending = false;
    count = 2, f = first, l = first + 1;
    return true;
  }
  bool fired = false, pending = false;
  uint64_t first = 0;
};

TEST(PipelineOutputLoss, ALossCausedByTheLastRecordsIsStillReportedAndSealed) {
  log::set_level(log::Level::Error);
  test::TempDir proc, etc;
  Enricher en(proc.path(), etc.path());
  auto cap = std::make_shared<Captured>();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<EvictedByShutdownSink>(Format::Json, cap));
  Pipeline p(HostInfo{"h", "id"}, en, std::move(sinks));
  std::unique_ptr<Notary> notary;
  ASSERT_TRUE(Notary::open(NotaryConfig{}, HostInfo{"h", "id"}, notary));
  p.set_notary(std::move(notary));
  p.begin();
  p.account_drops({1}, "kernel");
  p.account_drops({2}, "kernel");
  p.finish();
  log::set_level(log::Level::Info);
  // agent_start, two kernel losses, the shutdown checkpoint, the spool loss it caused, and a
  // checkpoint that seals that report: the trail still ends on a checkpoint.
  ASSERT_EQ(cap->lines.size(), 6u);
  json checkpoint = json::parse(cap->lines[3]), lost = json::parse(cap->lines[4]), last = json::parse(cap->lines[5]);
  EXPECT_EQ(checkpoint["event"]["action"], "checkpoint");
  EXPECT_EQ(lost["ktrail"]["lost"]["source"], "spool");
  EXPECT_EQ(lost["ktrail"]["lost"]["count"], 2);
  EXPECT_EQ(lost["ktrail"]["lost"]["first_sequence"], 2);
  EXPECT_EQ(lost["ktrail"]["lost"]["last_sequence"], 3);
  EXPECT_EQ(last["event"]["action"], "checkpoint");
  EXPECT_EQ(last["ktrail"]["checkpoint"]["last_sequence"], 5);
}

// A loss caused by a record that is not an event (a checkpoint, agent_start) is reported at
// the next flush, not only with the next event, which may be a long time coming.
TEST(PipelineOutputLoss, ALossCausedByACheckpointIsReportedAtTheNextFlush) {
  log::set_level(log::Level::Error);
  test::TempDir proc, etc;
  Enricher en(proc.path(), etc.path());
  auto cap = std::make_shared<Captured>();
  auto lossy = std::make_unique<LossySink>(Format::Json, cap);
  LossySink *l = lossy.get();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(lossy));
  Pipeline p(HostInfo{}, en, std::move(sinks));
  std::unique_ptr<Notary> notary;
  ASSERT_TRUE(Notary::open(NotaryConfig{}, HostInfo{}, notary));
  p.set_notary(std::move(notary));
  p.begin();
  l->pending = true;  // agent_start's append dropped records
  p.flush();
  log::set_level(log::Level::Info);
  ASSERT_EQ(cap->lines.size(), 2u);
  EXPECT_EQ(json::parse(cap->lines[1])["ktrail"]["lost"]["source"], "spool");
}

}  // namespace
}  // namespace ktrail
