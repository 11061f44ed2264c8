// Delivery guarantees under faults, end to end: the real `ktrail run` binary traces real execs
// (a steady loop of posix_spawn("/bin/true")) and sends them to a real rsyslog over TCP or TLS,
// while the test kills, pauses or misconfigures the collector, or kill -9s the agent. Each
// agent also writes a file: output, the ground truth of what the pipeline emitted. Assertions
// compare event.sequence sets between that file, the spool and what rsyslog wrote.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "delivery/spool.h"
#include "rsyslog.h"
#include "temp_dir.h"

#ifndef KTRAIL_BIN
#error "KTRAIL_BIN must name the ktrail binary"
#endif

extern char **environ;

namespace ktrail {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using test::Rsyslog;

// Records as one side saw them, in arrival order.
struct Records {
  std::vector<json> all;
  std::vector<uint64_t> order;  // event.sequence of each record, duplicates included
  std::set<uint64_t> seqs;
  size_t bad = 0;
  std::string first_bad;
  size_t duplicates() const { return order.size() - seqs.size(); }
  std::vector<const json *> lost(const std::string &source) const {
    std::vector<const json *> out;
    for (auto &r : all)
      if (r["event"].value("action", "") == "lost" && r["ktrail"]["lost"].value("source", "") == source)
        out.push_back(&r);
    return out;
  }
};

// A file: output (NDJSON) or rsyslog's omfile (the message only: the JSON after the header).
Records read_records(const std::string &path) {
  Records r;
  std::istringstream in(test::slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    size_t brace = line.find('{');
    json j = brace == std::string::npos ? json() : json::parse(line.substr(brace), nullptr, false);
    if (!j.is_object() || !j.contains("event") || !j["event"].contains("sequence")) {
      if (r.bad++ == 0) r.first_bad = line.substr(0, 300);
      continue;
    }
    uint64_t seq = j["event"]["sequence"].get<uint64_t>();
    r.order.push_back(seq);
    r.seqs.insert(seq);
    r.all.push_back(std::move(j));
  }
  return r;
}

std::vector<uint64_t> missing(const std::set<uint64_t> &want, const std::set<uint64_t> &have) {
  std::vector<uint64_t> out;
  for (uint64_t s : want)
    if (!have.count(s)) out.push_back(s);
  return out;
}

std::string head(const std::vector<uint64_t> &v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < 20; i++) s += std::to_string(v[i]) + " ";
  return v.size() > 20 ? s + "..." : s;
}

// Each sequence where it first arrived: resends come from the cursor in spool order, so
// apart from duplicates the collector sees records in sequence order.
bool first_arrivals_in_order(const Records &r) {
  std::set<uint64_t> seen;
  uint64_t last = 0;
  for (uint64_t s : r.order) {
    if (!seen.insert(s).second) continue;
    if (s < last) return false;
    last = s;
  }
  return true;
}

bool contiguous(const std::set<uint64_t> &s) {
  return !s.empty() && *s.rbegin() - *s.begin() + 1 == s.size();
}

// Polls until pred() holds; false at the deadline.
template <typename Pred>
bool eventually(std::chrono::seconds limit, Pred &&pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

// Real execs at a steady rate (0: as fast as one thread can), each reaped before the next.
class ExecLoad {
 public:
  explicit ExecLoad(double per_second) : per_second_(per_second) {}
  ~ExecLoad() { stop(); }
  void start() {
    stop_ = false;
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<pid_t> pids() {
    std::lock_guard<std::mutex> lk(mu_);
    return pids_;
  }

 private:
  void run() {
    auto next = std::chrono::steady_clock::now();
    auto period = per_second_ > 0 ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(1.0 / per_second_))
                                  : std::chrono::steady_clock::duration::zero();
    while (!stop_) {
      pid_t pid;
      char *argv[] = {const_cast<char *>("true"), nullptr};
      if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0) {
        waitpid(pid, nullptr, 0);
        std::lock_guard<std::mutex> lk(mu_);
        pids_.push_back(pid);
      }
      next += period;
      std::this_thread::sleep_until(next);
    }
  }
  double per_second_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<pid_t> pids_;
};

