// The config file, the KTRAIL_* environment and their precedence (userspace/config), through
// the real command-line parser, and `ktrail config check` run as a real process.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli/options.h"
#include "config/config.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

using test::TempDir;

struct Parsed {
  Command cmd;
  std::string out, err;
};

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

// Sets variables for one test and removes them (and any KTRAIL_* the runner had) after.
class ScopedEnv {
 public:
  ScopedEnv() {
    for (const auto &[k, v] : config::process_env()) saved_.push_back({k, v}), unsetenv(k.c_str());
  }
  void set(const std::string &k, const std::string &v) {
    setenv(k.c_str(), v.c_str(), 1);
    set_.push_back(k);
  }
  ~ScopedEnv() {
    for (const auto &k : set_) unsetenv(k.c_str());
    for (const auto &[k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }

 private:
  std::vector<std::pair<std::string, std::string>> saved_;
  std::vector<std::string> set_;
};

TEST(ConfigFile, YamlSetsEveryKindOfValue) {
  ScopedEnv env;
  TempDir d;
  d.write("ca.pem", "not checked here, only readable\n");
  d.write("k.yaml",
          "format: json\n"
          "schema: ocsf\n"
          "events: [exec, exit, file]\n"
          "duration: 2.5\n"
          "buffer_mb: 8\n"
          "wakeup_bytes: 4096\n"
          "containers: off\n"
          "no_default_watch: true\n"
          "cap_always: []\n"
          "docker_sockets: [/run/a.sock, /run/b.sock]\n"
          "file_fsync: always\n"
          "outputs:\n"
          "  - stdout\n"
          "  - type: file\n"
          "    path: " + d.path() + "/ev.ndjson\n"
          "    max_bytes: 1048576\n"
          "    max_files: 3\n"
          "    fsync: never\n"
          "  - url: syslog+tls://127.0.0.1:6514\n"
          "    tls:\n"
          "      ca_file: " + d.path() + "/ca.pem\n"
          "    facility: local3\n"
          "    spool_max_bytes: 65536\n"
          "    spool_fsync: false\n");
  Parsed p = parse({"run", "--config", d / "k.yaml"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  const RunOptions &o = p.cmd.run;
  EXPECT_EQ(o.format, "json");
  EXPECT_EQ(o.schema, "ocsf");
  EXPECT_EQ(o.events, (std::vector<std::string>{"exec", "exit", "file"}));
  EXPECT_EQ(o.duration, 2.5);
  EXPECT_EQ(o.buffer_mb, 8u);
  EXPECT_EQ(o.wakeup_bytes, 4096u);
  EXPECT_EQ(o.containers, "off");
  EXPECT_TRUE(o.no_default_watch);
  EXPECT_TRUE(o.cap_always.empty());
  EXPECT_EQ(o.docker_sockets, (std::vector<std::string>{"/run/a.sock", "/run/b.sock"}));
  EXPECT_EQ(o.file_fsync, "always");
  EXPECT_EQ(o.hooks, "auto");  // not in the file: the default
  ASSERT_EQ(o.outputs.size(), 3u);
  EXPECT_EQ(o.outputs[0], "stdout");
  EXPECT_EQ(o.outputs[1], "file:" + d.path() + "/ev.ndjson");
  EXPECT_EQ(o.outputs[2], "syslog+tls://127.0.0.1:6514?ca=" + d.path() + "/ca.pem&facility=local3");
  ASSERT_EQ(o.output_settings.size(), 3u);
  EXPECT_EQ(o.output_settings[1].file_max_bytes, 1048576u);
  EXPECT_EQ(o.output_settings[1].file_max_files, 3u);
  EXPECT_EQ(o.output_settings[1].file_fsync, "never");
  EXPECT_FALSE(o.output_settings[1].spool_max_bytes);
  EXPECT_EQ(o.output_settings[2].spool_max_bytes, 65536u);
  EXPECT_EQ(o.output_settings[2].spool_fsync, false);
}

TEST(ConfigFile, JsonIsYaml) {
  ScopedEnv env;
  TempDir d;
  d.write("k.json", R"({"format": "json", "events": "exec,exit", "drain_ms": 20, "outputs": ["stdout"]})");
  Parsed p = parse({"run", "--config", d / "k.json"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  EXPECT_EQ(p.cmd.run.events, (std::vector<std::string>{"exec", "exit"}));
  EXPECT_EQ(p.cmd.run.drain_ms, 20);
  EXPECT_EQ(p.cmd.run.outputs, (std::vector<std::string>{"stdout"}));
}

// defaults < file < environment < flags, key by key.
TEST(ConfigFile, Precedence) {
  ScopedEnv env;
  TempDir d;
  d.write("k.yaml",
          "buffer_mb: 8\n"
          "drain_ms: 20\n"
          "log_level: debug\n"
          "events: [exec]\n"
          "outputs:\n"
          "  - url: file:/tmp/from-file\n"
          "    max_bytes: 100\n");
  env.set("KTRAIL_BUFFER_MB", "16");
  env.set("KTRAIL_DRAIN_MS", "30");
  env.set("KTRAIL_EVENTS", "exec,exit");
  Parsed p = parse({"run", "--config", d / "k.yaml", "--drain-ms", "40"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  const RunOptions &o = p.cmd.run;
  EXPECT_EQ(o.buffer_mb, 16u);       // environment over file
  EXPECT_EQ(o.drain_ms, 40);         // flag over environment and file
  EXPECT_EQ(o.log_level, "debug");   // file over default
  EXPECT_EQ(o.wakeup_bytes, 256u * 1024);  // default
  EXPECT_EQ(o.events, (std::vector<std::string>{"exec", "exit"}));
  EXPECT_EQ(o.outputs, (std::vector<std::string>{"file:/tmp/from-file"}));
  ASSERT_EQ(o.output_settings.size(), 1u);
  EXPECT_EQ(o.output_settings[0].file_max_bytes, 100u);

  // KTRAIL_OUTPUTS replaces the file's outputs (as a YAML flow list, with settings) ...
  env.set("KTRAIL_OUTPUTS", "[{url: 'file:/tmp/from-env', max_files: 2}, stdout]");
  p = parse({"run", "--config", d / "k.yaml"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  EXPECT_EQ(p.cmd.run.outputs, (std::vector<std::string>{"file:/tmp/from-env", "stdout"}));
  ASSERT_EQ(p.cmd.run.output_settings.size(), 2u);
  EXPECT_EQ(p.cmd.run.output_settings[0].file_max_files, 2u);
  EXPECT_FALSE(p.cmd.run.output_settings[0].file_max_bytes);
  // ... or comma-separated -o specs; and -o replaces both, settings included.
  env.set("KTRAIL_OUTPUTS", "stdout,file:/tmp/x");
  p = parse({"run", "--config", d / "k.yaml"});
  EXPECT_EQ(p.cmd.run.outputs, (std::vector<std::string>{"stdout", "file:/tmp/x"}));
  p = parse({"run", "--config", d / "k.yaml", "-o", "file:/tmp/flag"});
  EXPECT_EQ(p.cmd.run.outputs, (std::vector<std::string>{"file:/tmp/flag"}));
  EXPECT_TRUE(p.cmd.run.output_settings.empty());

  // KTRAIL_CONFIG names the file when --config does not.
  env.set("KTRAIL_CONFIG", d / "k.yaml");
  p = parse({"run"});
  ASSERT_FALSE(p.cmd.exit_now) << p.err;
  EXPECT_EQ(p.cmd.run.log_level, "debug");
}

// Each kind of mistake, with its exact file:line:column, key path and expectation.
TEST(ConfigFile, ErrorsArePrecise) {
  ScopedEnv env;
  TempDir d;
  const std::string f = d / "bad.yaml";
  d.write("bad.yaml",
          "formt: json\n"                             // 1 unknown key, suggestion
          "buffer_mb: abc\n"                          // 2 wrong type
          "buffer: ringg\n"                           // 3 bad enum value
          "duration: [1, 2]\n"                        // 4 a list for a number
          "events: [exec, {a: 1}]\n"                  // 5 a mapping in a list
          "outputs:\n"                                // 6
          "  - url: syslog+tcp://collector:99999\n"   // 7 bad port
          "  - url: syslog+tls://collector:6514\n"    // 8
          "    tls:\n"                                // 9
          "      ca_file: /nonexistent/ca.pem\n"      // 10 missing TLS material
          "  - url: otlp://collector\n"               // 11 unknown scheme
          "  - url: syslog+tcp://h:514\n"             // 12
          "    token: s3cret\n"                       // 13 inline secret
          "    spol_max_bytes: 4096\n"                // 14 unknown output key
          "  - type: file\n"                          // 15 no path
          "    max_bytes: -1\n");                     // 16
  Parsed p = parse({"config", "check", f});
  EXPECT_TRUE(p.cmd.exit_now);
  EXPECT_EQ(p.cmd.exit_code, KTRAIL_EXIT_USAGE);
  const std::vector<std::string> want = {
      f + ":1:1: formt: unknown key 'formt'; did you mean 'format'?",
      f + ":2:12: buffer_mb: expected a non-negative integer, got 'abc'",
      f + ":3:9: buffer: bad value: ringg not in {auto,ring,perf}",
      f + ":4:11: duration: expected a number, got a list",
      f + ":5:16: events: expected a string, got a mapping",
      f + ":7:10: outputs[0]: bad URL 'syslog+tcp://collector:99999': port '99999' is not a number from 1 to 65535",
      f + ":10:16: outputs[1].tls.ca_file: cannot read /nonexistent/ca.pem: No such file or directory",
      f + ":11:10: outputs[2]: unknown output scheme 'otlp' (expected stdout, file:PATH or a URL with one of: "
          "syslog+tcp, syslog+tls, syslog+udp, syslog+relp, syslog+relp+tls)",
      f + ":13:5: outputs[3].token: secrets are not accepted inline: put it in a file (token_file) or an "
          "environment variable (token_env)",
      f + ":14:5: outputs[3].spol_max_bytes: unknown key 'spol_max_bytes'; did you mean 'spool_max_bytes'?",
      f + ":16:16: outputs[4].max_bytes: expected a non-negative integer, got '-1'",
      f + ":15:5: outputs[4].path: missing path: for a file output",
      f + ": 12 errors",
  };
  std::string expected;
  for (const auto &l : want) expected += l + "\n";
  EXPECT_EQ(p.err, expected);
  EXPECT_EQ(p.out, "");
  // The secret itself never appears in a message.
  EXPECT_EQ(p.err.find("s3cret"), std::string::npos);
}

TEST(ConfigFile, SyntaxAndShapeErrors) {
  ScopedEnv env;
  TempDir d;
  d.write("a.yaml", "format: json\nevents: [exec\n");
  Parsed p = parse({"config", "check", d / "a.yaml"});
  EXPECT_EQ(p.cmd.exit_code, KTRAIL_EXIT_USAGE);
  EXPECT_NE(p.err.find(d / "a.yaml" + ":3:1: not valid YAML or JSON: "), std::string::npos) << p.err;
  d.write("b.json", "[1, 2]\n");
  p = parse({"config", "check", d / "b.json"});
  EXPECT_EQ(p.err, d / "b.json" + ":1:1: expected a mapping of keys (format: json, ...), got a list\n" +
                       d / "b.json" + ": 1 error\n");
  p = parse({"config", "check", d / "missing.yaml"});
  EXPECT_EQ(p.err, d / "missing.yaml" + ": cannot read the config file: No such file or directory\n" +
                       d / "missing.yaml" + ": 1 error\n");
  // `run --config` fails the same way, before tracing anything.
  p = parse({"run", "--config", d / "b.json"});
  EXPECT_TRUE(p.cmd.exit_now);
  EXPECT_EQ(p.cmd.exit_code, KTRAIL_EXIT_USAGE);
  // A value the whole configuration rejects (not one key alone).
  d.write("c.yaml", "buffer_mb: 3\n");
  p = parse({"config", "check", d / "c.yaml"});
  EXPECT_EQ(p.err, d / "c.yaml" + ": --buffer-mb must be a power of two\n" + d / "c.yaml" + ": 1 error\n");
}

TEST(ConfigFile, EnvironmentErrorsAndWarnings) {
  ScopedEnv env;
  TempDir d;
  d.write("k.yaml", "format: json\n");
  env.set("KTRAIL_CAP_POLICY", "sometimes");
  env.set("KTRAIL_BUFFERMB", "8");
  Parsed p = parse({"config", "check", d / "k.yaml"});
  EXPECT_EQ(p.cmd.exit_code, KTRAIL_EXIT_USAGE);
  EXPECT_NE(p.err.find("ktrail: warning: environment variable KTRAIL_BUFFERMB is not a ktrail setting: "
                       "unknown key 'KTRAIL_BUFFERMB'; did you mean 'KTRAIL_BUFFER_MB'?"),
            std::string::npos)
      << p.err;
  EXPECT_NE(p.err.find("environment KTRAIL_CAP_POLICY: bad value: sometimes not in {off,denials,all}"),
            std::string::npos)
      << p.err;
}

TEST(ConfigFile, PrintShowsTheEffectiveConfigWithoutSecrets) {
  ScopedEnv env;
  TempDir d;
  d.write("token", "s3cret-token\n");
  d.write("k.yaml",
          "format: json\n"
          "outputs:\n"
          "  - url: syslog+tcp://127.0.0.1:514\n"
          "    spool_max_bytes: 8192\n");
  env.set("KTRAIL_LOG_LEVEL", "warning");
  Parsed p = parse({"config", "check", d / "k.yaml", "--print"});
  EXPECT_EQ(p.cmd.exit_code, 0) << p.err;
  EXPECT_EQ(p.out.rfind(d / "k.yaml" + ": OK\n", 0), 0u) << p.out;
  EXPECT_NE(p.out.find("\nformat: json\n"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("\nlog_level: warning\n"), std::string::npos) << p.out;  // environment included
  EXPECT_NE(p.out.find("  - url: syslog+tcp://127.0.0.1:514\n    spool_max_bytes: 8192\n"), std::string::npos) << p.out;

  // The printed form is itself a valid config file with the same meaning.
  d.write("printed.yaml", p.out.substr(p.out.find('\n') + 1));
  Parsed again = parse({"config", "check", d / "printed.yaml", "--print"});
  EXPECT_EQ(again.cmd.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.substr(again.out.find('\n')), p.out.substr(p.out.find('\n')));

  // Credentials embedded in a URL from the command line are redacted when printed.
  RunOptions o;
  o.outputs = {"https+x://user:hunter2@collector:443/path?token=abc&index=main&key=/etc/k.pem"};
  std::string y = config::effective_yaml(o);
  EXPECT_EQ(y.find("hunter2"), std::string::npos) << y;
  EXPECT_EQ(y.find("abc"), std::string::npos) << y;
  EXPECT_NE(y.find("https+x://<redacted>@collector:443/path?token=<redacted>&index=main&key=/etc/k.pem"),
            std::string::npos)
      << y;
}

// Every `ktrail run` flag has its config key: a new flag without a row in the key table fails
// here, which is what keeps the file, the environment and the flags in step.
TEST(ConfigFile, EveryRunFlagHasAKey) {
  Parsed help = parse({"run", "--help"});
  std::string yaml = config::effective_yaml(RunOptions{});
  std::set<std::string> keys;
  std::regex key_re("^([a-z0-9_]+):", std::regex::multiline);
  for (auto it = std::sregex_iterator(yaml.begin(), yaml.end(), key_re); it != std::sregex_iterator(); ++it)
    keys.insert((*it)[1]);
  std::regex flag_re("--([a-z0-9-]+)");
  size_t flags = 0;
  for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), flag_re); it != std::sregex_iterator(); ++it) {
    std::string f = (*it)[1];
    if (f == "help" || f == "config") continue;
    std::string k = f == "output" ? "outputs" : f == "docker-socket" ? "docker_sockets" : f;
    std::replace(k.begin(), k.end(), '-', '_');
    EXPECT_TRUE(keys.count(k)) << "--" << f << " has no config key (add a row to keys() in userspace/config/config.cpp)";
    flags++;
  }
  EXPECT_GT(flags, 40u);
}

// The real binary: exit code and message, for `config check` and for `run --config`.
struct Proc {
  int code = -1;
  std::string out;
};
Proc run_binary(const std::string &args) {
  Proc p;
  FILE *f = popen(("env -u KTRAIL_CONFIG " + std::string(KTRAIL_BINARY) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) p.out.append(buf, n);
  int st = pclose(f);
  p.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return p;
}

TEST(ConfigCli, CheckGoodAndBadFiles) {
  TempDir d;
  d.write("good.yaml", "format: json\nschema: ocsf\noutputs: [stdout]\n");
  d.write("bad.yaml", "format: json\nschema: ocsff\n");
  Proc good = run_binary("config check " + d / "good.yaml");
  EXPECT_EQ(good.code, 0) << good.out;
  EXPECT_EQ(good.out, d / "good.yaml" + ": OK\n");
  Proc printed = run_binary("config check --print " + d / "good.yaml");
  EXPECT_EQ(printed.code, 0) << printed.out;
  EXPECT_NE(printed.out.find("\nschema: ocsf\n"), std::string::npos) << printed.out;
  const std::string msg = d / "bad.yaml" + ":2:9: schema: bad value: ocsff not in {ecs,ocsf}\n";
  Proc bad = run_binary("config check " + d / "bad.yaml");
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.out, msg + d / "bad.yaml" + ": 1 error\n");
  // `run` refuses it before it needs root or loads anything.
  Proc run = run_binary("run --config " + d / "bad.yaml");
  EXPECT_EQ(run.code, 2);
  EXPECT_EQ(run.out, "ktrail: " + msg);
}

}  // namespace
}  // namespace ktrail
