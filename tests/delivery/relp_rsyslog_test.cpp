// syslog+relp against a real rsyslog with imrelp (rsyslog-relp) -> omfile, started by each test
// with its own config on a free loopback port. rsyslog runs its main queue in Direct mode, so
// imrelp answers a message only after omfile has written it: an acknowledged record is in the
// file even if rsyslog is then killed with SIGKILL. Assertions are on what rsyslog wrote.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "delivery/relp.h"
#include "delivery/spool.h"
#include "sinks/sink.h"
#include "sinks/syslog_sink.h"
#include "rsyslog.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

using namespace std::chrono_literals;
using test::make_certs;
using test::sh;
using test::tcp_listening;

uint16_t free_tcp_port() { return test::free_port(SOCK_STREAM); }

std::vector<std::string> lines_of(const std::string &path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

uint64_t sequence_of(const std::string &line) {
  static const std::regex re("\"sequence\":([0-9]+)");
  std::smatch m;
  return std::regex_search(line, m, re) ? std::stoull(m[1]) : 0;
}

std::string record(uint64_t seq) {
  return "{\"@timestamp\":\"2024-05-01T10:00:00.000000Z\",\"event\":{\"kind\":\"event\",\"sequence\":" +
         std::to_string(seq) + "},\"process\":{\"name\":\"relp-test\"}}";
}

// What rsyslog must have received for a record: the whole RFC 5424 message (%rawmsg%).
std::string expected_message(uint64_t seq) { return syslog_message(record(seq), "ktrail-test", getpid(), 10); }

class RelpCollector {
 public:
  RelpCollector(std::string dir, uint16_t port) : dir_(std::move(dir)), port_(port) {}
  ~RelpCollector() { stop(SIGTERM); }
  std::string out() const { return dir_ + "/out.log"; }
  std::string log() const { return dir_ + "/rsyslogd.stderr"; }
  void write_config(const std::string &tls = "") {
    sh("mkdir -p " + dir_ + "/work");
    std::ofstream(dir_ + "/rsyslog.conf")
        << "global(workDirectory=\"" << dir_ << "/work\")\n"
        << "main_queue(queue.type=\"Direct\")\n"
        << "module(load=\"imrelp\")\n"
        << "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"" << port_ << "\" " << tls << ")\n"
        << "template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n"
        << "action(type=\"omfile\" file=\"" << out() << "\" template=\"raw\")\n";
  }
  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test must not leave a collector behind
      freopen(log().c_str(), "a", stderr);
      freopen(log().c_str(), "a", stdout);
      execlp("rsyslogd", "rsyslogd", "-n", "-f", (dir_ + "/rsyslog.conf").c_str(), "-i",
             (dir_ + "/rsyslogd.pid").c_str(), nullptr);
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!tcp_listening(port_) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(tcp_listening(port_)) << "rsyslogd did not listen on " << port_;
  }
  void stop(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    kill(pid_, SIGCONT);  // a stopped rsyslogd acts on SIGTERM only once it runs again
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    unlink((dir_ + "/rsyslogd.pid").c_str());
  }
  void pause() { kill(pid_, SIGSTOP); }

 private:
  std::string dir_;
  uint16_t port_;
  pid_t pid_ = -1;
};

std::unique_ptr<Sink> open_sink(const std::string &spec, const std::string &spool) {
  DeliveryOptions d;
  d.spool_dir = spool;
  d.hostname = "ktrail-test";
  std::unique_ptr<Sink> s;
  Status st = make_sink(spec, Format::Json, s, {}, d);
  EXPECT_TRUE(st) << st.message;
  return s;
}

