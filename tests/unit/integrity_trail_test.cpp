// Trails generated through the real Pipeline + Notary + file sink, verified; every kind of
// damage named; restarts, rotation and crashes keep the chain.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "integrity_helpers.h"

namespace ktrail {
namespace {

using json = nlohmann::json;
using test::AgentRun;
using test::describe;
using test::Keys;

class IntegrityTrail : public ::testing::Test {
 protected:
  void SetUp() override {
    log::set_level(log::Level::Error);
    keys_ = test::make_keys(dir_, "signer");
    other_ = test::make_keys(dir_, "attacker");
  }
  void TearDown() override { log::set_level(log::Level::Info); }

  AgentRun signed_run(const std::string &out = "trail.ndjson") {
    AgentRun r;
    r.state = dir_ / "chain.state";
    r.key = keys_.key_path;
    r.outputs = {dir_ / out};
    r.scratch = dir_.path();
    return r;
  }
  // A finished, signed trail: agent_start, 30 events, lost events, checkpoints every 10.
  std::vector<std::string> base_trail() {
    AgentRun r = signed_run();
    test::run_agent(r);
    return test::split_lines(test::read_file(dir_ / "trail.ndjson"));
  }
  VerifyReport verify(const std::vector<std::string> &lines, bool live = false) {
    return test::verify_text(test::join_lines(lines), {&keys_}, live);
  }
  // Index of the first line in [from, ..) with this action (or not a checkpoint when "event").
  static size_t find(const std::vector<std::string> &lines, const std::string &action, size_t from = 0) {
    for (size_t i = from; i < lines.size(); i++) {
      std::string a = test::action_of(lines[i]);
      if (action == "event" ? (a != "checkpoint" && a != "agent_start") : a == action) return i;
    }
    return lines.size();
  }
  static void expect(const VerifyReport &r, Damage kind, uint64_t seq) {
    ASSERT_TRUE(r.failure) << describe(r);
    EXPECT_EQ(r.failure->kind, kind) << describe(r);
    EXPECT_EQ(r.failure->sequence, seq) << describe(r);
  }

  test::TempDir dir_;
  Keys keys_, other_;
};

TEST_F(IntegrityTrail, GeneratedTrailPasses) {
  auto lines = base_trail();
  ASSERT_GT(lines.size(), 35u);
  // Contiguous sequences from 1, every record chained, JSON intact.
  for (size_t i = 0; i < lines.size(); i++) {
    json j = json::parse(lines[i]);
    EXPECT_EQ(j["event"]["sequence"], i + 1);
    EXPECT_EQ(j["ktrail"]["chain"]["hash"].get<std::string>().size(), 64u);
  }
  json first = json::parse(lines.front()), last = json::parse(lines.back());
  EXPECT_EQ(first["event"]["action"], "agent_start");
  EXPECT_EQ(first["event"]["category"], json::array({"host"}));
  EXPECT_EQ(first["ktrail"]["genesis"], true);
  EXPECT_EQ(last["event"]["action"], "checkpoint");
  const json &c = last["ktrail"]["checkpoint"];
  EXPECT_EQ(c["reason"], "shutdown");
  EXPECT_EQ(c["last_sequence"], lines.size() - 1);
  EXPECT_EQ(c["signed"], true);
  EXPECT_EQ(c["key_id"], to_hex(keys_.key->key_id()));
  EXPECT_EQ(c["signature"].get<std::string>().size(), 128u);
  EXPECT_TRUE(c.contains("previous_signature"));
  EXPECT_EQ(c["head"], json::parse(lines[lines.size() - 2])["ktrail"]["chain"]["hash"]);
  EXPECT_EQ(last["host"]["id"], "0123456789abcdef0123456789abcdef");

  VerifyReport r = verify(lines);
  ASSERT_EQ(r.result, VerifyReport::Ok) << describe(r);
  EXPECT_EQ(verify_exit_code(r), 0);
  EXPECT_EQ(*r.verified_first, 1u);
  EXPECT_EQ(*r.verified_last, lines.size());
  EXPECT_EQ(r.start, "genesis");
  EXPECT_TRUE(r.final_checkpoint);
  EXPECT_EQ(r.records, lines.size());
  EXPECT_GE(r.checkpoints, 4u);
  EXPECT_EQ(r.checkpoints, r.signed_checkpoints);
  EXPECT_EQ(r.key_ids, std::set<std::string>{to_hex(keys_.key->key_id())});
  // `lost` events are records of the chain, and their counts are what the host declared.
  EXPECT_EQ(r.lost_events, 2u);
  EXPECT_EQ(r.lost_records, 6u);
}

TEST_F(IntegrityTrail, OddButChainedRecordsAreReportedNotThrown) {
  // Records that link but lack the fields of their action: only someone recomputing the chain
  // writes these. verify must name them, not crash.
  auto chained = [](std::vector<std::string> canon) {
    Sha256 h;
    Digest prev{};
    for (auto &c : canon) prev = chain::seal(h, prev, c);
    return test::join_lines(canon);
  };
  const std::string start = R"({"@timestamp":"t","event":{"action":"agent_start","sequence":1},"host":{"id":"h"},"ktrail":{"genesis":true}})";
  std::string t = chained({start, R"({"event":{"action":"lost","sequence":2},"ktrail":{"lostx":1}})",
                           R"({"event":{"action":"checkpoint","sequence":3},"ktrail":{"checkpoint":{"reason":5}}})"});
  VerifyReport r = test::verify_text(t, {&keys_});
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->kind, Damage::Modified) << describe(r);
  EXPECT_EQ(r.failure->sequence, 3u);
  EXPECT_EQ(r.lost_events, 1u);
  t = chained({start, R"({"event":{"action":"agent_start","sequence":2},"ktrail":{"resume":{"sequence":"x"}}})"});
  r = test::verify_text(t, {&keys_});
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->kind, Damage::Modified) << describe(r);
  t = chained({R"({"event":{"action":"agent_start","sequence":7},"ktrail":{"resume":{}}})"});
  r = test::verify_text(t, {&keys_});
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->kind, Damage::Modified) << describe(r);
  t = chained({R"({"event":{"action":"checkpoint","sequence":7},"ktrail":{"checkpoint":{}}})"});
  r = test::verify_text(t, {&keys_});
  ASSERT_TRUE(r.failure);
}

