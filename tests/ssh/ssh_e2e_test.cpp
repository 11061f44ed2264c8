// SSH end to end: a real sshd on a loopback port (own config, host key, UsePAM yes), real
// ssh clients, real users. Each test runs `ktrail run --format json -o file:X`, acts once
// ktrail says "tracing via", stops it with SIGINT and checks every field of the events.
// The oracle for addresses and ports is sshd's own log file (-E), read independently.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent.h"
#include "sshd_harness.h"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char *const kUser = "ktsshu1";      // password + key user, may sudo /usr/bin/id
const char *const kPassword = "Kt-ssh-pw-7431";
const char *const kNoUser = "ktssh-nosuchuser";
const char *const kSudoers = "/etc/sudoers.d/ktrail-ssh-test";

using namespace ktrail::test;

// One scenario's records.
struct Events {
  std::vector<json> all;
  std::vector<json> action(const std::string &a) const {
    return select(all, [&](const json &e) { return e["event"]["action"] == a; });
  }
  std::vector<json> where(const std::function<bool(const json &)> &f) const { return select(all, f); }
};

class SshE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root (BPF, sshd, useradd)";
      return;
    }
    for (const char *bin : {"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/sshpass", "/usr/bin/sudo"})
      if (access(bin, X_OK) != 0) {
        skip_ = std::string(bin) + " is missing: scripts/install-deps.sh test installs it";
        return;
      }
    char tmpl[] = "/tmp/ktrail-ssh-XXXXXX";
    dir_ = mkdtemp(tmpl);
    sh("userdel -r " + std::string(kUser) + " >/dev/null 2>&1");
    ASSERT_EQ(sh("useradd -m -s /bin/bash " + std::string(kUser)).rc, 0);
    ASSERT_EQ(sh("echo '" + std::string(kUser) + ":" + kPassword + "' | chpasswd").rc, 0);
    passwd *pw = getpwnam(kUser);
    ASSERT_NE(pw, nullptr);
    uid_ = pw->pw_uid;
    home_ = pw->pw_dir;
    // The accepted key (in the user's authorized_keys) and one sshd has never seen.
    ASSERT_EQ(sh("ssh-keygen -q -t ed25519 -N '' -C kt -f " + dir_ + "/good").rc, 0);
    ASSERT_EQ(sh("ssh-keygen -q -t ed25519 -N '' -C kt -f " + dir_ + "/bad").rc, 0);
    ASSERT_EQ(sh("install -d -m 700 -o " + std::string(kUser) + " " + home_ + "/.ssh && install -m 600 -o " +
                 kUser + " " + dir_ + "/good.pub " + home_ + "/.ssh/authorized_keys").rc, 0);
    std::ofstream(dir_ + "/sudoers") << kUser << " ALL=(root) NOPASSWD: /usr/bin/id\n";
    ASSERT_EQ(sh("visudo -cqf " + dir_ + "/sudoers && install -m 440 " + dir_ + "/sudoers " + kSudoers).rc, 0);
    mkdir((dir_ + "/info").c_str(), 0700);
    ASSERT_TRUE(sshd_.start(dir_ + "/info", "INFO")) << read_file(dir_ + "/info/sshd.out");
  }

  static void TearDownTestSuite() {
    sshd_.stop();
    if (!skip_.empty()) return;
    sh("pkill -KILL -u " + std::string(kUser));
    sh("userdel -r " + std::string(kUser));
    unlink(kSudoers);
    if (!dir_.empty() && dir_.rfind("/tmp/ktrail-ssh-", 0) == 0) sh("rm -rf " + dir_);
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(sshd_.pid > 0);
  }

  static std::string fingerprint(const std::string &pub) {
    // "256 SHA256:xxxx comment (ED25519)"
    std::istringstream in(sh("ssh-keygen -lf " + pub).out);
    std::string bits, fp;
    in >> bits >> fp;
    return fp;
  }

  // ssh_accept of one connection, checked in full.
  static void expect_accept(const json &a, int client_port, uint16_t sshd_port) {
    EXPECT_EQ(a["event"]["kind"], "event");
    EXPECT_EQ(a["event"]["category"], json::array({"network"}));
    EXPECT_EQ(a["event"]["type"], json::array({"start"}));
    EXPECT_EQ(a["event"]["outcome"], "success");
    EXPECT_EQ(a["source"]["ip"], "127.0.0.1");
    EXPECT_EQ(a["source"]["address"], "127.0.0.1");
    EXPECT_EQ(a["source"]["port"], client_port);
    EXPECT_EQ(a["destination"]["ip"], "127.0.0.1");
    EXPECT_EQ(a["destination"]["port"], sshd_port);
    EXPECT_EQ(a["network"]["transport"], "tcp");
    EXPECT_EQ(a["process"]["name"], "sshd");
    EXPECT_EQ(a["process"]["executable"], "/usr/sbin/sshd");
    EXPECT_EQ(a["process"]["pid"], sshd_.pid);
    EXPECT_EQ(a["process"]["user"]["id"], 0);
    EXPECT_GE(a["ktrail"]["ssh"]["fd"].get<int>(), 0);
    EXPECT_EQ(a["ktrail"]["ssh"]["syscall"], "accept");  // OpenSSH 9.2 calls accept()
  }

  // The ssh_* events of the connection from `client_port`.
  static std::vector<json> of_conn(const Events &ev, const std::string &action, int client_port) {
    return ev.where([&](const json &e) {
      return e["event"]["action"] == action && e.contains("source") && e["source"]["port"] == client_port;
    });
  }

  static void expect_auth_common(const json &a, int client_port, const json &accept) {
    EXPECT_EQ(a["event"]["kind"], "event");
    EXPECT_EQ(a["event"]["category"], json::array({"authentication"}));
    EXPECT_EQ(a["event"]["type"], json::array({"info"}));
    EXPECT_EQ(a["source"]["ip"], "127.0.0.1");
    EXPECT_EQ(a["source"]["port"], client_port);
    EXPECT_EQ(a["destination"]["ip"], "127.0.0.1");
    EXPECT_EQ(a["destination"]["port"], sshd_.port);
    // Reported by the connection's privileged monitor: the listener's child, root.
    EXPECT_EQ(a["process"]["name"], "sshd");
    EXPECT_EQ(a["process"]["executable"], "/usr/sbin/sshd");
    EXPECT_EQ(a["process"]["parent"]["pid"], accept["process"]["pid"]);
    EXPECT_EQ(a["process"]["user"]["id"], 0);
    EXPECT_GT(a["event"]["sequence"].get<uint64_t>(), accept["event"]["sequence"].get<uint64_t>());
  }

  static void expect_session(const json &s, const std::string &type, int client_port, uint32_t sid,
                             const std::string &tty, const json &auth) {
    EXPECT_EQ(s["event"]["category"], json::array({"session"}));
    EXPECT_EQ(s["event"]["type"], json::array({type}));
    EXPECT_EQ(s["event"]["outcome"], "success");
    EXPECT_EQ(s["user"]["name"], kUser);
    EXPECT_EQ(s["user"]["id"], uid_);
    EXPECT_EQ(s["user"]["audit"]["id"], uid_);
    EXPECT_EQ(s["user"]["audit"]["session_id"], sid);
    EXPECT_EQ(s["source"]["ip"], "127.0.0.1");
    EXPECT_EQ(s["source"]["port"], client_port);
    EXPECT_EQ(s["destination"]["port"], sshd_.port);
    EXPECT_EQ(s["process"]["pid"], auth["process"]["pid"]) << "the monitor starts and ends it";
    json want = {{"kind", "ssh"}, {"user", kUser}, {"source_ip", "127.0.0.1"}, {"source_port", client_port},
                 {"id", sid}};
    if (!tty.empty()) want["tty"] = tty;
    EXPECT_EQ(s["ktrail"]["session"], want);
    // pam_open_session; "sessionid" too when a PAM module (pam_motd) ran a program in the
    // new session before pam_open_session returned.
    const json &sig = s["ktrail"]["ssh"]["signals"];
    EXPECT_TRUE(sig == json::array({"pam"}) || sig == json::array({"pam", "sessionid"})) << sig;
  }

  // Every event of the session carries its attribution, and sshd's own EPERMs are marked.
  static void expect_attribution(const Events &ev, uint32_t sid, int client_port) {
    size_t n = 0;
    for (const auto &e : ev.all) {
      if (e.contains("user") && e["user"].contains("audit") && e["user"]["audit"].value("session_id", 0u) == sid) {
        n++;
        ASSERT_TRUE(e["ktrail"].contains("session")) << e.dump();
        EXPECT_EQ(e["ktrail"]["session"]["id"], sid);
        EXPECT_EQ(e["ktrail"]["session"]["kind"], "ssh");
        EXPECT_EQ(e["ktrail"]["session"]["user"], kUser);
        EXPECT_EQ(e["ktrail"]["session"]["source_port"], client_port);
        EXPECT_EQ(e["user"]["audit"]["id"], uid_);
      }
    }
    EXPECT_GT(n, 3u);
    for (const auto &e : ev.all) {
      if (e["event"]["outcome"] == "failure" && e.contains("ktrail") && e["ktrail"].contains("cred") &&
          e["process"]["name"] == "sshd") {
        EXPECT_TRUE(e["ktrail"].contains("ssh") && e["ktrail"]["ssh"].value("self_check", false))
            << "sshd's privsep self-test must be marked: " << e.dump();
      }
    }
  }

  static std::string skip_, dir_, home_;
  static uint32_t uid_;
  static Sshd sshd_;
};
std::string SshE2E::skip_, SshE2E::dir_, SshE2E::home_;
uint32_t SshE2E::uid_ = 0;
Sshd SshE2E::sshd_;

