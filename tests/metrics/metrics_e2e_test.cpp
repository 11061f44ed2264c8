// Privileged end-to-end tests of /metrics and /healthz: the real `ktrail run` traces real
// execs and credential changes, the test scrapes it over HTTP and, separately, has a real
// Prometheus scrape it and answers queries through Prometheus's HTTP API.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <atomic>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent.h"

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string &p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Runs argv, waits; returns the exit code.
int run(std::vector<std::string> argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char *> a;
    for (auto &s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execv(a[0], a.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct HttpResult {
  int status = 0;
  std::string headers, body;
};

HttpResult http_get(uint16_t port, const std::string &target) {
  HttpResult r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd);
    return r;
  }
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string raw;
  char buf[65536];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 10000) > 0) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  if (r.headers.find("Transfer-Encoding: chunked") != std::string::npos) {  // Prometheus may chunk
    std::string body, rest = r.body;
    for (;;) {
      size_t eol = rest.find("\r\n");
      if (eol == std::string::npos) break;
      size_t len = std::stoul(rest.substr(0, eol), nullptr, 16);
      if (len == 0) break;
      body += rest.substr(eol + 2, len);
      rest = rest.substr(eol + 2 + len + 2);
    }
    r.body = body;
  }
  return r;
}

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// "name{labels}" -> value, exactly as exposed; also checks every line is well-formed.
std::map<std::string, double> parse_exposition(const std::string &text) {
  std::map<std::string, double> out;
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$)");
  static const std::regex meta(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, sample)) {
      EXPECT_EQ(out.count(m[1]), 0u) << "duplicate series " << m[1];
      out[m[1]] = std::stod(m[3]);
    } else {
      EXPECT_TRUE(std::regex_match(line, meta)) << "malformed line: " << line;
    }
  }
  return out;
}

double get(const std::map<std::string, double> &m, const std::string &k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

// The escalation rule of metrics/agent_metrics.cpp, restated over the JSON record.
bool json_escalation(const json &r) {
  std::string action = r["event"]["action"];
  if (action == "exec")
    return r["event"]["outcome"] == "success" && r["process"]["user"]["id"] == 0 &&
           r["process"]["real_user"]["id"] != 0;
  static const std::map<std::string, std::vector<std::string>> slots = {
      {"setuid", {"uid"}}, {"setfsuid", {"fsuid"}}, {"setreuid", {"ruid", "euid"}}, {"setresuid", {"ruid", "euid", "suid"}}};
  auto it = slots.find(action);
  if (it == slots.end() || !r.contains("ktrail") || !r["ktrail"].contains("cred")) return false;
  if (r["ktrail"].contains("ssh") && r["ktrail"]["ssh"].value("self_check", false)) return false;
  const json &c = r["ktrail"]["cred"];
  if (c["before"]["uid"] == 0 || c["before"]["euid"] == 0) return false;
  for (auto &s : it->second)
    if (c["requested"].contains(s) && c["requested"][s] == 0) return true;
  return false;
}

// The agent with /metrics on a loopback port the kernel picks; port() is 0 when it did not
// come up.
class Agent : public ktrail::test::Agent {
 public:
  explicit Agent(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(),
                 {"--events", "exec,exit,cred,ssh", "--metrics-addr", "127.0.0.1:0", "--cloud", "off"});
    if (!start(extra)) return;
    // Logged before "tracing via".
    static const std::regex addr(R"(metrics: http://127\.0\.0\.1:(\d+)/metrics)");
    std::string e = err();
    std::smatch m;
    if (std::regex_search(e, m, addr)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
  }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
};

class MetricsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads BPF programs)";
    char tmpl[] = "/tmp/ktrail-metrics-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    chmod(dir_.c_str(), 0755);  // the set-user-id copy below is run by nobody
    // The helper leaves files in its working directory (exec-fail's non-executable file).
    old_cwd_ = fs::current_path();
    fs::current_path(dir_);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
  }
  fs::path old_cwd_;
  // A set-user-id-root copy of the helper, run by uid 65534: an exec that escalates.
  void run_setuid_exec(const std::string &marker) {
    std::string copy = dir_ + "/suid-helper";
    fs::copy_file(KTRAIL_E2E_HELPER, copy, fs::copy_options::overwrite_existing);
    ASSERT_EQ(chown(copy.c_str(), 0, 0), 0);
    ASSERT_EQ(chmod(copy.c_str(), 04755), 0);
    ASSERT_EQ(run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", copy, "noop", marker}), 0);
  }
  std::string dir_;
};

}  // namespace