TEST_F(IntegrityTrail, EveryOutputCarriesTheSameChain) {
  AgentRun r = signed_run();
  r.outputs.push_back(dir_ / "copy.ndjson");
  test::run_agent(r);
  EXPECT_EQ(test::read_file(dir_ / "trail.ndjson"), test::read_file(dir_ / "copy.ndjson"));
}

TEST_F(IntegrityTrail, UnsignedOrUncheckedIsNotAuthenticated) {
  AgentRun r = signed_run();
  r.key.clear();
  test::run_agent(r);
  const std::string text = test::read_file(dir_ / "trail.ndjson");
  EXPECT_EQ(json::parse(test::split_lines(text).back())["ktrail"]["checkpoint"]["signed"], false);
  VerifyReport u = test::verify_text(text, {});
  EXPECT_EQ(u.result, VerifyReport::Unauthenticated) << describe(u);
  EXPECT_EQ(verify_exit_code(u), 12);
  EXPECT_NE(u.note.find("unsigned"), std::string::npos);
  // Asking for signatures on an unsigned trail fails at its first checkpoint.
  VerifyReport k = test::verify_text(text, {&keys_});
  ASSERT_TRUE(k.failure);
  EXPECT_EQ(k.failure->kind, Damage::Unsigned);
  EXPECT_EQ(verify_exit_code(k), 11);

  // A signed trail verified without its public key: intact, not authenticated.
  auto lines = base_trail();
  VerifyReport n = test::verify_text(test::join_lines(lines), {});
  EXPECT_EQ(n.result, VerifyReport::Unauthenticated);
  EXPECT_FALSE(n.signatures_checked);
  EXPECT_NE(n.note.find("--pubkey"), std::string::npos);
}

// ---- each damage, named ----------------------------------------------------------------

TEST_F(IntegrityTrail, FieldChangedInTheMiddle) {
  auto lines = base_trail();
  size_t i = find(lines, "exec", lines.size() / 2);
  ASSERT_LT(i, lines.size());
  size_t at = lines[i].find("\"name\":\"");
  ASSERT_NE(at, std::string::npos);
  lines[i][at + 8] ^= 0x20;  // bash -> Bash: one bit
  VerifyReport r = verify(lines);
  expect(r, Damage::Modified, i + 1);
  EXPECT_EQ(r.failure->line, i + 1);
  EXPECT_EQ(r.failure->file, "trail");
  EXPECT_EQ(*r.failure->last_good, i);
  EXPECT_EQ(verify_exit_code(r), 10);

  // The sequence number itself changed.
  lines = base_trail();
  size_t s = lines[i].find("\"sequence\":");
  lines[i].replace(s, 11 + std::to_string(i + 1).size(), "\"sequence\":" + std::to_string(i + 7));
  expect(verify(lines), Damage::Modified, i + 1);
}

