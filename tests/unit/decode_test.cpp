#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "decode/decode.h"
#include "sinks/format.h"
#include "ktrail/abi/events.h"
#include "test_records.h"

namespace ktrail {
namespace {

using test::exec_record;
using test::fill_header;

using namespace std::string_literals;

void expect_header_fields(const Event &e) {
  EXPECT_EQ(e.boot_ns, 0x1111222233334444ull);
  EXPECT_EQ(e.proc.cgroup_id, 0x5555666677778888ull);
  EXPECT_EQ(e.proc.start_boot_ns, 0x0102030405060708ull);
  EXPECT_EQ(e.proc.pid, 4242u);
  EXPECT_EQ(e.proc.tid, 4243u);
  EXPECT_EQ(e.proc.ppid, 1717u);
  EXPECT_EQ(e.proc.ns_pid, 17u);
  EXPECT_EQ(e.proc.mnt_ns, 4026531840u);
  EXPECT_EQ(e.proc.pid_ns, 4026531836u);
  EXPECT_EQ(e.proc.loginuid, 1000u);
  EXPECT_EQ(e.proc.sessionid, 7u);
  EXPECT_EQ(e.proc.creds, (Creds{1001, 1002, 1003, 1004, 2001, 2002, 2003, 2004}));
  EXPECT_EQ(e.proc.comm, "bash");
}

TEST(Decode, ExecAllFields) {
  auto rec = exec_record("/usr/bin/ls", "src\0home\0"s, "ls\0-la\0/tmp\0"s,
                         KTRAIL_EXEC_ARGC_KNOWN | KTRAIL_EXEC_SECUREEXEC_KNOWN, 3);
  Event e;
  e.sequence = 99;  // decode must reset stale state
  DecodeResult r = decode_record(rec.data(), rec.size(), e);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_EXEC));
  EXPECT_EQ(e.kind, EventKind::Exec);
  expect_header_fields(e);
  EXPECT_EQ(e.hdr_flags, 0);
  EXPECT_EQ(e.filename, "/usr/bin/ls");
  EXPECT_EQ(e.tty, "pts/3");
  EXPECT_EQ(e.cwd, "/home/src");
  EXPECT_EQ(e.args, (std::vector<std::string>{"ls", "-la", "/tmp"}));
  EXPECT_EQ(e.argc, 3u);
  EXPECT_EQ(e.exec_flags, static_cast<uint32_t>(KTRAIL_EXEC_ARGC_KNOWN | KTRAIL_EXEC_SECUREEXEC_KNOWN));
  EXPECT_EQ(e.sequence, 0u);
}

TEST(Decode, ExecArgcCountedWhenUnknown) {
  auto rec = exec_record("/bin/true", "", "true\0a\0b\0c\0"s, 0, 77);
  Event e;
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  EXPECT_EQ(e.argc, 4u);  // not the 77 in the record: ARGC_KNOWN is not set
  EXPECT_TRUE(e.cwd.empty());
}

TEST(Decode, ExecEmptyArgsAndEmptyArgStrings) {
  auto rec = exec_record("/bin/x", "", "");
  Event e;
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  EXPECT_TRUE(e.args.empty());
  EXPECT_EQ(e.argc, 0u);

  rec = exec_record("/bin/x", "", "x\0\0y\0"s);
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  EXPECT_EQ(e.args, (std::vector<std::string>{"x", "", "y"}));
}

TEST(Decode, ExecTruncatedArgs) {
  // The BPF side cuts argv at KTRAIL_ARGS_MAX and NUL-terminates the last byte.
  std::string args = "cat\0"s + std::string(KTRAIL_ARGS_MAX - 5, 'A') + '\0';
  ASSERT_EQ(args.size(), static_cast<size_t>(KTRAIL_ARGS_MAX));
  auto rec = exec_record("/bin/cat", "", args, KTRAIL_EXEC_ARGS_TRUNCATED | KTRAIL_EXEC_ARGC_KNOWN, 5);
  Event e;
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  EXPECT_TRUE(e.exec_flags & KTRAIL_EXEC_ARGS_TRUNCATED);
  ASSERT_EQ(e.args.size(), 2u);
  EXPECT_EQ(e.args[0], "cat");
  EXPECT_EQ(e.args[1].size(), static_cast<size_t>(KTRAIL_ARGS_MAX - 5));
  EXPECT_EQ(e.argc, 5u);
}

