// SSH records: decoding the kernel's bytes, and the JSON/table shape of the SSH events.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "decode/decode.h"
#include "ktrail/abi/events.h"
#include "sinks/format.h"
#include "test_records.h"

namespace ktrail {
namespace {

using json = nlohmann::json;
const HostInfo kHost{"testhost", "0123456789abcdef0123456789abcdef"};

ktrail_sockaddr v4(const char *ip, uint16_t port) {
  ktrail_sockaddr a{};
  a.family = 2;
  a.port = port;
  inet_pton(AF_INET, ip, a.addr);
  return a;
}

ktrail_sockaddr v6(const char *ip, uint16_t port) {
  ktrail_sockaddr a{};
  a.family = 10;
  a.port = port;
  inet_pton(AF_INET6, ip, a.addr);
  return a;
}

TEST(SshDecode, Addresses) {
  EXPECT_EQ(decode_sockaddr(v4("192.0.2.7", 22)), (Endpoint{"192.0.2.7", 22}));
  EXPECT_EQ(decode_sockaddr(v6("2001:db8::5", 2222)), (Endpoint{"2001:db8::5", 2222}));
  EXPECT_EQ(decode_sockaddr(v6("::ffff:198.51.100.1", 1)), (Endpoint{"198.51.100.1", 1})) << "v4-mapped";
  ktrail_sockaddr none{};
  EXPECT_FALSE(decode_sockaddr(none).known());
  EXPECT_EQ(tty_display_name("pts12"), "pts/12");
  EXPECT_EQ(tty_display_name("tty1"), "tty1");
  EXPECT_EQ(tty_display_name("ptsx"), "ptsx");
}

TEST(SshDecode, Accept) {
  ktrail_ssh_accept x;
  std::memset(&x, 0, sizeof(x));
  test::fill_header(x.hdr, KTRAIL_EV_SSH_ACCEPT, sizeof(x));
  x.peer = v4("203.0.113.9", 50022);
  x.local = v4("203.0.113.1", 22);
  x.fd = 5;
  x.syscall = KTRAIL_SYS_ACCEPT4;
  Event e;
  ASSERT_TRUE(decode_record(&x, sizeof(x), e).ok);
  EXPECT_EQ(e.kind, EventKind::SshAccept);
  EXPECT_EQ(e.ssh.source, (Endpoint{"203.0.113.9", 50022}));
  EXPECT_EQ(e.ssh.destination, (Endpoint{"203.0.113.1", 22}));
  EXPECT_EQ(e.ret, 5);
  EXPECT_EQ(e.syscall, static_cast<uint32_t>(KTRAIL_SYS_ACCEPT4));
  EXPECT_FALSE(decode_record(&x, sizeof(x) - 8, e).ok) << "short";
}

TEST(SshDecode, LogIsVariableLength) {
  auto x = std::make_unique<ktrail_ssh_log>();
  std::memset(x.get(), 0, sizeof(*x));
  const std::string line = "Accepted password for a from 1.2.3.4 port 5 ssh2\n";
  const size_t size = offsetof(ktrail_ssh_log, data) + line.size();
  test::fill_header(x->hdr, KTRAIL_EV_SSH_LOG, static_cast<__u32>(size));
  x->len = static_cast<__u32>(line.size());
  x->ret = static_cast<__s64>(line.size());
  x->fd = 6;
  x->syscall = KTRAIL_SYS_WRITE;
  x->fd_kind = KTRAIL_SSH_LOG_FILE;
  std::memcpy(x->data, line.data(), line.size());
  Event e;
  auto r = decode_record(x.get(), size, e);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(e.kind, EventKind::SshLog);
  EXPECT_EQ(e.ssh.log_line, line);
  EXPECT_EQ(e.ssh.log_fd_kind, static_cast<uint32_t>(KTRAIL_SSH_LOG_FILE));
  x->len = KTRAIL_SSH_LOG_MAX + 1;
  r = decode_record(x.get(), size, e);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_SSH_LOG));
}