// The counters move by exactly what the agent emitted: two scrapes bracket a window of
// event.sequence values (ktrail_events_last_sequence, read consistently with the counters),
// and the records of that window in the output are counted the same way.
TEST_F(MetricsE2E, CountersMatchTheEmittedRecordsExactly) {
  Agent agent;
  ASSERT_NE(agent.port(), 0) << agent.err();

  HttpResult h = http_get(agent.port(), "/healthz");
  EXPECT_EQ(h.status, 200) << h.body;
  json hj = json::parse(h.body);
  EXPECT_EQ(hj["status"], "ok");
  EXPECT_GE(hj["hooks_attached"].get<int>(), 4);
  EXPECT_EQ(hj["outputs"][0]["name"], "file:" + agent.out());
  EXPECT_EQ(hj["outputs"][0]["live"], true);
  EXPECT_EQ(http_get(agent.port(), "/nope").status, 404);

  HttpResult m1 = http_get(agent.port(), "/metrics");
  ASSERT_EQ(m1.status, 200);
  EXPECT_NE(m1.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << m1.headers;
  auto s1 = parse_exposition(m1.body);
  const double q1 = get(s1, "ktrail_events_last_sequence");

  const std::string marker = "metrics-" + std::to_string(getpid());
  ASSERT_EQ(run({KTRAIL_E2E_HELPER, "exec-fail", marker}), 0);
  ASSERT_EQ(run({KTRAIL_E2E_HELPER, "cred", marker}), 0);
  ASSERT_NO_FATAL_FAILURE(run_setuid_exec(marker));

  // Wait until the helper's last event (the set-user-id exec) is in the output.
  auto seen_suid_exec = [&] {
    for (auto &r : agent.records())
      if (r["event"]["action"] == "exec" && r["process"].contains("args") && r["process"]["args"].size() == 3 &&
          r["process"]["args"][2] == marker && r["process"]["real_user"]["id"] == 65534)
        return true;
    return false;
  };
  for (auto deadline = std::chrono::steady_clock::now() + 20s; !seen_suid_exec();) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "set-user-id exec never reached the output";
    std::this_thread::sleep_for(50ms);
  }
  HttpResult m2 = http_get(agent.port(), "/metrics");
  ASSERT_EQ(m2.status, 200);
  auto s2 = parse_exposition(m2.body);
  const double q2 = get(s2, "ktrail_events_last_sequence");
  ASSERT_GT(q2, q1);

  // Everything up to q2 reaches the file within a drain interval.
  std::vector<json> recs;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;;) {
    recs = agent.records();
    uint64_t max_seq = 0;
    for (auto &r : recs) max_seq = std::max<uint64_t>(max_seq, r["event"]["sequence"].get<uint64_t>());
    if (max_seq >= q2) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "records up to " << q2 << " never written";
    std::this_thread::sleep_for(20ms);
  }
  std::map<std::string, double> want_events, want_esc;
  int helper_setuid_fail = 0, helper_suid_exec = 0, helper_exec_fail = 0;
  for (auto &r : recs) {
    uint64_t seq = r["event"]["sequence"];
    std::string action = r["event"]["action"];
    if (seq <= q1 || seq > q2 || action == "checkpoint" || action == "agent_start") continue;
    std::string labels =
        "{action=\"" + action + "\",outcome=\"" + r["event"].value("outcome", std::string("unknown")) + "\"}";
    want_events["ktrail_events_total" + labels]++;
    if (json_escalation(r)) want_esc["ktrail_privilege_escalations_total" + labels]++;
    if (r["process"].value("pid", 0) != 0 && r.dump().find(marker) != std::string::npos) {
      if (action == "exec" && r["event"]["outcome"] == "failure") helper_exec_fail++;
    }
    if (action == "setuid" && r["event"]["outcome"] == "failure" && json_escalation(r)) helper_setuid_fail++;
    if (action == "exec" && json_escalation(r) && r.dump().find(marker) != std::string::npos) helper_suid_exec++;
  }
  EXPECT_GE(helper_exec_fail, 3);  // ENOENT, EACCES, execveat ENOENT
  EXPECT_GE(helper_setuid_fail, 1);
  EXPECT_EQ(helper_suid_exec, 1);

  auto deltas = [&](const std::string &family) {
    std::map<std::string, double> d;
    for (auto &[k, v] : s2)
      if (k.rfind(family + "{", 0) == 0 && v - get(s1, k) != 0) d[k] = v - get(s1, k);
    return d;
  };
  EXPECT_EQ(deltas("ktrail_events_total"), want_events);
  EXPECT_EQ(deltas("ktrail_privilege_escalations_total"), want_esc);

  // The kernel side saw at least what was emitted from it; nothing was dropped here.
  EXPECT_GE(get(s2, "ktrail_kernel_records_total{hook=\"exec_failed\"}") -
                get(s1, "ktrail_kernel_records_total{hook=\"exec_failed\"}"),
            3);
  EXPECT_EQ(get(s2, "ktrail_kernel_drops_total{hook=\"exec\"}"), 0);
  EXPECT_EQ(get(s2, "ktrail_hook_attached{hook=\"sched_process_exec\",variant=\"tp_btf\"}"), 1);
  EXPECT_EQ(get(s2, "ktrail_ring_buffer_size_bytes"), 4 << 20);
  EXPECT_LE(get(s2, "ktrail_ring_buffer_used_bytes"), 4 << 20);
  const std::string out_label = "{output=\"file:" + agent.out() + "\"}";
  EXPECT_GE(get(s2, "ktrail_output_records_sent_total" + out_label), q1);
  EXPECT_EQ(get(s2, "ktrail_output_failures_total" + out_label), 0);
  EXPECT_GT(get(s2, "ktrail_enrich_cache_hits_total{cache=\"users\"}"), get(s1, "ktrail_enrich_cache_hits_total{cache=\"users\"}"));
  EXPECT_GT(get(s2, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(get(s2, "process_cpu_seconds_total"), get(s1, "process_cpu_seconds_total"));
  EXPECT_EQ(get(s2, "ktrail_build_info{version=\"" KTRAIL_VERSION "\"}"), 1);
  EXPECT_NE(m2.body.find("# TYPE ktrail_rule_hits_total counter\n"), std::string::npos);
}

// Failed SSH logins from a real sshd (own config, port and host key; an unknown user, so no
// account is created): ktrail_ssh_auth_failures_total{source_ip} moves by exactly the
// failures emitted in the window.
TEST_F(MetricsE2E, SshFailuresBySourceAddress) {
  for (const char *bin : {"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/sshpass", "/usr/bin/ssh-keygen"})
    if (access(bin, X_OK) != 0) GTEST_SKIP() << bin << " is missing: scripts/install-deps.sh test installs it";
  const uint16_t port = free_port();
  ASSERT_EQ(run({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_ + "/host_key"}), 0);
  {
    std::ofstream c(dir_ + "/sshd_config");
    c << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << dir_ << "/host_key\nUsePAM yes\n"
      << "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPidFile " << dir_ << "/sshd.pid\n";
  }
  mkdir("/run/sshd", 0755);
  Agent agent;
  ASSERT_NE(agent.port(), 0) << agent.err();
  pid_t sshd = fork();
  if (sshd == 0) {
    execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-f", (dir_ + "/sshd_config").c_str(), "-E",
          (dir_ + "/sshd.log").c_str(), nullptr);
    _exit(127);
  }
  struct Reap {
    pid_t p;
    ~Reap() {
      kill(p, SIGTERM);
      waitpid(p, nullptr, 0);
    }
  } reap{sshd};
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       read_file(dir_ + "/sshd.log").find("Server listening") == std::string::npos;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << read_file(dir_ + "/sshd.log");
    std::this_thread::sleep_for(50ms);
  }

  auto s1 = parse_exposition(http_get(agent.port(), "/metrics").body);
  const double q1 = get(s1, "ktrail_events_last_sequence");
  const std::string user = "ktmet-nosuch-" + std::to_string(getpid());
  for (int i = 0; i < 2; i++)
    EXPECT_NE(run({"/usr/bin/sshpass", "-p", "wrong-password", "/usr/bin/ssh", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
                   "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                   "-o", "NumberOfPasswordPrompts=1", "-p", std::to_string(port), user + "@127.0.0.1", "true"}),
              0);
  auto ours = [&](const json &r) {
    return r["event"]["action"] == "ssh_auth" && r["event"]["outcome"] == "failure" && r.contains("user") &&
           r["user"].value("name", "") == user;
  };
  for (auto deadline = std::chrono::steady_clock::now() + 20s;;) {
    int n = 0;
    for (auto &r : agent.records()) n += ours(r);
    if (n >= 2) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "ssh_auth failures never reached the output";
    std::this_thread::sleep_for(100ms);
  }
  auto s2 = parse_exposition(http_get(agent.port(), "/metrics").body);
  const double q2 = get(s2, "ktrail_events_last_sequence");
  std::vector<json> recs;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;;) {
    recs = agent.records();
    uint64_t max_seq = 0;
    for (auto &r : recs) max_seq = std::max<uint64_t>(max_seq, r["event"]["sequence"].get<uint64_t>());
    if (max_seq >= q2) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(20ms);
  }
  std::map<std::string, double> want, got;
  int mine = 0;
  for (auto &r : recs) {
    uint64_t seq = r["event"]["sequence"];
    if (seq <= q1 || seq > q2 || r["event"]["action"] != "ssh_auth" || r["event"]["outcome"] != "failure") continue;
    if (r.contains("ktrail") && r["ktrail"].contains("ssh") && r["ktrail"]["ssh"].value("partial", false)) continue;
    std::string ip = r.contains("source") ? r["source"].value("ip", "unknown") : "unknown";
    want["ktrail_ssh_auth_failures_total{source_ip=\"" + ip + "\"}"]++;
    if (ours(r)) {
      mine++;
      EXPECT_EQ(ip, "127.0.0.1");
    }
  }
  EXPECT_EQ(mine, 2);
  for (auto &[k, v] : s2)
    if (k.rfind("ktrail_ssh_auth_failures_total{", 0) == 0 && v != get(s1, k)) got[k] = v - get(s1, k);
  EXPECT_EQ(got, want);
}

