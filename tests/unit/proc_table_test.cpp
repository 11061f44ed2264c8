#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <random>
#include <unordered_map>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "decode/event.h"
#include "enrich/enricher.h"
#include "enrich/pid_map.h"
#include "enrich/proc_table.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

using namespace std::string_literals;

// A /proc/<pid> as the kernel lays it out, for the fields read_proc uses.
void fake_proc(const test::TempDir &d, uint32_t pid, const std::string &comm, uint32_t ppid,
               const std::string &cmdline, const std::string &exe = "",
               const std::string &cwd = "") {
  const std::string p = std::to_string(pid);
  d.write(p + "/stat", p + " (" + comm + ") S " + std::to_string(ppid) +
                           " 100 100 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 1234 0 0\n");
  d.write(p + "/cmdline", cmdline);
  if (!exe.empty()) std::filesystem::create_symlink(exe, d / (p + "/exe"));
  if (!cwd.empty()) std::filesystem::create_symlink(cwd, d / (p + "/cwd"));
}

TEST(ProcTableTest, ReadsFakeProcWithTrickyComm) {
  test::TempDir d;
  fake_proc(d, 321, "my (evil) ) comm", 77, "prog\0a b\0\0last\0"s, "/usr/bin/prog", "/srv/x y");
  ProcInfo info;
  ASSERT_TRUE(ProcTable::read_proc(d.path(), 321, info));
  EXPECT_EQ(info.comm, "my (evil) ) comm");
  EXPECT_EQ(info.ppid, 77u);
  EXPECT_EQ(info.executable, "/usr/bin/prog");
  EXPECT_EQ(info.cwd, "/srv/x y");
  EXPECT_EQ(info.args, (std::vector<std::string>{"prog", "a b", "", "last"}));
}

TEST(ProcTableTest, KernelThreadHasNoArgs) {
  test::TempDir d;
  fake_proc(d, 2, "kthreadd", 0, "");
  ProcInfo info;
  ASSERT_TRUE(ProcTable::read_proc(d.path(), 2, info));
  EXPECT_EQ(info.comm, "kthreadd");
  EXPECT_EQ(info.ppid, 0u);
  EXPECT_TRUE(info.args.empty());
  EXPECT_TRUE(info.executable.empty());
  EXPECT_TRUE(info.cwd.empty());
}

TEST(ProcTableTest, CmdlineWithoutFinalNul) {
  test::TempDir d;
  fake_proc(d, 9, "x", 1, "setproctitle-style title"s);
  ProcInfo info;
  ASSERT_TRUE(ProcTable::read_proc(d.path(), 9, info));
  EXPECT_EQ(info.args, (std::vector<std::string>{"setproctitle-style title"}));
}

TEST(ProcTableTest, MissingOrMalformed) {
  test::TempDir d;
  ProcInfo info;
  EXPECT_FALSE(ProcTable::read_proc(d.path(), 12345, info));
  d.write("55/stat", "55 no parentheses S 1\n");
  EXPECT_FALSE(ProcTable::read_proc(d.path(), 55, info));
  d.write("56/stat", "");
  EXPECT_FALSE(ProcTable::read_proc(d.path(), 56, info));
}

TEST(ProcTableTest, SeedSkipsNonPidEntries) {
  test::TempDir d;
  fake_proc(d, 1, "init", 0, "/sbin/init\0"s);
  fake_proc(d, 100, "sh", 1, "sh\0"s);
  d.write("self/stat", "1 (init) S 0\n");
  d.write("sys/x", "");
  d.write("0/stat", "0 (idle) S 0\n");
  std::filesystem::create_directories(d / "200");  // vanished between readdir and read
  ProcTable t;
  EXPECT_EQ(t.seed(d.path()), 2u);
  EXPECT_EQ(t.size(), 2u);
  ASSERT_NE(t.find(100), nullptr);
  EXPECT_EQ(t.find(100)->comm, "sh");
  EXPECT_EQ(t.find(100)->ppid, 1u);
  EXPECT_EQ(t.find(200), nullptr);
  t.remove(100);
  EXPECT_EQ(t.find(100), nullptr);
  EXPECT_EQ(ProcTable().seed(d / "does-not-exist"), 0u);
}

TEST(ProcTableTest, RealProcSelf) {
  ProcInfo info;
  ASSERT_TRUE(ProcTable::read_proc("/proc", static_cast<uint32_t>(getpid()), info));
  std::ifstream comm("/proc/self/comm");
  std::string expected_comm;
  std::getline(comm, expected_comm);
  EXPECT_EQ(info.comm, expected_comm);
  EXPECT_EQ(info.ppid, static_cast<uint32_t>(getppid()));
  EXPECT_EQ(info.executable, std::filesystem::read_symlink("/proc/self/exe").string());
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(info.cwd, cwd);
  ASSERT_FALSE(info.args.empty());
  EXPECT_NE(info.args[0].find("ktrail_unit_tests"), std::string::npos) << info.args[0];
}

class EnricherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etc_.write("passwd", "root:x:0:0::/root:/bin/sh\neve:x:1000:1000::/home/eve:/bin/sh\n");
    etc_.write("group", "root:x:0:\neve:x:1000:\n");
    fake_proc(proc_, 10, "sshd", 1, "sshd: eve\0"s, "/usr/sbin/sshd", "/");
    fake_proc(proc_, 20, "bash", 10, "-bash\0"s, "/usr/bin/bash", "/home/eve");
  }
  test::TempDir proc_, etc_;
};

TEST_F(EnricherTest, ExecThenCredThenExit) {
  Enricher en(proc_.path(), etc_.path());
  EXPECT_EQ(en.seed(), 2u);

  Event exec;
  exec.kind = EventKind::Exec;
  exec.boot_ns = 5'000'000'000;
  exec.proc.pid = 30;
  exec.proc.ppid = 20;
  exec.proc.comm = "sudo";
  exec.proc.creds = {1000, 0, 0, 0, 1000, 1000, 1000, 1000};
  exec.proc.loginuid = 1000;
  exec.filename = "./sudo";
  exec.cwd = "/usr/bin";
  exec.args = {"sudo", "id"};
  en.enrich(exec);
  EXPECT_EQ(exec.executable, "/usr/bin/sudo");
  EXPECT_EQ(exec.user_name, "root");        // euid 0
  EXPECT_EQ(exec.real_user_name, "eve");    // uid 1000
  EXPECT_EQ(exec.group_name, "eve");
  EXPECT_EQ(exec.real_group_name, "eve");
  EXPECT_EQ(exec.audit_user_name, "eve");
  EXPECT_EQ(exec.parent_name, "bash");
  EXPECT_EQ(exec.parent_executable, "/usr/bin/bash");
  EXPECT_EQ(exec.realtime_ns, en.clock().to_realtime(5'000'000'000));
  EXPECT_FALSE(exec.args_from_table);

  Event cred;
  cred.kind = EventKind::Cred;
  cred.proc.pid = 30;
  cred.proc.ppid = 20;
  en.enrich(cred);
  EXPECT_EQ(cred.executable, "/usr/bin/sudo");
  EXPECT_EQ(cred.args, (std::vector<std::string>{"sudo", "id"}));
  EXPECT_TRUE(cred.args_from_table);
  EXPECT_EQ(cred.cwd, "/usr/bin");
  EXPECT_EQ(cred.audit_user_name, "") << "loginuid unset";

  Event exit;
  exit.kind = EventKind::Exit;
  exit.proc.pid = 30;
  exit.proc.ppid = 20;
  en.enrich(exit);
  EXPECT_EQ(exit.executable, "/usr/bin/sudo");
  en.after_emit(exit);
  EXPECT_EQ(en.procs().find(30), nullptr) << "exit drops the process";
  EXPECT_NE(en.procs().find(20), nullptr);
}

TEST_F(EnricherTest, UnknownPidReadFromProcThenInheritedFromParent) {
  Enricher en(proc_.path(), etc_.path());  // not seeded
  Event e;
  e.kind = EventKind::Cred;
  e.proc.pid = 20;
  e.proc.ppid = 10;
  en.enrich(e);
  EXPECT_EQ(e.executable, "/usr/bin/bash");
  EXPECT_EQ(e.args, (std::vector<std::string>{"-bash"}));
  EXPECT_EQ(e.parent_name, "");  // 10 not in the table yet: only pid was read from /proc
  ASSERT_NE(en.procs().find(20), nullptr);

  // A forked child that already exited: it runs its parent's image.
  Event child;
  child.kind = EventKind::Exit;
  child.proc.pid = 99;
  child.proc.ppid = 20;
  child.proc.comm = "bash-child";
  en.enrich(child);
  EXPECT_EQ(child.executable, "/usr/bin/bash");
  EXPECT_EQ(child.parent_name, "bash");
  ASSERT_NE(en.procs().find(99), nullptr);
  EXPECT_EQ(en.procs().find(99)->comm, "bash-child");
  EXPECT_EQ(en.procs().find(99)->ppid, 20u);
}

TEST_F(EnricherTest, ExecIntoARecycledSlotCarriesNothingOver) {
  Enricher en(proc_.path(), etc_.path());
  Event exec;
  exec.kind = EventKind::Exec;
  exec.proc.pid = 40;
  exec.proc.ppid = 20;
  exec.proc.comm = "long-running";
  exec.proc.start_boot_ns = 7;
  exec.proc.pid_ns = 4026531836u;
  exec.sid = 20;
  exec.filename = "/opt/a/much/longer/path/than/sso/holds/tool";
  exec.cwd = "/var/lib/some/deep/working/directory";
  exec.args = {"tool", "--with", "several", "arguments that are long enough to allocate"};
  exec.argc = 4;
  en.enrich(exec);
  Event exit;
  exit.kind = EventKind::Exit;
  exit.proc.pid = 40;
  exit.proc.ppid = 20;
  en.enrich(exit);
  en.after_emit(exit);
  ASSERT_EQ(en.procs().find(40), nullptr);

  // The next exec takes the departed process's slot: every member is this process's.
  Event next;
  next.kind = EventKind::Exec;
  next.proc.pid = 41;
  next.proc.ppid = 10;
  next.proc.comm = "sh";
  next.sid = 10;
  next.filename = "sh";
  next.cwd = "/";
  next.args = {"sh"};
  next.argc = 1;
  en.enrich(next);
  const ProcInfo *p = en.procs().find(41);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->ppid, 10u);
  EXPECT_EQ(p->comm, "sh");
  EXPECT_EQ(p->executable, "/sh");
  EXPECT_EQ(p->cwd, "/");
  EXPECT_EQ(p->args, (std::vector<std::string>{"sh"}));
  EXPECT_EQ(p->argc, 1u);
  EXPECT_EQ(p->start_boot_ns, 0u);
  EXPECT_EQ(p->pid_ns, 0u);
  EXPECT_EQ(p->sid, 10u);
  EXPECT_EQ(next.executable, "/sh");
}

TEST(PidMapTest, MatchesAMapUnderChurn) {
  // Pids cluster (sequential forks) and wrap around a small range, so probe runs collide,
  // erase shifts members back across the table's end, and the index grows mid-run.
  PidMap<std::string> m;
  std::unordered_map<uint32_t, std::string> ref;
  std::mt19937 rng(42);
  for (int op = 0; op < 200000; op++) {
    uint32_t pid = rng() % 3000;
    if (op % 7 == 0) pid = UINT32_MAX - 1;  // far from the rest, and pid 0 is an ordinary key
    if (op % 11 == 0) pid = 0;
    if (rng() % 3) {
      std::string v = std::to_string(op);
      m.put(pid) = v;
      ref[pid] = v;
    } else {
      EXPECT_EQ(m.erase(pid), ref.erase(pid) == 1);
    }
    if (op % 997 == 0) {
      ASSERT_EQ(m.size(), ref.size());
      for (uint32_t q = 0; q < 3000; q++) {
        auto it = ref.find(q);
        const std::string *got = m.find(q);
        ASSERT_EQ(got != nullptr, it != ref.end()) << "pid " << q << " at op " << op;
        if (got) {
          ASSERT_EQ(*got, it->second);
        }
      }
    }
  }
  size_t n = m.erase_if([](uint32_t pid, const std::string &) { return pid % 2 == 0; });
  size_t expected = 0;
  for (auto it = ref.begin(); it != ref.end();) it = it->first % 2 == 0 ? (expected++, ref.erase(it)) : std::next(it);
  EXPECT_EQ(n, expected);
  EXPECT_EQ(m.size(), ref.size());
  for (auto &[pid, v] : ref) ASSERT_NE(m.find(pid), nullptr);
  m.clear();
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.find(1), nullptr);
}

TEST(PidMapTest, ErasedSlotsAreReusedWithTheirBuffers) {
  PidMap<std::string> m;
  bool created = false;
  std::string &a = m.put(100, &created);
  EXPECT_TRUE(created);
  a.assign(200, 'x');
  const char *buffer = a.data();
  m.put(100, &created);
  EXPECT_FALSE(created);
  EXPECT_TRUE(m.erase(100));
  EXPECT_FALSE(m.erase(100));
  // The next process gets the freed slot: same object, same heap buffer, no allocation.
  std::string &b = m.put(101, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(&b, &a);
  b.assign(150, 'y');
  EXPECT_EQ(b.data(), buffer);
  // Values never move while others come and go.
  for (uint32_t pid = 1; pid < 5000; pid++) m.put(pid) = "v";
  EXPECT_EQ(m.find(101), &b);
}

}  // namespace
}  // namespace ktrail