TEST(Decode, ExecArgsWithoutFinalNul) {
  auto rec = exec_record("/bin/echo", "", "echo\0unterminated"s);
  Event e;
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  EXPECT_EQ(e.args, (std::vector<std::string>{"echo", "unterminated"}));
}

TEST(Decode, ExecNonUtf8BytesPreserved) {
  std::string arg = "\xff\xfe\\x\x01";
  auto rec = exec_record("/tmp/\xc3\x28", "d\xff\0"s, "prog\0"s + arg + '\0');
  Event e;
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  EXPECT_EQ(e.filename, "/tmp/\xc3\x28");
  EXPECT_EQ(e.cwd, "/d\xff");
  ASSERT_EQ(e.args.size(), 2u);
  EXPECT_EQ(e.args[1], arg);
}

TEST(Decode, ExecCwdUnreachable) {
  auto rec = exec_record("/bin/x", "b\0a\0"s, "", KTRAIL_EXEC_CWD_UNREACHABLE);
  Event e;
  ASSERT_TRUE(decode_record(rec.data(), rec.size(), e).ok);
  EXPECT_EQ(e.cwd, "(unreachable)/a/b");
}

TEST(Decode, JoinCwdComponents) {
  EXPECT_EQ(join_cwd_components("a\0b\0", 4), "/b/a");
  EXPECT_EQ(join_cwd_components("c\0b\0a\0", 6), "/a/b/c");
  EXPECT_EQ(join_cwd_components("", 0), "/");
  EXPECT_EQ(join_cwd_components("\0", 1), "/");
  EXPECT_EQ(join_cwd_components("/\0", 2), "/");        // the root dentry's name
  EXPECT_EQ(join_cwd_components("x\0/\0", 4), "/x");
  EXPECT_EQ(join_cwd_components("leaf", 4), "/leaf");  // last component without its NUL
  EXPECT_EQ(join_cwd_components("a b\0c\0", 6), "/c/a b");
  EXPECT_EQ(join_cwd_components("a\0\0b\0", 5), "/b/a");            // an empty run
  EXPECT_EQ(join_cwd_components("c\0b\0par", 7), "/par/b/c");        // cut in the root-most name
  EXPECT_EQ(join_cwd_components("\0\0x", 3), "/x");
}

TEST(Decode, SplitArgs) {
  EXPECT_EQ(split_args("a\0bc\0", 5), (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(split_args("a", 1), (std::vector<std::string>{"a"}));
  EXPECT_EQ(split_args("\0", 1), (std::vector<std::string>{""}));
  EXPECT_TRUE(split_args("", 0).empty());
}

TEST(Decode, ExecFailed) {
  ktrail_exec_failed x;
  std::memset(&x, 0, sizeof(x));
  fill_header(x.hdr, KTRAIL_EV_EXEC_FAILED, sizeof(x));
  x.hdr.flags = KTRAIL_F_COMPAT_SYSCALL;
  x.ret = -ENOENT;
  x.dirfd = 5;
  x.syscall = KTRAIL_SYS_EXECVEAT;
  x.at_flags = 0x1000;
  x.filename_len = 12;
  std::memcpy(x.filename, "/nonexistent", 12);
  Event e;
  DecodeResult r = decode_record(&x, sizeof(x), e);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_EXEC_FAILED));
  EXPECT_EQ(e.kind, EventKind::ExecFailed);
  expect_header_fields(e);
  EXPECT_EQ(e.hdr_flags, KTRAIL_F_COMPAT_SYSCALL);
  EXPECT_EQ(e.ret, -ENOENT);
  EXPECT_EQ(e.dirfd, 5);
  EXPECT_EQ(e.syscall, static_cast<uint32_t>(KTRAIL_SYS_EXECVEAT));
  EXPECT_EQ(e.at_flags, 0x1000u);
  EXPECT_EQ(e.filename, "/nonexistent");
}

