#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <string>

#include "ktrail/abi/events.h"
#include "sinks/format.h"

namespace ktrail {
namespace {

Event base(EventKind kind) {
  Event e;
  e.kind = kind;
  e.realtime_ns = 1700000000123456789ll;
  e.proc.pid = 4242;
  e.proc.ppid = 1717;
  e.proc.comm = "bash";
  e.proc.creds = {1000, 1000, 1000, 1000, 100, 100, 100, 100};
  e.user_name = "eve";
  return e;
}

std::string line_of(const Event &e) {
  std::string out;
  format_table(e, out);
  EXPECT_EQ(out.find('\n'), std::string::npos) << out;
  return out;
}

bool has_raw_control(const std::string &s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

TEST(TableFormat, Header) {
  std::string h = table_header();
  EXPECT_EQ(h.find('\n'), std::string::npos);
  for (const char *col : {"TIME", "EVENT", "PID", "PPID", "USER", "COMM", "RESULT", "DETAILS"})
    EXPECT_NE(h.find(col), std::string::npos) << col;
}

TEST(TableFormat, Exec) {
  Event e = base(EventKind::Exec);
  e.filename = "ls";
  e.executable = "/usr/bin/ls";
  e.args = {"ls", "-la", "/tmp"};
  e.cwd = "/home/eve";
  std::string l = line_of(e);
  EXPECT_NE(l.find("exec"), std::string::npos) << l;
  EXPECT_NE(l.find("4242"), std::string::npos) << l;
  EXPECT_NE(l.find("1717"), std::string::npos) << l;
  EXPECT_NE(l.find("bash"), std::string::npos) << l;
  EXPECT_NE(l.find("eve"), std::string::npos) << l;
  EXPECT_NE(l.find(" ok "), std::string::npos) << l;
  EXPECT_NE(l.find("/usr/bin/ls -la /tmp"), std::string::npos) << l;
  EXPECT_NE(l.find("[cwd /home/eve]"), std::string::npos) << l;
  EXPECT_LT(l.find("exec"), l.find("4242"));
  EXPECT_LT(l.find("4242"), l.find("bash"));
}

TEST(TableFormat, ExecFallsBackToFilenameAndMarksTruncation) {
  Event e = base(EventKind::Exec);
  e.filename = "/bin/cat";
  e.args = {"cat", "x"};
  e.exec_flags = KTRAIL_EXEC_ARGS_TRUNCATED | KTRAIL_EXEC_SECUREEXEC;
  std::string l = line_of(e);
  EXPECT_NE(l.find("/bin/cat x ..."), std::string::npos) << l;
  EXPECT_NE(l.find("[secureexec]"), std::string::npos) << l;
}

TEST(TableFormat, UserFallsBackToUid) {
  Event e = base(EventKind::Exit);
  e.user_name.clear();
  e.proc.creds.euid = 31337;
  EXPECT_NE(line_of(e).find("31337"), std::string::npos);
}

TEST(TableFormat, ExecFailedShowsErrnoName) {
  Event e = base(EventKind::ExecFailed);
  e.ret = -ENOENT;
  e.filename = "/nonexistent";
  std::string l = line_of(e);
  EXPECT_NE(l.find("ENOENT"), std::string::npos) << l;
  EXPECT_NE(l.find("/nonexistent"), std::string::npos) << l;
  EXPECT_NE(l.find("exec"), std::string::npos) << l;
}

TEST(TableFormat, CredFailureShowsErrnoName) {
  Event e = base(EventKind::Cred);
  e.syscall = KTRAIL_SYS_SETUID;
  e.ret = -EPERM;
  e.old_creds = e.proc.creds;
  std::string l = line_of(e);
  EXPECT_NE(l.find("setuid"), std::string::npos) << l;
  EXPECT_NE(l.find("EPERM"), std::string::npos) << l;
  EXPECT_NE(l.find("uid 1000/1000/1000 -> 1000/1000/1000"), std::string::npos) << l;
}

TEST(TableFormat, ExitSignal) {
  Event e = base(EventKind::Exit);
  e.exit_code = SIGKILL;
  EXPECT_NE(line_of(e).find("killed by SIGKILL"), std::string::npos);
  e.exit_code = 2 << 8;
  EXPECT_NE(line_of(e).find("code 2"), std::string::npos);
}

TEST(TableFormat, Lost) {
  Event e;
  e.kind = EventKind::Lost;
  e.lost_count = 9;
  e.lost_hook = "exec";
  e.lost_source = "kernel";
  std::string l = line_of(e);
  EXPECT_NE(l.find("lost"), std::string::npos) << l;
  EXPECT_NE(l.find("9 records lost at exec (kernel)"), std::string::npos) << l;
}

TEST(TableFormat, ControlCharactersNotEmittedRaw) {
  Event e = base(EventKind::Exec);
  e.executable = "/usr/bin/echo";
  e.args = {"echo", "\x1b[31mred\x1b[0m", "line\nbreak", "bell\a", "del\x7f"};
  e.cwd = "/tmp/\x1b]0;title\x07";
  e.proc.comm = "co\x1bmm";
  e.user_name = "u\x1b";
  std::string l = line_of(e);
  EXPECT_EQ(l.find("\x1b[31m"), std::string::npos) << "raw ANSI escape reached the terminal";
  EXPECT_FALSE(has_raw_control(l)) << l;
  EXPECT_NE(l.find("\\x1b[31mred"), std::string::npos) << l;
  EXPECT_NE(l.find("line\\x0abreak"), std::string::npos) << l;
}

TEST(TableFormat, InvalidUtf8NotEmittedRaw) {
  Event e = base(EventKind::Exec);
  e.executable = "/bin/x";
  e.args = {"x", "\xff\x1b[2J\x9b"};
  std::string l = line_of(e);
  EXPECT_FALSE(has_raw_control(l)) << l;
  EXPECT_EQ(l.find('\xff'), std::string::npos) << l;
  EXPECT_EQ(l.find('\x9b'), std::string::npos) << "8-bit CSI reached the terminal";
  // Each offending byte shown once as \xHH, no JSON-style double escaping.
  EXPECT_NE(l.find(R"(x \xff\x1b[2J\x9b)"), std::string::npos) << l;
  EXPECT_EQ(l.find(R"(\\)"), std::string::npos) << l;
}

TEST(TableFormat, C1ControlsNotEmittedRaw) {
  // U+009B is CSI for terminals that honour C1 controls; in UTF-8 it is "\xc2\x9b".
  Event e = base(EventKind::Exec);
  e.executable = "/bin/x";
  e.args = {"x", "a\xc2\x9b" "31mb", "ok ✓"};
  std::string l = line_of(e);
  EXPECT_EQ(l.find("\xc2\x9b"), std::string::npos) << l;
  EXPECT_NE(l.find(R"(a\xc2\x9b31mb)"), std::string::npos) << l;
  EXPECT_NE(l.find("ok ✓"), std::string::npos) << "printable UTF-8 is kept: " << l;
}

TEST(Names, ErrnoSignalCapability) {
  EXPECT_STREQ(errno_name(EPERM), "EPERM");
  EXPECT_STREQ(errno_name(ENOENT), "ENOENT");
  EXPECT_STREQ(errno_name(EACCES), "EACCES");
  EXPECT_STREQ(errno_name(E2BIG), "E2BIG");
  EXPECT_STREQ(errno_name(ENOEXEC), "ENOEXEC");
  EXPECT_STREQ(errno_name(4000), "E4000");
  EXPECT_STREQ(errno_name(0), "E0");
  EXPECT_STREQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_STREQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_STREQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_STREQ(signal_name(SIGSYS), "SIGSYS");
  EXPECT_STREQ(signal_name(40), "SIG40");
  EXPECT_EQ(capability_name(0), "CAP_CHOWN");
  EXPECT_EQ(capability_name(7), "CAP_SETUID");
  EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
  EXPECT_EQ(capability_name(38), "CAP_PERFMON");
  EXPECT_EQ(capability_name(39), "CAP_BPF");
  EXPECT_EQ(capability_name(40), "CAP_CHECKPOINT_RESTORE");
  EXPECT_EQ(capability_name(41), "CAP_41");
  EXPECT_EQ(capability_name(-1), "CAP_-1");
}

TEST(Names, EventActionAndSuccess) {
  Event e;
  e.kind = EventKind::Exec;
  EXPECT_STREQ(event_action(e), "exec");
  EXPECT_TRUE(event_success(e));
  e.kind = EventKind::ExecFailed;
  EXPECT_STREQ(event_action(e), "exec");
  EXPECT_FALSE(event_success(e));
  e.kind = EventKind::Cred;
  e.syscall = KTRAIL_SYS_SETRESGID;
  e.ret = 0;
  EXPECT_STREQ(event_action(e), "setresgid");
  EXPECT_TRUE(event_success(e));
  e.ret = -EINVAL;
  EXPECT_FALSE(event_success(e));
  e.syscall = KTRAIL_SYS_SETFSGID;
  e.ret = 5;  // previous fsgid
  e.req[0] = 77;
  e.proc.creds.fsgid = 77;
  EXPECT_TRUE(event_success(e));
  e.proc.creds.fsgid = 5;
  EXPECT_FALSE(event_success(e));
  e.kind = EventKind::Lost;
  EXPECT_STREQ(event_action(e), "lost");
}

}  // namespace
}  // namespace ktrail