TEST(SshDecode, Pam) {
  ktrail_ssh_pam x;
  std::memset(&x, 0, sizeof(x));
  test::fill_header(x.hdr, KTRAIL_EV_SSH_PAM, sizeof(x));
  x.op = KTRAIL_PAM_START;
  std::memcpy(x.service, "sshd", 4);
  std::memcpy(x.user, "alice", 5);
  x.peer = v4("10.0.0.2", 40000);
  Event e;
  ASSERT_TRUE(decode_record(&x, sizeof(x), e).ok);
  EXPECT_EQ(e.kind, EventKind::SshPam);
  EXPECT_EQ(e.ssh.pam_service, "sshd");
  EXPECT_EQ(e.ssh.pam_user, "alice");
  EXPECT_EQ(e.ssh.source, (Endpoint{"10.0.0.2", 40000}));
  x.op = 99;
  EXPECT_FALSE(decode_record(&x, sizeof(x), e).ok) << "unknown op";
}

Event ssh_base(EventKind k) {
  Event e;
  e.kind = k;
  e.sequence = 7;
  e.realtime_ns = 1700000000000000000ll;
  e.proc.pid = 100;
  e.proc.tid = 100;
  e.proc.ppid = 50;
  e.proc.comm = "sshd";
  e.executable = "/usr/sbin/sshd";
  e.ssh.source = {"192.0.2.1", 40000};
  e.ssh.destination = {"192.0.2.2", 22};
  return e;
}

json to_json(const Event &e) {
  std::string out;
  format_json(e, kHost, out);
  return json::parse(out);
}

TEST(SshJson, Auth) {
  Event e = ssh_base(EventKind::SshAuth);
  e.ret = -1;
  e.ssh.user = "mallory";
  e.ssh.user_exists = 0;
  e.ssh.method = "publickey";
  e.ssh.key_type = "RSA";
  e.ssh.key_fingerprint = "SHA256:abc";
  e.ssh.signals = {"log", "cred"};
  e.ssh.failures_from_source = 3;
  e.ssh.log_message = "Failed publickey for invalid user mallory from 192.0.2.1 port 40000 ssh2: RSA SHA256:abc";
  json j = to_json(e);
  EXPECT_EQ(j["event"]["category"], json::array({"authentication"}));
  EXPECT_EQ(j["event"]["type"], json::array({"info"}));
  EXPECT_EQ(j["event"]["action"], "ssh_auth");
  EXPECT_EQ(j["event"]["outcome"], "failure");
  EXPECT_EQ(j["user"], (json{{"name", "mallory"}}));
  EXPECT_EQ(j["source"], (json{{"ip", "192.0.2.1"}, {"address", "192.0.2.1"}, {"port", 40000}}));
  EXPECT_EQ(j["destination"], (json{{"ip", "192.0.2.2"}, {"address", "192.0.2.2"}, {"port", 22}}));
  EXPECT_EQ(j["ktrail"]["ssh"], (json{{"method", "publickey"},
                                      {"user_exists", false},
                                      {"key", {{"type", "RSA"}, {"fingerprint", "SHA256:abc"}}},
                                      {"signals", {"log", "cred"}},
                                      {"failures_from_source", 3},
                                      {"log_message", e.ssh.log_message}}));
  EXPECT_FALSE(j["ktrail"].contains("session"));
  std::string t;
  format_table(e, t);
  EXPECT_NE(t.find("ssh_auth"), std::string::npos);
  EXPECT_NE(t.find("publickey mallory (no such user) from 192.0.2.1:40000 RSA SHA256:abc"), std::string::npos) << t;
}

