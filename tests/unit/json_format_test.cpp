#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "decode/decode.h"
#include "ktrail/abi/events.h"
#include "sinks/format.h"
#include "sinks/json_writer.h"
#include "test_records.h"

namespace ktrail {
namespace {

using json = nlohmann::json;
using namespace std::string_literals;

const HostInfo kHost{"testhost", "0123456789abcdef0123456789abcdef"};

Event base_event(EventKind kind) {
  Event e;
  e.kind = kind;
  e.sequence = 42;
  e.realtime_ns = 1700000000123456789ll;
  e.start_realtime_ns = 1699999999000000001ll;
  e.proc.pid = 4242;
  e.proc.tid = 4243;
  e.proc.ppid = 1717;
  e.proc.ns_pid = 17;
  e.proc.mnt_ns = 4026531840u;
  e.proc.pid_ns = 4026531836u;
  e.proc.cgroup_id = 9876;
  e.proc.creds = {1001, 1002, 1003, 1004, 2001, 2002, 2003, 2004};
  e.proc.comm = "bash";
  e.executable = "/usr/bin/bash";
  e.parent_name = "sshd";
  e.parent_executable = "/usr/sbin/sshd";
  e.user_name = "eve";
  e.real_user_name = "rita";
  e.group_name = "egrp";
  e.real_group_name = "rgrp";
  return e;
}

json to_json(const Event &e) {
  std::string out;
  format_json(e, kHost, out);
  EXPECT_EQ(out.find('\n'), std::string::npos) << "one event per line";
  return json::parse(out);  // throws (fails the test) on invalid JSON or invalid UTF-8
}

TEST(JsonFormat, ExecEcsFields) {
  Event e = base_event(EventKind::Exec);
  e.filename = "./bash";
  e.args = {"bash", "-c", "id"};
  e.argc = 3;
  e.cwd = "/home/eve";
  e.tty = "pts/3";
  e.exec_flags = KTRAIL_EXEC_SECUREEXEC_KNOWN;
  e.proc.loginuid = 1000;
  e.proc.sessionid = 7;
  e.audit_user_name = "eve";
  json j = to_json(e);

  std::string ts = j.at("@timestamp");
  EXPECT_EQ(ts, "2023-11-14T22:13:20.123456789Z");
  EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)")));

  const json &ev = j.at("event");
  EXPECT_EQ(ev.at("kind"), "event");
  EXPECT_EQ(ev.at("category"), json::array({"process"}));
  EXPECT_EQ(ev.at("type"), json::array({"start"}));
  EXPECT_EQ(ev.at("action"), "exec");
  EXPECT_EQ(ev.at("outcome"), "success");
  EXPECT_EQ(ev.at("sequence"), 42);

  EXPECT_EQ(j.at("host").at("name"), "testhost");
  EXPECT_EQ(j.at("host").at("id"), "0123456789abcdef0123456789abcdef");

  const json &p = j.at("process");
  EXPECT_EQ(p.at("pid"), 4242);
  EXPECT_EQ(p.at("thread").at("id"), 4243);
  EXPECT_EQ(p.at("name"), "bash");
  EXPECT_EQ(p.at("executable"), "/usr/bin/bash");
  EXPECT_EQ(p.at("args"), json::array({"bash", "-c", "id"}));
  EXPECT_EQ(p.at("args_count"), 3);
  EXPECT_EQ(p.at("working_directory"), "/home/eve");
  EXPECT_EQ(p.at("start"), "2023-11-14T22:13:19.000000001Z");
  EXPECT_EQ(p.at("tty").at("name"), "pts/3");
  EXPECT_FALSE(p.contains("exit_code"));
  EXPECT_EQ(p.at("parent").at("pid"), 1717);
  EXPECT_EQ(p.at("parent").at("name"), "sshd");
  EXPECT_EQ(p.at("parent").at("executable"), "/usr/sbin/sshd");
  EXPECT_EQ(p.at("user").at("id"), 1002);  // effective
  EXPECT_EQ(p.at("user").at("name"), "eve");
  EXPECT_EQ(p.at("real_user").at("id"), 1001);
  EXPECT_EQ(p.at("real_user").at("name"), "rita");
  EXPECT_EQ(p.at("saved_user").at("id"), 1003);
  EXPECT_EQ(p.at("group").at("id"), 2002);
  EXPECT_EQ(p.at("group").at("name"), "egrp");
  EXPECT_EQ(p.at("real_group").at("id"), 2001);
  EXPECT_EQ(p.at("real_group").at("name"), "rgrp");
  EXPECT_EQ(p.at("saved_group").at("id"), 2003);

