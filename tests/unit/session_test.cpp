// The SSH session tracker, fed the signal sequences measured from OpenSSH 9.2 (see README
// "SSH access"), without a kernel: auth merging, self-check marking, sessions, attribution,
// the failure table and seeding from a fake /proc.
#include <gtest/gtest.h>

#include "enrich/proc_table.h"
#include "enrich/session.h"
#include "enrich/users.h"
#include "ktrail/abi/events.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

constexpr uint32_t kUnset = UINT32_MAX;
constexpr uint32_t kMonitor = 100, kListener = 50;
constexpr uint64_t kMs = 1000000;

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() : users_(dir_.path()) {
    dir_.write("passwd", "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/bash\n");
    dir_.write("group", "root:x:0:\n");
    SessionTrackerConfig c;
    c.max_sources = 3;
    tracker_ = std::make_unique<SessionTracker>(procs_, users_, dir_ / "proc", c);
  }

  Event base(EventKind kind, uint32_t pid = kMonitor, uint32_t ppid = kListener) {
    Event e;
    e.kind = kind;
    e.boot_ns = (now_ += kMs);
    e.proc.pid = e.proc.tid = pid;
    e.proc.ppid = ppid;
    e.proc.comm = "sshd";
    e.executable = "/usr/sbin/sshd";
    return e;
  }
  Event pam(uint32_t op, int64_t ret, const std::string &user = "", uint32_t pid = kMonitor) {
    Event e = base(EventKind::SshPam, pid, pid == kMonitor ? kListener : kMonitor);
    e.ssh.pam_op = op;
    e.ret = ret;
    e.ssh.pam_user = user;
    e.ssh.pam_service = op == KTRAIL_PAM_START ? "sshd" : "";
    e.ssh.source = {"192.0.2.1", 40000};
    e.ssh.destination = {"192.0.2.2", 22};
    return e;
  }
  Event log(const std::string &line, uint32_t pid = kMonitor) {
    Event e = base(EventKind::SshLog, pid);
    e.ssh.log_line = line + "\n";
    return e;
  }
  Event cred(uint32_t sys, int64_t ret, Creds before, Creds after, uint64_t r0, uint64_t r1 = kUnset,
             uint64_t r2 = kUnset, uint32_t pid = kMonitor) {
    Event e = base(EventKind::Cred, pid);
    e.syscall = sys;
    e.ret = ret;
    e.old_creds = before;
    e.proc.creds = after;
    e.req[0] = r0;
    e.req[1] = r1;
    e.req[2] = r2;
    return e;
  }
  std::vector<Event> feed(Event e, Event *out = nullptr) {
    std::vector<Event> before, after;
    tracker_->process(e, before, after);
    if (out) *out = e;
    before.insert(before.end(), after.begin(), after.end());
    return before;
  }
  std::vector<Event> tick(uint64_t at) {
    std::vector<Event> v;
    tracker_->tick(at, v);
    return v;
  }

  test::TempDir dir_;
  ProcTable procs_;
  Users users_;
  std::unique_ptr<SessionTracker> tracker_;
  uint64_t now_ = 1000 * kMs;
};

TEST_F(SessionTest, PasswordSuccessMergesPamAndLog) {
  Event accept = base(EventKind::SshAccept, kListener, 1);
  accept.ssh.source = {"192.0.2.1", 40000};
  accept.ssh.destination = {"192.0.2.2", 22};
  Event shown;
  EXPECT_TRUE(feed(accept, &shown).empty());
  EXPECT_FALSE(shown.suppress) << "ssh_accept is an event of its own";
  EXPECT_TRUE(feed(pam(KTRAIL_PAM_START, 0, "alice"), &shown).empty());
  EXPECT_TRUE(shown.suppress) << "signals are never emitted themselves";
  EXPECT_TRUE(feed(pam(KTRAIL_PAM_AUTHENTICATE, 0)).empty()) << "waits for the log line";
  auto out = feed(log("Accepted password for alice from 192.0.2.1 port 40000 ssh2"));
  ASSERT_EQ(out.size(), 1u);
  const Event &a = out[0];
  EXPECT_EQ(a.kind, EventKind::SshAuth);
  EXPECT_EQ(a.ret, 0);
  EXPECT_EQ(a.ssh.method, "password");
  EXPECT_EQ(a.ssh.user, "alice");
  EXPECT_EQ(a.ssh.user_exists, 1);
  EXPECT_EQ(a.ssh.source, (Endpoint{"192.0.2.1", 40000}));
  EXPECT_EQ(a.ssh.destination, (Endpoint{"192.0.2.2", 22}));
  EXPECT_EQ(a.ssh.signals, (std::vector<std::string>{"pam", "log"}));
  EXPECT_EQ(a.ssh.failures_from_source, 0u);
  EXPECT_EQ(a.proc.pid, kMonitor);
  EXPECT_TRUE(tick(UINT64_MAX).empty()) << "nothing left pending";
}