// 1) Password login running a command, then sudo: the sudo'd exec is root but still the
//    SSH user's session.
TEST_F(SshE2E, PasswordLoginThenSudoKeepsTheSession) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("sshpass -p '" + std::string(kPassword) + "' ssh " + password_opts(sshd_.port) + " " + kUser +
             "@127.0.0.1 'id -un; sudo -n /usr/bin/id -u'");
  ASSERT_EQ(c.rc, 0) << c.out;
  EXPECT_NE(c.out.find(std::string(kUser) + "\n0"), std::string::npos) << c.out;
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};

  auto ports = sshd_.logged_ports("Accepted password for " + std::string(kUser));
  ASSERT_EQ(ports.size(), 1u);
  const int port = ports.back();
  auto accepts = of_conn(ev, "ssh_accept", port);
  ASSERT_EQ(accepts.size(), 1u);
  expect_accept(accepts[0], port, sshd_.port);

  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u) << "one event per outcome";
  const json &a = auths[0];
  expect_auth_common(a, port, accepts[0]);
  EXPECT_EQ(a["event"]["outcome"], "success");
  EXPECT_EQ(a["user"]["name"], kUser);
  EXPECT_FALSE(a["user"].contains("audit")) << "authentication happens before the login uid is set";
  EXPECT_EQ(a["ktrail"]["ssh"]["method"], "password");
  EXPECT_EQ(a["ktrail"]["ssh"]["user_exists"], true);
  EXPECT_EQ(a["ktrail"]["ssh"]["signals"], json::array({"pam", "log"}));
  EXPECT_EQ(a["ktrail"]["ssh"]["failures_from_source"], 0);
  EXPECT_EQ(a["ktrail"]["ssh"]["log_message"],
            "Accepted password for " + std::string(kUser) + " from 127.0.0.1 port " + std::to_string(port) + " ssh2");
  EXPECT_FALSE(a["ktrail"]["ssh"].contains("key"));

  auto starts = of_conn(ev, "ssh_session_start", port);
  auto ends = of_conn(ev, "ssh_session_end", port);
  ASSERT_EQ(starts.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  const uint32_t sid = starts[0]["user"]["audit"]["session_id"];
  expect_session(starts[0], "start", port, sid, "", a);
  expect_session(ends[0], "end", port, sid, "", a);
  const uint64_t dur = ends[0]["event"]["duration"];
  EXPECT_GT(dur, 0u);
  EXPECT_LT(dur, 60'000'000'000ull);

  // The sudo'd command: euid 0, and still the SSH user's session and login uid.
  auto ids = ev.where([](const json &e) {
    return e["event"]["action"] == "exec" && e["process"].value("executable", "") == "/usr/bin/id" &&
           e["process"]["args"] == json::array({"/usr/bin/id", "-u"});
  });
  ASSERT_EQ(ids.size(), 1u);
  const json &id = ids[0];
  EXPECT_EQ(id["process"]["user"]["id"], 0);
  EXPECT_EQ(id["process"]["user"]["name"], "root");
  EXPECT_EQ(id["process"]["real_user"]["id"], 0);
  EXPECT_EQ(id["process"]["parent"]["name"], "sudo");
  EXPECT_EQ(id["user"]["audit"]["id"], uid_);
  EXPECT_EQ(id["user"]["audit"]["name"], kUser);
  EXPECT_EQ(id["user"]["audit"]["session_id"], sid);
  EXPECT_EQ(id["ktrail"]["session"], (json{{"kind", "ssh"}, {"user", kUser}, {"source_ip", "127.0.0.1"},
                                           {"source_port", port}, {"id", sid}}));
  auto sudos = ev.where([](const json &e) {
    return e["event"]["action"] == "exec" && e["process"].value("executable", "") == "/usr/bin/sudo";
  });
  ASSERT_EQ(sudos.size(), 1u);
  EXPECT_EQ(sudos[0]["process"]["user"]["id"], 0) << "sudo is setuid root";
  EXPECT_EQ(sudos[0]["process"]["real_user"]["id"], uid_);
  EXPECT_EQ(sudos[0]["ktrail"]["exec"]["secureexec"], true);
  EXPECT_EQ(sudos[0]["ktrail"]["session"]["id"], sid);

  // Stream order: accept < auth < session start < commands < session end.
  EXPECT_LT(a["event"]["sequence"], starts[0]["event"]["sequence"]);
  EXPECT_LT(starts[0]["event"]["sequence"], sudos[0]["event"]["sequence"]);
  EXPECT_LT(id["event"]["sequence"], ends[0]["event"]["sequence"]);
  expect_attribution(ev, sid, port);
}

// 2) Key login: method publickey, key type and the fingerprint ssh-keygen -lf prints.
TEST_F(SshE2E, KeyLoginReportsTheFingerprint) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("ssh -i " + dir_ + "/good -o BatchMode=yes " + ssh_opts(sshd_.port) + " " + kUser + "@127.0.0.1 true");
  ASSERT_EQ(c.rc, 0) << c.out;
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};

  auto ports = sshd_.logged_ports("Accepted publickey for " + std::string(kUser));
  ASSERT_EQ(ports.size(), 1u);
  const int port = ports.back();
  auto accepts = of_conn(ev, "ssh_accept", port);
  ASSERT_EQ(accepts.size(), 1u);
  expect_accept(accepts[0], port, sshd_.port);
  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u);
  const json &a = auths[0];
  expect_auth_common(a, port, accepts[0]);
  const std::string fp = fingerprint(dir_ + "/good.pub");
  ASSERT_EQ(fp.rfind("SHA256:", 0), 0u);
  EXPECT_EQ(a["event"]["outcome"], "success");
  EXPECT_EQ(a["user"]["name"], kUser);
  EXPECT_EQ(a["ktrail"]["ssh"]["method"], "publickey");
  EXPECT_EQ(a["ktrail"]["ssh"]["user_exists"], true);
  EXPECT_EQ(a["ktrail"]["ssh"]["key"], (json{{"type", "ED25519"}, {"fingerprint", fp}}));
  // No pam_authenticate for keys: the log line and the monitor's authorized_keys lookup.
  EXPECT_EQ(a["ktrail"]["ssh"]["signals"], json::array({"log", "cred"}));
  EXPECT_EQ(a["ktrail"]["ssh"]["failures_from_source"], 0);
  EXPECT_EQ(a["ktrail"]["ssh"]["log_message"], "Accepted publickey for " + std::string(kUser) +
                                                    " from 127.0.0.1 port " + std::to_string(port) +
                                                    " ssh2: ED25519 " + fp);
  // The lookup itself (euid briefly = the user, before authentication) is marked, not alarming.
  auto lookups = ev.where([&](const json &e) {
    return e["event"]["action"] == "setresuid" && e["process"]["pid"] == a["process"]["pid"] &&
           e["ktrail"].contains("ssh") && e["ktrail"]["ssh"].value("key_lookup", false);
  });
  ASSERT_GE(lookups.size(), 1u);
  EXPECT_EQ(lookups[0]["process"]["user"]["id"], uid_);
  auto starts = of_conn(ev, "ssh_session_start", port);
  auto ends = of_conn(ev, "ssh_session_end", port);
  ASSERT_EQ(starts.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  const uint32_t sid = starts[0]["user"]["audit"]["session_id"];
  expect_session(starts[0], "start", port, sid, "", a);
  expect_session(ends[0], "end", port, sid, "", a);
}

