// Network output pieces that need no network: syslog URLs and message format, backoff, and the
// sender's retry/resend/ack logic against a scripted protocol.
#include <gtest/gtest.h>

#include <unistd.h>

#include <mutex>
#include <thread>

#include "delivery/sender.h"
#include "delivery/spool.h"
#include "sinks/sink.h"
#include "sinks/syslog_sink.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

TEST(SyslogUrl, ParsesEachTransportWithDefaultPorts) {
  SyslogTarget t;
  std::string err;
  ASSERT_TRUE(parse_syslog_url("syslog+tcp://collector.example", t, err)) << err;
  EXPECT_EQ(t.peer.proto, delivery::Proto::Tcp);
  EXPECT_EQ(t.peer.port, 514);
  EXPECT_EQ(t.name, "syslog+tcp://collector.example:514");
  ASSERT_TRUE(parse_syslog_url("syslog+udp://10.0.0.1:1514", t, err)) << err;
  EXPECT_EQ(t.peer.proto, delivery::Proto::Udp);
  EXPECT_EQ(t.peer.port, 1514);
  ASSERT_TRUE(parse_syslog_url("syslog+tls://127.0.0.1?ca=/ca.pem&cert=/c.pem&key=/k.pem&facility=local3", t, err))
      << err;
  EXPECT_EQ(t.peer.proto, delivery::Proto::Tls);
  EXPECT_EQ(t.peer.port, 6514);
  EXPECT_EQ(t.peer.tls.ca_file, "/ca.pem");
  EXPECT_EQ(t.peer.tls.cert_file, "/c.pem");
  EXPECT_EQ(t.peer.tls.key_file, "/k.pem");
  EXPECT_EQ(t.facility, 19);
  EXPECT_EQ(t.name, "syslog+tls://127.0.0.1:6514");  // no query: names never carry paths
  ASSERT_TRUE(parse_syslog_url("syslog+tcp://[::1]:601", t, err)) << err;
  EXPECT_EQ(t.peer.host, "::1");
  EXPECT_EQ(t.name, "syslog+tcp://[::1]:601");
}