TEST(Decode, ExecFailedFilenameWithoutNul) {
  ktrail_exec_failed x;
  std::memset(&x, 0, sizeof(x));
  fill_header(x.hdr, KTRAIL_EV_EXEC_FAILED, sizeof(x));
  std::memset(x.filename, 'p', sizeof(x.filename));
  Event e;
  ASSERT_TRUE(decode_record(&x, sizeof(x), e).ok);
  EXPECT_EQ(e.filename, std::string(KTRAIL_PATH_MAX, 'p'));
}

TEST(Decode, Exit) {
  ktrail_exit x;
  std::memset(&x, 0, sizeof(x));
  fill_header(x.hdr, KTRAIL_EV_EXIT, sizeof(x));
  x.exit_code = (3 << 8) | 0;
  Event e;
  DecodeResult r = decode_record(&x, sizeof(x), e);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_EXIT));
  EXPECT_EQ(e.kind, EventKind::Exit);
  expect_header_fields(e);
  EXPECT_EQ(e.exit_code, 0x300u);
}

// The pipeline decodes every record into the same Event: nothing of an earlier record, or of
// what enrichment added to it, may survive into the next one.
TEST(Decode, ReusedEventIsFullyReset) {
  ktrail_exit x;
  std::memset(&x, 0, sizeof(x));
  fill_header(x.hdr, KTRAIL_EV_EXIT, sizeof(x));
  x.exit_code = 3 << 8;
  Event fresh;
  ASSERT_TRUE(decode_record(&x, sizeof(x), fresh).ok);

  Event reused;
  auto exec = exec_record("/usr/bin/a-rather-long-executable-name", "leaf\0dir\0"s, "a\0bb\0"s);
  ASSERT_TRUE(decode_record(exec.data(), exec.size(), reused).ok);
  ktrail_cred c = test::cred_record(KTRAIL_SYS_SETGROUPS, 0);
  c.ngroups = 2;
  c.groups[0] = 5;
  c.groups[1] = 6;
  ASSERT_TRUE(decode_record(&c, sizeof(c), reused).ok);
  ASSERT_EQ(reused.groups.size(), 2u);
  // What enrichment and the pipeline add.
  reused.executable = "/a/long/path/to/some/executable";
  reused.user_name = "someone-with-a-long-name";
  reused.args = {"x", "y"};
  reused.cwd = "/somewhere/else/entirely";
  reused.sequence = 99;
  reused.suppress = true;
  reused.ssh.user = "u";
  reused.session.present = true;
  reused.entry_leader.pid = 7;
  reused.entry_leader.executable = "/sbin/init-with-a-long-path";
  reused.container = std::make_shared<ContainerInfo>();
  reused.alert = std::make_shared<AlertFields>();
  reused.cap.cap = 21;
  reused.file.path = "/etc/shadow";

  ASSERT_TRUE(decode_record(&x, sizeof(x), reused).ok);
  HostInfo host;
  host.name = "h";
  host.id = "i";
  std::string want, got;
  format_json(fresh, host, want);
  format_json(reused, host, got);
  EXPECT_EQ(got, want);
  EXPECT_TRUE(reused.executable.empty() && reused.args.empty() && reused.cwd.empty() && reused.groups.empty());
  EXPECT_FALSE(reused.suppress || reused.session.present || reused.container || reused.alert);
  EXPECT_EQ(reused.entry_leader.pid, 0u);
  EXPECT_EQ(reused.cap.cap, -1);
  EXPECT_TRUE(reused.file.path.empty() && reused.ssh.user.empty());
  EXPECT_EQ(reused.sequence, 0u);
}