// 3) Wrong password: a failure, counted for the source.
TEST_F(SshE2E, WrongPasswordIsAFailure) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("sshpass -p wrong-password ssh " + password_opts(sshd_.port) + " " + kUser + "@127.0.0.1 true");
  ASSERT_NE(c.rc, 0);
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};

  auto ports = sshd_.logged_ports("Failed password for " + std::string(kUser));
  ASSERT_EQ(ports.size(), 1u);
  const int port = ports.back();
  auto accepts = of_conn(ev, "ssh_accept", port);
  ASSERT_EQ(accepts.size(), 1u);
  expect_accept(accepts[0], port, sshd_.port);
  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u) << "the later 'Connection closed' adds no second event";
  const json &a = auths[0];
  expect_auth_common(a, port, accepts[0]);
  EXPECT_EQ(a["event"]["outcome"], "failure");
  EXPECT_EQ(a["user"]["name"], kUser);
  EXPECT_EQ(a["ktrail"]["ssh"]["method"], "password");
  EXPECT_EQ(a["ktrail"]["ssh"]["user_exists"], true);
  EXPECT_EQ(a["ktrail"]["ssh"]["signals"], json::array({"pam", "log"}));
  EXPECT_EQ(a["ktrail"]["ssh"]["failures_from_source"], 1);
  EXPECT_EQ(a["ktrail"]["ssh"]["log_message"], "Failed password for " + std::string(kUser) +
                                                    " from 127.0.0.1 port " + std::to_string(port) + " ssh2");
  EXPECT_FALSE(a["ktrail"]["ssh"].contains("key"));
  EXPECT_TRUE(of_conn(ev, "ssh_session_start", port).empty());
}

