// HTTP log outputs (OTLP/HTTP protobuf and JSON, Loki, Splunk HEC, Elasticsearch _bulk) against
// the protocol-faithful stand-ins in http_collectors.py (SIMULATED: no OTLP collector, Loki,
// Splunk or Elasticsearch runs on the test machines). Every stand-in checks each request
// strictly and records deviations in violations.txt, asserted empty here. All over TLS with a
// CA made by the openssl CLI, on loopback.
//
// Sink-level tests write known records through make_sink() and compare what arrived byte for
// byte; the HttpAgent tests run the real `ktrail run` (root) with real exec events and compare
// the collector's records with the agent's own file output.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "delivery/spool.h"
#include "sinks/http_output.h"
#include "sinks/sink.h"
#include "rsyslog.h"
#include "temp_dir.h"

#ifndef KTRAIL_HTTP_COLLECTORS
#error "KTRAIL_HTTP_COLLECTORS must name http_collectors.py"
#endif

namespace ktrail {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

using test::make_certs;
using test::sh;
using test::slurp;

// One stand-in collector process.
class Collector {
 public:
  Collector(std::string dir, std::vector<std::string> args) : dir_(std::move(dir)), args_(std::move(args)) {}
  ~Collector() { stop(); }
  void start() {
    sh("mkdir -p " + dir_ + " && rm -f " + dir_ + "/port");
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test must not leave a collector behind
      freopen((dir_ + "/collector.stderr").c_str(), "a", stderr);
      std::vector<std::string> a = {"python3", KTRAIL_HTTP_COLLECTORS};
      a.insert(a.end(), args_.begin(), args_.end());
      a.push_back("--dir");
      a.push_back(dir_);
      std::vector<char *> argv;
      for (auto &s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      execvp("python3", argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (access((dir_ + "/port").c_str(), F_OK) != 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << slurp(dir_ + "/collector.stderr");
      std::this_thread::sleep_for(20ms);
    }
    port_ = static_cast<uint16_t>(std::stoi(slurp(dir_ + "/port")));
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  uint16_t port() const { return port_; }
  std::vector<json> records() const {
    std::vector<json> out;
    std::istringstream in(slurp(dir_ + "/records.jsonl"));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }
  json stats() const {
    std::string s = slurp(dir_ + "/stats.json");
    return s.empty() ? json::object() : json::parse(s);
  }
  std::string violations() const { return slurp(dir_ + "/violations.txt"); }
  bool wait_records(size_t n, std::chrono::seconds limit) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (records().size() >= n) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

 private:
  std::string dir_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

constexpr const char *kToken = "kt-test-token-5f2b9c81";

// A record shaped like the agent's: host, cloud and container identity, a chain hash, and
// strings that need JSON escaping.
std::string record(uint64_t seq) {
  char hash[65];
  snprintf(hash, sizeof(hash), "%064llx", static_cast<unsigned long long>(seq * 2654435761u));
  char ts[64];
  snprintf(ts, sizeof(ts), "2026-11-26T16:%02llu:%02llu.%09lluZ", static_cast<unsigned long long>(seq / 60 % 60),
           static_cast<unsigned long long>(seq % 60), static_cast<unsigned long long>(seq * 1000003 % 1000000000));
  return std::string("{\"@timestamp\":\"") + ts +
         "\",\"event\":{\"kind\":\"event\",\"category\":[\"process\"],\"type\":[\"start\"],\"action\":\"" +
         (seq % 7 == 0 ? "exit" : "exec") + "\",\"outcome\":\"success\",\"sequence\":" + std::to_string(seq) +
         "},\"host\":{\"name\":\"node-7\",\"id\":\"0123456789abcdef0123456789abcdef\",\"os\":{\"type\":\"linux\","
         "\"kernel\":\"6.1.0-18-amd64\",\"name\":\"Debian GNU/Linux\",\"version\":\"12\"}},"
         "\"process\":{\"pid\":" + std::to_string(1000 + seq) +
         ",\"args\":[\"/bin/echo\",\"tab\\there \\\"quoted\\\" \\u00e9\\\\x ok\"]},"
         "\"container\":{\"id\":\"c0ffee\",\"runtime\":\"podman\"},\"orchestrator\":{\"type\":\"kubernetes\","
         "\"namespace\":\"payments\",\"resource\":{\"name\":\"api-7\",\"type\":\"pod\"}},"
         "\"cloud\":{\"provider\":\"aws\",\"instance\":{\"id\":\"i-0abc\"},\"region\":\"eu-west-1\","
         "\"account\":{\"id\":\"123456789012\"},\"machine\":{\"type\":\"m5.large\"}},"
         "\"ktrail\":{\"chain\":{\"hash\":\"" + hash + "\"}}}";
}

class HttpSink : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sh("command -v python3 >/dev/null && command -v openssl >/dev/null") != 0)
      GTEST_SKIP() << "needs python3 and openssl";
    ASSERT_NO_FATAL_FAILURE(make_certs(dir_.path()));
    std::ofstream(dir_ / "token") << kToken << "\n";
  }
  std::string d(const std::string &rel) { return dir_ / rel; }
  std::vector<std::string> tls_args(std::vector<std::string> more) {
    std::vector<std::string> a = {"--cert", d("server.pem"), "--key", d("server.key")};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  std::string url(const std::string &scheme, uint16_t port, const std::string &params) {
    return scheme + "+https://localhost:" + std::to_string(port) + "?ca=" + d("ca.pem") + params;
  }
  std::unique_ptr<Sink> sink(const std::string &spec) {
    DeliveryOptions o;
    o.spool_dir = d("spool");
    o.spool_fsync = false;
    std::unique_ptr<Sink> s;
    Status st = make_sink(spec, Format::Json, s, {}, o);
    EXPECT_TRUE(st) << st.message;
    return s;
  }
  // Writes records [first, last] in rounds, waiting for each to arrive (several requests on
  // one kept-alive connection).
  void write(Sink &s, Collector &c, uint64_t first, uint64_t last, uint64_t per_round = 100) {
    for (uint64_t seq = first; seq <= last;) {
      uint64_t end = std::min(last, seq + per_round - 1);
      for (; seq <= end; seq++) ASSERT_TRUE(s.write_record(seq, record(seq)));
      ASSERT_TRUE(s.flush());
      ASSERT_TRUE(c.wait_records(end - first + 1, 20s))
          << "got " << c.records().size() << "; violations: " << c.violations();
    }
  }
  // Every record arrived exactly as written (string bodies). Loki groups a push by stream, so
  // the order is by sequence only within a stream.
  void expect_exact(const Collector &c, uint64_t first, uint64_t last) {
    auto got = c.records();
    std::stable_sort(got.begin(), got.end(), [](const json &a, const json &b) { return a["sequence"] < b["sequence"]; });
    ASSERT_EQ(got.size(), last - first + 1);
    for (uint64_t seq = first; seq <= last; seq++) {
      const json &r = got[seq - first];
      EXPECT_EQ(r["sequence"], seq);
      if (r["record"].is_string()) EXPECT_EQ(r["record"].get<std::string>(), record(seq));
      else EXPECT_EQ(r["record"], json::parse(record(seq)));
    }
  }
  test::TempDir dir_;
};

TEST_F(HttpSink, OtlpProtobufEveryRecordArrivesOnOneKeptAliveConnection) {
  Collector c(d("otlp"), tls_args({"otlp", "--auth", std::string("Bearer ") + kToken}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("otlp", c.port(), "&token_file=" + d("token")));
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 400));
  s.reset();
  EXPECT_EQ(c.violations(), "");
  expect_exact(c, 1, 400);
  json st = c.stats();
  EXPECT_GE(st["requests"].get<int>(), 4);
  EXPECT_EQ(st["connections"], 1) << "keep-alive: one TLS connection for every request";
  EXPECT_EQ(st["gzip"], st["requests"]);
}

TEST_F(HttpSink, OtlpJsonEncodingAndUncompressed) {
  Collector c(d("otlpjson"), tls_args({"otlp", "--encoding", "json", "--gzip", "optional"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("otlp", c.port(), "&encoding=json&gzip=off"));
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 250));
  s.reset();
  EXPECT_EQ(c.violations(), "");
  expect_exact(c, 1, 250);
  EXPECT_EQ(c.stats()["gzip"], 0);
}

TEST_F(HttpSink, OtlpPartialSuccessIsCountedAsRejected) {
  for (std::string enc : {"x-protobuf", "json"}) {
    Collector c(d("otlp-partial-" + enc), tls_args({"otlp", "--encoding", enc, "--reject-seq", "5,9"}));
    ASSERT_NO_FATAL_FAILURE(c.start());
    auto s = sink(url("otlp", c.port(), enc == "json" ? "&encoding=json" : ""));
    for (uint64_t seq = 1; seq <= 20; seq++) ASSERT_TRUE(s->write_record(seq, record(seq)));
    ASSERT_TRUE(s->flush());
    ASSERT_TRUE(c.wait_records(18, 20s)) << c.violations();
    uint64_t count = 0, first = 0, last = 0;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!s->take_rejected(count, first, last) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    EXPECT_EQ(count, 2u) << enc;
    // OTLP says how many, not which: the range is the batch's.
    EXPECT_LE(first, 5u);
    EXPECT_GE(last, 9u);
    EXPECT_EQ(c.violations(), "");
  }
}

TEST_F(HttpSink, OtlpRetriesAfter503WithRetryAfterThenDelivers) {
  Collector c(d("otlp503"), tls_args({"otlp", "--fail-count", "2", "--fail-status", "503", "--retry-after", "1"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("otlp", c.port(), ""));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 50));
  // Two refusals, each asking for a 1 s pause: the sender honoured at least those.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 2s);
  s.reset();
  EXPECT_EQ(c.stats()["faults"], 2);
  EXPECT_EQ(c.violations(), "");
  expect_exact(c, 1, 50);
}

TEST_F(HttpSink, LokiPushWithTenantBasicAuthAnd429Retry) {
  std::ofstream(d("password")) << "pw-9d1e\n";
  std::string basic = "Basic " + std::string("dXNlcjE6cHctOWQxZQ==");  // user1:pw-9d1e
  Collector c(d("loki"), tls_args({"loki", "--tenant", "team-a", "--auth", basic, "--fail-count", "1",
                                   "--fail-status", "429", "--retry-after", "1"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("loki", c.port(), "&tenant=team-a&user=user1&password_file=" + d("password")));
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 300));
  s.reset();
  EXPECT_EQ(c.violations(), "");
  expect_exact(c, 1, 300);
  EXPECT_EQ(c.stats()["faults"], 1);
}

TEST_F(HttpSink, Loki400IsNarrowedToTheRefusedRecordAndReported) {
  Collector c(d("loki400"), tls_args({"loki", "--reject-seq", "37"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("loki", c.port(), ""));
  for (uint64_t seq = 1; seq <= 100; seq++) ASSERT_TRUE(s->write_record(seq, record(seq)));
  ASSERT_TRUE(s->flush());
  ASSERT_TRUE(c.wait_records(99, 20s)) << c.violations();
  uint64_t count = 0, first = 0, last = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!s->take_rejected(count, first, last) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(first, 37u);
  EXPECT_EQ(last, 37u);
  s.reset();
  auto got = c.records();
  ASSERT_EQ(got.size(), 99u);
  for (const auto &r : got) EXPECT_NE(r["sequence"], 37);
  EXPECT_EQ(c.violations(), "");
}

TEST_F(HttpSink, SplunkHecWithIndexAndSourcetype) {
  Collector c(d("splunk"), tls_args({"splunk", "--auth", std::string("Splunk ") + kToken, "--index", "audit",
                                     "--sourcetype", "ktrail:ecs"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  setenv("KTRAIL_TEST_HEC_TOKEN", kToken, 1);
  auto s = sink(url("splunk", c.port(), "&token_env=KTRAIL_TEST_HEC_TOKEN&index=audit&sourcetype=ktrail:ecs"));
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 300));
  s.reset();
  EXPECT_EQ(c.violations(), "");
  expect_exact(c, 1, 300);
  EXPECT_EQ(c.stats()["connections"], 1);
}

// What the spool still holds for its one output after the sink is gone.
uint64_t pending_in_spool(const std::string &spool_dir) {
  for (const auto &e : std::filesystem::directory_iterator(spool_dir)) {
    std::unique_ptr<delivery::Spool> sp;
    delivery::SpoolRecovery rec;
    if (!delivery::Spool::open(e.path().string(), {}, sp, &rec)) return UINT64_MAX;
    return rec.pending_records;
  }
  return UINT64_MAX;
}

TEST_F(HttpSink, SplunkIndexerAcknowledgementMovesTheCursor) {
  Collector c(d("splunk-ack"), tls_args({"splunk", "--auth", std::string("Splunk ") + kToken, "--ack",
                                         "--ack-delay", "2"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("splunk", c.port(), "&token_file=" + d("token") + "&ack=on"));
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 200));
  s.reset();  // drains: waits for the acknowledgements
  EXPECT_EQ(c.violations(), "");
  expect_exact(c, 1, 200);
  EXPECT_GE(c.stats()["ack_polls"].get<int>(), 2);
  EXPECT_EQ(pending_in_spool(d("spool")), 0u);
}

TEST_F(HttpSink, SplunkRecordsTheIndexerNeverAcknowledgedStayInTheSpool) {
  Collector c(d("splunk-noack"), tls_args({"splunk", "--auth", std::string("Splunk ") + kToken, "--ack",
                                           "--ack-never"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("splunk", c.port(), "&token_file=" + d("token") + "&ack=on"));
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 50));
  s.reset();
  EXPECT_EQ(c.violations(), "");
  EXPECT_GT(c.stats()["ack_polls"].get<int>(), 0);
  // Received but never acknowledged: a restarted agent sends all of it again.
  EXPECT_EQ(pending_in_spool(d("spool")), 50u);
}

TEST_F(HttpSink, ElasticsearchBulkIsIdempotentAndRetries429Items) {
  std::ofstream(d("apikey")) << "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==\n";
  Collector c(d("es"), tls_args({"elasticsearch", "--index", "audit-ktrail", "--auth",
                                 "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
                                 "--item-429", "1", "--reject-seq", "12"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("elasticsearch", c.port(), "&index=audit-ktrail&token_file=" + d("apikey")));
  for (uint64_t seq = 1; seq <= 200; seq++) ASSERT_TRUE(s->write_record(seq, record(seq)));
  ASSERT_TRUE(s->flush());
  ASSERT_TRUE(c.wait_records(199, 20s)) << c.violations();
  uint64_t count = 0, first = 0, last = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!s->take_rejected(count, first, last) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(first, 12u);
  s.reset();
  EXPECT_EQ(c.violations(), "");
  EXPECT_EQ(c.records().size(), 199u);
  // A restarted agent resending what the index already has: 409s, no second copy.
  auto again = sink(url("elasticsearch", c.port(), "&index=audit-ktrail&token_file=" + d("apikey")));
  auto dups_before = c.stats()["duplicates"].get<int>();
  for (uint64_t seq = 20; seq < 40; seq++) ASSERT_TRUE(again->write_record(seq, record(seq)));
  ASSERT_TRUE(again->flush());
  deadline = std::chrono::steady_clock::now() + 10s;
  while (c.stats()["duplicates"].get<int>() < dups_before + 20 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(c.stats()["duplicates"].get<int>(), dups_before + 20);
  EXPECT_EQ(c.records().size(), 199u);
}

TEST_F(HttpSink, MutualTls) {
  Collector c(d("mtls"), tls_args({"otlp", "--client-ca", d("ca.pem")}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  auto s = sink(url("otlp", c.port(), "&cert=" + d("client.pem") + "&key=" + d("client.key")));
  ASSERT_NO_FATAL_FAILURE(write(*s, c, 1, 10));
  s.reset();
  EXPECT_EQ(c.violations(), "");
}

TEST(HttpOutputUrl, FormsAndPreciseErrors) {
  HttpTarget t;
  std::string err;
  ASSERT_TRUE(parse_http_output_url("otlp+https://collector.example", t, err)) << err;
  EXPECT_EQ(t.name, "otlp+https://collector.example:4318");
  EXPECT_TRUE(t.ep.tls);
  EXPECT_TRUE(t.gzip);
  ASSERT_TRUE(parse_http_output_url("loki+http://[::1]:3101/gateway/", t, err)) << err;
  EXPECT_EQ(t.name, "loki+http://[::1]:3101/gateway");
  EXPECT_FALSE(t.ep.tls);
  ASSERT_TRUE(parse_http_output_url("elasticsearch+https://es:9243?index=audit&user=u&password_env=P", t, err));
  EXPECT_EQ(t.index, "audit");
  struct Bad {
    const char *url, *says;
  } bad[] = {
      {"splunk+https://h", "needs the HEC token"},
      {"splunk+https://h?token=abc", "not taken from the URL"},
      {"loki+https://h?ack=on", "only applies to splunk"},
      {"otlp+https://user:pw@h", "credentials do not belong in the URL"},
      {"otlp+https://h?encoding=xml", "encoding must be protobuf or json"},
      {"otlp+https://h?tenant=x", "only applies to loki"},
      {"loki+http://h?ca=/x", "needs https"},
      {"loki+https://h?cert=/c", "needs both cert= and key="},
      {"loki+https://h?user=u", "needs password_file= or password_env="},
      {"elasticsearch+https://h?index=Upper", "not a valid Elasticsearch index name"},
      {"otlp+https://h:70000", "port '70000'"},
      {"otlp+https://h?bogus=1", "unknown parameter 'bogus'"},
  };
  for (const auto &b : bad) {
    EXPECT_FALSE(parse_http_output_url(b.url, t, err)) << b.url;
    EXPECT_NE(err.find(b.says), std::string::npos) << b.url << ": " << err;
  }
}

// ---- the real agent ------------------------------------------------------------------------

struct AgentRun {
  int status = -1;
  std::string err;
};

// `ktrail run` for a few seconds with the given outputs, running `echo MARKER` meanwhile.
AgentRun run_agent(const std::string &dir, const std::vector<std::string> &outputs, const std::string &marker,
                   double seconds = 3) {
  std::vector<std::string> a = {KTRAIL_BIN, "run", "--events", "exec,exit", "--duration",
                                std::to_string(seconds), "--chain-state", "none", "--spool-dir", dir + "/spool",
                                "--log-level", "info", "--cloud", "off", "--k8s", "off"};
  for (const auto &o : outputs) a.push_back("-o"), a.push_back(o);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    freopen((dir + "/agent.stderr").c_str(), "w", stderr);
    freopen((dir + "/agent.stdout").c_str(), "w", stdout);
    std::vector<char *> argv;
    for (auto &s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(KTRAIL_BIN, argv.data());
    _exit(127);
  }
  // The agent logs "tracing via ..." once its hooks are attached: exec only then.
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (slurp(dir + "/agent.stderr").find("tracing via") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  sh("/bin/echo " + marker + " >/dev/null");
  AgentRun r;
  waitpid(pid, &r.status, 0);
  r.err = slurp(dir + "/agent.stderr");
  return r;
}

std::vector<std::string> lines_of(const std::string &path) {
  std::vector<std::string> out;
  std::istringstream in(slurp(path));
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

class HttpAgent : public HttpSink {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads BPF programs)";
    HttpSink::SetUp();
  }
  // The collector holds every record the agent wrote to its file output, with every field.
  void expect_all_of_file(const Collector &c, const std::string &file, const std::string &marker) {
    auto lines = lines_of(file);
    ASSERT_GT(lines.size(), 2u);
    std::map<uint64_t, json> got;
    for (auto &r : c.records()) got[r["sequence"].get<uint64_t>()] = r["record"];
    bool saw_marker = false;
    for (const auto &l : lines) {
      json rec = json::parse(l);
      uint64_t seq = rec["event"]["sequence"];
      auto it = got.find(seq);
      ASSERT_NE(it, got.end()) << "sequence " << seq << " did not arrive";
      if (it->second.is_string()) EXPECT_EQ(it->second.get<std::string>(), l) << "record " << seq << " changed";
      else EXPECT_EQ(it->second, rec) << "record " << seq << " changed";
      if (rec["event"]["action"] == "exec" && rec["process"]["args"] == json::array({"/bin/echo", marker}))
        saw_marker = true;
    }
    EXPECT_TRUE(saw_marker) << "the test's exec of /bin/echo " << marker << " is missing";
    EXPECT_EQ(got.size(), lines.size()) << "records the file output does not have";
  }
};

TEST_F(HttpAgent, EveryOutputReceivesEveryRecordOfARealRun) {
  struct Case {
    std::string kind;
    std::vector<std::string> server;
    std::string params;
  } cases[] = {
      {"otlp", {"otlp", "--auth", std::string("Bearer ") + kToken}, "&token_file=" + d("token")},
      {"otlp-json", {"otlp", "--encoding", "json"}, "&encoding=json"},
      {"loki", {"loki", "--tenant", "t1"}, "&tenant=t1"},
      {"splunk", {"splunk", "--auth", std::string("Splunk ") + kToken}, "&token_file=" + d("token")},
      {"elasticsearch", {"elasticsearch", "--auth", std::string("ApiKey ") + kToken}, "&token_file=" + d("token")},
  };
  std::vector<std::unique_ptr<Collector>> cs;
  std::vector<std::string> outs = {"file:" + d("trail.ndjson")};
  for (auto &k : cases) {
    cs.push_back(std::make_unique<Collector>(d("c-" + k.kind), tls_args(k.server)));
    ASSERT_NO_FATAL_FAILURE(cs.back()->start());
    std::string scheme = k.kind == "otlp-json" ? "otlp" : k.kind;
    outs.push_back(url(scheme, cs.back()->port(), k.params));
  }
  std::string marker = "ktrail-http-" + std::to_string(getpid());
  AgentRun r = run_agent(dir_.path(), outs, marker);
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
  for (size_t i = 0; i < cs.size(); i++) {
    SCOPED_TRACE(cases[i].kind);
    EXPECT_EQ(cs[i]->violations(), "");
    expect_all_of_file(*cs[i], d("trail.ndjson"), marker);
  }
}

TEST_F(HttpAgent, WrongCaIsRefusedWithAClearErrorAndNothingIsSent) {
  Collector c(d("wrongca"), tls_args({"loki"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  std::string u = "loki+https://localhost:" + std::to_string(c.port()) + "?ca=" + d("wrong-ca.pem");
  AgentRun r = run_agent(dir_.path(), {"file:" + d("trail.ndjson"), u}, "ktrail-wrong-ca");
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
  EXPECT_NE(r.err.find("TLS handshake"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unable to get local issuer certificate"), std::string::npos) << r.err;
  EXPECT_EQ(c.stats()["requests"], 0);
  EXPECT_TRUE(c.records().empty());
  // Nothing is lost either: the records wait in the spool for a collector we trust.
  EXPECT_NE(r.err.find("retrying"), std::string::npos);
}

TEST_F(HttpAgent, WrongTokenIsRefusedReportedAndNeverShown) {
  const std::string wrong = "kt-wrong-token-31c7aa04";
  std::ofstream(d("wrong-token")) << wrong << "\n";
  Collector c(d("badtoken"), tls_args({"splunk", "--auth", std::string("Splunk ") + kToken, "--quiet-auth"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  AgentRun r = run_agent(dir_.path(), {"file:" + d("trail.ndjson"), url("splunk", c.port(), "&token_file=" + d("wrong-token"))},
                         "ktrail-wrong-token");
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
  EXPECT_NE(r.err.find("authentication refused (HTTP 403"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(d("wrong-token")), std::string::npos) << "the error names the token file";
  EXPECT_GT(c.stats()["refused"].get<int>(), 0);
  EXPECT_TRUE(c.records().empty());
  for (const auto &f : {d("agent.stderr"), d("agent.stdout"), d("trail.ndjson")})
    EXPECT_EQ(slurp(f).find(wrong), std::string::npos) << "the token leaked into " << f;
  EXPECT_EQ(WEXITSTATUS(sh("grep -rqF " + wrong + " " + d("spool"))), 1) << "the token leaked into the spool";
}

TEST_F(HttpAgent, RecordsTheCollectorRefusesBecomeAnInBandLostRecord) {
  // Sequence 3 is early in any run (agent_start is 1): Elasticsearch refuses that document.
  Collector c(d("es-reject"), tls_args({"elasticsearch", "--reject-seq", "3"}));
  ASSERT_NO_FATAL_FAILURE(c.start());
  AgentRun r = run_agent(dir_.path(), {"file:" + d("trail.ndjson"), url("elasticsearch", c.port(), "")},
                         "ktrail-rejected");
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
  EXPECT_EQ(c.violations(), "");
  bool reported = false;
  for (const auto &l : lines_of(d("trail.ndjson"))) {
    json rec = json::parse(l);
    if (rec["event"]["action"] != "lost" || rec["ktrail"]["lost"]["source"] != "rejected") continue;
    reported = true;
    EXPECT_EQ(rec["ktrail"]["lost"]["count"], 1);
    EXPECT_EQ(rec["ktrail"]["lost"]["first_sequence"], 3);
    EXPECT_EQ(rec["ktrail"]["lost"]["last_sequence"], 3);
    EXPECT_EQ(rec["ktrail"]["lost"]["hook"], "elasticsearch+https://localhost:" + std::to_string(c.port()));
  }
  EXPECT_TRUE(reported) << "no lost record with source rejected";
  for (const auto &rr : c.records()) EXPECT_NE(rr["sequence"], 3);
}

}  // namespace
}  // namespace ktrail