TEST_F(IntegrityTrail, FieldChangedAndRehashed) {
  // An attacker who recomputes the hash of the record they changed breaks the next link;
  // without the previous hash in each record the verifier names the next record.
  auto lines = base_trail();
  size_t i = find(lines, "event", lines.size() / 2);
  test::tweak(lines[i]);
  std::vector<std::string> one(lines.begin(), lines.begin() + static_cast<long>(i) + 1);
  test::rechain(one, i, false);
  lines[i] = one[i];
  VerifyReport r = verify(lines);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->kind, Damage::Modified);
  EXPECT_EQ(r.failure->sequence, i + 2);

  // Rehashing everything after it without the key: the next checkpoint's signed head gives it
  // away; updating that head breaks its signature instead.
  lines = base_trail();
  test::tweak(lines[i]);
  auto rewritten = lines;
  test::rechain(rewritten, i, /*update_heads=*/false);
  VerifyReport h = verify(rewritten);
  ASSERT_TRUE(h.failure) << "a rewritten chain must not pass";
  EXPECT_EQ(h.failure->kind, Damage::Modified) << describe(h);
  EXPECT_LE(h.failure->sequence, i + 1) << "names the range that holds the change";
  test::rechain(lines, i, /*update_heads=*/true);
  VerifyReport s = verify(lines);
  ASSERT_TRUE(s.failure);
  EXPECT_EQ(s.failure->kind, Damage::BadSignature) << describe(s);
  EXPECT_EQ(test::action_of(lines[s.failure->sequence - 1]), "checkpoint");
}

TEST_F(IntegrityTrail, OneRecordDeleted) {
  auto lines = base_trail();
  size_t i = find(lines, "event", 15);
  lines.erase(lines.begin() + static_cast<long>(i));
  VerifyReport r = verify(lines);
  expect(r, Damage::Deleted, i + 1);
  EXPECT_EQ(r.failure->last_sequence, i + 1);
  // A checkpoint deleted is a record deleted.
  lines = base_trail();
  size_t c = find(lines, "checkpoint", 5);
  lines.erase(lines.begin() + static_cast<long>(c));
  expect(verify(lines), Damage::Deleted, c + 1);
  // A run of records.
  lines = base_trail();
  lines.erase(lines.begin() + 5, lines.begin() + 9);
  VerifyReport g = verify(lines);
  expect(g, Damage::Deleted, 6);
  EXPECT_EQ(g.failure->last_sequence, 9u);
}

TEST_F(IntegrityTrail, OneRecordInserted) {
  auto base = base_trail();
  // A copy of an earlier record.
  auto lines = base;
  lines.insert(lines.begin() + 20, lines[10]);
  expect(verify(lines), Damage::Inserted, 21);
  // A copy of a later record.
  lines = base;
  lines.insert(lines.begin() + 10, lines[20]);
  expect(verify(lines), Damage::Inserted, 11);
  // A forged record that claims the next sequence number: lifted from another host's trail.
  AgentRun other = signed_run("other.ndjson");
  other.state = dir_ / "other.state";
  other.host = HostInfo{"evil", "ffffffffffffffffffffffffffffffff"};
  test::run_agent(other);
  auto foreign = test::split_lines(test::read_file(dir_ / "other.ndjson"));
  lines = base;
  lines.insert(lines.begin() + 20, foreign[20]);  // sequence 21, where 21 belongs
  VerifyReport r = verify(lines);
  expect(r, Damage::Inserted, 21);
  EXPECT_EQ(r.failure->line, 21u);
  // A line that is not a record at all.
  lines = base;
  lines.insert(lines.begin() + 20, R"({"hello":"world"})");
  expect(verify(lines), Damage::Inserted, 21);
  lines = base;
  lines.insert(lines.begin() + 20, "");
  expect(verify(lines), Damage::Inserted, 21);
}