// 4) Unknown user: a failure that says the user does not exist.
TEST_F(SshE2E, UnknownUserIsAFailure) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("sshpass -p whatever ssh " + password_opts(sshd_.port) + " " + kNoUser + "@127.0.0.1 true");
  ASSERT_NE(c.rc, 0);
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};

  auto ports = sshd_.logged_ports("Failed password for invalid user " + std::string(kNoUser));
  ASSERT_EQ(ports.size(), 1u);
  const int port = ports.back();
  auto accepts = of_conn(ev, "ssh_accept", port);
  ASSERT_EQ(accepts.size(), 1u);
  expect_accept(accepts[0], port, sshd_.port);
  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u);
  const json &a = auths[0];
  expect_auth_common(a, port, accepts[0]);
  EXPECT_EQ(a["event"]["outcome"], "failure");
  EXPECT_EQ(a["user"]["name"], kNoUser);
  EXPECT_EQ(a["ktrail"]["ssh"]["method"], "password");
  EXPECT_EQ(a["ktrail"]["ssh"]["user_exists"], false);
  EXPECT_EQ(a["ktrail"]["ssh"]["signals"], json::array({"pam", "log"}));
  EXPECT_EQ(a["ktrail"]["ssh"]["failures_from_source"], 1);
  EXPECT_EQ(a["ktrail"]["ssh"]["log_message"], "Failed password for invalid user " + std::string(kNoUser) +
                                                    " from 127.0.0.1 port " + std::to_string(port) + " ssh2");
  EXPECT_TRUE(of_conn(ev, "ssh_session_start", port).empty());
}