  EXPECT_EQ(j.at("user").at("audit").at("id"), 1000);
  EXPECT_EQ(j.at("user").at("audit").at("name"), "eve");
  EXPECT_EQ(j.at("user").at("audit").at("session_id"), 7);
  EXPECT_FALSE(j.contains("error"));

  const json &k = j.at("ktrail");
  EXPECT_EQ(k.at("process").at("ns_pid"), 17);
  EXPECT_EQ(k.at("process").at("fsuid"), 1004);
  EXPECT_EQ(k.at("process").at("fsgid"), 2004);
  EXPECT_EQ(k.at("cgroup").at("id"), 9876);
  EXPECT_EQ(k.at("namespace").at("mnt"), 4026531840u);
  EXPECT_EQ(k.at("namespace").at("pid"), 4026531836u);
  EXPECT_FALSE(k.contains("compat_syscall"));
  EXPECT_FALSE(k.contains("invalid_utf8"));
  EXPECT_EQ(k.at("exec").at("filename"), "./bash");
  EXPECT_EQ(k.at("exec").at("args_truncated"), false);
  EXPECT_EQ(k.at("exec").at("secureexec"), false);
  // euid != uid: a privilege change even without secureexec.
  EXPECT_EQ(k.at("exec").at("privilege_change"), true);
}

TEST(JsonFormat, ExecFlagsAndOptionalFields) {
  Event e = base_event(EventKind::Exec);
  e.proc.creds = {5, 5, 5, 5, 6, 6, 6, 6};
  e.executable.clear();
  e.parent_name.clear();
  e.parent_executable.clear();
  e.start_realtime_ns = 0;
  e.exec_flags = KTRAIL_EXEC_ARGS_TRUNCATED;  // secureexec unknown
  json j = to_json(e);
  const json &p = j.at("process");
  EXPECT_FALSE(p.contains("executable"));
  EXPECT_FALSE(p.contains("working_directory"));
  EXPECT_FALSE(p.contains("tty"));
  EXPECT_FALSE(p.contains("start"));
  EXPECT_EQ(p.at("args"), json::array());  // exec always carries args
  EXPECT_EQ(p.at("args_count"), 0);
  EXPECT_FALSE(p.at("parent").contains("name"));
  EXPECT_FALSE(j.contains("user")) << "no audit ids set";
  EXPECT_EQ(j.at("ktrail").at("exec").at("args_truncated"), true);
  EXPECT_FALSE(j.at("ktrail").at("exec").contains("secureexec"));
  EXPECT_EQ(j.at("ktrail").at("exec").at("privilege_change"), false);

  e.exec_flags = KTRAIL_EXEC_SECUREEXEC | KTRAIL_EXEC_SECUREEXEC_KNOWN |
                 KTRAIL_EXEC_FILENAME_TRUNCATED | KTRAIL_EXEC_CWD_TRUNCATED;
  j = to_json(e);
  EXPECT_EQ(j.at("ktrail").at("exec").at("secureexec"), true);
  EXPECT_EQ(j.at("ktrail").at("exec").at("privilege_change"), true);
  EXPECT_EQ(j.at("ktrail").at("exec").at("filename_truncated"), true);
  EXPECT_EQ(j.at("ktrail").at("exec").at("cwd_truncated"), true);
}

TEST(JsonFormat, AuditFieldsOnlyWhenSet) {
  Event e = base_event(EventKind::Exit);
  e.proc.loginuid = 0;  // root's login uid is a real value
  e.proc.sessionid = UINT32_MAX;
  json j = to_json(e);
  EXPECT_EQ(j.at("user").at("audit").at("id"), 0);
  EXPECT_FALSE(j.at("user").at("audit").contains("session_id"));

  e.proc.loginuid = UINT32_MAX;
  e.proc.sessionid = 3;
  j = to_json(e);
  EXPECT_FALSE(j.at("user").at("audit").contains("id"));
  EXPECT_EQ(j.at("user").at("audit").at("session_id"), 3);
}

TEST(JsonFormat, FromDecodedRecord) {
  auto rec = test::exec_record("/bin/ls", "tmp\0"s, "ls\0-l\0"s);
  Event e;
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  e.sequence = 1;
  json j = to_json(e);
  EXPECT_EQ(j.at("process").at("args"), json::array({"ls", "-l"}));
  EXPECT_EQ(j.at("process").at("working_directory"), "/tmp");
  EXPECT_EQ(j.at("ktrail").at("exec").at("filename"), "/bin/ls");
  EXPECT_EQ(j.at("user").at("audit").at("id"), 1000);
  EXPECT_EQ(j.at("event").at("sequence"), 1);
}

TEST(JsonFormat, ExecFailedEnoent) {
  Event e = base_event(EventKind::ExecFailed);
  e.ret = -ENOENT;
  e.syscall = KTRAIL_SYS_EXECVE;
  e.filename = "/nonexistent";
  e.dirfd = -100;
  json j = to_json(e);
  EXPECT_EQ(j.at("event").at("action"), "exec");
  EXPECT_EQ(j.at("event").at("type"), json::array({"start"}));
  EXPECT_EQ(j.at("event").at("outcome"), "failure");
  EXPECT_EQ(j.at("error").at("code"), "ENOENT");
  EXPECT_FALSE(j.at("error").at("message").get<std::string>().empty());
  EXPECT_EQ(j.at("ktrail").at("exec").at("syscall"), "execve");
  EXPECT_EQ(j.at("ktrail").at("exec").at("attempted_path"), "/nonexistent");
  EXPECT_EQ(j.at("ktrail").at("exec").at("dirfd"), -100);
  EXPECT_FALSE(j.at("process").contains("args"));
}

TEST(JsonFormat, CredSetresuidFailed) {
  Event e = base_event(EventKind::Cred);
  e.syscall = KTRAIL_SYS_SETRESUID;
  e.ret = -EPERM;
  e.req[0] = 0;
  e.req[1] = 0xffffffffull;
  e.req[2] = 33;
  e.old_creds = {11, 12, 13, 14, 21, 22, 23, 24};
  json j = to_json(e);
  EXPECT_EQ(j.at("event").at("action"), "setresuid");
  EXPECT_EQ(j.at("event").at("type"), json::array({"change"}));
  EXPECT_EQ(j.at("event").at("outcome"), "failure");
  EXPECT_EQ(j.at("error").at("code"), "EPERM");
  const json &c = j.at("ktrail").at("cred");
  EXPECT_EQ(c.at("syscall"), "setresuid");
  EXPECT_EQ(c.at("return"), -EPERM);
  EXPECT_EQ(c.at("requested"), json({{"ruid", 0}, {"euid", -1}, {"suid", 33}}));
  EXPECT_EQ(c.at("before"), json({{"uid", 11}, {"euid", 12}, {"suid", 13}, {"fsuid", 14},
                                  {"gid", 21}, {"egid", 22}, {"sgid", 23}, {"fsgid", 24}}));
  EXPECT_EQ(c.at("after"), json({{"uid", 1001}, {"euid", 1002}, {"suid", 1003}, {"fsuid", 1004},
                                 {"gid", 2001}, {"egid", 2002}, {"sgid", 2003}, {"fsgid", 2004}}));
  EXPECT_FALSE(c.contains("capabilities_before"));
}

TEST(JsonFormat, CredSuccessHasNoError) {
  Event e = base_event(EventKind::Cred);
  e.syscall = KTRAIL_SYS_SETGID;
  e.ret = 0;
  e.req[0] = 2002;
  json j = to_json(e);
  EXPECT_EQ(j.at("event").at("outcome"), "success");
  EXPECT_FALSE(j.contains("error"));
  EXPECT_EQ(j.at("ktrail").at("cred").at("requested"), json({{"gid", 2002}}));
}

TEST(JsonFormat, CredCompat16BitUnchangedId) {
  Event e = base_event(EventKind::Cred);
  e.hdr_flags = KTRAIL_F_COMPAT_SYSCALL;
  e.syscall = KTRAIL_SYS_SETREUID;
  e.req[0] = 0xffff;  // setreuid16(-1, 5)
  e.req[1] = 5;
  json j = to_json(e);
  EXPECT_EQ(j.at("ktrail").at("compat_syscall"), true);
  EXPECT_EQ(j.at("ktrail").at("cred").at("requested"), json({{"ruid", -1}, {"euid", 5}}));
}

TEST(JsonFormat, SetfsuidOutcomeFromCreds) {
  Event e = base_event(EventKind::Cred);
  e.syscall = KTRAIL_SYS_SETFSUID;
  e.ret = 1004;  // previous fsuid, not an error
  e.req[0] = 1004;
  json j = to_json(e);
  EXPECT_EQ(j.at("event").at("outcome"), "success");
  EXPECT_FALSE(j.contains("error"));
  e.req[0] = 0;  // asked for 0, fsuid stayed 1004
  j = to_json(e);
  EXPECT_EQ(j.at("event").at("outcome"), "failure");
  EXPECT_FALSE(j.contains("error"));
}

TEST(JsonFormat, Setgroups) {
  Event e = base_event(EventKind::Cred);
  e.syscall = KTRAIL_SYS_SETGROUPS;
  e.ngroups = 3;
  e.groups = {10, 20, 30};
  json j = to_json(e);
  const json &r = j.at("ktrail").at("cred").at("requested");
  EXPECT_EQ(r.at("count"), 3);
  EXPECT_EQ(r.at("groups"), json::array({10, 20, 30}));
  EXPECT_EQ(r.at("groups_truncated"), false);
  EXPECT_EQ(j.at("event").at("action"), "setgroups");

  e.ngroups = 100;
  j = to_json(e);
  EXPECT_EQ(j.at("ktrail").at("cred").at("requested").at("groups_truncated"), true);
}

TEST(JsonFormat, CapsetNames) {
  Event e = base_event(EventKind::Cred);
  e.syscall = KTRAIL_SYS_CAPSET;
  e.cap_req[0] = (1ull << 0) | (1ull << 21);  // CAP_CHOWN, CAP_SYS_ADMIN
  e.cap_req[1] = (1ull << 39) | (1ull << 63);  // CAP_BPF, unknown
  e.cap_req[2] = 0;
  e.cap_old[0] = 1ull << 7;
  e.cap_new[0] = 1ull << 6;
  json j = to_json(e);
  const json &c = j.at("ktrail").at("cred");
  EXPECT_EQ(c.at("requested").at("effective"), json::array({"CAP_CHOWN", "CAP_SYS_ADMIN"}));
  EXPECT_EQ(c.at("requested").at("permitted"), json::array({"CAP_BPF", "CAP_63"}));
  EXPECT_EQ(c.at("requested").at("inheritable"), json::array());
  EXPECT_EQ(c.at("capabilities_before").at("effective"), json::array({"CAP_SETUID"}));
  EXPECT_EQ(c.at("capabilities_after").at("effective"), json::array({"CAP_SETGID"}));
  EXPECT_EQ(c.at("capabilities_after").at("permitted"), json::array());
}

TEST(JsonFormat, ExitCodeAndSignal) {
  Event e = base_event(EventKind::Exit);
  e.exit_code = 3 << 8;
  json j = to_json(e);
  EXPECT_EQ(j.at("event").at("type"), json::array({"end"}));
  EXPECT_EQ(j.at("event").at("action"), "exit");
  EXPECT_EQ(j.at("event").at("outcome"), "failure");
  EXPECT_EQ(j.at("process").at("exit_code"), 3);
  EXPECT_EQ(j.at("ktrail").at("exit").at("status"), 768);
  EXPECT_FALSE(j.at("ktrail").at("exit").contains("signal"));
  EXPECT_FALSE(j.contains("error"));

  e.exit_code = SIGKILL;
  j = to_json(e);
  EXPECT_EQ(j.at("process").at("exit_code"), 0);
  EXPECT_EQ(j.at("ktrail").at("exit").at("signal"), "SIGKILL");
  EXPECT_EQ(j.at("ktrail").at("exit").at("core_dumped"), false);

  e.exit_code = SIGSEGV | 0x80;
  j = to_json(e);
  EXPECT_EQ(j.at("ktrail").at("exit").at("signal"), "SIGSEGV");
  EXPECT_EQ(j.at("ktrail").at("exit").at("core_dumped"), true);

  e.exit_code = 0;
  j = to_json(e);
  EXPECT_EQ(j.at("event").at("outcome"), "success");
  EXPECT_EQ(j.at("process").at("exit_code"), 0);
}

TEST(JsonFormat, NonExecArgsFromTable) {
  Event e = base_event(EventKind::Exit);
  e.args = {"sleep", "10"};
  json j = to_json(e);
  EXPECT_EQ(j.at("process").at("args"), json::array({"sleep", "10"}));
  EXPECT_EQ(j.at("process").at("args_count"), 2);
}

TEST(JsonFormat, Lost) {
  Event e;
  e.kind = EventKind::Lost;
  e.sequence = 5;
  e.realtime_ns = 0;
  e.lost_hook = "cred";
  e.lost_source = "kernel";
  e.lost_count = 12;
  json j = to_json(e);
  EXPECT_EQ(j.at("@timestamp"), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(j.at("event").at("action"), "lost");
  EXPECT_EQ(j.at("event").at("category"), json::array({"host"}));
  EXPECT_EQ(j.at("event").at("sequence"), 5);
  EXPECT_EQ(j.at("ktrail").at("lost"), json({{"hook", "cred"}, {"source", "kernel"}, {"count", 12}}));
  EXPECT_FALSE(j.contains("process"));
}

TEST(JsonFormat, NonUtf8ArgsAreEscapedReversibly) {
  Event e = base_event(EventKind::Exec);
  const std::string bad = "a\xff\xfe\\b";
  e.args = {"prog", bad};
  e.argc = 2;
  std::string out;
  format_json(e, kHost, out);
  json j;
  ASSERT_NO_THROW(j = json::parse(out)) << out;
  EXPECT_NE(out.find(R"(a\\xff\\xfe\\x5cb)"), std::string::npos) << out;
  EXPECT_EQ(j.at("process").at("args").at(1), R"(a\xff\xfe\x5cb)");
  EXPECT_EQ(j.at("process").at("args").at(0), "prog");
  EXPECT_EQ(j.at("ktrail").at("invalid_utf8"), true);
}

TEST(JsonFormat, InvalidUtf8InOtherFields) {
  Event e = base_event(EventKind::ExecFailed);
  e.ret = -EACCES;
  e.filename = "/tmp/\xc0\xaf";
  e.proc.comm = "x\x80y";
  json j = to_json(e);
  EXPECT_EQ(j.at("ktrail").at("exec").at("attempted_path"), R"(/tmp/\xc0\xaf)");
  EXPECT_EQ(j.at("process").at("name"), R"(x\x80y)");
  EXPECT_EQ(j.at("ktrail").at("invalid_utf8"), true);
  EXPECT_EQ(j.at("error").at("code"), "EACCES");
}

TEST(JsonFormat, ValidUtf8PassesThrough) {
  Event e = base_event(EventKind::Exec);
  e.args = {"echo", "héllo ✓", "\xf0\x9f\x98\x80", "back\\slash"};
  e.argc = 4;
  std::string out;
  format_json(e, kHost, out);
  EXPECT_NE(out.find("héllo ✓"), std::string::npos) << "UTF-8 copied, not \\u-escaped";
  json j = json::parse(out);
  EXPECT_EQ(j.at("process").at("args").at(1), "héllo ✓");
  EXPECT_EQ(j.at("process").at("args").at(2), "\xf0\x9f\x98\x80");
  EXPECT_EQ(j.at("process").at("args").at(3), "back\\slash");
  EXPECT_FALSE(j.at("ktrail").contains("invalid_utf8"));
}

TEST(JsonString, ControlCharactersEscaped) {
  const std::string s = "a\x01\x1b[31m\n\r\t\b\f\"\\\x7f"s + '\0' + "z";
  std::string out;
  EXPECT_TRUE(append_json_string(out, s));
  for (char c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    EXPECT_FALSE(u < 0x20 || u == 0x7f) << "raw control byte " << int(u) << " in " << out;
  }
  EXPECT_NE(out.find(R"(\u001b)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(\u0000)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(\n)"), std::string::npos) << out;
  EXPECT_EQ(json::parse(out).get<std::string>(), s);
}

TEST(JsonString, InvalidStringKeepsControlEscapes) {
  std::string out;
  EXPECT_FALSE(append_json_string(out, "\xff\n\x1b"));
  EXPECT_EQ(out, R"("\\xff\n\u001b")");
  EXPECT_EQ(json::parse(out).get<std::string>(), "\\xff\n\x1b");
}

TEST(JsonString, ExactOutput) {
  std::string out;
  EXPECT_TRUE(append_json_string(out, "a\"b\\c"));
  EXPECT_EQ(out, R"("a\"b\\c")");
  out.clear();
  EXPECT_FALSE(append_json_string(out, "\xff\xfe\\"));
  EXPECT_EQ(out, R"("\\xff\\xfe\\x5c")");
  out = "prefix:";
  EXPECT_TRUE(append_json_string(out, ""));
  EXPECT_EQ(out, "prefix:\"\"");
}

// The escaper copies runs of plain bytes at once; it must write exactly what escaping byte by
// byte (the documented rules) writes, for every byte value in every position.
TEST(JsonString, MatchesByteAtATimeReference) {
  auto reference = [](std::string_view s) {
    const bool valid = is_valid_utf8(s);
    std::string out = "\"";
    const char *hex = "0123456789abcdef";
    for (size_t i = 0; i < s.size(); i++) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (!valid && (c >= 0x80 || c == '\\')) {
        // in an invalid string, valid multi-byte sequences are still copied
        size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (c != '\\' && n && i + n <= s.size() && is_valid_utf8(s.substr(i, n))) {
          out.append(s.substr(i, n));
          i += n - 1;
        } else {
          out += "\\\\x";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        }
        continue;
      }
      if (c >= 0x80) out += static_cast<char>(c);
      else if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c < 0x20 || c == 0x7f) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      } else out += static_cast<char>(c);
    }
    return out + "\"";
  };
  for (int b = 0; b < 256; b++) {
    for (const std::string &s : {std::string(1, static_cast<char>(b)), "ab"s + static_cast<char>(b) + "cd",
                                 "\xc3\xa9"s + static_cast<char>(b), static_cast<char>(b) + "\xff"s}) {
      std::string out = "x";
      bool valid = append_json_string(out, s);
      EXPECT_EQ(valid, is_valid_utf8(s)) << b;
      EXPECT_EQ(out, "x" + reference(s)) << "byte " << b;
    }
  }
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii \x7f"));
  EXPECT_TRUE(is_valid_utf8("héllo ✓"));
  EXPECT_TRUE(is_valid_utf8("\xc2\x80"));              // U+0080, smallest 2-byte
  EXPECT_TRUE(is_valid_utf8("\xe0\xa0\x80"));          // U+0800, smallest 3-byte
  EXPECT_TRUE(is_valid_utf8("\xed\x9f\xbf"));          // U+D7FF, just below surrogates
  EXPECT_TRUE(is_valid_utf8("\xee\x80\x80"));          // U+E000, just above
  EXPECT_TRUE(is_valid_utf8("\xef\xbf\xbf"));          // U+FFFF
  EXPECT_TRUE(is_valid_utf8("\xf0\x90\x80\x80"));      // U+10000, smallest 4-byte
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  EXPECT_TRUE(is_valid_utf8(std::string_view("a\0b", 3)));

  // Overlongs
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xc1\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xe0\x9f\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));
  // Surrogates
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));
  EXPECT_FALSE(is_valid_utf8("\xed\xbf\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\xbd\xed\xb8\x80"));  // CESU-8 pair
  // Truncated sequences
  EXPECT_FALSE(is_valid_utf8("\xc3"));
  EXPECT_FALSE(is_valid_utf8("\xe2\x9c"));
  EXPECT_FALSE(is_valid_utf8("\xf0\x9f\x98"));
  EXPECT_FALSE(is_valid_utf8("ok\xe2\x9c"));
  EXPECT_FALSE(is_valid_utf8("\xe2\x9cx"));
  // Beyond U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xf7\xbf\xbf\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));
  // Stray bytes
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(is_valid_utf8("\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xfe"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

TEST(JsonWriterTest, SeparatorsAndNesting) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("a", uint64_t{1})
      .field("b", int64_t{-2})
      .field("c", true)
      .field("d", "x");
  w.key("e").begin_array().value(uint32_t{1}).value(int32_t{-1}).begin_object().end_object().end_array();
  w.key("f").begin_object().field("g", false).end_object();
  w.end_object();
  EXPECT_EQ(out, R"({"a":1,"b":-2,"c":true,"d":"x","e":[1,-1,{}],"f":{"g":false}})");
  EXPECT_FALSE(w.saw_invalid_utf8());
  w.value(std::string_view("\xff"));
  EXPECT_TRUE(w.saw_invalid_utf8());
}

// The writer copies plain strings 8 bytes at a time: every byte that needs escaping or UTF-8
// checking must be caught at every position of a word, and the result must equal the
// byte-by-byte encoder's.
TEST(JsonWriterTest, StringsMatchTheReferenceEncoderAtEveryPosition) {
  const unsigned char specials[] = {0x00, 0x01, 0x1f, '"', '\\', 0x7f, 0x80, 0xc3, 0xff, 0x20, 0x7e};
  for (size_t len : {1u, 7u, 8u, 9u, 16u, 23u, 40u, 128u, 129u, 300u}) {
    for (size_t pos = 0; pos < len; pos++) {
      for (unsigned char c : specials) {
        std::string s(len, 'a');
        s[pos] = static_cast<char>(c);
        if (c == 0xc3 && pos + 1 < len) s[pos + 1] = static_cast<char>(0xa9);  // valid "é"
        std::string want = "[";
        bool valid = append_json_string(want, s);
        want += "]";
        std::string got;
        JsonWriter w(got);
        w.begin_array().value(std::string_view(s)).end_array();
        ASSERT_EQ(got, want) << "len " << len << " pos " << pos << " byte " << int(c);
        EXPECT_EQ(w.saw_invalid_utf8(), !valid);
      }
    }
  }
}

// Records are longer than the writer's buffer: a long run of small pieces and long strings
// between them come out whole and in order.
TEST(JsonWriterTest, LongDocumentsComeOutInOrder) {
  std::string got, want = "{";
  JsonWriter w(got);
  w.begin_object();
  for (int i = 0; i < 500; i++) {
    std::string k = "k" + std::to_string(i);
    std::string v(static_cast<size_t>(i % 200), static_cast<char>('a' + i % 26));
    w.field(k, v).field(k + "n", static_cast<uint64_t>(i));
    want += (i ? "," : "") + std::string("\"") + k + "\":\"" + v + "\",\"" + k + "n\":" + std::to_string(i);
  }
  w.end_object();
  want += "}";
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace ktrail
