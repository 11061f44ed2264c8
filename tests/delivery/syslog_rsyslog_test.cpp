// syslog outputs against a real rsyslog (imtcp, imtcp+gtls, imudp -> omfile). Every assertion
// is on what rsyslog wrote, never on the client's send result (under TLS 1.3 a rejected
// client's send still succeeds).
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
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "delivery/transport.h"
#include "rsyslog.h"
#include "sinks/sink.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

using namespace std::chrono_literals;

using test::free_port;
using test::have_rsyslog;
using test::make_certs;
using test::Rsyslog;
using test::sequences_in;
using test::slurp;

std::string record(uint64_t seq) {
  return "{\"@timestamp\":\"2024-05-01T10:00:00.000000Z\",\"event\":{\"kind\":\"event\",\"sequence\":" +
         std::to_string(seq) + "}}";
}

bool wait_for_all(const std::string &path, uint64_t n, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = sequences_in(path);
    if (got.size() == n && *got.begin() == 1 && *got.rbegin() == n) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::unique_ptr<Sink> open_sink(const std::string &spec, const std::string &spool) {
  DeliveryOptions d;
  d.spool_dir = spool;
  d.hostname = "ktrail-test";
  std::unique_ptr<Sink> s;
  Status st = make_sink(spec, Format::Json, s, {}, d);
  EXPECT_TRUE(st) << st.message;
  return s;
}

class SyslogRsyslog : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_rsyslog()) GTEST_SKIP() << "rsyslogd not installed (scripts/install-deps.sh test)";
  }
  test::TempDir t;
};