// 5) Rejected key at sshd's default LogLevel INFO: sshd logs only that the client left, so
//    the method comes from the monitor's authorized_keys lookup and there is no fingerprint.
TEST_F(SshE2E, RejectedKeyIsAFailure) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("ssh -i " + dir_ + "/bad -o BatchMode=yes " + ssh_opts(sshd_.port) + " " + kUser + "@127.0.0.1 true");
  ASSERT_NE(c.rc, 0);
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};

  auto ports = sshd_.logged_ports("Connection closed by authenticating user " + std::string(kUser));
  ASSERT_EQ(ports.size(), 1u);
  const int port = ports.back();
  auto accepts = of_conn(ev, "ssh_accept", port);
  ASSERT_EQ(accepts.size(), 1u);
  expect_accept(accepts[0], port, sshd_.port);
  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u);
  const json &a = auths[0];
  expect_auth_common(a, port, accepts[0]);
  EXPECT_EQ(a["event"]["outcome"], "failure");
  EXPECT_EQ(a["user"]["name"], kUser);
  EXPECT_EQ(a["ktrail"]["ssh"]["method"], "publickey");
  EXPECT_EQ(a["ktrail"]["ssh"]["user_exists"], true);
  EXPECT_EQ(a["ktrail"]["ssh"]["signals"], json::array({"log", "cred"}));
  EXPECT_EQ(a["ktrail"]["ssh"]["failures_from_source"], 1);
  EXPECT_FALSE(a["ktrail"]["ssh"].contains("key")) << "sshd logs no fingerprint at INFO";
  EXPECT_EQ(a["ktrail"]["ssh"]["log_message"], "Connection closed by authenticating user " + std::string(kUser) +
                                                    " 127.0.0.1 port " + std::to_string(port) + " [preauth]");
  EXPECT_TRUE(of_conn(ev, "ssh_session_start", port).empty());
}