// A network output whose collector is down, then up: the agent stays healthy (the spool holds
// the records), and the output's series follow what happens.
TEST_F(MetricsE2E, NetworkOutputCollectorDownThenUp) {
  // A TCP port with nobody listening yet; later a plain TCP reader stands in for the collector
  // (what is measured here is the delivery state, not syslog: tests/delivery uses rsyslog).
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr *>(&a), &len);
  const std::string url = "syslog+tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  Agent agent({"-o", url, "--spool-dir", dir_ + "/spool"});
  ASSERT_NE(agent.port(), 0) << agent.err();
  const std::string l = "{output=\"" + url + "\"}";
  auto scrape = [&] { return parse_exposition(http_get(agent.port(), "/metrics").body); };
  auto wait_until = [&](const std::function<bool(const std::map<std::string, double> &)> &cond, const char *what) {
    for (auto deadline = std::chrono::steady_clock::now() + 40s;;) {
      auto m = scrape();
      if (cond(m)) return m;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "never: " << what << "\n" << http_get(agent.port(), "/metrics").body;
        return m;
      }
      std::this_thread::sleep_for(100ms);
    }
  };
  ASSERT_EQ(run({KTRAIL_E2E_HELPER, "exec-fail", "net"}), 0);  // records to spool
  auto m = wait_until([&](auto &m) { return get(m, "ktrail_output_failures_total" + l) >= 1 &&
                                            get(m, "ktrail_output_spool_oldest_age_seconds" + l) >= 1.0; },
                      "connect failures and a spooled record older than 1 s");
  EXPECT_EQ(get(m, "ktrail_output_connected" + l), 0);
  EXPECT_EQ(get(m, "ktrail_output_connects_total" + l), 0);
  EXPECT_EQ(get(m, "ktrail_output_records_sent_total" + l), 0);
  EXPECT_GT(get(m, "ktrail_output_spool_bytes" + l), 0);
  HttpResult h = http_get(agent.port(), "/healthz");
  EXPECT_EQ(h.status, 200) << h.body;  // a collector down is not an unhealthy agent
  json hj = json::parse(h.body);
  ASSERT_EQ(hj["outputs"].size(), 2u);
  EXPECT_EQ(hj["outputs"][1]["name"], url);
  EXPECT_EQ(hj["outputs"][1]["live"], true);
  EXPECT_EQ(hj["outputs"][1]["collector"], "disconnected");

  ASSERT_EQ(listen(lfd, 8), 0);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> received{0};
  std::thread collector([&] {
    std::vector<int> conns;
    while (!stop) {
      std::vector<pollfd> p{{lfd, POLLIN, 0}};
      for (int c : conns) p.push_back({c, POLLIN, 0});
      if (poll(p.data(), p.size(), 100) <= 0) continue;
      if (p[0].revents & POLLIN) conns.push_back(accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC));
      for (size_t i = 1; i < p.size(); i++) {
        char buf[65536];
        if (p[i].revents & POLLIN) {
          ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
          if (n > 0) received += static_cast<uint64_t>(n);
        }
      }
    }
    for (int c : conns) close(c);
  });
  m = wait_until([&](auto &m) { return get(m, "ktrail_output_connected" + l) == 1 &&
                                       get(m, "ktrail_output_records_sent_total" + l) >= 1 &&
                                       get(m, "ktrail_output_spool_oldest_age_seconds" + l) < 1.0; },
                 "connected, records sent and the backlog acknowledged");
  EXPECT_EQ(get(m, "ktrail_output_connects_total" + l), 1);
  EXPECT_GT(received.load(), 0u);
  h = http_get(agent.port(), "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(json::parse(h.body)["outputs"][1]["collector"], "connected");
  stop = true;
  collector.join();
  close(lfd);
}

