#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/options.h"
#include "common/status.h"
#include "loader/loader.h"

namespace ktrail {
namespace {

struct Parsed {
  Command cmd;
  std::string out, err;
};

// Runs the parser with stdout/stderr captured (help and errors are printed there).
Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ktrail");
  std::vector<const char *> argv;
  for (auto &a : args) argv.push_back(a.c_str());
  Parsed p;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  p.cmd = parse_command_line(static_cast<int>(argv.size()), argv.data());
  std::fflush(stdout);
  p.out = testing::internal::GetCapturedStdout();
  p.err = testing::internal::GetCapturedStderr();
  return p;
}

TEST(Options, RunDefaults) {
  Parsed p = parse({"run"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  EXPECT_EQ(p.cmd.kind, Command::Run);
  const RunOptions &o = p.cmd.run;
  EXPECT_EQ(o.format, "auto");
  EXPECT_EQ(o.events, (std::vector<std::string>{"exec", "exit", "cred", "ssh", "capable"}));
  EXPECT_EQ(o.cap_policy, "denials");
  EXPECT_EQ(o.cap_hook, "auto");
  EXPECT_EQ(o.cap_key, "cgroup");
  EXPECT_TRUE(o.watch.empty());
  EXPECT_TRUE(o.outputs.empty());
  EXPECT_EQ(o.duration, 0);
  EXPECT_EQ(o.buffer, "auto");
  EXPECT_EQ(o.hooks, "auto");
  EXPECT_EQ(o.buffer_mb, 4u);
  EXPECT_EQ(o.wakeup_bytes, 256u * 1024);
  EXPECT_EQ(o.drain_ms, 50);
  EXPECT_TRUE(o.btf.empty());
  EXPECT_EQ(o.log_level, "info");

  LoaderConfig c;
  ASSERT_TRUE(to_loader_config(o, c));
  EXPECT_TRUE(c.trace_exec);
  EXPECT_TRUE(c.trace_exit);
  EXPECT_TRUE(c.trace_cred);
  EXPECT_EQ(c.buffer, BufferKind::Auto);
  EXPECT_EQ(c.hooks, HookMode::Auto);
  EXPECT_EQ(c.buffer_mb, 4u);
  EXPECT_EQ(c.wakeup_bytes, 256u * 1024);
  EXPECT_TRUE(c.btf_path.empty());
}

TEST(Options, AllRunOptions) {
  Parsed p = parse({"run", "--format", "json", "--events", "exec,cred", "-o", "stdout", "-o",
                    "file:/tmp/a.ndjson", "--output", "file:/tmp/b", "--duration", "2.5",
                    "--buffer", "perf", "--hooks", "tracepoint", "--buffer-mb", "64",
                    "--wakeup-bytes", "4096", "--drain-ms", "10", "--btf", "/tmp/vmlinux",
                    "--log-level", "debug"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  EXPECT_EQ(p.cmd.kind, Command::Run);
  const RunOptions &o = p.cmd.run;
  EXPECT_EQ(o.format, "json");
  EXPECT_EQ(o.events, (std::vector<std::string>{"exec", "cred"}));
  EXPECT_EQ(o.outputs, (std::vector<std::string>{"stdout", "file:/tmp/a.ndjson", "file:/tmp/b"}));
  EXPECT_DOUBLE_EQ(o.duration, 2.5);
  EXPECT_EQ(o.buffer, "perf");
  EXPECT_EQ(o.hooks, "tracepoint");
  EXPECT_EQ(o.buffer_mb, 64u);
  EXPECT_EQ(o.wakeup_bytes, 4096u);
  EXPECT_EQ(o.drain_ms, 10);
  EXPECT_EQ(o.btf, "/tmp/vmlinux");
  EXPECT_EQ(o.log_level, "debug");

  LoaderConfig c;
  ASSERT_TRUE(to_loader_config(o, c));
  EXPECT_TRUE(c.trace_exec);
  EXPECT_FALSE(c.trace_exit);
  EXPECT_TRUE(c.trace_cred);
  EXPECT_EQ(c.buffer, BufferKind::Perf);
  EXPECT_EQ(c.hooks, HookMode::Tracepoint);
  EXPECT_EQ(c.buffer_mb, 64u);
  EXPECT_EQ(c.wakeup_bytes, 4096u);
  EXPECT_EQ(c.btf_path, "/tmp/vmlinux");
}

TEST(Options, EventsRepeatedAndSingle) {
  Parsed p = parse({"run", "--events", "exit"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  EXPECT_EQ(p.cmd.run.events, (std::vector<std::string>{"exit"}));
  LoaderConfig c;
  ASSERT_TRUE(to_loader_config(p.cmd.run, c));
  EXPECT_FALSE(c.trace_exec);
  EXPECT_TRUE(c.trace_exit);
  EXPECT_FALSE(c.trace_cred);
}

TEST(Options, RingAndTpBtf) {
  Parsed p = parse({"run", "--buffer", "ring", "--hooks", "tp_btf", "--format", "table"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  LoaderConfig c;
  ASSERT_TRUE(to_loader_config(p.cmd.run, c));
  EXPECT_EQ(c.buffer, BufferKind::Ring);
  EXPECT_EQ(c.hooks, HookMode::TpBtf);
  EXPECT_EQ(p.cmd.run.format, "table");
}

TEST(Options, InvalidValuesAreUsageErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {},                                   // no subcommand
      {"bogus"},                            // unknown subcommand
      {"run", "--format", "xml"},
      {"run", "--events", "exec,files"},
      {"run", "--cap-policy", "some"},
      {"run", "--cap-hook", "lsm"},
      {"run", "--cap-key", "user"},
      {"run", "--events", "network"},
      {"run", "--buffer", "huge"},
      {"run", "--hooks", "kprobe"},
      {"run", "--duration", "-1"},
      {"run", "--duration", "soon"},
      {"run", "--buffer-mb", "0"},
      {"run", "--buffer-mb", "2048"},
      {"run", "--drain-ms", "0"},
      {"run", "--wakeup-bytes", "0"},
      {"run", "--log-level", "loud"},
      {"run", "--no-such-flag"},
      {"run", "--format"},                  // missing value
      {"run", "extra-positional"},
  };
  for (const auto &args : bad) {
    std::string joined;
    for (const auto &a : args) joined += a + " ";
    Parsed p = parse(args);
    EXPECT_TRUE(p.cmd.exit_now) << joined;
    EXPECT_EQ(p.cmd.exit_code, KTRAIL_EXIT_USAGE) << joined;
    EXPECT_EQ(p.cmd.exit_code, 2) << joined;
    EXPECT_FALSE(p.err.empty()) << "an error message is printed for: " << joined;
  }
}

TEST(Options, Help) {
  for (const auto &args : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"run", "--help"}}) {
    Parsed p = parse(args);
    EXPECT_TRUE(p.cmd.exit_now);
    EXPECT_EQ(p.cmd.exit_code, KTRAIL_EXIT_OK);
    EXPECT_NE((p.out + p.err).find("Usage"), std::string::npos) << p.out << p.err;
  }
  Parsed p = parse({"run", "--help"});
  EXPECT_NE(p.out.find("--buffer-mb"), std::string::npos) << p.out;
}

TEST(Options, Version) {
  Parsed p = parse({"version"});
  EXPECT_FALSE(p.cmd.exit_now);
  EXPECT_EQ(p.cmd.kind, Command::Version);

  p = parse({"--version"});
  EXPECT_TRUE(p.cmd.exit_now);
  EXPECT_EQ(p.cmd.exit_code, KTRAIL_EXIT_OK);
  EXPECT_NE(p.out.find(KTRAIL_VERSION), std::string::npos) << p.out;
}

TEST(Options, BufferMbMustBePowerOfTwo) {
  for (uint32_t mb : {1u, 2u, 8u, 512u, 1024u}) {
    Parsed p = parse({"run", "--buffer-mb", std::to_string(mb)});
    ASSERT_FALSE(p.cmd.exit_now) << mb;
    LoaderConfig c;
    Status s = to_loader_config(p.cmd.run, c);
    EXPECT_TRUE(s) << mb << ": " << s.message;
    EXPECT_EQ(c.buffer_mb, mb);
  }
  for (uint32_t mb : {3u, 6u, 12u, 1000u}) {
    Parsed p = parse({"run", "--buffer-mb", std::to_string(mb)});
    ASSERT_FALSE(p.cmd.exit_now) << mb;
    LoaderConfig c;
    Status s = to_loader_config(p.cmd.run, c);
    EXPECT_FALSE(s) << mb;
    EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE) << mb;
    EXPECT_NE(s.message.find("power of two"), std::string::npos) << s.message;
  }
}

TEST(Options, LoaderConfigRejectsBadEvents) {
  RunOptions o;
  LoaderConfig c;
  o.events = {};
  Status s = to_loader_config(o, c);
  EXPECT_FALSE(s);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);
  o.events = {"exec", "bogus"};
  s = to_loader_config(o, c);
  EXPECT_FALSE(s);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);
}

TEST(Options, ResolveFormat) {
  EXPECT_EQ(resolve_format("auto", true), Format::Table);
  EXPECT_EQ(resolve_format("auto", false), Format::Json);
  EXPECT_EQ(resolve_format("json", true), Format::Json);
  EXPECT_EQ(resolve_format("json", false), Format::Json);
  EXPECT_EQ(resolve_format("table", true), Format::Table);
  EXPECT_EQ(resolve_format("table", false), Format::Table);
}

TEST(Options, StatusBoolMeansOk) {
  EXPECT_TRUE(Status::ok());
  EXPECT_FALSE(Status::error(KTRAIL_EXIT_RUNTIME, "x"));
}

}  // namespace
}  // namespace ktrail