// One `ktrail run`; stderr to a file the test reads.
class Agent {
 public:
  ~Agent() {
    if (pid_ > 0) kill9();
  }
  void start(const std::vector<std::string> &args, const std::string &stderr_path) {
    err_path_ = stderr_path;
    std::vector<std::string> argv{KTRAIL_BIN, "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char *> av;
    for (auto &a : argv) av.push_back(a.data());
    av.push_back(nullptr);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(err, 2);
      execv(av[0], av.data());
      _exit(127);
    }
    ASSERT_TRUE(eventually(30s, [&] {
      if (err().find("tracing via ") != std::string::npos) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
      return pid_ < 0;
    })) << "no 'tracing via' line within 30 s:\n" << err();
    ASSERT_GT(pid_, 0) << "ktrail exited before tracing:\n" << err();
  }
  // SIGINT: a clean stop (drain, final checkpoint, spool flushed). Returns the wait status.
  int stop() {
    kill(pid_, SIGINT);
    int st = -1;
    bool done = eventually(30s, [&] { return waitpid(pid_, &st, WNOHANG) == pid_; });
    if (!done) kill9();
    pid_ = -1;
    return done ? st : -1;
  }
  void kill9() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string err() const { return test::slurp(err_path_); }

 private:
  pid_t pid_ = -1;
  std::string err_path_;
};

// "N records sent, M of them again after a failure": M, from the agent's shutdown line.
uint64_t resent_reported(const std::string &err, const std::string &output) {
  std::regex re(std::regex_replace(output, std::regex(R"([.+?*()\[\]])"), R"(\$&)") +
                R"(: ([0-9]+) records sent, ([0-9]+) of them again after a failure)");
  std::smatch m;
  if (!std::regex_search(err, m, re)) return UINT64_MAX;
  return std::stoull(m[2]);
}

// "N undelivered records from an earlier run go first": N (0 when the line is absent).
uint64_t replayed_reported(const std::string &err) {
  std::smatch m;
  if (!std::regex_search(err, m, std::regex(R"(([0-9]+) undelivered records from an earlier run go first)")))
    return 0;
  return std::stoull(m[1]);
}

class DeliveryFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF)";
    if (!test::have_rsyslog()) GTEST_SKIP() << "rsyslogd not installed (scripts/install-deps.sh test)";
    port_ = test::free_port(SOCK_STREAM);
    tcp_url_ = "syslog+tcp://127.0.0.1:" + std::to_string(port_);
  }
  // Messages from the whole host's execs (long compiler command lines among them) must arrive
  // whole: rsyslog's default limit is 8 KiB.
  std::unique_ptr<Rsyslog> collector(const std::string &inputs) {
    auto r = std::make_unique<Rsyslog>(t_.path(), inputs);
    r->global_ = "maxMessageSize=\"1m\"";
    return r;
  }
  // The syslog output first: the pipeline flushes outputs in order, so whatever a kill -9
  // leaves in the file: output reached the spool before it.
  std::vector<std::string> agent_args(const std::string &url, const std::string &trail,
                                      std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"--format", "json", "--events", "exec,exit", "--chain-state",
                               t_ / "chain.state", "--spool-dir", t_ / "spool", "-o", url,
                               "-o", "file:" + trail};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::string spool_of_output() {
    for (auto &e : std::filesystem::directory_iterator(t_ / "spool")) return e.path();
    return "";
  }
  test::TempDir t_;
  uint16_t port_ = 0;
  std::string tcp_url_;
};