// 5b) The same at LogLevel VERBOSE, where sshd names the rejected key.
TEST_F(SshE2E, RejectedKeyAtVerboseHasTheFingerprint) {
  Sshd verbose;
  mkdir((dir_ + "/verbose").c_str(), 0700);
  ASSERT_TRUE(verbose.start(dir_ + "/verbose", "VERBOSE")) << read_file(dir_ + "/verbose/sshd.out");
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("ssh -i " + dir_ + "/bad -o BatchMode=yes " + ssh_opts(verbose.port) + " " + kUser + "@127.0.0.1 true");
  ASSERT_NE(c.rc, 0);
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};
  verbose.stop();

  auto ports = verbose.logged_ports("Failed publickey for " + std::string(kUser));
  ASSERT_EQ(ports.size(), 1u);
  const int port = ports.back();
  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u);
  const json &a = auths[0];
  const std::string fp = fingerprint(dir_ + "/bad.pub");
  EXPECT_EQ(a["event"]["outcome"], "failure");
  EXPECT_EQ(a["user"]["name"], kUser);
  EXPECT_EQ(a["destination"]["port"], verbose.port);
  EXPECT_EQ(a["ktrail"]["ssh"]["method"], "publickey");
  EXPECT_EQ(a["ktrail"]["ssh"]["user_exists"], true);
  EXPECT_EQ(a["ktrail"]["ssh"]["key"], (json{{"type", "ED25519"}, {"fingerprint", fp}}));
  EXPECT_EQ(a["ktrail"]["ssh"]["signals"], json::array({"log", "cred"}));
  EXPECT_EQ(a["ktrail"]["ssh"]["failures_from_source"], 1);
  EXPECT_EQ(a["ktrail"]["ssh"]["log_message"], "Failed publickey for " + std::string(kUser) +
                                                    " from 127.0.0.1 port " + std::to_string(port) +
                                                    " ssh2: ED25519 " + fp);
}