TEST_F(IntegrityTrail, TwoRecordsSwapped) {
  auto lines = base_trail();
  size_t i = find(lines, "event", 12);
  std::swap(lines[i], lines[i + 1]);
  expect(verify(lines), Damage::Reordered, i + 1);
  // A record moved far back and far forward.
  lines = base_trail();
  std::string moved = lines[8];
  lines.erase(lines.begin() + 8);
  lines.insert(lines.begin() + 25, moved);
  expect(verify(lines), Damage::Reordered, 9);
  lines = base_trail();
  moved = lines[25];
  lines.erase(lines.begin() + 25);
  lines.insert(lines.begin() + 8, moved);
  expect(verify(lines), Damage::Reordered, 9);
}

TEST_F(IntegrityTrail, TailTruncated) {
  auto base = base_trail();
  size_t last_ckpt = 0;  // index of the last periodic checkpoint
  for (size_t i = 0; i + 1 < base.size(); i++)
    if (test::action_of(base[i]) == "checkpoint") last_ckpt = i;
  ASSERT_GT(last_ckpt, 0u);
  ASSERT_LT(last_ckpt + 3, base.size());

  // Records after the last checkpoint.
  auto lines = base;
  lines.resize(base.size() - 2);
  VerifyReport r = verify(lines);
  expect(r, Damage::Truncated, last_ckpt + 2);
  EXPECT_EQ(r.failure->last_sequence, base.size() - 2);
  EXPECT_EQ(*r.verified_last, last_ckpt + 1) << "everything up to the checkpoint is attested";
  // The same trail, read as one still being written: unattested, not truncated.
  VerifyReport live = verify(lines, /*live=*/true);
  ASSERT_EQ(live.result, VerifyReport::Ok) << describe(live);
  EXPECT_EQ(*live.unattested_first, last_ckpt + 2);
  EXPECT_EQ(*live.unattested_last, base.size() - 2);

  // Cut exactly after a periodic checkpoint: no final checkpoint.
  lines.assign(base.begin(), base.begin() + static_cast<long>(last_ckpt) + 1);
  expect(verify(lines), Damage::Truncated, last_ckpt + 2);
  EXPECT_EQ(verify(lines, true).result, VerifyReport::Ok);

  // Cut in the middle of the last line.
  std::string text = test::join_lines(base);
  text.resize(text.size() - 40);
  VerifyReport m = test::verify_text(text, {&keys_});
  expect(m, Damage::Truncated, base.size());
  // Only the final newline removed.
  text = test::join_lines(base);
  text.pop_back();
  expect(test::verify_text(text, {&keys_}), Damage::Truncated, base.size());
  // Nothing at all.
  expect(test::verify_text("", {&keys_}), Damage::Truncated, 0);
}

TEST_F(IntegrityTrail, HeadTruncated) {
  auto lines = base_trail();
  lines.erase(lines.begin(), lines.begin() + 3);
  expect(verify(lines), Damage::Truncated, 4);
  // Starting at a periodic checkpoint is not a file start either.
  lines = base_trail();
  size_t c = find(lines, "checkpoint");
  lines.erase(lines.begin(), lines.begin() + static_cast<long>(c));
  expect(verify(lines), Damage::Truncated, c + 1);
}

TEST_F(IntegrityTrail, CheckpointResignedWithAnotherKey) {
  auto lines = base_trail();
  size_t c = find(lines, "checkpoint", 12);
  ASSERT_LT(c, lines.size());
  // The strongest attacker without our key: changes a record, rechains everything, updates
  // every head and previous_signature and re-signs every checkpoint with their own key.
  test::tweak(lines[c - 2]);
  test::rechain(lines, c - 2, true, other_.key.get());
  VerifyReport r = verify(lines);
  expect(r, Damage::UnknownKey, c + 1);
  EXPECT_EQ(verify_exit_code(r), 11);
  EXPECT_NE(r.failure->detail.find(to_hex(other_.key->key_id())), std::string::npos);

  // The same, but claiming our key id: the signature does not verify.
  lines = base_trail();
  std::string canon;
  {
    chain::Split sp;
    ASSERT_TRUE(chain::split(lines[c], sp));
    canon = chain::canonical(sp.body);
    canon.erase(canon.size() - 3 - chain::kSignatureMemberSize, chain::kSignatureMemberSize);
    chain::insert_signature(canon, other_.key->sign(chain::signing_message(canon)));
    Sha256 h;
    chain::Split prev;
    ASSERT_TRUE(chain::split(lines[c - 1], prev));
    chain::seal(h, prev.hash, canon);
    lines[c] = canon;
  }
  test::rechain(lines, c + 1, false);
  VerifyReport b = verify(lines);
  expect(b, Damage::BadSignature, c + 1);
  EXPECT_EQ(verify_exit_code(b), 11);
}