// Issue 9: "kill the collector for 30 s under steady load, restart it: every sequence arrives".
TEST_F(DeliveryFaults, CollectorDownThirtySecondsUnderLoadEverySequenceArrives) {
  auto r = collector(test::imtcp_input(port_));
  r->start(port_);
  Agent agent;
  ASSERT_NO_FATAL_FAILURE(agent.start(agent_args(tcp_url_, t_ / "trail.ndjson"), t_ / "agent.stderr"));
  ExecLoad load(100);
  load.start();
  ASSERT_TRUE(eventually(20s, [&] { return read_records(r->out()).seqs.size() >= 100; }))
      << "the collector received nothing:\n" << agent.err();
  r->stop();
  std::this_thread::sleep_for(30s);
  size_t during_outage = read_records(t_ / "trail.ndjson").seqs.size();
  r->start(port_);
  // Backoff is capped at 30 s: the sender is back within that, then catches up.
  ASSERT_TRUE(eventually(60s, [&] {
    auto trail = read_records(t_ / "trail.ndjson");
    auto got = read_records(r->out());
    return !trail.seqs.empty() && got.seqs.count(*trail.seqs.rbegin());
  })) << "not caught up after the collector came back:\n" << agent.err();
  std::this_thread::sleep_for(2s);
  load.stop();
  ASSERT_EQ(agent.stop(), 0) << agent.err();

  Records trail = read_records(t_ / "trail.ndjson");
  ASSERT_EQ(trail.bad, 0u) << trail.first_bad;
  ASSERT_TRUE(contiguous(trail.seqs)) << "the file: output itself has a gap";
  EXPECT_GT(during_outage, 3000u) << "the load did not run during the outage";
  EXPECT_TRUE(trail.lost("spool").empty());
  EXPECT_TRUE(trail.lost("kernel").empty());
  // The last records (the shutdown checkpoint) may take the 2 s grace period.
  EXPECT_TRUE(eventually(10s, [&] { return read_records(r->out()).seqs == trail.seqs; }));
  Records got = read_records(r->out());
  EXPECT_EQ(got.bad, 0u) << got.first_bad;
  auto gap = missing(trail.seqs, got.seqs);
  EXPECT_TRUE(gap.empty()) << gap.size() << " of " << trail.seqs.size() << " never arrived: " << head(gap);
  EXPECT_TRUE(missing(got.seqs, trail.seqs).empty()) << "the collector has records the agent never emitted";
  EXPECT_TRUE(first_arrivals_in_order(got));
  // Duplicates are possible (records the collector took in its last second were not yet
  // confirmed) and bounded by what the agent says it sent again.
  uint64_t resent = resent_reported(agent.err(), tcp_url_);
  ASSERT_NE(resent, UINT64_MAX) << "no delivery summary at shutdown:\n" << agent.err();
  EXPECT_GT(resent, 0u) << "the outage must have caught unconfirmed records";
  EXPECT_LE(got.duplicates(), resent);
  std::cout << "[ info ] " << trail.seqs.size() << " records, " << got.duplicates()
            << " duplicates received, " << resent << " resent\n";
}