TEST_F(SessionTest, LogBeforePamStillMergesOnce) {
  feed(pam(KTRAIL_PAM_START, 0, "alice"));
  EXPECT_TRUE(feed(log("Failed password for alice from 192.0.2.1 port 40000 ssh2")).empty());
  auto out = feed(pam(KTRAIL_PAM_AUTHENTICATE, 7));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ret, -1);
  EXPECT_EQ(out[0].ssh.signals, (std::vector<std::string>{"pam", "log"}));
  EXPECT_EQ(out[0].ssh.failures_from_source, 1u);
}

TEST_F(SessionTest, PamAloneReportsAfterTheWindow) {
  feed(pam(KTRAIL_PAM_START, 0, "ghost"));
  Event authn = pam(KTRAIL_PAM_AUTHENTICATE, 7);
  EXPECT_EQ(tracker_->pending_auths(), 0u);
  feed(authn);
  EXPECT_TRUE(tick(authn.boot_ns + 100 * kMs).empty());
  EXPECT_EQ(tracker_->pending_auths(), 1u) << "held back, waiting for the log line";
  auto out = tick(authn.boot_ns + 600 * kMs);
  EXPECT_EQ(tracker_->pending_auths(), 0u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ssh.method, "password");
  EXPECT_EQ(out[0].ssh.user, "ghost");
  EXPECT_EQ(out[0].ssh.user_exists, 0) << "not in the passwd sshd sees";
  EXPECT_EQ(out[0].ssh.signals, (std::vector<std::string>{"pam"}));
  EXPECT_EQ(out[0].ssh.source, (Endpoint{"192.0.2.1", 40000})) << "from the socket in the PAM record";
  // keyboard-interactive: PAM runs in a child of the monitor.
  feed(pam(KTRAIL_PAM_AUTHENTICATE, 7, "", 101));
  out = tick(UINT64_MAX);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ssh.method, "keyboard-interactive");
  EXPECT_EQ(out[0].ssh.failures_from_source, 2u);
}

TEST_F(SessionTest, LogAloneWithoutPamAndTheFailureTable) {
  auto out = feed(log("Failed password for invalid user bob from 198.51.100.7 port 22 ssh2"));
  ASSERT_EQ(out.size(), 1u) << "no pam_start: PAM is not in use, no wait";
  EXPECT_EQ(out[0].ssh.user_exists, 0);
  EXPECT_EQ(out[0].ssh.signals, (std::vector<std::string>{"log"}));
  EXPECT_EQ(out[0].ssh.failures_from_source, 1u);
  EXPECT_TRUE(feed(log("Failed none for invalid user bob from 198.51.100.7 port 22 ssh2")).empty())
      << "'none' is a method query, not a credential";
  feed(log("Failed password for invalid user bob from 198.51.100.7 port 22 ssh2"));
  EXPECT_EQ(tracker_->failures_from("198.51.100.7"), 2u);
  // Bounded (max_sources = 3): the source idle longest goes first.
  feed(log("Failed password for x from 10.0.0.1 port 1 ssh2", 201));
  feed(log("Failed password for x from 10.0.0.2 port 1 ssh2", 202));
  feed(log("Failed password for x from 10.0.0.3 port 1 ssh2", 203));
  EXPECT_EQ(tracker_->failures_from("198.51.100.7"), 0u);
  EXPECT_EQ(tracker_->failures_from("10.0.0.3"), 1u);
}

