// Network output pieces that need no collector: syslog URLs and message format, backoff, the
// sender's retry/resend/ack logic against a scripted protocol, and TCP confirmation against a
// loopback listener that never reads.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "delivery/sender.h"
#include "delivery/spool.h"
#include "sinks/format.h"
#include "sinks/ocsf.h"
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
  // As the formatter writes a lost record: the action, not the kind, says so.
  std::string real_lost = R"({"@timestamp":"2024-05-01T10:00:00Z","event":{"kind":"event","category":["host"],)"
                          R"("type":["info"],"action":"lost","outcome":"success","sequence":9},"ktrail":{}})";
  EXPECT_EQ(syslog_message(real_lost, "h", 1, 10).substr(0, 5), "<84>1");
}

// The severity is looked up in the record's head only: it must be there in both schemas, as
// the real formatters write them (a long host name and OS fields included).
TEST(SyslogMessage, LostRecordsAreWarningsInBothSchemas) {
  HostInfo host{std::string(200, 'h'), std::string(32, 'f')};
  host.os_name = "Debian GNU/Linux";
  Event lost;
  lost.kind = EventKind::Lost;
  lost.sequence = 7;
  lost.lost_hook = "syslog+tcp://collector.example:514";
  lost.lost_source = "spool";
  lost.lost_count = 3;
  lost.lost_first_sequence = 1;
  lost.lost_last_sequence = 3;
  Event exec;
  exec.kind = EventKind::Exec;
  exec.sequence = 8;
  std::string ecs_lost, ocsf_lost, ecs_exec, ocsf_exec;
  format_json(lost, host, ecs_lost);
  format_ocsf(lost, host, ocsf_lost);
  format_json(exec, host, ecs_exec);
  format_ocsf(exec, host, ocsf_exec);
  EXPECT_EQ(syslog_message(ecs_lost, "h", 1, 10).substr(0, 5), "<84>1");
  EXPECT_EQ(syslog_message(ocsf_lost, "h", 1, 10).substr(0, 5), "<84>1");
  EXPECT_EQ(syslog_message(ecs_exec, "h", 1, 10).substr(0, 5), "<85>1");
  EXPECT_EQ(syslog_message(ocsf_exec, "h", 1, 10).substr(0, 5), "<85>1");
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


// Takes every send, confirms nothing until the second batch, then drops the connection once:
// the two unconfirmed batches go again.
class DroppingProtocol : public delivery::Protocol {
 public:
  Status connect() override { return Status::ok(); }
  void disconnect() override {}
  Status send(const std::vector<delivery::SpoolRecord> &batch) override {
    std::lock_guard<std::mutex> lk(mu);
    for (auto &r : batch) received.push_back(r.sequence);
    upto = batch.back().next;
    return Status::ok();
  }
  Status confirmed(uint64_t &u) override {
    std::lock_guard<std::mutex> lk(mu);
    if (!dropped) {
      if (received.size() < 10) return Status::ok();
      dropped = true;
      return Status::error(1, "the collector closed the connection");
    }
    u = upto;
    return Status::ok();
  }
  std::string describe() const override { return "dropping"; }
  std::mutex mu;
  bool dropped = false;
  uint64_t upto = 0;
  std::vector<uint64_t> received;
};

TEST(Sender, CountsWhatItResendsAfterAReconnect) {
  test::TempDir t;
  std::unique_ptr<delivery::Spool> spool;
  ASSERT_TRUE(delivery::Spool::open(t.path(), {}, spool));
  for (uint64_t i = 1; i <= 20; i++) ASSERT_TRUE(spool->append(i, "r" + std::to_string(i)));
  ASSERT_TRUE(spool->flush());
  auto proto = std::make_unique<DroppingProtocol>();
  DroppingProtocol *p = proto.get();
  delivery::SenderOptions so;
  so.backoff_min_ms = 1;
  so.backoff_max_ms = 1;
  so.batch_records = 5;
  delivery::Sender sender(*spool, std::move(proto), so);
  sender.start();
  ASSERT_TRUE(sender.drain(10000));
  sender.stop();
  std::lock_guard<std::mutex> lk(p->mu);
  std::vector<uint64_t> want;
  for (uint64_t i = 1; i <= 10; i++) want.push_back(i);
  for (uint64_t i = 1; i <= 20; i++) want.push_back(i);
  EXPECT_EQ(p->received, want);
  // Exactly the records the collector got twice; the first send of each is not counted.
  EXPECT_EQ(sender.stats().resent.load(), 10u);
  EXPECT_EQ(sender.stats().sent.load(), 30u);
  EXPECT_EQ(sender.stats().connects.load(), 2u);
}

// A collector whose window is full (it stopped reading) still acknowledged the first batch at
// the TCP level: that batch is confirmed (the cursor moves past it) although the send queue
// never empties, and the unacknowledged second batch is not.
TEST(SyslogTcp, ConfirmsEachBatchTheCollectorAcknowledgedWhileTheQueueIsNeverEmpty) {
  test::TempDir t;
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;  // inherited by the accepted connection: a window of a few KiB
  setsockopt(srv, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(srv, 4), 0);  // never accepted, never read: the kernel still takes a window
  socklen_t len = sizeof(a);
  getsockname(srv, reinterpret_cast<sockaddr *>(&a), &len);
  DeliveryOptions d;
  d.spool_dir = t / "spool";
  d.hostname = "h";
  std::unique_ptr<Sink> sink;
  ASSERT_TRUE(make_sink("syslog+tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), Format::Json, sink, {}, d));
  std::string record = R"({"@timestamp":"2024-05-01T10:00:00Z","event":{"sequence":1},"pad":")" +
                       std::string(1000, 'x') + "\"}";
  ASSERT_TRUE(sink->write_record(1, record));
  ASSERT_TRUE(sink->flush());
  const uint64_t first_end = 16 + syslog_message(record, "h", getpid(), 10).size();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (uint64_t i = 2; i <= 13; i++) ASSERT_TRUE(sink->write_record(i, record));
  ASSERT_TRUE(sink->flush());
  std::string cursor_path = t / ("spool/syslog_tcp___127.0.0.1_" + std::to_string(ntohs(a.sin_port)) + "/cursor");
  auto cursor = [&] {
    uint64_t v = 0;
    std::ifstream f(cursor_path, std::ios::binary);
    unsigned char b[8] = {};
    if (f.read(reinterpret_cast<char *>(b), 8))
      for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (cursor() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(cursor(), first_end);
  sink.reset();
  close(srv);
}

}  // namespace
}  // namespace ktrail