// Issue 9: "kill -9 the agent mid-stream and restart it: nothing that reached the spool is lost".
TEST_F(DeliveryFaults, AgentKilledMidStreamLosesNothingThatReachedTheSpool) {
  auto r = collector(test::imtcp_input(port_));
  r->start(port_);
  ExecLoad load(150);
  load.start();
  Agent first;
  ASSERT_NO_FATAL_FAILURE(first.start(agent_args(tcp_url_, t_ / "trail1.ndjson"), t_ / "agent1.stderr"));
  ASSERT_TRUE(eventually(20s, [&] { return read_records(r->out()).seqs.size() >= 200; }));
  // A backlog at the moment of the kill: with the collector gone, records pile up in the spool
  // (a paused one would not do: loopback TCP buffers hold megabytes).
  r->stop();
  std::this_thread::sleep_for(2s);
  first.kill9();
  r->start(port_);

  // What the dead agent left in its spool, acknowledged or not.
  std::set<uint64_t> spooled;
  uint64_t pending = 0;
  {
    std::unique_ptr<delivery::Spool> spool;
    delivery::SpoolRecovery rec;
    ASSERT_TRUE(delivery::Spool::open(spool_of_output(), {}, spool, &rec));
    std::vector<delivery::SpoolRecord> recs;
    ASSERT_TRUE(spool->read(0, SIZE_MAX, SIZE_MAX, recs));
    for (auto &x : recs) spooled.insert(x.sequence);
    pending = rec.pending_records;
  }
  Records trail1 = read_records(t_ / "trail1.ndjson");
  ASSERT_FALSE(spooled.empty());
  // Segments the collector confirmed whole are deleted; from the oldest one still held, every
  // record the file: output got is in the spool too.
  for (uint64_t s : trail1.seqs)
    if (s >= *spooled.begin()) ASSERT_TRUE(spooled.count(s)) << "record " << s << " is in the file, not the spool";

  // What the collector got from the first run.
  std::set<uint64_t> before_restart = read_records(r->out()).seqs;
  auto backlog = missing(spooled, before_restart);
  ASSERT_GT(backlog.size(), 50u) << "no backlog: the restart would prove nothing";

  Agent second;
  ASSERT_NO_FATAL_FAILURE(second.start(agent_args(tcp_url_, t_ / "trail2.ndjson"), t_ / "agent2.stderr"));
  std::this_thread::sleep_for(2s);
  load.stop();
  ASSERT_EQ(second.stop(), 0) << second.err();
  Records trail2 = read_records(t_ / "trail2.ndjson");
  std::set<uint64_t> want = spooled;
  want.insert(trail1.seqs.begin(), trail1.seqs.end());
  want.insert(trail2.seqs.begin(), trail2.seqs.end());
  EXPECT_TRUE(eventually(15s, [&] { return missing(want, read_records(r->out()).seqs).empty(); }));
  Records got = read_records(r->out());
  auto gap = missing(spooled, got.seqs);
  EXPECT_TRUE(gap.empty()) << gap.size() << " spooled records never arrived: " << head(gap);
  gap = missing(want, got.seqs);
  EXPECT_TRUE(gap.empty()) << gap.size() << " records never arrived: " << head(gap);
  EXPECT_EQ(replayed_reported(second.err()), pending) << second.err();
  EXPECT_TRUE(first_arrivals_in_order(got)) << "the spooled backlog must go before the new run's records";
  EXPECT_LE(got.duplicates(), pending + resent_reported(second.err(), tcp_url_));

  // The chain continues: the second run starts right after the last sequence the first one
  // sealed, and declares whatever of that it may not have written.
  ASSERT_FALSE(trail2.all.empty());
  const json &start = trail2.all.front();
  ASSERT_EQ(start["event"]["action"], "agent_start");
  ASSERT_TRUE(start["ktrail"].contains("resume")) << start.dump();
  uint64_t resumed = start["ktrail"]["resume"]["sequence"].get<uint64_t>();
  EXPECT_EQ(start["event"]["sequence"].get<uint64_t>(), resumed + 1);
  EXPECT_GE(resumed, *trail1.seqs.rbegin());
  EXPECT_GE(resumed, *spooled.rbegin());
  std::set<uint64_t> run1 = trail1.seqs;
  if (start["ktrail"]["resume"].contains("unwritten")) {
    const json &u = start["ktrail"]["resume"]["unwritten"];
    EXPECT_EQ(u["last"].get<uint64_t>(), resumed);
    for (uint64_t s = u["first"].get<uint64_t>(); s <= resumed; s++) run1.insert(s);
  }
  EXPECT_TRUE(contiguous(run1) && *run1.begin() == 1 && *run1.rbegin() == resumed)
      << "run 1 has undeclared gaps: " << run1.size() << " sequences in 1.." << resumed;
  EXPECT_TRUE(contiguous(trail2.seqs) && *trail2.seqs.begin() == resumed + 1);
  std::cout << "[ info ] run 1: " << trail1.seqs.size() << " in its file, " << spooled.size() << " in its spool ("
            << pending << " unconfirmed), sealed up to " << resumed << "; run 2: " << trail2.seqs.size()
            << "; duplicates received: " << got.duplicates()
            << "; backlog replayed after the restart: " << backlog.size() << "\n";
}