// An output that blocks (stdout into a pipe nobody reads) stops the pipeline: /healthz turns
// 503 "pipeline stalled" after 10 s without progress, and 200 again once the output drains.
TEST_F(MetricsE2E, BlockedOutputMakesTheAgentUnhealthyUntilItDrains) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const std::string err = dir_ + "/agent.err";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(e, 2);
    execl(KTRAIL_BIN, KTRAIL_BIN, "run", "--format", "json", "--chain-state", "none", "--events", "exec,exit",
          "--cloud", "off", "--metrics-addr", "127.0.0.1:0", nullptr);
    _exit(127);
  }
  close(out[1]);
  uint16_t port = 0;
  static const std::regex addr(R"(metrics: http://127\.0\.0\.1:(\d+)/metrics)");
  for (auto deadline = std::chrono::steady_clock::now() + 60s; !port;) {
    std::string e = read_file(err);
    std::smatch m;
    if (e.find("tracing via") != std::string::npos && std::regex_search(e, m, addr)) port = std::stoi(m[1]);
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << e;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  // Far more than the pipe's 64 KiB of records: the agent's write blocks.
  ASSERT_EQ(run({KTRAIL_E2E_HELPER, "exec-loop", "stall", "400"}), 0);
  HttpResult h;
  for (auto deadline = std::chrono::steady_clock::now() + 40s;;) {
    h = http_get(port, "/healthz");
    if (h.status == 503) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "never unhealthy: " << h.body;
    std::this_thread::sleep_for(500ms);
  }
  json hj = json::parse(h.body);
  EXPECT_EQ(hj["status"], "unhealthy");
  ASSERT_EQ(hj["problems"].size(), 1u) << h.body;
  EXPECT_EQ(hj["problems"][0].get<std::string>().rfind("pipeline stalled", 0), 0u) << h.body;
  EXPECT_GT(hj["pipeline"]["loop_age_seconds"].get<double>(), 10.0);
  // /metrics still answers while the pipeline is stuck.
  auto m = parse_exposition(http_get(port, "/metrics").body);
  EXPECT_GT(get(m, "ktrail_pipeline_loop_age_seconds"), 10.0);

  std::atomic<bool> stop{false};
  std::thread reader([&] {
    char buf[65536];
    pollfd p{out[0], POLLIN, 0};
    while (!stop)
      if (poll(&p, 1, 100) > 0 && read(out[0], buf, sizeof buf) <= 0) break;
  });
  for (auto deadline = std::chrono::steady_clock::now() + 20s;;) {
    h = http_get(port, "/healthz");
    if (h.status == 200) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "never healthy again: " << h.body;
    std::this_thread::sleep_for(200ms);
  }
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  stop = true;
  reader.join();
  close(out[0]);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << read_file(err);
}