// reset_event clears member by member (to keep buffers): every member set, every member back.
TEST(Decode, ResetEventRestoresEveryMember) {
  const std::string long_text(64, 'x');  // past the small-string buffer: heap-allocated
  Event e;
  e.kind = EventKind::Cred;
  e.boot_ns = e.proc.cgroup_id = e.proc.start_boot_ns = 1;
  e.hdr_flags = 1;
  e.proc.pid = e.proc.tid = e.proc.ppid = e.proc.ns_pid = e.proc.mnt_ns = e.proc.pid_ns = 1;
  e.proc.loginuid = e.proc.sessionid = 1;
  e.proc.creds = e.old_creds = Creds{1, 2, 3, 4, 5, 6, 7, 8};
  e.proc.comm = e.filename = e.cwd = e.tty = e.lost_hook = e.lost_source = long_text;
  e.executable = e.parent_name = e.parent_executable = e.user_name = e.real_user_name = long_text;
  e.group_name = e.real_group_name = e.audit_user_name = long_text;
  e.args = {long_text, "a"};
  e.argc = e.exec_flags = e.sid = e.at_flags = e.syscall = e.exit_code = e.ngroups = 1;
  e.ret = e.dirfd = 1;
  for (int i = 0; i < 3; i++) e.req[i] = e.cap_req[i] = e.cap_old[i] = e.cap_new[i] = 1;
  e.groups = {1, 2};
  e.lost_count = e.lost_first_sequence = e.lost_last_sequence = e.sequence = 1;
  e.realtime_ns = e.start_realtime_ns = 1;
  e.args_from_table = e.suppress = true;
  SshFields &s = e.ssh;
  s.source = s.destination = Endpoint{long_text, 22};
  s.log_line = s.pam_service = s.pam_user = s.user = s.method = s.key_type = long_text;
  s.key_fingerprint = s.log_message = s.tty = long_text;
  s.log_fd_kind = s.pam_op = s.uid = s.session_id = 1;
  s.user_exists = 1;
  s.partial = s.seeded = s.self_check = s.key_lookup = true;
  s.signals = {long_text};
  s.failures_from_source = s.duration_ns = 1;
  e.session = SessionRef{true, long_text, long_text, Endpoint{long_text, 22}, 1, long_text};
  e.cap.cap = e.cap.ret = e.cap.syscall_nr = 1;
  e.cap.count = e.cap.first_boot_ns = e.cap.exe_ino = e.cap.exe_dev = 1;
  e.cap.first_realtime_ns = 1;
  e.cap.audit = e.cap.origin = e.cap.hook = 1;
  e.cap.noise = e.cap.by_process = true;
  FileFields &f = e.file;
  f.syscall = f.flags = f.mode = f.old_mode = f.uid = f.gid = f.old_uid = f.old_gid = f.dev = f.watch = 1;
  f.arg_flags = f.ino = 1;
  f.path = f.new_path = f.watch_entry = long_text;
  f.old_source = FileFields::OldSource::Agent;
  f.resolved_by_agent = true;
  e.container = std::make_shared<ContainerInfo>();
  e.cloud = std::make_shared<CloudInfo>();
  e.entry_leader = e.session_leader = LeaderInfo{1, long_text, long_text, 1};
  e.alert = std::make_shared<AlertFields>();
  const char *kept = e.filename.data();

  reset_event(e);
  const Event d;
  EXPECT_EQ(e.kind, d.kind);
  EXPECT_EQ(e.boot_ns, d.boot_ns);
  EXPECT_EQ(e.hdr_flags, d.hdr_flags);
  const Subject &p = e.proc;
  EXPECT_TRUE(p.cgroup_id == 0 && p.start_boot_ns == 0 && p.pid == 0 && p.tid == 0 && p.ppid == 0 &&
              p.ns_pid == 0 && p.mnt_ns == 0 && p.pid_ns == 0);
  EXPECT_TRUE(p.loginuid == d.proc.loginuid && p.sessionid == d.proc.sessionid);
  EXPECT_EQ(p.creds, d.proc.creds);
  EXPECT_EQ(e.old_creds, d.old_creds);
  for (const std::string *str : std::initializer_list<const std::string *>
       {&p.comm, &e.filename, &e.cwd, &e.tty, &e.lost_hook, &e.lost_source, &e.executable,
        &e.parent_name, &e.parent_executable, &e.user_name, &e.real_user_name, &e.group_name,
        &e.real_group_name, &e.audit_user_name, &s.source.ip, &s.destination.ip, &s.log_line,
        &s.pam_service, &s.pam_user, &s.user, &s.method, &s.key_type, &s.key_fingerprint,
        &s.log_message, &s.tty, &e.session.kind, &e.session.user, &e.session.source.ip,
        &e.session.tty, &f.path, &f.new_path, &f.watch_entry, &e.entry_leader.name,
        &e.entry_leader.executable, &e.session_leader.name, &e.session_leader.executable})
    EXPECT_TRUE(str->empty()) << *str;
  EXPECT_EQ(e.filename.data(), kept) << "a string keeps its buffer";
  EXPECT_TRUE(e.args.empty() && e.groups.empty() && s.signals.empty());
  EXPECT_TRUE(e.argc == 0 && e.exec_flags == 0 && e.sid == 0 && e.at_flags == 0 && e.syscall == 0 &&
              e.exit_code == 0 && e.ngroups == 0 && e.ret == 0 && e.dirfd == 0);
  for (int i = 0; i < 3; i++)
    EXPECT_TRUE(e.req[i] == 0 && e.cap_req[i] == 0 && e.cap_old[i] == 0 && e.cap_new[i] == 0);
  EXPECT_TRUE(e.lost_count == 0 && e.lost_first_sequence == 0 && e.lost_last_sequence == 0 &&
              e.sequence == 0 && e.realtime_ns == 0 && e.start_realtime_ns == 0);
  EXPECT_FALSE(e.args_from_table || e.suppress);
  EXPECT_TRUE(s.source.port == 0 && s.destination.port == 0 && s.log_fd_kind == 0 && s.pam_op == 0);
  EXPECT_TRUE(s.uid == d.ssh.uid && s.session_id == d.ssh.session_id && s.user_exists == d.ssh.user_exists);
  EXPECT_FALSE(s.partial || s.seeded || s.self_check || s.key_lookup);
  EXPECT_TRUE(s.failures_from_source == 0 && s.duration_ns == 0);
  EXPECT_FALSE(e.session.present);
  EXPECT_TRUE(e.session.source.port == 0 && e.session.id == d.session.id);
  const CapFields &c = e.cap;
  EXPECT_TRUE(c.cap == d.cap.cap && c.ret == 0 && c.syscall_nr == d.cap.syscall_nr && c.count == 0 &&
              c.first_boot_ns == 0 && c.exe_ino == 0 && c.exe_dev == 0 && c.first_realtime_ns == 0 &&
              c.audit == 0 && c.origin == 0 && c.hook == 0 && !c.noise && !c.by_process);
  EXPECT_TRUE(f.syscall == 0 && f.flags == 0 && f.mode == 0 && f.old_mode == 0 && f.dev == 0 &&
              f.watch == 0 && f.arg_flags == 0 && f.ino == 0);
  EXPECT_TRUE(f.uid == d.file.uid && f.gid == d.file.gid && f.old_uid == d.file.old_uid &&
              f.old_gid == d.file.old_gid);
  EXPECT_TRUE(f.old_source == d.file.old_source && !f.resolved_by_agent);
  EXPECT_FALSE(e.container || e.cloud || e.alert);
  EXPECT_TRUE(e.entry_leader.pid == 0 && e.entry_leader.start_boot_ns == 0 &&
              e.session_leader.pid == 0 && e.session_leader.start_boot_ns == 0);
}