// Issue 9: "fill the spool: a lost event with the right range". Every eviction happens while
// the collector is down (run 1 stops before it comes back), so the report must be exact; run 2
// (same spool, chain and output, a larger spool) then delivers what was kept. A collector that
// returns to a full spool can see records that were evicted while in flight: those are reported
// lost too (an upper bound, README), so exactness is only asserted here.
TEST_F(DeliveryFaults, FullSpoolReportsExactlyTheSequencesItDropped) {
  auto r = collector(test::imtcp_input(port_));  // not started: everything spools
  ExecLoad load(150);
  {
    Agent agent;
    ASSERT_NO_FATAL_FAILURE(agent.start(agent_args(tcp_url_, t_ / "trail.ndjson", {"--spool-max-bytes", "65536"}),
                                        t_ / "agent1.stderr"));
    load.start();
    ASSERT_TRUE(eventually(20s, [&] { return read_records(t_ / "trail.ndjson").lost("spool").size() >= 3; }))
        << "no spool loss reported:\n" << agent.err();
    load.stop();
    ASSERT_EQ(agent.stop(), 0) << agent.err();
  }
  r->start(port_);
  Agent agent;
  ASSERT_NO_FATAL_FAILURE(agent.start(agent_args(tcp_url_, t_ / "trail.ndjson", {"--spool-max-bytes", "67108864"}),
                                      t_ / "agent2.stderr"));
  ASSERT_TRUE(eventually(40s, [&] {
    auto trail = read_records(t_ / "trail.ndjson");
    return read_records(r->out()).seqs.count(*trail.seqs.rbegin()) == 1;
  })) << agent.err();
  ASSERT_EQ(agent.stop(), 0) << agent.err();

  Records trail = read_records(t_ / "trail.ndjson");
  ASSERT_TRUE(contiguous(trail.seqs));
  EXPECT_TRUE(eventually(10s, [&] { return read_records(r->out()).seqs.count(*trail.seqs.rbegin()) == 1; }));
  std::set<uint64_t> declared;
  for (const json *l : trail.lost("spool")) {
    const json &lost = (*l)["ktrail"]["lost"];
    EXPECT_EQ(lost["hook"], tcp_url_);
    uint64_t first = lost["first_sequence"].get<uint64_t>(), last = lost["last_sequence"].get<uint64_t>();
    EXPECT_EQ(lost["count"].get<uint64_t>(), last - first + 1) << l->dump();
    EXPECT_LT(last, (*l)["event"]["sequence"].get<uint64_t>()) << "a loss reported before it happened";
    for (uint64_t s = first; s <= last; s++) EXPECT_TRUE(declared.insert(s).second) << "reported twice: " << s;
  }
  Records got = read_records(r->out());
  std::set<uint64_t> absent;
  for (uint64_t s : trail.seqs)
    if (!got.seqs.count(s)) absent.insert(s);
  // Exactly: nothing missing that was not reported, nothing reported that arrived.
  EXPECT_EQ(absent, declared) << absent.size() << " missing, " << declared.size() << " reported lost";
  EXPECT_GT(got.seqs.size(), 0u);
  EXPECT_TRUE(missing(got.seqs, trail.seqs).empty());
  EXPECT_TRUE(first_arrivals_in_order(got));
  std::cout << "[ info ] " << trail.seqs.size() << " records, " << trail.lost("spool").size() << " lost events declaring "
            << declared.size() << ", " << got.seqs.size() << " delivered\n";
}