TEST(SyslogUrl, ErrorsSayWhatIsWrong) {
  SyslogTarget t;
  std::string err;
  EXPECT_FALSE(parse_syslog_url("syslog+sctp://h", t, err));
  EXPECT_NE(err.find("unknown output scheme 'syslog+sctp'"), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+tcp://h:99999", t, err));
  EXPECT_NE(err.find("port '99999'"), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+tcp://:514", t, err));
  EXPECT_NE(err.find("needs a host"), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+tcp://h?ca=/x", t, err));
  EXPECT_NE(err.find("'ca' only applies to syslog+tls"), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+tls://h?cert=/c", t, err));
  EXPECT_NE(err.find("both cert= and key="), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+tls://h?verify=no", t, err));
  EXPECT_NE(err.find("unknown parameter 'verify'"), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+udp://h?facility=bogus", t, err));
  EXPECT_NE(err.find("unknown facility 'bogus'"), std::string::npos) << err;
}

TEST(SyslogUrl, RelpSchemesWithWindowAndPeer) {
  SyslogTarget t;
  std::string err;
  ASSERT_TRUE(parse_syslog_url("syslog+relp://collector.example", t, err)) << err;
  EXPECT_TRUE(t.relp);
  EXPECT_EQ(t.peer.proto, delivery::Proto::Tcp);
  EXPECT_EQ(t.peer.port, 2514);
  EXPECT_EQ(t.relp_window, 128);
  EXPECT_EQ(t.name, "syslog+relp://collector.example:2514");
  ASSERT_TRUE(parse_syslog_url("syslog+relp://127.0.0.1:20514?window=16&facility=local0", t, err)) << err;
  EXPECT_EQ(t.peer.port, 20514);
  EXPECT_EQ(t.relp_window, 16);
  EXPECT_EQ(t.facility, 16);
  ASSERT_TRUE(parse_syslog_url("syslog+relp+tls://10.1.2.3?ca=/ca.pem&cert=/c.pem&key=/k.pem&peer=logs.example",
                               t, err)) << err;
  EXPECT_TRUE(t.relp);
  EXPECT_EQ(t.peer.proto, delivery::Proto::Tls);
  EXPECT_EQ(t.peer.port, 2514);
  EXPECT_EQ(t.peer.tls.ca_file, "/ca.pem");
  EXPECT_EQ(t.peer.tls.cert_file, "/c.pem");
  EXPECT_EQ(t.peer.tls.key_file, "/k.pem");
  EXPECT_EQ(t.relp_peer, "logs.example");
  EXPECT_EQ(t.name, "syslog+relp+tls://10.1.2.3:2514");
  ASSERT_TRUE(parse_syslog_url("syslog+tcp://h", t, err)) << err;
  EXPECT_FALSE(t.relp);
}

TEST(SyslogUrl, RelpErrorsSayWhatIsWrong) {
  SyslogTarget t;
  std::string err;
  for (std::string w : {"1", "0", "1025", "-3", "abc", "99999"}) {
    EXPECT_FALSE(parse_syslog_url("syslog+relp://h?window=" + w, t, err)) << w;
    EXPECT_NE(err.find("window '" + w + "' is not a number from 2 to 1024"), std::string::npos) << err;
  }
  EXPECT_FALSE(parse_syslog_url("syslog+tcp://h?window=8", t, err));
  EXPECT_NE(err.find("'window' only applies to syslog+relp"), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+relp://h?ca=/ca.pem", t, err));
  EXPECT_NE(err.find("'ca' only applies to syslog+tls and syslog+relp+tls"), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+tls://h?peer=x", t, err));
  EXPECT_NE(err.find("'peer' only applies to syslog+relp"), std::string::npos) << err;
  // librelp checks the server certificate only when the client has one: no unverified RELP TLS.
  EXPECT_FALSE(parse_syslog_url("syslog+relp+tls://h?ca=/ca.pem", t, err));
  EXPECT_NE(err.find("needs ca=, cert= and key="), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+relp+tls://h?cert=/c.pem&key=/k.pem", t, err));
  EXPECT_NE(err.find("needs ca=, cert= and key="), std::string::npos) << err;
  EXPECT_FALSE(parse_syslog_url("syslog+relp://h?bogus=1", t, err));
  EXPECT_NE(err.find("expected ca, cert, key, facility, window or peer"), std::string::npos) << err;
}

// This test binary, like ktrail-static, is linked without librelp (ktrail_relp): a RELP output
// must be refused up front with a reason, not fail later or silently.
TEST(SyslogUrl, RelpWithoutLibrelpIsRefusedClearly) {
  test::TempDir t;
  DeliveryOptions d;
  d.spool_dir = t / "spool";
  std::unique_ptr<Sink> s;
  Status st = make_sink("syslog+relp://127.0.0.1:2514", Format::Json, s, {}, d);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code, KTRAIL_EXIT_USAGE);
  EXPECT_NE(st.message.find("no RELP support"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("syslog+relp://127.0.0.1:2514"), std::string::npos) << st.message;
  EXPECT_EQ(access((t / "spool").c_str(), F_OK), -1) << "nothing is spooled for an output that cannot send";
}

TEST(SyslogMessage, IsRfc5424WithTheRecordTimestamp) {
  std::string json = R"({"@timestamp":"2024-05-01T10:00:00.123456Z","event":{"kind":"event"}})";
  EXPECT_EQ(syslog_message(json, "web-1", 42, 10),
            "<85>1 2024-05-01T10:00:00.123456Z web-1 ktrail 42 - - " + json);
  std::string lost = R"({"@timestamp":"2024-05-01T10:00:00Z","event":{"kind":"lost"}})";
  EXPECT_EQ(syslog_message(lost, "a b", 1, 4).substr(0, 5), "<36>1");  // auth.warning
  EXPECT_NE(syslog_message(lost, "a b", 1, 4).find(" a_b ktrail "), std::string::npos);
}

TEST(Backoff, GrowsExponentiallyUpToTheCapWithJitter) {
  for (int attempt = 0; attempt < 30; attempt++) {
    uint64_t cap = std::min<uint64_t>(200ull << std::min(attempt, 20), 30000);
    EXPECT_EQ(delivery::backoff_delay_ms(attempt, 200, 30000, cap),
              static_cast<int>(cap));
    EXPECT_EQ(delivery::backoff_delay_ms(attempt, 200, 30000, 0), 0);
    EXPECT_LE(delivery::backoff_delay_ms(attempt, 200, 30000, 12345678901ull), 30000);
  }
}

// Fails the first connects and some sends, confirms everything it took.
class ScriptedProtocol : public delivery::Protocol {
 public:
  Status connect() override {
    std::lock_guard<std::mutex> lk(mu);
    if (connect_failures > 0) {
      connect_failures--;
      return Status::error(1, "connection refused");
    }
    return Status::ok();
  }
  void disconnect() override {}
  Status send(const std::vector<delivery::SpoolRecord> &batch) override {
    std::lock_guard<std::mutex> lk(mu);
    if (send_failures > 0) {
      send_failures--;
      return Status::error(1, "broken pipe");
    }
    for (auto &r : batch) received.push_back(r.sequence);
    upto = batch.back().next;
    return Status::ok();
  }
  Status confirmed(uint64_t &u) override {
    std::lock_guard<std::mutex> lk(mu);
    u = upto;
    return Status::ok();
  }
  std::string describe() const override { return "scripted"; }
  std::mutex mu;
  int connect_failures = 3, send_failures = 2;
  uint64_t upto = 0;
  std::vector<uint64_t> received;
};

TEST(Sender, RetriesThenDeliversEverythingInOrderAndAcks) {
  test::TempDir t;
  std::unique_ptr<delivery::Spool> spool;
  ASSERT_TRUE(delivery::Spool::open(t.path(), {}, spool));
  auto proto = std::make_unique<ScriptedProtocol>();
  ScriptedProtocol *p = proto.get();
  delivery::SenderOptions so;
  so.backoff_min_ms = 1;
  so.backoff_max_ms = 5;
  so.batch_records = 7;
  delivery::Sender sender(*spool, std::move(proto), so);
  sender.start();
  for (uint64_t i = 1; i <= 100; i++) {
    ASSERT_TRUE(spool->append(i, "r" + std::to_string(i)));
    if (i % 13 == 0) {
      ASSERT_TRUE(spool->flush());
    }
  }
  ASSERT_TRUE(spool->flush());
  ASSERT_TRUE(sender.drain(10000));
  sender.stop();
  EXPECT_EQ(spool->acked(), spool->end());
  std::lock_guard<std::mutex> lk(p->mu);
  ASSERT_EQ(p->received.size(), 100u);
  for (uint64_t i = 0; i < 100; i++) EXPECT_EQ(p->received[i], i + 1);
  EXPECT_GE(sender.stats().failures.load(), 5u);
}

}  // namespace
}  // namespace ktrail