TEST_F(SessionTest, RejectedKeyAtInfoIsAPublickeyFailure) {
  feed(pam(KTRAIL_PAM_START, 0, "alice"));
  Event lookup;
  feed(cred(KTRAIL_SYS_SETRESUID, 0, {0, 0, 0, 0}, {0, 1001, 0, 1001}, kUnset, 1001, kUnset), &lookup);
  EXPECT_TRUE(lookup.ssh.key_lookup);
  EXPECT_FALSE(lookup.ssh.self_check);
  auto out = feed(log("Connection closed by authenticating user alice 192.0.2.1 port 40000 [preauth]"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ret, -1);
  EXPECT_EQ(out[0].ssh.method, "publickey");
  EXPECT_EQ(out[0].ssh.signals, (std::vector<std::string>{"log", "cred"}));
  EXPECT_TRUE(out[0].ssh.key_fingerprint.empty());
  EXPECT_TRUE(feed(base(EventKind::Exit)).empty()) << "already reported";
}

TEST_F(SessionTest, SilentMonitorExitStillReportsTheAttempt) {
  feed(pam(KTRAIL_PAM_START, 0, "alice"));
  feed(cred(KTRAIL_SYS_SETRESUID, 0, {0, 0, 0, 0}, {0, 1001, 0, 1001}, kUnset, 1001, kUnset));
  auto out = feed(base(EventKind::Exit));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ssh.method, "publickey");
  EXPECT_EQ(out[0].ssh.signals, (std::vector<std::string>{"pam", "cred", "exit"}));
}

TEST_F(SessionTest, PrivsepSelfCheckIsMarked) {
  const uint32_t child = 102;
  Event e;
  feed(cred(KTRAIL_SYS_SETRESGID, 0, {}, {0, 0, 0, 0, 65534, 65534, 65534, 65534}, 65534, 65534, 65534, child));
  feed(cred(KTRAIL_SYS_SETRESUID, 0, {0, 0, 0, 0, 65534, 65534, 65534, 65534},
            {102, 102, 102, 102, 65534, 65534, 65534, 65534}, 102, 102, 102, child));
  const Creds dropped{102, 102, 102, 102, 65534, 65534, 65534, 65534};
  feed(cred(KTRAIL_SYS_SETGID, -1, dropped, dropped, 0, kUnset, kUnset, child), &e);
  EXPECT_TRUE(e.ssh.self_check);
  feed(cred(KTRAIL_SYS_SETRESGID, -1, dropped, dropped, kUnset, 0, kUnset, child), &e);
  EXPECT_TRUE(e.ssh.self_check);
  feed(cred(KTRAIL_SYS_SETUID, -1, dropped, dropped, 0, kUnset, kUnset, child), &e);
  EXPECT_TRUE(e.ssh.self_check);
  feed(cred(KTRAIL_SYS_SETRESUID, -1, dropped, dropped, kUnset, 0, kUnset, child), &e);
  EXPECT_TRUE(e.ssh.self_check);
  // Anything else is not the self-test: another id, another errno, another program.
  feed(cred(KTRAIL_SYS_SETUID, -1, dropped, dropped, 5, kUnset, kUnset, child), &e);
  EXPECT_FALSE(e.ssh.self_check);
  feed(cred(KTRAIL_SYS_SETUID, -22, dropped, dropped, 0, kUnset, kUnset, child), &e);
  EXPECT_FALSE(e.ssh.self_check);
  Event other = cred(KTRAIL_SYS_SETUID, -1, dropped, dropped, 0, kUnset, kUnset, child);
  other.proc.comm = "evil";
  feed(other, &other);
  EXPECT_FALSE(other.ssh.self_check);
  feed(cred(KTRAIL_SYS_SETUID, -1, dropped, dropped, 0, kUnset, kUnset, 999), &e);
  EXPECT_FALSE(e.ssh.self_check) << "no drop seen in that process";
}