// Polls until every sequence 1..n was written at least once.
bool wait_for_all(const std::string &path, uint64_t n, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<bool> seen(n + 1);
    uint64_t count = 0;
    for (auto &l : lines_of(path))
      if (uint64_t s = sequence_of(l); s >= 1 && s <= n && !seen[s]) seen[s] = true, count++;
    if (count == n) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// Every line is exactly one record's message; the first arrivals are in order; returns the
// number of duplicates (resent after a failure).
uint64_t check_lines(const std::string &path, uint64_t n) {
  std::map<uint64_t, int> times;
  uint64_t last_first = 0;
  for (auto &l : lines_of(path)) {
    uint64_t s = sequence_of(l);
    EXPECT_TRUE(s >= 1 && s <= n) << l;
    if (s < 1 || s > n) continue;
    EXPECT_EQ(l, expected_message(s));
    if (times[s]++ == 0) {
      EXPECT_GT(s, last_first) << "sequence " << s << " first arrived after " << last_first;
      last_first = s;
    }
  }
  uint64_t dups = 0;
  for (auto &[s, c] : times) dups += static_cast<uint64_t>(c - 1);
  return dups;
}

class RelpRsyslog : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sh("command -v rsyslogd >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "rsyslogd not installed (scripts/install-deps.sh test)";
    if (access("/usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so", F_OK) != 0)
      GTEST_SKIP() << "rsyslog-relp not installed (scripts/install-deps.sh test)";
    port = free_tcp_port();
    spec = "syslog+relp://127.0.0.1:" + std::to_string(port);
  }
  std::string spool_subdir() const {
    std::string sub = "syslog+relp://127.0.0.1:" + std::to_string(port);
    for (char &c : sub)
      if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
    return t / "spool" + "/" + sub;
  }
  uint64_t pending_in_spool() const {
    std::unique_ptr<delivery::Spool> s;
    delivery::SpoolRecovery rec;
    Status st = delivery::Spool::open(spool_subdir(), {}, s, &rec);
    EXPECT_TRUE(st) << st.message;
    return rec.pending_records;
  }
  test::TempDir t;
  uint16_t port = 0;
  std::string spec;
};

TEST_F(RelpRsyslog, EveryRecordArrivesExactlyAsSentInOrderAndAcksMoveTheCursor) {
  RelpCollector r(t.path(), port);
  r.write_config();
  r.start();
  constexpr uint64_t kN = 2000;
  {
    auto s = open_sink(spec, t / "spool");
    ASSERT_TRUE(s);
    for (uint64_t i = 1; i <= kN; i++) {
      ASSERT_TRUE(s->write_record(i, record(i)));
      if (i % 100 == 0) {
        ASSERT_TRUE(s->flush());
      }
    }
    ASSERT_TRUE(s->flush());
    ASSERT_TRUE(wait_for_all(r.out(), kN, 30s)) << lines_of(r.out()).size() << " lines";
  }  // the sink's shutdown waits for the last acknowledgements
  auto lines = lines_of(r.out());
  ASSERT_EQ(lines.size(), kN) << "no failure happened, so nothing may arrive twice";
  for (uint64_t i = 1; i <= kN; i++) ASSERT_EQ(lines[i - 1], expected_message(i)) << "line " << i;
  // Everything was acknowledged: a restarted agent has nothing left to resend.
  EXPECT_EQ(pending_in_spool(), 0u);
}

TEST_F(RelpRsyslog, CollectorKilledMidStreamAndRestartedEverySequenceArrives) {
  RelpCollector r(t.path(), port);
  r.write_config();
  r.start();
  auto s = open_sink(spec, t / "spool");
  ASSERT_TRUE(s);
  uint64_t seq = 0;
  auto burst = [&](int n) {
    for (int i = 0; i < n; i++, seq++) ASSERT_TRUE(s->write_record(seq + 1, record(seq + 1)));
    ASSERT_TRUE(s->flush());
    std::this_thread::sleep_for(5ms);
  };
  for (int i = 0; i < 40; i++) burst(25);  // 1000 while the collector runs
  r.stop(SIGKILL);                         // mid-stream, no goodbye
  for (int i = 0; i < 40; i++) burst(25);  // 1000 while it is down: spooled
  std::this_thread::sleep_for(1s);
  r.start();
  for (int i = 0; i < 40; i++) burst(25);  // 1000 after the restart
  ASSERT_TRUE(wait_for_all(r.out(), seq, 60s)) << "not every sequence of " << seq << " arrived";
  uint64_t dups = check_lines(r.out(), seq);
  std::cout << "[ relp ] " << seq << " records, " << dups << " duplicates after the kill\n";
  // At most one window (128) is ever unconfirmed, so one failure resends at most that much.
  EXPECT_LE(dups, 128u);
  s.reset();
  EXPECT_EQ(pending_in_spool(), 0u);
}

