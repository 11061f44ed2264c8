// The file sink's part in the trail (whole lines released on flush, size rotation, torn tails,
// the tail a restart resumes from) and the new command-line options.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "cli/options.h"
#include "integrity_helpers.h"

namespace ktrail {
namespace {

TEST(IntegritySink, LinesLeaveTheProcessOnlyOnFlush) {
  test::TempDir d;
  std::unique_ptr<Sink> s;
  ASSERT_TRUE(make_sink("file:" + d / "f", Format::Json, s));
  ASSERT_TRUE(s->write("{\"a\":1}"));
  EXPECT_EQ(test::read_file(d / "f"), "") << "the pipeline decides when records are released";
  ASSERT_TRUE(s->flush());
  EXPECT_EQ(test::read_file(d / "f"), "{\"a\":1}\n");
}

TEST(IntegritySink, AllocatesAheadWhileOpenAndTrimsWhenDone) {
  test::TempDir d;
  const std::string path = d / "a.ndjson";
  {
    // Only where the file system allocates ahead at all (ext4, xfs, tmpfs do).
    int fd = ::open((d / "probe").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    bool can = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
    ::close(fd);
    if (!can) GTEST_SKIP() << "no fallocate on this file system";
  }
  auto allocated = [&](const std::string &p) {
    struct stat st;
    EXPECT_EQ(stat(p.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  };
  auto size = [&](const std::string &p) { return std::filesystem::file_size(p); };
  std::string expected;
  {
    std::unique_ptr<Sink> s;
    ASSERT_TRUE(make_sink("file:" + path, Format::Json, s, FileRotation{1 << 20, 1}));
    for (int i = 0; i < 100; i++) {
      std::string line = "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(1000, 'p') + "\"}";
      ASSERT_TRUE(s->write(line));
      expected += line + "\n";
    }
    ASSERT_TRUE(s->flush());
    EXPECT_EQ(size(path), expected.size()) << "the size is the records', not the allocation's";
    EXPECT_GE(allocated(path), expected.size() + (1u << 20)) << "allocated ahead while open";
    // Rotation closes the file: it keeps what its records need.
    for (int i = 0; i < 1100 && !s->rotation_due(); i++) {
      std::string line = "{\"m\":" + std::to_string(i) + ",\"pad\":\"" + std::string(1000, 'q') + "\"}";
      ASSERT_TRUE(s->write(line));
      expected += line + "\n";
      if (i % 100 == 0) {
        ASSERT_TRUE(s->flush());
      }
    }
    ASSERT_TRUE(s->rotation_due());
    ASSERT_TRUE(s->rotate());
    EXPECT_EQ(test::read_file(path + ".1"), expected);
    EXPECT_LT(allocated(path + ".1"), expected.size() + (64u << 10));
    ASSERT_TRUE(s->write("{\"last\":1}"));
  }
  // Closed at exit: trimmed as well, and nothing but the record in it.
  EXPECT_EQ(test::read_file(path), "{\"last\":1}\n");
  EXPECT_LT(allocated(path), 64u << 10);
}

TEST(IntegritySink, RotatesAndKeepsMaxFiles) {
  test::TempDir d;
  const std::string path = d / "t.ndjson";
  std::unique_ptr<Sink> s;
  ASSERT_TRUE(make_sink("file:" + path, Format::Json, s, FileRotation{10, 2}));
  std::string tail;
  EXPECT_FALSE(s->last_line(tail));
  for (int i = 1; i <= 4; i++) {
    EXPECT_FALSE(s->rotation_due());
    ASSERT_TRUE(s->write("line-" + std::to_string(i) + "-xx"));  // 10 bytes with the newline
    EXPECT_TRUE(s->rotation_due());
    ASSERT_TRUE(s->rotate());
    EXPECT_TRUE(s->last_line(tail)) << "right after a rotation the tail is in PATH.1";
    EXPECT_EQ(tail, "line-" + std::to_string(i) + "-xx");
  }
  EXPECT_EQ(test::read_file(path), "");
  EXPECT_EQ(test::read_file(path + ".1"), "line-4-xx\n");
  EXPECT_EQ(test::read_file(path + ".2"), "line-3-xx\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".3")) << "at most max_files rotated files";
  ASSERT_TRUE(s->write("line-5"));
  ASSERT_TRUE(s->flush());
  ASSERT_TRUE(s->last_line(tail));
  EXPECT_EQ(tail, "line-5");

  // No size limit: never due. stdout never rotates.
  std::unique_ptr<Sink> plain;
  ASSERT_TRUE(make_sink("file:" + d / "p", Format::Json, plain));
  ASSERT_TRUE(plain->write(std::string(100000, 'x')));
  EXPECT_FALSE(plain->rotation_due());
  std::unique_ptr<Sink> out;
  ASSERT_TRUE(make_sink("stdout", Format::Json, out, FileRotation{1, 1}));
  EXPECT_FALSE(out->rotation_due());
  EXPECT_FALSE(out->last_line(tail));
}

TEST(IntegritySink, UnchainedPipelineRotatesAtAnyRecord) {
  log::set_level(log::Level::Error);
  test::TempDir d;
  Enricher en(d / "proc", d / "etc");
  std::vector<std::unique_ptr<Sink>> sinks;
  std::unique_ptr<Sink> s;
  ASSERT_TRUE(make_sink("file:" + d / "t", Format::Json, s, FileRotation{1500, 10}));
  sinks.push_back(std::move(s));
  {
    Pipeline p(HostInfo{"h", "i"}, en, std::move(sinks));
    for (int i = 0; i < 10; i++) {
      Event e = test::synthetic_event(static_cast<uint64_t>(i));
      p.emit(e);
    }
    p.finish();
  }
  log::set_level(log::Level::Info);
  EXPECT_TRUE(std::filesystem::exists(d / "t.1"));
  std::string all;
  for (int i = 9; i >= 1; i--)
    if (std::filesystem::exists(d / ("t." + std::to_string(i)))) all += test::read_file(d / ("t." + std::to_string(i)));
  all += test::read_file(d / "t");
  auto lines = test::split_lines(all);
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(lines[0].find("\"chain\""), std::string::npos) << "no notary, no chain";
}

TEST(IntegritySink, TornTailRepair) {
  test::TempDir d;
  // Our own record, cut by an interrupted write: removed.
  d.write("a", "{\"x\":1}\n{\"@timestamp\":\"2026-");
  std::unique_ptr<Sink> s;
  ASSERT_TRUE(make_sink("file:" + d / "a", Format::Json, s));
  ASSERT_TRUE(s->write("{\"y\":2}"));
  ASSERT_TRUE(s->flush());
  EXPECT_EQ(test::read_file(d / "a"), "{\"x\":1}\n{\"y\":2}\n");
  // Shorter than the record prefix itself.
  d.write("b", "{\"x\":1}\n{\"@t");
  ASSERT_TRUE(make_sink("file:" + d / "b", Format::Json, s));
  s.reset();
  EXPECT_EQ(test::read_file(d / "b"), "{\"x\":1}\n");
  // Text that is not ours is kept, and terminated.
  d.write("c", "hello");
  ASSERT_TRUE(make_sink("file:" + d / "c", Format::Json, s));
  ASSERT_TRUE(s->write("{\"y\":2}"));
  s.reset();
  EXPECT_EQ(test::read_file(d / "c"), "hello\n{\"y\":2}\n");
}

Command parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ktrail");
  std::vector<const char *> argv;
  for (auto &a : args) argv.push_back(a.c_str());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  Command c = parse_command_line(static_cast<int>(argv.size()), argv.data());
  testing::internal::GetCapturedStdout();
  testing::internal::GetCapturedStderr();
  return c;
}

TEST(IntegrityCli, RunOptions) {
  Command c = parse({"run"});
  ASSERT_EQ(c.kind, Command::Run);
  EXPECT_EQ(c.run.chain_state, "/var/lib/ktrail/chain.state");
  EXPECT_TRUE(c.run.signing_key.empty());
  EXPECT_EQ(c.run.checkpoint_records, 10000u);
  EXPECT_EQ(c.run.checkpoint_seconds, 60);
  EXPECT_EQ(c.run.file_max_bytes, 0u);
  EXPECT_EQ(c.run.file_max_files, 9u);

  test::TempDir d;
  d.write("k.pem", "x");
  c = parse({"run", "--chain-state", "none", "--signing-key", d / "k.pem", "--checkpoint-records", "5",
             "--checkpoint-seconds", "1.5", "--file-max-bytes", "1000", "--file-max-files", "3"});
  ASSERT_FALSE(c.exit_now);
  EXPECT_EQ(c.run.chain_state, "none");
  EXPECT_EQ(c.run.signing_key, d / "k.pem");
  EXPECT_EQ(c.run.checkpoint_records, 5u);
  EXPECT_EQ(c.run.checkpoint_seconds, 1.5);
  EXPECT_EQ(c.run.file_max_bytes, 1000u);
  EXPECT_EQ(c.run.file_max_files, 3u);

  c = parse({"run", "--signing-key", d / "missing.pem"});
  EXPECT_TRUE(c.exit_now);
  EXPECT_EQ(c.exit_code, KTRAIL_EXIT_USAGE);
  c = parse({"run", "--checkpoint-seconds", "-1"});
  EXPECT_EQ(c.exit_code, KTRAIL_EXIT_USAGE);
}

TEST(IntegrityCli, VerifyOptions) {
  test::TempDir d;
  d.write("a.pem", "x");
  d.write("b.pem", "x");
  Command c = parse({"verify", "--pubkey", d / "a.pem", "f1", "--pubkey", d / "b.pem", "f2", "--json", "--live"});
  ASSERT_FALSE(c.exit_now);
  ASSERT_EQ(c.kind, Command::Verify);
  EXPECT_EQ(c.verify.pubkeys, (std::vector<std::string>{d / "a.pem", d / "b.pem"}));
  EXPECT_EQ(c.verify.files, (std::vector<std::string>{"f1", "f2"})) << "one key per --pubkey";
  EXPECT_TRUE(c.verify.json);
  EXPECT_TRUE(c.verify.live);
  c = parse({"verify"});
  ASSERT_EQ(c.kind, Command::Verify);
  EXPECT_TRUE(c.verify.files.empty()) << "stdin";
  c = parse({"verify", "--pubkey", d / "none.pem", "f"});
  EXPECT_EQ(c.exit_code, KTRAIL_EXIT_USAGE);
}

}  // namespace
}  // namespace ktrail