// ---- continuity ------------------------------------------------------------------------

TEST_F(IntegrityTrail, ChainStaysValidAcrossRestartAndRotation) {
  AgentRun r = signed_run();
  r.rotation = FileRotation{3000, 50};
  r.events = 40;
  test::run_agent(r);
  uint64_t run1_last = test::seq_of(test::split_lines(test::read_file(dir_ / "trail.ndjson")).back());
  AgentRun r2 = signed_run();
  r2.rotation = FileRotation{3000, 50};
  r2.events = 40;
  r2.event_base = 1000;
  test::run_agent(r2);

  std::vector<std::string> files;
  for (auto &e : std::filesystem::directory_iterator(dir_.path()))
    if (e.path().filename().string().rfind("trail.ndjson", 0) == 0) files.push_back(e.path().string());
  ASSERT_GE(files.size(), 4u) << "rotated";
  // Every file but the oldest starts with a rotation checkpoint.
  size_t rotation_starts = 0;
  for (const auto &f : files) {
    std::string first = test::split_lines(test::read_file(f)).front();
    json j = json::parse(first);
    if (j["event"]["action"] == "checkpoint") {
      EXPECT_EQ(j["ktrail"]["checkpoint"]["reason"], "rotation");
      rotation_starts++;
    }
  }
  EXPECT_EQ(rotation_starts, files.size() - 1);

  // Given in any order.
  std::sort(files.begin(), files.end());
  std::reverse(files.begin(), files.end());
  Verifier v;
  v.add_key(keys_.pub());
  for (const auto &f : files) ASSERT_TRUE(v.add_file(f));
  VerifyReport rep = v.run();
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
  EXPECT_EQ(rep.start, "genesis");
  EXPECT_EQ(rep.restarts, 1u);
  EXPECT_EQ(*rep.verified_first, 1u);
  EXPECT_EQ(rep.records, *rep.verified_last);
  EXPECT_EQ(rep.files.front(), dir_ / "trail.ndjson." + std::to_string(files.size() - 1));
  EXPECT_EQ(rep.files.back(), dir_ / "trail.ndjson");

  // The restart continued the sequence and linked to the last hash.
  std::string all;
  for (const auto &f : rep.files) all += test::read_file(f);
  auto lines = test::split_lines(all);
  json start = json::parse(lines[run1_last]);
  EXPECT_EQ(start["event"]["action"], "agent_start");
  EXPECT_EQ(start["event"]["sequence"], run1_last + 1);
  EXPECT_EQ(start["ktrail"]["resume"]["sequence"], run1_last);
  EXPECT_EQ(start["ktrail"]["resume"]["source"], "state");
  EXPECT_EQ(start["ktrail"]["resume"]["hash"], json::parse(lines[run1_last - 1])["ktrail"]["chain"]["hash"]);
  EXPECT_FALSE(start["ktrail"]["resume"].contains("unwritten")) << "a clean stop";

  // The newest file alone verifies from its rotation checkpoint.
  Verifier one;
  one.add_key(keys_.pub());
  ASSERT_TRUE(one.add_file(dir_ / "trail.ndjson"));
  VerifyReport o = one.run();
  ASSERT_EQ(o.result, VerifyReport::Ok) << describe(o);
  EXPECT_EQ(o.start, "rotation checkpoint");

  // A missing middle file is named.
  Verifier gap;
  gap.add_key(keys_.pub());
  for (const auto &f : files)
    if (f != dir_ / "trail.ndjson.2") {
      ASSERT_TRUE(gap.add_file(f));
    }
  VerifyReport g = gap.run();
  ASSERT_TRUE(g.failure);
  EXPECT_EQ(g.failure->kind, Damage::Deleted) << describe(g);
}

TEST_F(IntegrityTrail, RotationKeepsOnlyMaxFiles) {
  AgentRun r = signed_run();
  r.rotation = FileRotation{2000, 2};
  r.events = 60;
  test::run_agent(r);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "trail.ndjson.2"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "trail.ndjson.3"));
  Verifier v;
  v.add_key(keys_.pub());
  for (const char *f : {"trail.ndjson", "trail.ndjson.1", "trail.ndjson.2"}) ASSERT_TRUE(v.add_file(dir_ / f));
  VerifyReport rep = v.run();
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
  EXPECT_EQ(rep.start, "rotation checkpoint");
  EXPECT_GT(*rep.verified_first, 1u);
}