// The case plain TCP cannot see: a collector that took the bytes into its TCP buffer but never
// processed them. With RELP they were never answered, so they go again.
TEST_F(RelpRsyslog, BytesTheCollectorNeverAnsweredAreResentAfterItDies) {
  RelpCollector r(t.path(), port);
  r.write_config();
  r.start();
  auto s = open_sink(spec, t / "spool");
  ASSERT_TRUE(s);
  for (uint64_t i = 1; i <= 100; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  ASSERT_TRUE(wait_for_all(r.out(), 100, 20s));
  r.pause();  // the connection stays up and the kernel still takes the bytes
  for (uint64_t i = 101; i <= 150; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  std::this_thread::sleep_for(2500ms);  // longer than any TCP-level "delivered" heuristic
  r.stop(SIGKILL);                      // what sat in its socket buffer is gone
  EXPECT_EQ(lines_of(r.out()).size(), 100u);
  r.start();
  EXPECT_TRUE(wait_for_all(r.out(), 150, 60s)) << "records the collector never acknowledged were lost";
  check_lines(r.out(), 150);
}

class RelpTls : public RelpRsyslog {
 protected:
  void SetUp() override {
    RelpRsyslog::SetUp();
    if (IsSkipped()) return;
    make_certs(t.path());
    tls_spec = "syslog+relp+tls://127.0.0.1:" + std::to_string(port) + "?ca=" + t / "ca.pem" +
               "&cert=" + t / "client.pem" + "&key=" + t / "client.key" + "&peer=localhost";
  }
  // Mutual TLS on the server side too: imrelp accepts only a client certificate for localhost.
  std::string server_tls() const {
    return "tls=\"on\" tls.caCert=\"" + t / "ca.pem" + "\" tls.myCert=\"" + t / "server.pem" +
           "\" tls.myPrivKey=\"" + t / "server.key" +
           "\" tls.authMode=\"name\" tls.permittedPeer=[\"localhost\"]";
  }
  delivery::RelpTarget target(const std::string &ca, const std::string &peer) const {
    delivery::RelpTarget r;
    r.host = "127.0.0.1";
    r.port = port;
    r.tls = true;
    r.tls_files.ca_file = ca;
    r.tls_files.cert_file = t / "client.pem";
    r.tls_files.key_file = t / "client.key";
    r.peer_name = peer;
    r.name = "relp-tls-test";
    return r;
  }
  std::string tls_spec;
};

TEST_F(RelpTls, MutualTlsDeliversEverythingExactly) {
  RelpCollector r(t.path(), port);
  r.write_config(server_tls());
  r.start();
  {
    auto s = open_sink(tls_spec, t / "spool");
    ASSERT_TRUE(s);
    for (uint64_t i = 1; i <= 500; i++) ASSERT_TRUE(s->write_record(i, record(i)));
    ASSERT_TRUE(s->flush());
    ASSERT_TRUE(wait_for_all(r.out(), 500, 30s)) << lines_of(r.out()).size() << " lines; " << lines_of(r.log()).size();
  }
  EXPECT_EQ(check_lines(r.out(), 500), 0u);
  EXPECT_EQ(lines_of(r.out()).size(), 500u);
}

TEST_F(RelpTls, ServerCertificateFromAnotherCaIsRefusedWithAClearError) {
  RelpCollector r(t.path(), port);
  r.write_config(server_tls());
  r.start();
  std::unique_ptr<delivery::Protocol> p;
  ASSERT_TRUE(delivery::make_relp_protocol(target(t / "wrong-ca.pem", "localhost"), p));
  Status st = p->connect();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("certificate"), std::string::npos) << st.message;
  EXPECT_EQ(st.message.find("PRIVATE KEY"), std::string::npos) << st.message;
  auto s = open_sink("syslog+relp+tls://127.0.0.1:" + std::to_string(port) + "?ca=" + t / "wrong-ca.pem" +
                         "&cert=" + t / "client.pem" + "&key=" + t / "client.key" + "&peer=localhost",
                     t / "spool");
  for (uint64_t i = 1; i <= 20; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(lines_of(r.out()).empty()) << "records went to an unverified server";
}

TEST_F(RelpTls, ServerCertificateWithoutThePermittedNameIsRefused) {
  RelpCollector r(t.path(), port);
  r.write_config(server_tls());
  r.start();
  std::unique_ptr<delivery::Protocol> p;
  ASSERT_TRUE(delivery::make_relp_protocol(target(t / "ca.pem", "logs.example"), p));
  Status st = p->connect();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message.find("localhost"), std::string::npos) << "the error names what the certificate carried: "
                                                             << st.message;
  // Control: the same client with the right name gets through.
  ASSERT_TRUE(delivery::make_relp_protocol(target(t / "ca.pem", "localhost"), p));
  st = p->connect();
  EXPECT_TRUE(st) << st.message;
}

}  // namespace
}  // namespace ktrail