TEST(SshJson, SessionEndAndAuditInOneUserObject) {
  Event e = ssh_base(EventKind::SshSessionEnd);
  e.proc.loginuid = 1001;
  e.proc.sessionid = 42;
  e.audit_user_name = "alice";
  e.ssh.user = "alice";
  e.ssh.uid = 1001;
  e.ssh.session_id = 42;
  e.ssh.tty = "pts/3";
  e.ssh.duration_ns = 5000000000ull;
  e.ssh.signals = {"pam"};
  e.session = {true, "ssh", "alice", {"192.0.2.1", 40000}, 42, "pts/3"};
  json j = to_json(e);
  EXPECT_EQ(j["event"]["category"], json::array({"session"}));
  EXPECT_EQ(j["event"]["type"], json::array({"end"}));
  EXPECT_EQ(j["event"]["duration"], 5000000000ull);
  EXPECT_EQ(j["user"], (json{{"name", "alice"}, {"id", 1001}, {"audit", {{"id", 1001}, {"name", "alice"}, {"session_id", 42}}}}));
  EXPECT_EQ(j["ktrail"]["session"], (json{{"kind", "ssh"}, {"user", "alice"}, {"source_ip", "192.0.2.1"},
                                          {"source_port", 40000}, {"id", 42}, {"tty", "pts/3"}}));
  EXPECT_EQ(j["ktrail"]["ssh"], (json{{"signals", {"pam"}}}));
}

TEST(SshJson, AcceptAndMarkedCred) {
  json a = to_json(ssh_base(EventKind::SshAccept));
  EXPECT_EQ(a["event"]["category"], json::array({"network"}));
  EXPECT_EQ(a["event"]["type"], json::array({"start"}));
  EXPECT_EQ(a["network"], (json{{"transport", "tcp"}}));
  EXPECT_FALSE(a.contains("user"));

  Event c = ssh_base(EventKind::Cred);
  c.ssh = {};
  c.syscall = KTRAIL_SYS_SETUID;
  c.ret = -1;
  c.ssh.self_check = true;
  json j = to_json(c);
  EXPECT_EQ(j["ktrail"]["ssh"], (json{{"self_check", true}}));
  EXPECT_FALSE(j.contains("source")) << "only ssh_* events carry source/destination";
}

}  // namespace
}  // namespace ktrail

#include "cli/options.h"

namespace ktrail {
namespace {

Command parse_args(std::vector<std::string> args) {
  args.insert(args.begin(), "ktrail");
  std::vector<const char *> argv;
  for (auto &a : args) argv.push_back(a.c_str());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  Command c = parse_command_line(static_cast<int>(argv.size()), argv.data());
  testing::internal::GetCapturedStdout();
  testing::internal::GetCapturedStderr();
  return c;
}

TEST(SshOptions, DefaultsAndNames) {
  Command c = parse_args({"run"});
  EXPECT_EQ(c.run.ssh_exe_names, (std::vector<std::string>{"sshd", "sshd-session", "sshd-auth"}));
  LoaderConfig lc;
  ASSERT_TRUE(to_loader_config(c.run, lc));
  EXPECT_TRUE(lc.trace_ssh);
  EXPECT_EQ(lc.ssh_exe_names, c.run.ssh_exe_names);

  c = parse_args({"run", "--events", "ssh", "--ssh-exe-names", "sshd,my-sshd"});
  ASSERT_TRUE(to_loader_config(c.run, lc));
  EXPECT_TRUE(lc.trace_exec && lc.trace_exit && lc.trace_cred) << "sessions need them traced";
  EXPECT_EQ(lc.ssh_exe_names, (std::vector<std::string>{"sshd", "my-sshd"}));
  OutputClasses oc = output_classes(c.run);
  EXPECT_TRUE(oc.ssh);
  EXPECT_FALSE(oc.exec || oc.exit || oc.cred) << "but not output";

  c = parse_args({"run", "--events", "exec"});
  ASSERT_TRUE(to_loader_config(c.run, lc));
  EXPECT_FALSE(lc.trace_ssh);
}

TEST(SshOptions, NamesLongerThanCommAreRejected) {
  Command c = parse_args({"run", "--ssh-exe-names", "a-very-long-sshd-name"});
  LoaderConfig lc;
  Status s = to_loader_config(c.run, lc);
  EXPECT_FALSE(s);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);
}

}  // namespace
}  // namespace ktrail