TEST_F(IntegrityTrail, ResumesFromTheOutputWhenTheStateIsLostOrBehind) {
  AgentRun r = signed_run();
  test::run_agent(r);
  std::filesystem::remove(dir_ / "chain.state");
  AgentRun r2 = signed_run();
  r2.event_base = 100;
  test::run_agent(r2);
  auto lines = test::split_lines(test::read_file(dir_ / "trail.ndjson"));
  VerifyReport rep = verify(lines);
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
  EXPECT_EQ(rep.restarts, 1u);

  // State behind the output: a run that ends without its final checkpoint while its sink
  // still flushes (the state was last saved before those records went out).
  AgentRun r3 = signed_run();
  r3.finish = false;
  r3.event_base = 200;
  r3.events = 33;  // the last 3 never released by the pipeline; the sink writes them as it closes
  r3.checkpoint_records = 1000;
  test::run_agent(r3);
  AgentRun r4 = signed_run();
  r4.event_base = 300;
  test::run_agent(r4);
  lines = test::split_lines(test::read_file(dir_ / "trail.ndjson"));
  rep = verify(lines);
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
  EXPECT_EQ(rep.restarts, 3u);
  std::vector<std::string> sources;
  for (const auto &l : lines)
    if (test::action_of(l) == "agent_start" && json::parse(l)["ktrail"].contains("resume"))
      sources.push_back(json::parse(l)["ktrail"]["resume"]["source"]);
  EXPECT_EQ(sources, (std::vector<std::string>{"output", "state", "output"}));
}

// Dies (SIGKILL) at its n-th flush: a crash between saving the state and writing the outputs.
class KillSink : public Sink {
 public:
  explicit KillSink(int at) : at_(at) {}
  Format format() const override { return Format::Json; }
  bool write(const std::string &) override { return true; }
  bool flush() override {
    if (++n_ == at_) raise(SIGKILL);
    return true;
  }
  std::string describe() const override { return "kill"; }

 private:
  int at_, n_ = 0;
};

TEST_F(IntegrityTrail, CrashBeforeTheOutputsAreWrittenIsDeclared) {
  AgentRun r0 = signed_run();
  test::run_agent(r0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    AgentRun r = signed_run();
    r.event_base = 100;
    r.extra_sinks.push_back(std::make_unique<KillSink>(3));  // before the file: it never gets them
    test::run_agent(r);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  AgentRun r2 = signed_run();
  r2.event_base = 200;
  test::run_agent(r2);
  auto lines = test::split_lines(test::read_file(dir_ / "trail.ndjson"));
  VerifyReport rep = verify(lines);
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
  ASSERT_EQ(rep.declared_gaps.size(), 1u);
  EXPECT_EQ(rep.restarts, 2u);
  json start;
  for (const auto &l : lines)
    if (test::action_of(l) == "agent_start") start = json::parse(l);
  EXPECT_TRUE(start["ktrail"]["resume"].contains("unwritten")) << start.dump();
  EXPECT_EQ(start["ktrail"]["resume"]["unwritten"]["last"], start["ktrail"]["resume"]["sequence"]);
  EXPECT_EQ(rep.declared_gaps[0].second, start["ktrail"]["resume"]["sequence"].get<uint64_t>());

  // An undeclared gap in the same place is still a deletion.
  size_t i = 0;
  for (size_t k = 0; k < lines.size(); k++)
    if (test::action_of(lines[k]) == "agent_start") i = k;
  lines.erase(lines.begin() + static_cast<long>(i) - 1);
  VerifyReport d = verify(lines);
  ASSERT_TRUE(d.failure);
  EXPECT_NE(d.result, VerifyReport::Ok);
}

TEST_F(IntegrityTrail, TwoCrashesInARowStillDeclareTheFirstLoss) {
  AgentRun r0 = signed_run();
  test::run_agent(r0);
  // Crash 1: after saving the state, before the outputs got the records. Crash 2: the same,
  // at the next run's very first release, so its agent_start (the declaration) is lost too.
  for (int at : {3, 1}) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      AgentRun r = signed_run();
      r.event_base = 100u * static_cast<unsigned>(at);
      r.extra_sinks.push_back(std::make_unique<KillSink>(at));
      test::run_agent(r);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
  }
  AgentRun r2 = signed_run();
  r2.event_base = 500;
  test::run_agent(r2);
  auto lines = test::split_lines(test::read_file(dir_ / "trail.ndjson"));
  VerifyReport rep = verify(lines);
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
  ASSERT_EQ(rep.declared_gaps.size(), 1u);
  EXPECT_GT(rep.declared_gaps[0].second, rep.declared_gaps[0].first) << "both runs' records";
}

