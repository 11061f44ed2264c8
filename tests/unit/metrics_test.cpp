// /metrics and /healthz: exposition format and escaping, the bounded per-source counts, the
// privilege-escalation rule, and the HTTP server over real loopback sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ktrail/abi/events.h"
#include "metrics/agent_metrics.h"
#include "metrics/registry.h"
#include "metrics/server.h"

using namespace ktrail;
using namespace ktrail::metrics;

TEST(MetricsFormat, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_label_value("syslog+tls://h:6514"), "syslog+tls://h:6514");
  EXPECT_EQ(escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");  // quotes stay in HELP
}

TEST(MetricsFormat, Values) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(18446744073709.0), "18446744073709");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(MetricsFormat, Names) {
  EXPECT_TRUE(valid_metric_name("ktrail_events_total"));
  EXPECT_TRUE(valid_metric_name("a:b_1"));
  EXPECT_FALSE(valid_metric_name("1abc"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_TRUE(valid_label_name("source_ip"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("a:b"));
  Registry r;
  EXPECT_THROW(r.counter("bad-name"), std::invalid_argument);
  EXPECT_THROW(r.counter("ok", {{"bad label", "x"}}), std::invalid_argument);
}

TEST(MetricsFormat, RendersFamiliesSortedWithHelpAndType) {
  Registry r;
  r.describe("ktrail_rule_hits_total", "Alerts raised,\nby rule.");
  Counter *a = r.counter("ktrail_rule_hits_total", {{"rule", "ssh \"burst\""}});
  EXPECT_EQ(a, r.counter("ktrail_rule_hits_total", {{"rule", "ssh \"burst\""}}));  // same series, same pointer
  a->inc();
  a->inc(2);
  r.counter("ktrail_rule_hits_total", {{"rule", "b\\c"}})->inc();
  r.add_collector([](std::vector<Family> &out) {
    Family f{"aaa_gauge", "first", Type::Gauge, {{{{"k", "v"}}, 1.5}, {{}, 2}}};
    out.push_back(f);
  });
  EXPECT_EQ(r.render(),
            "# HELP aaa_gauge first\n"
            "# TYPE aaa_gauge gauge\n"
            "aaa_gauge{k=\"v\"} 1.5\n"
            "aaa_gauge 2\n"
            "# HELP ktrail_rule_hits_total Alerts raised,\\nby rule.\n"
            "# TYPE ktrail_rule_hits_total counter\n"
            "ktrail_rule_hits_total{rule=\"b\\\\c\"} 1\n"
            "ktrail_rule_hits_total{rule=\"ssh \\\"burst\\\"\"} 3\n");
}

TEST(MetricsFormat, CountersAreSafeAcrossThreads) {
  Registry r;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&r] {
      for (int i = 0; i < 10000; i++) r.counter("c_total", {{"x", std::to_string(i % 3)}})->inc();
    });
  for (auto &t : ts) t.join();
  std::string out = r.render();
  EXPECT_NE(out.find("c_total{x=\"0\"} 13336\n"), std::string::npos) << out;
  EXPECT_NE(out.find("c_total{x=\"1\"} 13332\n"), std::string::npos) << out;
  EXPECT_NE(out.find("c_total{x=\"2\"} 13332\n"), std::string::npos) << out;
}

TEST(BoundedCounts, KeepsTheBusiestAndSumsTheRestIntoOther) {
  BoundedCounts c(3);
  for (int i = 0; i < 5; i++) c.add("10.0.0.1");
  for (int i = 0; i < 3; i++) c.add("10.0.0.2");
  c.add("10.0.0.3");
  c.add("10.0.0.4");  // replaces .3 (count 1): other = 1
  c.add("10.0.0.5");  // replaces .4 (count 1): other = 2
  uint64_t other = 0;
  auto snap = c.snapshot(other);
  std::map<std::string, uint64_t> m(snap.begin(), snap.end());
  EXPECT_EQ(other, 2u);
  EXPECT_EQ(m, (std::map<std::string, uint64_t>{{"10.0.0.1", 5}, {"10.0.0.2", 3}, {"10.0.0.5", 1}}));
  uint64_t total = other;
  for (auto &[k, v] : m) total += v;
  EXPECT_EQ(total, 11u);  // nothing lost
}

TEST(PrivilegeEscalation, Rule) {
  Event e;
  e.kind = EventKind::Cred;
  e.syscall = KTRAIL_SYS_SETUID;
  e.old_creds.uid = e.old_creds.euid = 1000;
  e.req[0] = 0;
  EXPECT_TRUE(is_privilege_escalation(e));
  e.ssh.self_check = true;  // sshd's privsep self-test
  EXPECT_FALSE(is_privilege_escalation(e));
  e.ssh.self_check = false;
  e.req[0] = 1001;
  EXPECT_FALSE(is_privilege_escalation(e));
  e.syscall = KTRAIL_SYS_SETRESUID;
  e.req[0] = e.req[1] = 0xffffffff;
  e.req[2] = 0;
  EXPECT_TRUE(is_privilege_escalation(e));
  e.old_creds.euid = 0;  // already root (a set-user-id binary finishing its switch)
  EXPECT_FALSE(is_privilege_escalation(e));
  e.old_creds.euid = 1000;
  e.syscall = KTRAIL_SYS_SETGID;
  e.req[0] = 0;
  EXPECT_FALSE(is_privilege_escalation(e));

  Event x;
  x.kind = EventKind::Exec;
  x.proc.creds.uid = 1000;
  x.proc.creds.euid = 0;  // set-user-id root binary run by uid 1000
  EXPECT_TRUE(is_privilege_escalation(x));
  x.proc.creds.uid = 0;
  EXPECT_FALSE(is_privilege_escalation(x));
}

TEST(AgentMetrics, CountsEventsByActionAndOutcome) {
  Registry r;
  AgentMetrics m(r);
  std::vector<Event> derived;
  Event ok;
  ok.kind = EventKind::Exec;
  ok.sequence = 7;
  Event bad;
  bad.kind = EventKind::ExecFailed;
  bad.sequence = 8;
  Event auth;
  auth.kind = EventKind::SshAuth;
  auth.ret = 1;
  auth.ssh.source.ip = "192.0.2.7";
  auth.sequence = 9;
  m.observe(ok, derived);
  m.observe(ok, derived);
  m.observe(bad, derived);
  m.observe(auth, derived);
  EXPECT_TRUE(derived.empty());
  std::string out = r.render();
  EXPECT_NE(out.find("ktrail_events_total{action=\"exec\",outcome=\"success\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ktrail_events_total{action=\"exec\",outcome=\"failure\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ktrail_events_total{action=\"ssh_auth\",outcome=\"failure\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ktrail_ssh_auth_failures_total{source_ip=\"192.0.2.7\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ktrail_events_last_sequence 9\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# TYPE ktrail_rule_hits_total counter\n"), std::string::npos) << out;
  EXPECT_NE(out.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ktrail_build_info{version=\"" KTRAIL_VERSION "\"} 1\n"), std::string::npos) << out;
  // No hook attached (no loader): unhealthy, and the body says why.
  Response h = m.health();
  EXPECT_EQ(h.status, 503);
  EXPECT_NE(h.body.find("no hook attached"), std::string::npos) << h.body;
}

TEST(AgentMetrics, SelfUsage) {
  double cpu = -1, start = 0;
  uint64_t rss = 0;
  ASSERT_TRUE(read_self_usage(cpu, rss, start));
  EXPECT_GE(cpu, 0);
  EXPECT_GT(rss, 1u << 20);  // a gtest binary holds more than 1 MiB
  EXPECT_LE(start, static_cast<double>(time(nullptr)) + 1);
  EXPECT_GT(start, static_cast<double>(time(nullptr)) - 3600);
}

TEST(ListenAddress, Parse) {
  std::string host, err;
  uint16_t port = 0;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:9464", host, port, err)) << err;
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9464);
  ASSERT_TRUE(parse_listen_address("[::1]:80", host, port, err)) << err;
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 80);
  ASSERT_TRUE(parse_listen_address("fd00::12:9464", host, port, err)) << err;  // "$(POD_IP):9464"
  EXPECT_EQ(host, "fd00::12");
  EXPECT_EQ(port, 9464);
  EXPECT_FALSE(parse_listen_address("localhost:9464", host, port, err));
  EXPECT_NE(err.find("numeric"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("127.0.0.1:70000", host, port, err));
  EXPECT_FALSE(parse_listen_address("127.0.0.1", host, port, err));
  EXPECT_FALSE(parse_listen_address("[::1]9464", host, port, err));
  EXPECT_FALSE(parse_listen_address("127.0.0.1:", host, port, err));
}