TEST_F(SessionTest, SessionByAuditIdFollowsSudoAndEnds) {
  feed(pam(KTRAIL_PAM_START, 0, "alice"));
  feed(pam(KTRAIL_PAM_AUTHENTICATE, 0));
  feed(log("Accepted password for alice from 192.0.2.1 port 40000 ssh2"));
  Event open = pam(KTRAIL_PAM_OPEN_SESSION, 0);
  open.proc.sessionid = 42;
  open.proc.loginuid = 1001;
  EXPECT_TRUE(feed(open).empty()) << "the start waits for the tty";
  ASSERT_NE(tracker_->session(42), nullptr);

  // pam_motd's children (of the monitor) do not decide the tty.
  Event motd = base(EventKind::Exec, 300, kMonitor);
  motd.proc.comm = "sh";
  motd.parent_name = "sshd";
  motd.proc.sessionid = 42;
  EXPECT_TRUE(feed(motd, &motd).empty());
  EXPECT_TRUE(motd.session.present);

  // The user's shell: child of sshd's per-user process.
  Event shell = base(EventKind::Exec, 301, 250);
  shell.proc.comm = "bash";
  shell.parent_name = "sshd";
  shell.proc.sessionid = 42;
  shell.proc.loginuid = 1001;
  shell.tty = "pts/3";
  auto out = feed(shell, &shell);
  ASSERT_EQ(out.size(), 1u);
  const Event &st = out[0];
  EXPECT_EQ(st.kind, EventKind::SshSessionStart);
  EXPECT_EQ(st.proc.pid, kMonitor) << "reported with the monitor, whose exit ends it";
  EXPECT_EQ(st.ssh.user, "alice");
  EXPECT_EQ(st.ssh.uid, 1001u);
  EXPECT_EQ(st.ssh.session_id, 42u);
  EXPECT_EQ(st.ssh.tty, "pts/3");
  EXPECT_EQ(st.ssh.source, (Endpoint{"192.0.2.1", 40000}));
  EXPECT_EQ(st.ssh.signals, (std::vector<std::string>{"pam"}));
  EXPECT_EQ(shell.session.user, "alice");
  EXPECT_EQ(shell.session.tty, "pts/3");

  // sudo: root now, same audit session: same attribution.
  Event root = base(EventKind::Exec, 302, 301);
  root.proc.comm = "id";
  root.proc.sessionid = 42;
  root.proc.creds = {0, 0, 0, 0, 0, 0, 0, 0};
  feed(root, &root);
  ASSERT_TRUE(root.session.present);
  EXPECT_EQ(root.session.kind, "ssh");
  EXPECT_EQ(root.session.id, 42u);
  EXPECT_EQ(root.session.source, (Endpoint{"192.0.2.1", 40000}));

  Event exit = base(EventKind::Exit);
  exit.proc.sessionid = 42;
  out = feed(exit);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, EventKind::SshSessionEnd);
  EXPECT_EQ(out[0].ssh.duration_ns, exit.boot_ns - open.boot_ns);
  // Leftovers (nohup) are still attributed after the end.
  Event late = base(EventKind::Exec, 400, 1);
  late.proc.sessionid = 42;
  feed(late, &late);
  EXPECT_TRUE(late.session.present);
}

TEST_F(SessionTest, StartWithoutProgramAfterTheWait) {
  feed(pam(KTRAIL_PAM_START, 0, "alice"));
  Event open = pam(KTRAIL_PAM_OPEN_SESSION, 0);
  open.proc.sessionid = 43;
  open.proc.loginuid = 1001;
  feed(open);
  EXPECT_TRUE(tick(open.boot_ns + 500 * kMs).empty());
  auto out = tick(open.boot_ns + 1100 * kMs);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, EventKind::SshSessionStart);
  EXPECT_TRUE(out[0].ssh.tty.empty());
}

TEST_F(SessionTest, NoUprobesSessionIdStillFound) {
  // Only the log: pam_loginuid still set a new session id, seen on the monitor's next event.
  feed(log("Accepted publickey for alice from 192.0.2.1 port 40000 ssh2: ED25519 SHA256:k"));
  Event child = base(EventKind::Cred, 250, kMonitor);
  child.proc.sessionid = 44;
  child.proc.loginuid = 1001;
  feed(child, &child);
  ASSERT_TRUE(child.session.present);
  EXPECT_EQ(child.session.id, 44u);
  const SshSession *s = tracker_->session(44);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->signals, (std::vector<std::string>{"log", "sessionid"}));
  EXPECT_EQ(s->uid, 1001u);
}