// The transport's look-ahead: well-formed exit records only.
TEST(Decode, PeekExit) {
  ktrail_exit x;
  std::memset(&x, 0, sizeof(x));
  fill_header(x.hdr, KTRAIL_EV_EXIT, sizeof(x));
  uint32_t pid = 0;
  ASSERT_TRUE(peek_exit(&x, sizeof(x), pid));
  EXPECT_EQ(pid, 4242u);
  EXPECT_FALSE(peek_exit(&x, sizeof(x) - 1, pid)) << "short buffer";
  x.hdr.size = sizeof(x) + 8;
  EXPECT_FALSE(peek_exit(&x, sizeof(x), pid)) << "size field past the buffer";
  auto exec = exec_record("/bin/true", "", "");
  EXPECT_FALSE(peek_exit(exec.data(), exec.size(), pid)) << "not an exit";
}

TEST(Decode, CredSetresuid) {
  ktrail_cred c = test::cred_record(KTRAIL_SYS_SETRESUID, -EPERM);
  c.args[0] = 0;
  c.args[1] = 0xffffffffull;
  c.args[2] = 33;
  for (int i = 0; i < 3; i++) {
    c.cap_req[i] = 0x10 + i;
    c.cap_old[i] = 0x20 + i;
    c.cap_new[i] = 0x30 + i;
  }
  Event e;
  DecodeResult r = decode_record(&c, sizeof(c), e);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_CRED));
  EXPECT_EQ(e.kind, EventKind::Cred);
  expect_header_fields(e);
  EXPECT_EQ(e.ret, -EPERM);
  EXPECT_EQ(e.syscall, static_cast<uint32_t>(KTRAIL_SYS_SETRESUID));
  EXPECT_EQ(e.req[0], 0u);
  EXPECT_EQ(e.req[1], 0xffffffffull);
  EXPECT_EQ(e.req[2], 33u);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(e.cap_req[i], 0x10u + i);
    EXPECT_EQ(e.cap_old[i], 0x20u + i);
    EXPECT_EQ(e.cap_new[i], 0x30u + i);
  }
  EXPECT_EQ(e.old_creds, (Creds{11, 12, 13, 14, 21, 22, 23, 24}));
  EXPECT_TRUE(e.groups.empty());
}