// Issue 9: "a TLS collector with a wrong CA is refused, with a clear error". The records wait
// in the spool and go, first and in order, once the agent trusts the right CA.
TEST_F(DeliveryFaults, WrongCaIsRefusedRecordsStaySpooledThenGoWithTheRightCa) {
  if (access("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", F_OK) != 0)
    GTEST_SKIP() << "rsyslog-gnutls not installed";
  ASSERT_NO_FATAL_FAILURE(test::make_certs(t_.path()));
  auto r = collector("module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" "
                     "StreamDriver.AuthMode=\"anon\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"" +
                     std::to_string(port_) + "\")");
  r->global_ += " DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"" + t_ / "ca.pem" +
                "\" DefaultNetstreamDriverCertFile=\"" + t_ / "server.pem" +
                "\" DefaultNetstreamDriverKeyFile=\"" + t_ / "server.key" + "\"";
  r->start(port_);
  std::string base = "syslog+tls://127.0.0.1:" + std::to_string(port_);
  std::string client = "&cert=" + t_ / "client.pem" + "&key=" + t_ / "client.key";
  ExecLoad load(50);
  load.start();
  Agent wrong;
  ASSERT_NO_FATAL_FAILURE(
      wrong.start(agent_args(base + "?ca=" + t_ / "wrong-ca.pem" + client, t_ / "trail1.ndjson"), t_ / "agent1.stderr"));
  std::string expect = base + ": TLS handshake with 127.0.0.1:" + std::to_string(port_) +
                       " failed: certificate verification failed: ";
  EXPECT_TRUE(eventually(15s, [&] { return wrong.err().find(expect) != std::string::npos; })) << wrong.err();
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(wrong.stop(), 0) << wrong.err();
  std::string err = wrong.err();
  std::string key = test::slurp(t_ / "client.key");
  EXPECT_EQ(err.find(key.substr(key.find('\n') + 1, 64)), std::string::npos) << "key material in a log line";
  EXPECT_EQ(err.find("PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(read_records(r->out()).seqs.empty()) << "the server got records from an unverified session";

  Records trail1 = read_records(t_ / "trail1.ndjson");
  ASSERT_GT(trail1.seqs.size(), 10u);
  {
    std::unique_ptr<delivery::Spool> spool;
    delivery::SpoolRecovery rec;
    ASSERT_TRUE(delivery::Spool::open(spool_of_output(), {}, spool, &rec));
    EXPECT_EQ(rec.pending_records, trail1.seqs.size()) << "every record stays in the spool";
  }

  Agent right;
  ASSERT_NO_FATAL_FAILURE(
      right.start(agent_args(base + "?ca=" + t_ / "ca.pem" + client, t_ / "trail2.ndjson"), t_ / "agent2.stderr"));
  EXPECT_TRUE(eventually(20s, [&] { return missing(trail1.seqs, read_records(r->out()).seqs).empty(); }))
      << right.err() << test::slurp(t_ / "rsyslogd.stderr");
  load.stop();
  ASSERT_EQ(right.stop(), 0) << right.err();
  Records trail2 = read_records(t_ / "trail2.ndjson");
  EXPECT_TRUE(eventually(10s, [&] { return missing(trail2.seqs, read_records(r->out()).seqs).empty(); }));
  EXPECT_EQ(replayed_reported(right.err()), trail1.seqs.size());
  // Spooled records first, then the new run's, each in order.
  Records got = read_records(r->out());
  EXPECT_TRUE(first_arrivals_in_order(got));
  EXPECT_EQ(got.seqs.size(), trail1.seqs.size() + trail2.seqs.size());
}

// Issue 9: "a slow collector never blocks the kernel-side consumer". rsyslog is stopped with
// SIGSTOP (its TCP window fills, the sender's writes time out) while execs run as fast as one
// thread can: every exec still reaches the file: output, and the kernel drops nothing.
TEST_F(DeliveryFaults, StalledCollectorNeverSlowsTheKernelSideConsumer) {
  auto r = collector(test::imtcp_input(port_));
  r->start(port_);
  Agent agent;
  ASSERT_NO_FATAL_FAILURE(agent.start(agent_args(tcp_url_, t_ / "trail.ndjson"), t_ / "agent.stderr"));
  ASSERT_TRUE(eventually(10s, [&] { return !read_records(r->out()).seqs.empty(); }));
  r->pause();
  size_t before = read_records(r->out()).seqs.size();
  ExecLoad load(0);
  load.start();
  std::this_thread::sleep_for(6s);
  load.stop();
  auto pids = load.pids();
  ASSERT_GT(pids.size(), 1000u) << "the load generator did not run";
  std::set<int64_t> traced;
  EXPECT_TRUE(eventually(10s, [&] {
    traced.clear();
    for (auto &j : read_records(t_ / "trail.ndjson").all)
      if (j["event"].value("action", "") == "exec") traced.insert(j["process"]["pid"].get<int64_t>());
    for (pid_t p : pids)
      if (!traced.count(p)) return false;
    return true;
  })) << "execs missing from the file: output while the collector stalled";
  Records trail = read_records(t_ / "trail.ndjson");
  EXPECT_TRUE(trail.lost("kernel").empty()) << trail.lost("kernel").front()->dump();
  EXPECT_TRUE(trail.lost("perf_buffer").empty());
  // The collector really stalled: it holds far fewer records than were emitted.
  size_t stalled_at = read_records(r->out()).seqs.size();
  EXPECT_LT(stalled_at, before + trail.seqs.size() / 2);
  std::cout << "[ info ] " << pids.size() << " execs in 6 s, " << trail.seqs.size() << " records emitted, "
            << stalled_at << " at the stalled collector\n";

  r->resume();
  EXPECT_TRUE(eventually(60s, [&] { return missing(trail.seqs, read_records(r->out()).seqs).empty(); }))
      << "the backlog did not drain once the collector resumed:\n" << agent.err();
  ASSERT_EQ(agent.stop(), 0) << agent.err();
}

}  // namespace
}  // namespace ktrail