TEST_F(MetricsE2E, MetricsOffAndBadAddress) {
  // off: no listener at all; a malformed or taken explicit address is a usage error (exit 2).
  EXPECT_EQ(run({KTRAIL_BIN, "run", "--metrics-addr", "localhost:9464", "--duration", "1"}), 2);
  EXPECT_EQ(run({KTRAIL_BIN, "run", "--metrics-addr", "127.0.0.1:99999", "--duration", "1"}), 2);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  EXPECT_EQ(run({KTRAIL_BIN, "run", "--chain-state", "none", "--metrics-addr",
                 "127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "--duration", "1"}),
            2);
  close(fd);
  EXPECT_EQ(run({KTRAIL_BIN, "run", "--chain-state", "none", "--metrics-addr", "off", "--duration", "1"}), 0);
}

// A real Prometheus scrapes the agent every second; its query API then has the series.
TEST_F(MetricsE2E, RealPrometheusScrapesTheAgent) {
  const std::string prom = "/usr/bin/prometheus";
  if (access(prom.c_str(), X_OK) != 0) GTEST_SKIP() << "prometheus is not installed (scripts/install-deps.sh test)";
  Agent agent;
  ASSERT_NE(agent.port(), 0) << agent.err();
  const std::string marker = "prom-" + std::to_string(getpid());
  ASSERT_EQ(run({KTRAIL_E2E_HELPER, "cred", marker}), 0);  // a denied setuid(0) by uid 65534

  const uint16_t prom_port = free_port();
  {
    std::ofstream cfg(dir_ + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: ktrail\n    scrape_interval: 1s\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << agent.port() << "']\n";
  }
  pid_t pp = fork();
  if (pp == 0) {
    int e = open((dir_ + "/prometheus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(e, 1);
    dup2(e, 2);
    std::string a1 = "--config.file=" + dir_ + "/prometheus.yml", a2 = "--storage.tsdb.path=" + dir_ + "/tsdb",
                a3 = "--web.listen-address=127.0.0.1:" + std::to_string(prom_port);
    execl(prom.c_str(), prom.c_str(), a1.c_str(), a2.c_str(), a3.c_str(), nullptr);
    _exit(127);
  }
  struct Reap {
    pid_t p;
    ~Reap() {
      kill(p, SIGTERM);
      waitpid(p, nullptr, 0);
    }
  } reap{pp};

  auto query = [&](const std::string &q) {
    std::string enc;
    for (unsigned char c : q) {
      char b[4];
      if (isalnum(c) || c == '_') enc += static_cast<char>(c);
      else snprintf(b, sizeof b, "%%%02X", c), enc += b;
    }
    HttpResult r = http_get(prom_port, "/api/v1/query?query=" + enc);
    if (r.status != 200) return json::array();
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j["status"] != "success") return json::array();
    return j["data"]["result"];
  };
  // The first scrape of a new target comes ~5 s after start whatever the interval: poll.
  auto wait_for = [&](const std::string &q) {
    json res;
    for (auto deadline = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < deadline;) {
      res = query(q);
      if (!res.empty()) return res;
      std::this_thread::sleep_for(250ms);
    }
    ADD_FAILURE() << "Prometheus never answered " << q << "\n" << read_file(dir_ + "/prometheus.log");
    return res;
  };

  json up = wait_for("up{job=\"ktrail\"} == 1");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0]["metric"]["instance"], "127.0.0.1:" + std::to_string(agent.port()));

  json esc = wait_for("ktrail_privilege_escalations_total{action=\"setuid\",outcome=\"failure\"} >= 1");
  ASSERT_EQ(esc.size(), 1u);
  EXPECT_EQ(esc[0]["metric"]["job"], "ktrail");

  json ev = wait_for("ktrail_events_total{action=\"exec\",outcome=\"success\"}");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_GE(std::stod(ev[0]["value"][1].get<std::string>()), 1);

  json build = wait_for("ktrail_build_info");
  ASSERT_EQ(build.size(), 1u);
  EXPECT_EQ(build[0]["metric"]["version"], KTRAIL_VERSION);

  json hook = wait_for("ktrail_hook_attached{hook=\"sched_process_exec\"}");
  ASSERT_EQ(hook.size(), 1u);
  EXPECT_EQ(hook[0]["value"][1], "1");
  EXPECT_EQ(hook[0]["metric"]["variant"], "tp_btf");

  json out = wait_for("ktrail_output_records_sent_total");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["metric"]["output"], "file:" + agent.out());

  json rss = wait_for("process_resident_memory_bytes > 1000000");
  EXPECT_EQ(rss.size(), 1u);
  // rate() over a counter works: Prometheus took the TYPE line.
  HttpResult md = http_get(prom_port, "/api/v1/metadata?metric=ktrail_events_total");
  ASSERT_EQ(md.status, 200);
  json mj = json::parse(md.body);
  ASSERT_TRUE(mj["data"].contains("ktrail_events_total")) << md.body;
  EXPECT_EQ(mj["data"]["ktrail_events_total"][0]["type"], "counter");
  EXPECT_EQ(mj["data"]["ktrail_events_total"][0]["help"], "Records emitted, by event.action and event.outcome.");
}