// sshd without -E logs through syslog(3) to /dev/log: the datagram is captured the same way.
TEST_F(SshE2E, SyslogDestinationIsCaptured) {
  Sshd viasyslog;
  viasyslog.syslog = true;
  mkdir((dir_ + "/syslog").c_str(), 0700);
  ASSERT_TRUE(viasyslog.start(dir_ + "/syslog", "INFO")) << read_file(dir_ + "/syslog/sshd.out");
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("ssh -i " + dir_ + "/good -o BatchMode=yes " + ssh_opts(viasyslog.port) + " " + kUser + "@127.0.0.1 true");
  EXPECT_EQ(c.rc, 0) << c.out;
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};
  viasyslog.stop();

  auto ports = viasyslog.logged_ports("Accepted publickey for " + std::string(kUser));
  ASSERT_EQ(ports.size(), 1u) << read_file(viasyslog.log);
  const int port = ports.back();
  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u);
  const json &a = auths[0];
  EXPECT_EQ(a["event"]["outcome"], "success");
  EXPECT_EQ(a["user"]["name"], kUser);
  EXPECT_EQ(a["destination"]["port"], viasyslog.port);
  EXPECT_EQ(a["ktrail"]["ssh"]["method"], "publickey");
  EXPECT_EQ(a["ktrail"]["ssh"]["key"], (json{{"type", "ED25519"}, {"fingerprint", fingerprint(dir_ + "/good.pub")}}));
  EXPECT_EQ(a["ktrail"]["ssh"]["signals"], json::array({"log", "cred"}));
  // The syslog header ("<38>Nov 26 ... sshd[PID]: ") is not part of the message.
  EXPECT_EQ(a["ktrail"]["ssh"]["log_message"].get<std::string>().rfind("Accepted publickey for ", 0), 0u);
  EXPECT_EQ(of_conn(ev, "ssh_session_start", port).size(), 1u);
}