TEST(Decode, CredSetgroups) {
  ktrail_cred c = test::cred_record(KTRAIL_SYS_SETGROUPS, 0);
  c.ngroups = 3;
  c.args[0] = 3;
  c.groups[0] = 10;
  c.groups[1] = 20;
  c.groups[2] = 30;
  c.groups[3] = 99;  // beyond ngroups: ignored
  Event e;
  ASSERT_TRUE(decode_record(&c, sizeof(c), e).ok);
  EXPECT_EQ(e.ngroups, 3u);
  EXPECT_EQ(e.groups, (std::vector<uint32_t>{10, 20, 30}));

  // More requested than carried: the list stops at KTRAIL_MAX_GROUPS.
  c.ngroups = 1000;
  for (int i = 0; i < KTRAIL_MAX_GROUPS; i++) c.groups[i] = 100 + i;
  ASSERT_TRUE(decode_record(&c, sizeof(c), e).ok);
  EXPECT_EQ(e.ngroups, 1000u);
  ASSERT_EQ(e.groups.size(), static_cast<size_t>(KTRAIL_MAX_GROUPS));
  EXPECT_EQ(e.groups.back(), 100u + KTRAIL_MAX_GROUPS - 1);
}

TEST(Decode, RejectsShortRecords) {
  ktrail_header h;
  fill_header(h, KTRAIL_EV_EXIT, sizeof(h));
  Event e;
  for (size_t n : {size_t{0}, size_t{1}, sizeof(h) - 1}) {
    DecodeResult r = decode_record(&h, n, e);
    EXPECT_FALSE(r.ok) << n;
    EXPECT_FALSE(r.error.empty()) << n;
    EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_MAX));
  }
  // A full header but the type's body is missing.
  for (__u32 type : {KTRAIL_EV_EXEC, KTRAIL_EV_EXEC_FAILED, KTRAIL_EV_EXIT, KTRAIL_EV_CRED}) {
    std::vector<char> buf(sizeof(ktrail_header));
    fill_header(*reinterpret_cast<ktrail_header *>(buf.data()), type, sizeof(ktrail_header));
    DecodeResult r = decode_record(buf.data(), buf.size(), e);
    EXPECT_FALSE(r.ok) << type;
    EXPECT_FALSE(r.error.empty()) << type;
  }
}

TEST(Decode, RejectsUnknownType) {
  ktrail_exit x;
  std::memset(&x, 0, sizeof(x));
  for (__u32 type : {0u, static_cast<__u32>(KTRAIL_EV_TYPE_MAX), 0xdeadu}) {
    fill_header(x.hdr, type, sizeof(x));
    Event e;
    DecodeResult r = decode_record(&x, sizeof(x), e);
    EXPECT_FALSE(r.ok) << type;
    EXPECT_NE(r.error.find("unknown record type"), std::string::npos) << r.error;
    EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_MAX));
  }
}