TEST_F(IntegrityTrail, KilledAtRandomTimesTheChainHolds) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 16; round++) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int k = 0;; k++) {
        AgentRun r = signed_run();
        r.events = 200;
        r.event_base = static_cast<uint64_t>(round * 100000 + k * 1000);
        r.rotation = FileRotation{20000, 100};
        test::run_agent(r);
      }
    }
    usleep(std::uniform_int_distribution<int>(500, 40000)(rng));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
  }
  AgentRun last = signed_run();
  last.rotation = FileRotation{20000, 100};
  test::run_agent(last);
  Verifier v;
  v.add_key(keys_.pub());
  for (auto &e : std::filesystem::directory_iterator(dir_.path()))
    if (e.path().filename().string().rfind("trail.ndjson", 0) == 0) {
      ASSERT_TRUE(v.add_file(e.path().string()));
    }
  VerifyReport rep = v.run();
  if (rep.result != VerifyReport::Ok) {
    for (const auto &f : rep.files) {
      auto ls = test::split_lines(test::read_file(f));
      std::printf("%s: %zu lines, %llu..%llu\n", f.c_str(), ls.size(),
                  (unsigned long long)test::seq_of(ls.front()), (unsigned long long)test::seq_of(ls.back()));
      for (const auto &l : ls)
        if (test::action_of(l) == "agent_start" || l.find("\"reason\":\"rotation\"") != std::string::npos)
          std::printf("   %s\n", l.substr(0, 400).c_str());
    }
  }
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
  EXPECT_GE(rep.restarts, 1u) << "a child killed before its agent_start restarts nothing";
}

TEST_F(IntegrityTrail, TornTailIsRepairedBeforeResuming) {
  AgentRun r = signed_run();
  test::run_agent(r);
  std::string text = test::read_file(dir_ / "trail.ndjson");
  // The start of a record whose write was interrupted (its sequence was saved as unwritten).
  test::write_file(dir_ / "trail.ndjson", text + R"({"@timestamp":"2026-11-26T00:00:00Z","event":{"ki)");
  AgentRun r2 = signed_run();
  r2.event_base = 50;
  test::run_agent(r2);
  VerifyReport rep = verify(test::split_lines(test::read_file(dir_ / "trail.ndjson")));
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);
}

TEST_F(IntegrityTrail, StateOfAnotherHostStartsANewChain) {
  AgentRun r = signed_run();
  test::run_agent(r);
  AgentRun r2 = signed_run("new.ndjson");
  r2.host = HostInfo{"clone", "99999999999999999999999999999999"};
  test::run_agent(r2);
  auto lines = test::split_lines(test::read_file(dir_ / "new.ndjson"));
  EXPECT_EQ(json::parse(lines.front())["ktrail"]["genesis"], true);
  EXPECT_EQ(test::seq_of(lines.front()), 1u);
  EXPECT_EQ(verify(lines).result, VerifyReport::Ok);
}

TEST_F(IntegrityTrail, ASecondAgentOnTheSameStateIsRefused) {
  NotaryConfig c;
  c.state_path = dir_ / "chain.state";
  std::unique_ptr<Notary> a, b;
  ASSERT_TRUE(Notary::open(c, HostInfo{"h", "i"}, a));
  Status s = Notary::open(c, HostInfo{"h", "i"}, b);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);
}

// ---- inputs: .gz, stdin, the real binary --------------------------------------------------

std::string gzip(const std::string &path, const std::string &data) {
  gzFile g = gzopen(path.c_str(), "wb");
  gzwrite(g, data.data(), static_cast<unsigned>(data.size()));
  gzclose(g);
  return path;
}