// 6) A PTY session reports its tty on the session and on the commands.
TEST_F(SshE2E, PtySessionReportsTheTty) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  Cmd c = sh("ssh -tt -i " + dir_ + "/good -o BatchMode=yes " + ssh_opts(sshd_.port) + " " + kUser +
             "@127.0.0.1 /usr/bin/tty </dev/null");
  ASSERT_EQ(c.rc, 0) << c.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(c.out, m, std::regex(R"(/dev/(pts/\d+))"))) << c.out;
  const std::string tty = m[1];
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};

  auto ports = sshd_.logged_ports("Accepted publickey for " + std::string(kUser));
  ASSERT_FALSE(ports.empty());
  const int port = ports.back();
  auto auths = of_conn(ev, "ssh_auth", port);
  ASSERT_EQ(auths.size(), 1u);
  auto starts = of_conn(ev, "ssh_session_start", port);
  auto ends = of_conn(ev, "ssh_session_end", port);
  ASSERT_EQ(starts.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  const uint32_t sid = starts[0]["user"]["audit"]["session_id"];
  expect_session(starts[0], "start", port, sid, tty, auths[0]);
  expect_session(ends[0], "end", port, sid, tty, auths[0]);
  auto ttys = ev.where([](const json &e) {
    return e["event"]["action"] == "exec" && e["process"].value("executable", "") == "/usr/bin/tty";
  });
  ASSERT_EQ(ttys.size(), 1u);
  EXPECT_EQ(ttys[0]["process"]["tty"]["name"], tty);
  EXPECT_EQ(ttys[0]["ktrail"]["session"]["tty"], tty);
  EXPECT_EQ(ttys[0]["ktrail"]["session"]["id"], sid);
  expect_attribution(ev, sid, port);
}

// 7) A session open before ktrail started: found in /proc, its later commands attributed.
TEST_F(SshE2E, SessionOpenBeforeStartIsAttributed) {
  const std::string out = dir_ + "/long.out";
  pid_t client = spawn({"/usr/bin/ssh", "-i", dir_ + "/good", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-p",
                        std::to_string(sshd_.port), std::string(kUser) + "@127.0.0.1",
                        "sleep 8; /bin/true kt-marker-7"},
                       out);
  // Logged in once sshd says so and the remote sleep runs.
  ASSERT_TRUE(wait_for([&] { return sh("pgrep -u " + std::string(kUser) + " -x sleep").rc == 0; }, 15s));
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  EXPECT_NE(t.err().find("SSH: 1 sessions open before start"), std::string::npos) << t.err();
  int st = 0;
  waitpid(client, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << read_file(out);
  std::this_thread::sleep_for(1s);
  Events ev{t.stop_and_read()};

  auto ports = sshd_.logged_ports("Accepted publickey for " + std::string(kUser));
  ASSERT_FALSE(ports.empty());
  const int port = ports.back();
  auto marks = ev.where([](const json &e) {
    return e["event"]["action"] == "exec" && e["process"]["args"] == json::array({"/bin/true", "kt-marker-7"});
  });
  ASSERT_EQ(marks.size(), 1u);
  const json &mk = marks[0];
  const uint32_t sid = mk["user"]["audit"]["session_id"];
  EXPECT_EQ(mk["user"]["audit"]["id"], uid_);
  EXPECT_EQ(mk["process"]["user"]["id"], uid_);
  EXPECT_EQ(mk["ktrail"]["session"], (json{{"kind", "ssh"}, {"user", kUser}, {"source_ip", "127.0.0.1"},
                                           {"source_port", port}, {"id", sid}}));
  EXPECT_TRUE(of_conn(ev, "ssh_session_start", port).empty()) << "it started before ktrail";
  auto ends = of_conn(ev, "ssh_session_end", port);
  ASSERT_EQ(ends.size(), 1u);
  const json &e = ends[0];
  EXPECT_EQ(e["user"]["name"], kUser);
  EXPECT_EQ(e["user"]["id"], uid_);
  EXPECT_EQ(e["user"]["audit"]["session_id"], sid);
  EXPECT_EQ(e["destination"]["port"], sshd_.port);
  EXPECT_EQ(e["ktrail"]["ssh"]["seeded"], true);
  EXPECT_EQ(e["ktrail"]["ssh"]["signals"], json::array({"proc"}));
  EXPECT_EQ(e["ktrail"]["session"]["id"], sid);
  EXPECT_EQ(e["process"]["parent"]["pid"], sshd_.pid);
  EXPECT_GT(e["event"]["duration"].get<uint64_t>(), 7'000'000'000ull) << "measured from the monitor's start";
}

}  // namespace