namespace {

int connect_to(uint16_t port, bool v6 = false) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) return close(fd), -1;
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) return close(fd), -1;
  }
  return fd;
}

// Sends raw bytes, reads until the server closes (or 10 s).
std::string http_exchange(uint16_t port, const std::string &req, bool v6 = false) {
  int fd = connect_to(port, v6);
  if (fd < 0) return "connect failed";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 10000) > 0) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Server::listen("127.0.0.1:0", server_)) << "listen";
    server_->route("/metrics", [this] {
      calls_++;
      return Response{200, kContentType, "a_total 1\n"};
    });
    server_->route("/healthz", [] { return Response{503, "application/json", "{\"status\":\"unhealthy\"}\n"}; });
    server_->start();
    port_ = server_->port();
  }
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::atomic<int> calls_{0};
};

}  // namespace

TEST_F(ServerTest, ServesMetricsWithTheExpositionContentType) {
  EXPECT_NE(port_, 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(port_));
  std::string r = http_exchange(port_, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nContent-Length: 10\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - 14), "\r\n\r\na_total 1\n") << r;
  // A query string is not part of the path.
  EXPECT_EQ(http_exchange(port_, "GET /metrics?x=1 HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(ServerTest, HeadHasNoBody) {
  std::string r = http_exchange(port_, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 10\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << r;
}

TEST_F(ServerTest, HealthStatusPassesThrough) {
  std::string r = http_exchange(port_, "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: application/json\r\n"), std::string::npos);
}

TEST_F(ServerTest, NotFoundMethodNotAllowedBadRequest) {
  EXPECT_EQ(http_exchange(port_, "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_EQ(http_exchange(port_, "GET /metricsx HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  std::string r = http_exchange(port_, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << r;
  EXPECT_EQ(http_exchange(port_, "garbage\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(calls_, 0);  // none of these reached the handler
}

TEST_F(ServerTest, OversizedRequestIsRefused) {
  std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(Server::kMaxRequestBytes, 'a') + "\r\n\r\n";
  std::string r = http_exchange(port_, big);
  EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r.substr(0, 100);
  EXPECT_EQ(calls_, 0);
}

TEST_F(ServerTest, StalledClientsDoNotBlockScrapesAndTimeOut) {
  // Clients that connect and send half a request: they hold a slot each, never the loop.
  std::vector<int> idle;
  for (int i = 0; i < 5; i++) {
    int fd = connect_to(port_);
    ASSERT_GE(fd, 0);
    send(fd, "GET /metr", 9, MSG_NOSIGNAL);
    idle.push_back(fd);
  }
  auto t0 = std::chrono::steady_clock::now();
  std::string r = http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u);
  // Then the server closes the stalled ones after its per-connection timeout.
  char c;
  pollfd p{idle[0], POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, Server::kConnectionTimeoutMs + 3000), 1);
  EXPECT_EQ(recv(idle[0], &c, 1, 0), 0);  // EOF: closed by the server
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(Server::kConnectionTimeoutMs - 1000));
  for (int fd : idle) close(fd);
}

TEST_F(ServerTest, ConcurrentScrapes) {
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < 20; i++)
        if (http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n").find("a_total 1\n") != std::string::npos) ok++;
    });
  for (auto &t : ts) t.join();
  EXPECT_EQ(ok, 160);
  EXPECT_EQ(calls_, 160);
}

TEST(Server, Ipv6LoopbackAndTakenPort) {
  std::unique_ptr<Server> s6;
  ASSERT_TRUE(Server::listen("[::1]:0", s6));
  s6->route("/healthz", [] { return Response{200, "application/json", "{}\n"}; });
  s6->start();
  EXPECT_EQ(s6->address(), "[::1]:" + std::to_string(s6->port()));
  EXPECT_EQ(http_exchange(s6->port(), "GET /healthz HTTP/1.1\r\n\r\n", true).rfind("HTTP/1.1 200", 0), 0u);

  std::unique_ptr<Server> a, b;
  ASSERT_TRUE(Server::listen("127.0.0.1:0", a));
  Status st = Server::listen("127.0.0.1:" + std::to_string(a->port()), b);
  EXPECT_EQ(st.code, KTRAIL_EXIT_USAGE);
  EXPECT_NE(st.message.find("cannot listen"), std::string::npos) << st.message;
  st = Server::listen("localhost:1", b);
  EXPECT_EQ(st.code, KTRAIL_EXIT_USAGE);
}

#include "delivery/spool.h"
#include "temp_dir.h"

TEST(SpoolAge, OldestUnacknowledgedRecord) {
  ktrail::test::TempDir dir;
  std::unique_ptr<delivery::Spool> spool;
  delivery::SpoolOptions opt;
  opt.fsync = false;
  ASSERT_TRUE(delivery::Spool::open(dir.path() + "/s", opt, spool));
  EXPECT_EQ(spool->oldest_pending_age(), 0);
  ASSERT_TRUE(spool->append(1, "first"));
  ASSERT_TRUE(spool->flush());
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  ASSERT_TRUE(spool->append(2, "second"));  // a second later: a new stamp
  ASSERT_TRUE(spool->flush());
  double age = spool->oldest_pending_age();
  EXPECT_GE(age, 1.0);
  EXPECT_LT(age, 3.0);
  std::vector<delivery::SpoolRecord> recs;
  ASSERT_TRUE(spool->read(spool->acked(), 10, 1 << 20, recs));
  ASSERT_EQ(recs.size(), 2u);
  ASSERT_TRUE(spool->ack(recs[0].next));  // the first delivered: the second is now the oldest
  EXPECT_LT(spool->oldest_pending_age(), 0.5);
  ASSERT_TRUE(spool->ack(recs[1].next));
  EXPECT_EQ(spool->oldest_pending_age(), 0);
}

#include "delivery/sender.h"

namespace {
// Takes every batch; the first confirmation says the connection broke, so what was sent
// unconfirmed goes again.
class BreaksOnce : public delivery::Protocol {
 public:
  Status connect() override { return Status::ok(); }
  void disconnect() override {}
  Status send(const std::vector<delivery::SpoolRecord> &batch) override {
    std::lock_guard<std::mutex> lk(mu);
    if (first_batch == 0) first_batch = batch.size();
    upto = batch.back().next;
    return Status::ok();
  }
  Status confirmed(uint64_t &u) override {
    std::lock_guard<std::mutex> lk(mu);
    if (!broke && upto) {
      broke = true;
      return Status::error(1, "connection reset");
    }
    u = upto;
    return Status::ok();
  }
  std::string describe() const override { return "breaks-once"; }
  std::mutex mu;
  bool broke = false;
  size_t first_batch = 0;
  uint64_t upto = 0;
};
}  // namespace

TEST(SenderStats, CountsRetriedRecordsAndLiveness) {
  ktrail::test::TempDir dir;
  std::unique_ptr<delivery::Spool> spool;
  delivery::SpoolOptions opt;
  opt.fsync = false;
  ASSERT_TRUE(delivery::Spool::open(dir.path(), opt, spool));
  for (uint64_t i = 1; i <= 20; i++) ASSERT_TRUE(spool->append(i, std::to_string(i)));
  ASSERT_TRUE(spool->flush());
  auto proto = std::make_unique<BreaksOnce>();
  BreaksOnce *p = proto.get();
  delivery::SenderOptions so;
  so.backoff_min_ms = 1;
  so.backoff_max_ms = 2;
  delivery::Sender sender(*spool, std::move(proto), so);
  sender.start();
  EXPECT_TRUE(sender.stats().running);
  ASSERT_TRUE(sender.drain(10000));
  EXPECT_EQ(sender.stats().resent.load(), p->first_batch);
  EXPECT_EQ(p->first_batch, 20u);
  EXPECT_EQ(sender.stats().sent.load(), 40u);
  EXPECT_EQ(sender.stats().failures.load(), 1u);
  EXPECT_EQ(sender.stats().connects.load(), 2u);
  EXPECT_TRUE(sender.stats().connected);
  sender.stop();
  EXPECT_FALSE(sender.stats().running);
  EXPECT_FALSE(sender.stats().connected);
}

namespace {
// An output whose delivery state the test sets.
class FakeNetworkSink : public Sink {
 public:
  Format format() const override { return Format::Json; }
  bool write(const std::string &) override { return true; }
  bool flush() override { return true; }
  std::string describe() const override { return "syslog+tcp://192.0.2.1:514"; }
  OutputStats stats() const override { return st; }
  OutputStats st;
};
}  // namespace

TEST(AgentMetrics, HealthNeedsAHookAndLiveSenders) {
  Registry r;
  AgentMetrics m(r);
  std::vector<HookStatus> hooks{{"sched_process_exec", "tp_btf", false, "EPERM"}};
  m.watch_hooks(hooks);
  FakeNetworkSink out;
  out.st.network = true;
  out.st.sender_running = true;
  out.st.connected = false;  // collector down: still healthy, the spool holds the records
  out.st.spool_oldest_age_seconds = 12.5;
  m.watch_outputs({&out});
  Response h = m.health();
  EXPECT_EQ(h.status, 503);
  EXPECT_NE(h.body.find("no hook attached"), std::string::npos) << h.body;

  hooks[0].attached = true;
  h = m.health();
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.content_type, "application/json");
  EXPECT_NE(h.body.find("\"status\":\"ok\""), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("\"collector\":\"disconnected\""), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("\"spool_oldest_age_seconds\":12.5"), std::string::npos) << h.body;
  EXPECT_NE(h.body.find("\"sched_process_exec\":\"tp_btf\""), std::string::npos) << h.body;

  out.st.sender_running = false;  // the output's thread is gone: nothing will ever leave
  h = m.health();
  EXPECT_EQ(h.status, 503);
  EXPECT_NE(h.body.find("output syslog+tcp://192.0.2.1:514: sender thread not running"), std::string::npos) << h.body;

  std::string text = r.render();
  EXPECT_NE(text.find("ktrail_hook_attached{hook=\"sched_process_exec\",variant=\"tp_btf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ktrail_output_connected{output=\"syslog+tcp://192.0.2.1:514\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("ktrail_output_spool_oldest_age_seconds{output=\"syslog+tcp://192.0.2.1:514\"} 12.5\n"),
            std::string::npos);
}

#include "cli/options.h"

TEST(MetricsOption, DefaultIsLoopbackAndTheFlagOverridesIt) {
  const char *plain[] = {"ktrail", "run"};
  Command c = parse_command_line(2, plain);
  ASSERT_EQ(c.kind, Command::Run);
  EXPECT_EQ(c.run.metrics_addr, "127.0.0.1:9464");
  const char *v6[] = {"ktrail", "run", "--metrics-addr", "[::1]:9100"};
  c = parse_command_line(4, v6);
  EXPECT_EQ(c.run.metrics_addr, "[::1]:9100");
  const char *off[] = {"ktrail", "run", "--metrics-addr=off"};
  c = parse_command_line(3, off);
  EXPECT_EQ(c.run.metrics_addr, "off");
}

TEST(MetricsOption, FromTheConfigFileAndTheEnvironment) {
  ktrail::test::TempDir d;
  d.write("k.yaml", "metrics_addr: \"[::1]:9465\"\n");
  std::string flag = "--config=" + d / "k.yaml";
  const char *args[] = {"ktrail", "run", flag.c_str()};
  Command c = parse_command_line(3, args);
  ASSERT_FALSE(c.exit_now);
  EXPECT_EQ(c.run.metrics_addr, "[::1]:9465");
  setenv("KTRAIL_METRICS_ADDR", "off", 1);
  c = parse_command_line(3, args);
  unsetenv("KTRAIL_METRICS_ADDR");
  EXPECT_EQ(c.run.metrics_addr, "off");  // environment over file
}