TEST_F(IntegrityTrail, ReadsGzipAndStdin) {
  AgentRun r = signed_run();
  r.rotation = FileRotation{4000, 10};
  r.events = 40;
  test::run_agent(r);
  // Rotated files compressed afterwards, mixed with plain ones.
  const std::string plain1 = test::read_file(dir_ / "trail.ndjson.1");
  gzip(dir_ / "trail.ndjson.1.gz", plain1);
  std::filesystem::remove(dir_ / "trail.ndjson.1");
  Verifier v;
  v.add_key(keys_.pub());
  for (auto &e : std::filesystem::directory_iterator(dir_.path()))
    if (e.path().filename().string().rfind("trail.ndjson", 0) == 0) {
      ASSERT_TRUE(v.add_file(e.path().string()));
    }
  VerifyReport rep = v.run();
  ASSERT_EQ(rep.result, VerifyReport::Ok) << describe(rep);

  // A cut .gz is named.
  std::string all;
  for (const auto &f : rep.files)
    all += f.ends_with(".gz") ? plain1 : test::read_file(f);
  std::string gz = test::read_file(gzip(dir_ / "all.gz", all));
  test::write_file(dir_ / "cut.gz", gz.substr(0, gz.size() / 2));
  Verifier c;
  c.add_key(keys_.pub());
  ASSERT_TRUE(c.add_file(dir_ / "cut.gz"));
  VerifyReport cut = c.run();
  ASSERT_TRUE(cut.failure);
  EXPECT_EQ(cut.failure->kind, Damage::Truncated) << describe(cut);

  // stdin, through the real binary, plain and gzip.
  const std::string bin = KTRAIL_BINARY;
  auto run = [&](const std::string &args) {
    int st = std::system((bin + " " + args + " >" + (dir_ / "out.txt") + " 2>&1").c_str());
    return WEXITSTATUS(st);
  };
  test::write_file(dir_ / "all.ndjson", all);
  EXPECT_EQ(run("verify --pubkey " + keys_.pub_path + " - <" + (dir_ / "all.ndjson")), 0) << test::read_file(dir_ / "out.txt");
  EXPECT_NE(test::read_file(dir_ / "out.txt").find("ktrail verify: OK"), std::string::npos);
  EXPECT_EQ(run("verify --pubkey " + keys_.pub_path + " <" + (dir_ / "all.gz")), 0) << test::read_file(dir_ / "out.txt");
  EXPECT_EQ(run("verify --json --pubkey " + keys_.pub_path + " - <" + (dir_ / "all.gz")), 0);
  json j = json::parse(test::read_file(dir_ / "out.txt"));
  EXPECT_EQ(j["result"], "ok");
  EXPECT_EQ(j["verified"]["first"], 1);
  EXPECT_EQ(j["files"], json::array({"<stdin>"}));

  // Exit codes by failure class.
  EXPECT_EQ(run("verify " + (dir_ / "all.ndjson")), 12) << "no --pubkey: not authenticated";
  EXPECT_EQ(run("verify --pubkey " + other_.pub_path + " " + (dir_ / "all.ndjson")), 11);
  EXPECT_EQ(run("verify --json --pubkey " + other_.pub_path + " " + (dir_ / "all.ndjson")), 11);
  EXPECT_EQ(json::parse(test::read_file(dir_ / "out.txt"))["failure"]["kind"], "unknown_key");
  auto lines = test::split_lines(all);
  lines.erase(lines.begin() + 10);
  test::write_file(dir_ / "damaged.ndjson", test::join_lines(lines));
  EXPECT_EQ(run("verify --json --pubkey " + keys_.pub_path + " " + (dir_ / "damaged.ndjson")), 10);
  j = json::parse(test::read_file(dir_ / "out.txt"));
  EXPECT_EQ(j["failure"]["kind"], "deleted");
  EXPECT_EQ(j["failure"]["sequence"], 11);
  EXPECT_EQ(j["failure"]["last_good_sequence"], 10);
  EXPECT_EQ(run("verify --pubkey " + keys_.pub_path + " " + (dir_ / "damaged.ndjson")), 10);
  EXPECT_NE(test::read_file(dir_ / "out.txt").find("FAILED: deleted at sequence 11"), std::string::npos)
      << test::read_file(dir_ / "out.txt");
  EXPECT_EQ(run("verify --pubkey " + keys_.pub_path + " " + (dir_ / "missing.ndjson")), 2);
  EXPECT_EQ(run("verify --pubkey " + keys_.key_path + " " + (dir_ / "all.ndjson")), 0)
      << "a private key file works as the public key";
}

}  // namespace
}  // namespace ktrail