TEST(Decode, RejectsSizeFieldLargerThanBuffer) {
  ktrail_exit x;
  std::memset(&x, 0, sizeof(x));
  fill_header(x.hdr, KTRAIL_EV_EXIT, sizeof(x) + 8);
  Event e;
  DecodeResult r = decode_record(&x, sizeof(x), e);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("exceeds"), std::string::npos) << r.error;
  EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_EXIT));

  auto rec = exec_record("/bin/ls", "", "ls\0"s);
  r = decode_record(rec.data(), rec.size() - 1, e);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_EXEC));
}

TEST(Decode, RejectsExecLengthsOutOfRange) {
  Event e;
  {  // args_len beyond the record
    auto rec = exec_record("/bin/ls", "", "ls\0"s);
    auto *x = reinterpret_cast<ktrail_exec *>(rec.data());
    x->args_len = 4;
    DecodeResult r = decode_record(rec.data(), rec.size(), e);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
  }
  {  // args_len beyond KTRAIL_ARGS_MAX, record large enough to hold it
    std::vector<char> rec(sizeof(ktrail_exec) + 64, 'a');
    auto *x = reinterpret_cast<ktrail_exec *>(rec.data());
    fill_header(x->hdr, KTRAIL_EV_EXEC, static_cast<__u32>(rec.size()));
    x->args_len = KTRAIL_ARGS_MAX + 1;
    x->cwd_len = 0;
    x->filename_len = 0;
    DecodeResult r = decode_record(rec.data(), rec.size(), e);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
  }
  {  // cwd_len out of range
    auto rec = exec_record("/bin/ls", "a\0"s, "ls\0"s);
    reinterpret_cast<ktrail_exec *>(rec.data())->cwd_len = KTRAIL_PATH_MAX + 1;
    DecodeResult r = decode_record(rec.data(), rec.size(), e);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
  }
  {  // filename_len out of range
    auto rec = exec_record("/bin/ls", "", "ls\0"s);
    reinterpret_cast<ktrail_exec *>(rec.data())->filename_len = KTRAIL_PATH_MAX;
    DecodeResult r = decode_record(rec.data(), rec.size(), e);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
  }
  {  // header claims less than the fixed part of an exec record
    auto rec = exec_record("/bin/ls", "", "");
    reinterpret_cast<ktrail_exec *>(rec.data())->hdr.size = offsetof(ktrail_exec, data) - 8;
    DecodeResult r = decode_record(rec.data(), rec.size(), e);
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(Decode, RejectsCredWithUnknownSyscall) {
  Event e;
  for (__u32 sys : {0u, static_cast<__u32>(KTRAIL_SYS_EXECVE), 999u}) {
    ktrail_cred c = test::cred_record(sys, 0);
    DecodeResult r = decode_record(&c, sizeof(c), e);
    EXPECT_FALSE(r.ok) << sys;
    EXPECT_FALSE(r.error.empty()) << sys;
    EXPECT_EQ(r.hook, static_cast<uint32_t>(KTRAIL_HOOK_CRED));
  }
}

TEST(Decode, Names) {
  EXPECT_STREQ(cred_syscall_name(KTRAIL_SYS_SETUID), "setuid");
  EXPECT_STREQ(cred_syscall_name(KTRAIL_SYS_SETRESGID), "setresgid");
  EXPECT_STREQ(cred_syscall_name(KTRAIL_SYS_CAPSET), "capset");
  EXPECT_STREQ(cred_syscall_name(KTRAIL_SYS_EXECVEAT), "execveat");
  EXPECT_STREQ(cred_syscall_name(0), "unknown");
  EXPECT_STREQ(hook_name(KTRAIL_HOOK_EXEC), "exec");
  EXPECT_STREQ(hook_name(KTRAIL_HOOK_EXEC_FAILED), "exec_failed");
  EXPECT_STREQ(hook_name(KTRAIL_HOOK_EXIT), "exit");
  EXPECT_STREQ(hook_name(KTRAIL_HOOK_CRED), "cred");
  EXPECT_STREQ(hook_name(KTRAIL_HOOK_MAX), "unknown");
}

}  // namespace
}  // namespace ktrail