TEST_F(SessionTest, WithoutPamSessionIsTheMonitorsDescendants) {
  feed(log("Accepted password for alice from 192.0.2.1 port 40000 ssh2"));
  procs_.upsert(250, ProcInfo{kMonitor, "sshd", "/usr/sbin/sshd", {}, "/"});
  procs_.upsert(301, ProcInfo{250, "bash", "/bin/bash", {}, "/"});
  Event deep = base(EventKind::Exec, 302, 301);
  deep.proc.comm = "ls";
  feed(deep, &deep);
  ASSERT_TRUE(deep.session.present);
  EXPECT_EQ(deep.session.id, kUnset);
  EXPECT_EQ(deep.session.user, "alice");
  Event stranger = base(EventKind::Exec, 500, 1);
  feed(stranger, &stranger);
  EXPECT_FALSE(stranger.session.present);
}

TEST_F(SessionTest, UntrustedProcessesAreIgnored) {
  Event fake = log("Accepted password for root from 6.6.6.6 port 1 ssh2");
  fake.executable = "/tmp/sshd-lookalike/evil";  // comm says sshd, the binary does not
  Event shown;
  EXPECT_TRUE(feed(fake, &shown).empty());
  EXPECT_TRUE(shown.suppress);
  EXPECT_EQ(tracker_->failures_from("6.6.6.6"), 0u);
}

TEST_F(SessionTest, ProcHelpers) {
  EXPECT_EQ(parse_proc_net_addr("0100007F:0016"), (Endpoint{"127.0.0.1", 22}));
  EXPECT_EQ(parse_proc_net_addr("0000000000000000FFFF00000100007F:9C40"), (Endpoint{"127.0.0.1", 40000}));
  EXPECT_EQ(parse_proc_net_addr("B80D0120000000000000000001000000:0016").ip, "2001:db8::1");
  EXPECT_EQ(tty_name_from_nr((136 << 8) | 3), "pts/3");
  EXPECT_EQ(tty_name_from_nr((137 << 8) | 1), "pts/257");
  EXPECT_EQ(tty_name_from_nr((4 << 8) | 1), "tty1");
  EXPECT_EQ(tty_name_from_nr(0), "");
}

TEST_F(SessionTest, SeedsSessionsOpenBeforeStart) {
  auto stat = [](uint32_t pid, const char *comm, uint32_t ppid, uint64_t tty) {
    return std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) + " 1 1 " + std::to_string(tty) +
           " -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0";
  };
  dir_.write("proc/50/stat", stat(50, "sshd", 1, 0));
  dir_.write("proc/50/sessionid", "4294967295");
  dir_.write("proc/50/loginuid", "4294967295");
  dir_.write("proc/100/stat", stat(100, "sshd", 50, 0));
  dir_.write("proc/100/sessionid", "77");
  dir_.write("proc/100/loginuid", "1001");
  dir_.write("proc/100/net/tcp",
             "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999\n"
             "   1: 0200007F:0016 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 12345\n");
  dir_.write("proc/100/net/tcp6", "header\n");
  std::filesystem::create_directories(dir_ / "proc/100/fd");
  std::filesystem::create_symlink("socket:[12345]", dir_ / "proc/100/fd/3");
  dir_.write("proc/250/stat", stat(250, "sshd", 100, 0));
  dir_.write("proc/250/sessionid", "77");
  dir_.write("proc/301/stat", stat(301, "bash", 250, (136 << 8) | 5));
  dir_.write("proc/301/sessionid", "77");
  EXPECT_EQ(tracker_->seed(), 1u);
  const SshSession *s = tracker_->session(77);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->monitor_pid, kMonitor);
  EXPECT_EQ(s->user, "alice");
  EXPECT_EQ(s->uid, 1001u);
  EXPECT_EQ(s->source, (Endpoint{"127.0.0.1", 40001}));
  EXPECT_EQ(s->destination, (Endpoint{"127.0.0.2", 22}));
  EXPECT_EQ(s->tty, "pts/5");
  EXPECT_TRUE(s->seeded);
  EXPECT_EQ(s->signals, (std::vector<std::string>{"proc"}));
  // Its monitor's exit ends it, with no start of its own.
  Event exit = base(EventKind::Exit);
  exit.proc.sessionid = 77;
  auto out = feed(exit);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, EventKind::SshSessionEnd);
  EXPECT_TRUE(out[0].ssh.seeded);
}

}  // namespace
}  // namespace ktrail