TEST_F(SyslogRsyslog, TcpOctetCountedRecordsArriveIntact) {
  uint16_t port = free_port(SOCK_STREAM);
  Rsyslog r(t.path(), "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"" +
                          std::to_string(port) + "\")");
  r.start(port);
  auto s = open_sink("syslog+tcp://127.0.0.1:" + std::to_string(port), t / "spool");
  for (uint64_t i = 1; i <= 500; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  EXPECT_TRUE(wait_for_all(r.out(), 500, 20s)) << sequences_in(r.out()).size() << " of 500";
  // Each line is exactly the JSON record: octet counting kept the framing.
  std::istringstream lines(slurp(r.out()));
  std::string first;
  std::getline(lines, first);
  EXPECT_EQ(first.substr(first.find('{')), record(1));
}

TEST_F(SyslogRsyslog, CollectorDownThenUpLosesNothing) {
  uint16_t port = free_port(SOCK_STREAM);
  Rsyslog r(t.path(), "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"" +
                          std::to_string(port) + "\")");
  auto s = open_sink("syslog+tcp://127.0.0.1:" + std::to_string(port), t / "spool");
  uint64_t seq = 0;
  auto burst = [&](int n) {
    for (int i = 0; i < n; i++, seq++) ASSERT_TRUE(s->write_record(seq + 1, record(seq + 1)));
    ASSERT_TRUE(s->flush());
  };
  burst(200);  // collector not there yet: spooled
  std::this_thread::sleep_for(1s);
  r.start(port);
  burst(200);
  std::this_thread::sleep_for(500ms);
  r.stop();  // mid-stream
  burst(200);
  std::this_thread::sleep_for(1500ms);
  r.start(port);
  for (int i = 0; i < 10; i++) {
    burst(20);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(wait_for_all(r.out(), seq, 60s)) << sequences_in(r.out()).size() << " of " << seq;
}

TEST_F(SyslogRsyslog, RestartedAgentSendsWhatItSpooledFirst) {
  uint16_t port = free_port(SOCK_STREAM);
  Rsyslog r(t.path(), "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"" +
                          std::to_string(port) + "\")");
  std::string spec = "syslog+tcp://127.0.0.1:" + std::to_string(port);
  {
    auto s = open_sink(spec, t / "spool");  // collector down: everything stays spooled
    for (uint64_t i = 1; i <= 100; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  }
  r.start(port);
  auto s = open_sink(spec, t / "spool");
  for (uint64_t i = 101; i <= 150; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  EXPECT_TRUE(wait_for_all(r.out(), 150, 30s)) << sequences_in(r.out()).size() << " of 150";
}

TEST_F(SyslogRsyslog, UdpDatagramsArrive) {
  uint16_t port = free_port(SOCK_DGRAM);
  Rsyslog r(t.path(), "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"" +
                          std::to_string(port) + "\")");
  r.start();
  auto s = open_sink("syslog+udp://127.0.0.1:" + std::to_string(port), t / "spool");
  for (uint64_t i = 1; i <= 50; i++) {
    ASSERT_TRUE(s->write_record(i, record(i)));
    ASSERT_TRUE(s->flush());
    std::this_thread::sleep_for(2ms);  // loopback UDP: do not outrun the receive buffer
  }
  EXPECT_TRUE(wait_for_all(r.out(), 50, 20s)) << sequences_in(r.out()).size() << " of 50";
}

class SyslogTls : public SyslogRsyslog {
 protected:
  void SetUp() override {
    SyslogRsyslog::SetUp();
    if (IsSkipped()) return;
    if (access("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", F_OK) != 0)
      GTEST_SKIP() << "rsyslog-gnutls not installed";
    make_certs(t.path());
    port = free_port(SOCK_STREAM);
  }
  Rsyslog tls_server(const std::string &auth = "anon", const std::string &extra = "") {
    Rsyslog r(t.path(), "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" "
                        "StreamDriver.AuthMode=\"" + auth + "\" " + extra + ")\n"
                        "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" + std::to_string(port) + "\")");
    r.global_ = "DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"" + t / "ca.pem" +
                "\" DefaultNetstreamDriverCertFile=\"" + t / "server.pem" +
                "\" DefaultNetstreamDriverKeyFile=\"" + t / "server.key" + "\"";
    return r;
  }
  uint16_t port = 0;
};

TEST_F(SyslogTls, VerifiedServerReceivesEverything) {
  Rsyslog r = tls_server();
  r.start(port);
  auto s = open_sink("syslog+tls://127.0.0.1:" + std::to_string(port) + "?ca=" + t / "ca.pem", t / "spool");
  for (uint64_t i = 1; i <= 300; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  EXPECT_TRUE(wait_for_all(r.out(), 300, 20s)) << sequences_in(r.out()).size() << " of 300"
                                               << slurp(t / "rsyslogd.stderr");
}

TEST_F(SyslogTls, HostnameIsVerifiedToo) {
  Rsyslog r = tls_server();
  r.start(port);
  delivery::Peer p;
  p.proto = delivery::Proto::Tls;
  p.host = "localhost";
  p.port = port;
  p.tls.ca_file = t / "ca.pem";
  std::unique_ptr<delivery::Connection> c;
  Status st = delivery::connect_peer(p, c);
  EXPECT_TRUE(st) << st.message;  // SAN DNS:localhost matches
}

TEST_F(SyslogTls, WrongCaIsRefusedWithAClearErrorAndNothingArrives) {
  Rsyslog r = tls_server();
  r.start(port);
  delivery::Peer p;
  p.proto = delivery::Proto::Tls;
  p.host = "127.0.0.1";
  p.port = port;
  p.tls.ca_file = t / "wrong-ca.pem";
  std::unique_ptr<delivery::Connection> c;
  Status st = delivery::connect_peer(p, c);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message.find("certificate verification failed"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << st.message;

  auto s = open_sink("syslog+tls://127.0.0.1:" + std::to_string(port) + "?ca=" + t / "wrong-ca.pem",
                     t / "spool");
  for (uint64_t i = 1; i <= 20; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(sequences_in(r.out()).empty()) << "the server accepted records from an unverified session";
}

TEST_F(SyslogTls, MutualTlsClientCertificateIsAccepted) {
  Rsyslog r = tls_server("x509/name", "PermittedPeer=[\"localhost\"]");
  r.start(port);
  std::string base = "syslog+tls://127.0.0.1:" + std::to_string(port) + "?ca=" + t / "ca.pem";
  auto s = open_sink(base + "&cert=" + t / "client.pem" + "&key=" + t / "client.key", t / "spool");
  for (uint64_t i = 1; i <= 50; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  EXPECT_TRUE(wait_for_all(r.out(), 50, 20s)) << sequences_in(r.out()).size() << " of 50"
                                              << slurp(t / "rsyslogd.stderr");
}

TEST_F(SyslogTls, MutualTlsWithoutAClientCertificateIsRefusedByTheServer) {
  Rsyslog r = tls_server("x509/name", "PermittedPeer=[\"localhost\"]");
  r.start(port);
  auto s = open_sink("syslog+tls://127.0.0.1:" + std::to_string(port) + "?ca=" + t / "ca.pem", t / "spool2");
  for (uint64_t i = 1; i <= 20; i++) ASSERT_TRUE(s->write_record(i, record(i)));
  ASSERT_TRUE(s->flush());
  std::this_thread::sleep_for(3s);
  EXPECT_TRUE(sequences_in(r.out()).empty());
}

}  // namespace
}  // namespace ktrail
