// Privileged end-to-end tests: capability checks (grant, denial, aggregation under an exec
// storm) and sensitive-file access (read, denied read, write, chmod, chown, rename, relative
// and dirfd paths, unwatched files, symlinks, files created after start, old/new attributes,
// another mount namespace), from the real `ktrail run` and real syscalls.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "agent.h"

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using ktrail::test::Agent;
using ktrail::test::select;

struct HelperResult {
  int pid = 0;
  long ret = 0;
  int err = 0;
};

HelperResult helper(const std::vector<std::string> &args) {
  std::string cmd = KTRAIL_CAPS_HELPER;
  for (const auto &a : args) cmd += " '" + a + "'";
  FILE *p = popen(cmd.c_str(), "r");
  HelperResult r;
  char what[64] = {};
  if (p) {
    if (fscanf(p, "%d %63s %ld %d", &r.pid, what, &r.ret, &r.err) != 4) r.pid = 0;
    pclose(p);
  }
  return r;
}

bool is_root() { return geteuid() == 0; }

// Every capable event carries these, whatever its origin.
void check_capable_common(const json &e, const std::string &cap, int id, bool granted, uint32_t euid) {
  EXPECT_EQ(e["event"]["kind"], "event");
  EXPECT_EQ(e["event"]["category"], json::array({"process"}));
  EXPECT_EQ(e["event"]["type"], json::array({"access"}));
  EXPECT_EQ(e["event"]["action"], "capable");
  EXPECT_EQ(e["event"]["outcome"], granted ? "success" : "failure");
  EXPECT_EQ(e["ktrail"]["capability"]["name"], cap);
  EXPECT_EQ(e["ktrail"]["capability"]["id"], id);
  EXPECT_EQ(e["ktrail"]["capability"]["hook"], "tp_btf");
  EXPECT_EQ(e["ktrail"]["capability"]["noise"], false);
  EXPECT_FALSE(e["ktrail"]["capability"].contains("audit")) << "tp_btf does not see CAP_OPT_NOAUDIT";
  EXPECT_EQ(e["process"]["name"], "ktrail-caps-hel");
  EXPECT_EQ(e["process"]["user"]["id"], euid);
  EXPECT_TRUE(e["ktrail"]["capability"]["executable"]["inode"].get<uint64_t>() > 0);
  EXPECT_EQ(e["ktrail"]["capability"]["executable"]["inode"].get<uint64_t>(),
            fs::status(KTRAIL_CAPS_HELPER).type() == fs::file_type::regular
                ? [] { struct stat st; stat(KTRAIL_CAPS_HELPER, &st); return (uint64_t)st.st_ino; }()
                : 0);
  EXPECT_TRUE(e.contains("@timestamp"));
}

TEST(Capabilities, DenialAndGrantWithCounts) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  Agent a;
  ASSERT_TRUE(a.start({"--events", "capable", "--cap-policy", "all", "--cap-key", "process", "--cap-interval",
                       "0.5"}))
      << a.err();
  HelperResult den = helper({"settime-as", "65534", "5"});
  HelperResult gr = helper({"nice", "3"});
  ASSERT_GT(den.pid, 0);
  ASSERT_GT(gr.pid, 0);
  EXPECT_EQ(den.ret, -1);
  EXPECT_EQ(den.err, EPERM);
  EXPECT_EQ(gr.ret, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto evs = a.stop_and_read();

  auto denial = select(evs, [&](const json &e) {
    return e["event"]["action"] == "capable" && e["process"]["pid"] == den.pid &&
           e["ktrail"]["capability"]["name"] == "CAP_SYS_TIME";
  });
  ASSERT_GE(denial.size(), 2u) << "a first event and at least one summary";
  EXPECT_EQ(denial[0]["ktrail"]["capability"]["origin"], "first");
  EXPECT_EQ(denial[0]["ktrail"]["capability"]["count"], 1);
  EXPECT_EQ(denial[0]["ktrail"]["capability"]["syscall_nr"], 227);  // glibc: settimeofday -> clock_settime
  uint64_t sum = 0;
  for (const auto &e : denial) {
    check_capable_common(e, "CAP_SYS_TIME", 25, false, 65534);
    sum += e["ktrail"]["capability"]["count"].get<uint64_t>();
  }
  for (size_t i = 1; i < denial.size(); i++) {
    EXPECT_EQ(denial[i]["ktrail"]["capability"]["origin"], "summary");
    EXPECT_EQ(denial[i]["ktrail"]["capability"]["aggregation"], "process");
    EXPECT_TRUE(denial[i]["ktrail"]["capability"].contains("first"));
  }
  EXPECT_EQ(sum, 5u) << "every check is counted once: first + summaries";

  auto grant = select(evs, [&](const json &e) {
    return e["event"]["action"] == "capable" && e["process"]["pid"] == gr.pid &&
           e["ktrail"]["capability"]["name"] == "CAP_SYS_NICE";
  });
  ASSERT_GE(grant.size(), 1u);
  sum = 0;
  for (const auto &e : grant) {
    check_capable_common(e, "CAP_SYS_NICE", 23, true, 0);
    EXPECT_EQ(e["ktrail"]["capability"]["syscall_nr"], 141);  // setpriority
    sum += e["ktrail"]["capability"]["count"].get<uint64_t>();
  }
  EXPECT_EQ(sum, 3u);
}

TEST(Capabilities, DenialsPolicyHidesGrants) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  Agent a;
  ASSERT_TRUE(a.start({"--events", "capable", "--cap-policy", "denials", "--cap-key", "process",
                       "--cap-interval", "0.5"}))
      << a.err();
  HelperResult den = helper({"settime-as", "65534", "2"});
  HelperResult gr = helper({"nice", "2"});
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  auto evs = a.stop_and_read();
  auto mine = [&](int pid, const char *cap) {
    return select(evs, [&](const json &e) {
      return e["event"]["action"] == "capable" && e["process"]["pid"] == pid &&
             e["ktrail"]["capability"]["name"] == cap;
    });
  };
  EXPECT_FALSE(mine(den.pid, "CAP_SYS_TIME").empty());
  EXPECT_TRUE(mine(gr.pid, "CAP_SYS_NICE").empty()) << "grants are not reported under 'denials'";
}

TEST(Capabilities, AggregationUnderExecStorm) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  Agent a;
  ASSERT_TRUE(a.start({"--events", "capable", "--cap-policy", "all", "--cap-interval", "0.5"})) << a.err();
  const int n = 300;
  HelperResult s = helper({"storm", std::to_string(n)});
  ASSERT_GT(s.pid, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto evs = a.stop_and_read();
  std::string err = a.err();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(err, m, std::regex(R"(capability checks: (\d+) seen, (\d+) selected by policy, (\d+) aggregated, (\d+) reported alone)")))
      << err;
  uint64_t raw = std::stoull(m[1]), selected = std::stoull(m[2]), overflow = std::stoull(m[4]);
  auto caps = select(evs, [](const json &e) { return e["event"]["action"] == "capable"; });
  uint64_t sum = 0;
  std::set<std::string> keys;
  for (const auto &e : caps) {
    sum += e["ktrail"]["capability"]["count"].get<uint64_t>();
    keys.insert(e["process"]["name"].get<std::string>() + "/" +
                e["ktrail"]["capability"]["name"].get<std::string>() + "/" +
                e["event"]["outcome"].get<std::string>());
  }
  // The storm's own checks: the forked helper and /bin/true, memory accounting mostly.
  auto storm = select(caps, [](const json &e) { return e["process"]["name"] == "true"; });
  uint64_t storm_sum = 0;
  for (const auto &e : storm) storm_sum += e["ktrail"]["capability"]["count"].get<uint64_t>();
  EXPECT_GE(keys.size(), 1u);
  EXPECT_GE(storm_sum, static_cast<uint64_t>(n)) << "at least one check per exec of true";
  EXPECT_LE(storm.size(), 12u) << "aggregated: a few events, not one per check";
  EXPECT_GE(raw, static_cast<uint64_t>(n) * 5);
  EXPECT_LT(caps.size() * 20, raw) << "emitted events must be far fewer than raw checks";
  EXPECT_EQ(overflow, 0u);
  // Counts add up: every selected check is in exactly one event's count. Checks that land
  // between the last scan and the counter read at shutdown may be missing from the events.
  EXPECT_LE(sum, selected);
  EXPECT_GE(sum + selected / 50 + 20, selected) << "sum " << sum << " selected " << selected;
  // Memory-accounting checks are flagged as noise, not hidden.
  bool noise = false;
  for (const auto &e : storm)
    if (e["ktrail"]["capability"]["name"] == "CAP_SYS_ADMIN") {
      EXPECT_EQ(e["ktrail"]["capability"]["noise"], true);
      noise = true;
    }
  EXPECT_TRUE(noise);
}

// ---- sensitive files --------------------------------------------------------------------

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    char t1[] = "/tmp/ktrail-caps-test-XXXXXX";
    char t2[] = "/tmp/ktrail-caps-plain-XXXXXX";
    dir_ = mkdtemp(t1);
    plain_dir_ = mkdtemp(t2);
    chmod(dir_.c_str(), 0755);
    secret_ = dir_ + "/secret";
    std::ofstream(secret_) << "s3cr3t\n";
    chmod(secret_.c_str(), 0644);
    std::ofstream(plain_dir_ + "/plain") << "nothing\n";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
    if (!plain_dir_.empty()) fs::remove_all(plain_dir_);
  }
  std::string dir_, plain_dir_, secret_;
};

std::vector<json> file_events(const std::vector<json> &evs, int pid) {
  return select(evs, [&](const json &e) {
    return e["event"]["category"] == json::array({"file"}) && e["process"]["pid"] == pid;
  });
}

void check_file_common(const json &e, const std::string &action, const std::string &type,
                       const std::string &path, bool ok) {
  EXPECT_EQ(e["event"]["kind"], "event");
  EXPECT_EQ(e["event"]["category"], json::array({"file"}));
  EXPECT_EQ(e["event"]["type"], json::array({type}));
  EXPECT_EQ(e["event"]["action"], action);
  EXPECT_EQ(e["event"]["outcome"], ok ? "success" : "failure");
  EXPECT_EQ(e["file"]["path"], path);
  EXPECT_EQ(e["file"]["name"], fs::path(path).filename().string());
  EXPECT_EQ(e["file"]["directory"], fs::path(path).parent_path().string());
  EXPECT_EQ(e["process"]["name"], "ktrail-caps-hel");
  EXPECT_TRUE(e.contains("@timestamp"));
}

TEST_F(Files, WatchedAccessChangesAndUnwatched) {
  Agent a;
  ASSERT_TRUE(a.start({"--events", "file", "--watch", dir_ + "/"})) << a.err();
  struct stat st0;
  ASSERT_EQ(stat(secret_.c_str(), &st0), 0);

  HelperResult rd = helper({"read", secret_});
  HelperResult shadow = helper({"read", "/etc/shadow"});
  const std::string shadow_link = plain_dir_ + "/shadow-link";
  ASSERT_EQ(symlink("/etc/shadow", shadow_link.c_str()), 0);
  HelperResult shadow_via_link = helper({"read", shadow_link});
  HelperResult wr = helper({"write", secret_});
  HelperResult cm = helper({"chmod", secret_, "600"});
  HelperResult denied = helper({"read-as", "65534", secret_});
  HelperResult co = helper({"chown", secret_, "65534", "65534"});
  HelperResult rel = helper({"relread", dir_, "secret"});
  HelperResult at = helper({"atread", dir_, "./secret"});
  HelperResult mv = helper({"rename", secret_, dir_ + "/secret2"});
  HelperResult plain = helper({"read", plain_dir_ + "/plain"});
  for (auto *r : {&rd, &shadow, &shadow_via_link, &wr, &cm, &denied, &co, &rel, &at, &mv, &plain})
    ASSERT_GT(r->pid, 0);
  EXPECT_GE(rd.ret, 0);
  EXPECT_EQ(denied.ret, -1);
  EXPECT_EQ(denied.err, EACCES);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto evs = a.stop_and_read();
  const std::string watch = dir_ + "/";

  {  // read as root
    auto v = file_events(evs, rd.pid);
    ASSERT_EQ(v.size(), 1u);
    const json &e = v[0];
    check_file_common(e, "open", "access", secret_, true);
    EXPECT_EQ(e["ktrail"]["file"]["intent"], "read");
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "openat");
    EXPECT_EQ(e["ktrail"]["file"]["watch"], watch);
    EXPECT_EQ(e["ktrail"]["file"]["flags"].get<uint64_t>() & 3, 0u);
    EXPECT_EQ(e["ktrail"]["file"]["return"], rd.ret);
    EXPECT_EQ(e["file"]["mode"], "0644");
    EXPECT_EQ(e["file"]["inode"], std::to_string(st0.st_ino));
    EXPECT_EQ(e["file"]["uid"], "0");
    EXPECT_EQ(e["process"]["user"]["id"], 0);
    EXPECT_FALSE(e["ktrail"]["file"].contains("relative"));
    EXPECT_FALSE(e.contains("error"));
  }
  {  // a real default: /etc/shadow as root
    auto v = file_events(evs, shadow.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "open", "access", "/etc/shadow", true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["watch"], "/etc/shadow");
    EXPECT_EQ(v[0]["ktrail"]["file"]["intent"], "read");
  }
  {  // /etc/shadow through a symlink: reported with its real path
    auto v = file_events(evs, shadow_via_link.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "open", "access", "/etc/shadow", true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["watch"], "/etc/shadow");
    EXPECT_EQ(v[0]["ktrail"]["file"]["resolved"], true);
  }
  {  // write
    auto v = file_events(evs, wr.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "open", "access", secret_, true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["intent"], "write");
    EXPECT_EQ(v[0]["ktrail"]["file"]["flags"].get<uint64_t>() & (O_ACCMODE | O_APPEND),
              static_cast<uint64_t>(O_WRONLY | O_APPEND));
  }
  {  // chmod
    auto v = file_events(evs, cm.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "chmod", "change", secret_, true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["syscall"], "chmod");
    EXPECT_EQ(v[0]["ktrail"]["file"]["new_mode"], "0600");
    EXPECT_EQ(v[0]["file"]["mode"], "0600");
    EXPECT_EQ(v[0]["ktrail"]["file"]["return"], 0);
  }
  {  // denied read as nobody
    auto v = file_events(evs, denied.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "open", "access", secret_, false);
    EXPECT_EQ(v[0]["error"]["code"], "EACCES");
    EXPECT_EQ(v[0]["ktrail"]["file"]["return"], -EACCES);
    EXPECT_EQ(v[0]["process"]["user"]["id"], 65534);
    EXPECT_FALSE(v[0]["file"].contains("inode")) << "no file was opened";
  }
  {  // chown
    auto v = file_events(evs, co.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "chown", "change", secret_, true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["new_owner"], json({{"uid", 65534}, {"gid", 65534}}));
  }
  {  // relative path after chdir
    auto v = file_events(evs, rel.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "open", "access", secret_, true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["relative"], true);
  }
  {  // openat with a directory fd and "./secret"
    auto v = file_events(evs, at.pid);
    // The directory itself is watched too ("DIR/" covers DIR): its O_DIRECTORY open is first.
    ASSERT_EQ(v.size(), 2u);
    check_file_common(v[0], "open", "access", dir_, true);
    v.erase(v.begin());
    check_file_common(v[0], "open", "access", secret_, true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["relative"], true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["syscall"], "openat");
  }
  {  // rename
    auto v = file_events(evs, mv.pid);
    ASSERT_EQ(v.size(), 1u);
    check_file_common(v[0], "rename", "change", secret_, true);
    EXPECT_EQ(v[0]["ktrail"]["file"]["old_path"], secret_);
    EXPECT_EQ(v[0]["ktrail"]["file"]["new_path"], dir_ + "/secret2");
  }
  // Nothing for the unwatched file, from anyone.
  EXPECT_TRUE(file_events(evs, plain.pid).empty());
  for (const auto &e : evs)
    if (e.contains("file")) EXPECT_EQ(e["file"]["path"].get<std::string>().find(plain_dir_), std::string::npos);
}

TEST_F(Files, WriteOnlyEntryIgnoresReads) {
  std::string f = dir_ + "/passwdlike";
  std::ofstream(f) << "x\n";
  Agent a;
  ASSERT_TRUE(a.start({"--events", "file", "--no-default-watch", "--watch", "w:" + f})) << a.err();
  HelperResult rd = helper({"read", f});
  HelperResult wr = helper({"write", f});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto evs = a.stop_and_read();
  EXPECT_TRUE(file_events(evs, rd.pid).empty());
  auto v = file_events(evs, wr.pid);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0]["ktrail"]["file"]["watch"], "w:" + f);
  EXPECT_EQ(v[0]["ktrail"]["file"]["intent"], "write");
}

// Successful opens are matched on the file they opened: through a symlink or "..", files
// created after start (in a watched directory, as an exact entry, under a suffix entry).
// Every watched directory exists at start, so no path string is compared for them.
TEST_F(Files, OpenedFileMatchesSymlinksDotDotAndNewFiles) {
  const std::string exact = plain_dir_ + "/exact";
  const std::string keys_dir = plain_dir_ + "/.kt-keys";
  Agent a;
  ASSERT_TRUE(a.start({"--events", "file", "--no-default-watch", "--watch", dir_ + "/", "--watch", exact,
                       "--watch", "*/.kt-keys/authorized"}))
      << a.err();
  EXPECT_EQ(a.err().find("does not exist yet"), std::string::npos) << a.err();
  struct stat st0;
  ASSERT_EQ(stat(secret_.c_str(), &st0), 0);
  const std::string link = plain_dir_ + "/link", link_plain = plain_dir_ + "/link-plain";
  ASSERT_EQ(symlink(secret_.c_str(), link.c_str()), 0);
  ASSERT_EQ(symlink((plain_dir_ + "/plain").c_str(), link_plain.c_str()), 0);
  ASSERT_EQ(mkdir(keys_dir.c_str(), 0700), 0);

  HelperResult via_link = helper({"read", link});
  HelperResult via_dotdot = helper({"read", plain_dir_ + "/../" + fs::path(dir_).filename().string() + "/secret"});
  HelperResult created = helper({"create", dir_ + "/new"});
  HelperResult created_exact = helper({"create", exact});
  HelperResult created_keys = helper({"create", keys_dir + "/authorized"});
  HelperResult unwatched = helper({"read", link_plain});
  for (auto *r : {&via_link, &via_dotdot, &created, &created_exact, &created_keys, &unwatched}) {
    ASSERT_GT(r->pid, 0);
    EXPECT_GE(r->ret, 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto evs = a.stop_and_read();

  for (auto *r : {&via_link, &via_dotdot}) {  // reported with the real path
    auto v = file_events(evs, r->pid);
    ASSERT_EQ(v.size(), 1u);
    const json &e = v[0];
    check_file_common(e, "open", "access", secret_, true);
    EXPECT_EQ(e["ktrail"]["file"]["watch"], dir_ + "/");
    EXPECT_EQ(e["ktrail"]["file"]["intent"], "read");
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "openat");
    EXPECT_EQ(e["ktrail"]["file"]["return"], r->ret);
    EXPECT_EQ(e["ktrail"]["file"]["resolved"], true);
    EXPECT_FALSE(e["ktrail"]["file"].contains("relative"));
    EXPECT_EQ(e["file"]["inode"], std::to_string(st0.st_ino));
    EXPECT_EQ(e["file"]["mode"], "0644");
    EXPECT_EQ(e["file"]["uid"], "0");
    EXPECT_EQ(e["file"]["gid"], "0");
    EXPECT_FALSE(e.contains("error"));
  }
  struct Created {
    HelperResult *r;
    std::string path, watch;
  };
  for (const Created &c : {Created{&created, dir_ + "/new", dir_ + "/"}, Created{&created_exact, exact, exact},
                           Created{&created_keys, keys_dir + "/authorized", "*/.kt-keys/authorized"}}) {
    auto v = file_events(evs, c.r->pid);
    ASSERT_EQ(v.size(), 1u) << c.path;
    const json &e = v[0];
    check_file_common(e, "open", "access", c.path, true);
    struct stat st;
    ASSERT_EQ(stat(c.path.c_str(), &st), 0);
    EXPECT_EQ(e["ktrail"]["file"]["watch"], c.watch);
    EXPECT_EQ(e["ktrail"]["file"]["intent"], "write");
    EXPECT_EQ(e["ktrail"]["file"]["create_mode"], "0600");
    EXPECT_EQ(e["ktrail"]["file"]["flags"].get<uint64_t>() & (O_ACCMODE | O_CREAT | O_TRUNC),
              static_cast<uint64_t>(O_WRONLY | O_CREAT | O_TRUNC));
    EXPECT_EQ(e["ktrail"]["file"]["resolved"], true);
    EXPECT_EQ(e["file"]["inode"], std::to_string(st.st_ino));
    EXPECT_EQ(e["file"]["mode"], "0600");
  }
  EXPECT_TRUE(file_events(evs, unwatched.pid).empty());
  for (const auto &e : evs)
    if (e.contains("file")) EXPECT_NE(e["file"]["path"], plain_dir_ + "/plain");
}

// Watched directories that do not exist at start: the agent logs them and the kernel keeps a
// row for their nearest existing directory, so opens in them once created are reported (on
// the opened file, through symlinks and relative paths too), while an unwatched file at the
// same depth under the same ancestor is not.
TEST_F(Files, DirectoriesMissingAtStartCaughtOnceCreated) {
  const std::string late = dir_ + "/late", deep = late + "/deep", sub = deep + "/sub";
  const std::string later = plain_dir_ + "/later", exact = later + "/exact";
  Agent a;
  ASSERT_TRUE(a.start({"--events", "file", "--no-default-watch", "--watch", deep + "/", "--watch", exact})) << a.err();
  EXPECT_NE(a.err().find(deep + "/ does not exist yet"), std::string::npos) << a.err();
  EXPECT_NE(a.err().find(later + " does not exist yet"), std::string::npos) << a.err();
  for (const auto &d : {late, deep, sub, late + "/other", late + "/other/sub", later})
    ASSERT_EQ(mkdir(d.c_str(), 0755), 0) << d;
  const std::string link = plain_dir_ + "/late-link";

  HelperResult created = helper({"create", sub + "/new"});
  HelperResult created_exact = helper({"create", exact});
  ASSERT_EQ(symlink((sub + "/new").c_str(), link.c_str()), 0);
  HelperResult via_link = helper({"read", link});
  HelperResult relative = helper({"relread", deep, "sub/new"});
  HelperResult sibling = helper({"create", late + "/other/sub/new"});
  HelperResult sibling_exact = helper({"create", later + "/other"});
  for (auto *r : {&created, &created_exact, &via_link, &relative, &sibling, &sibling_exact}) {
    ASSERT_GT(r->pid, 0);
    EXPECT_GE(r->ret, 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto evs = a.stop_and_read();

  struct Want {
    HelperResult *r;
    std::string path, watch, intent;
    bool relative;
  };
  for (const Want &w : {Want{&created, sub + "/new", deep + "/", "write", false},
                        Want{&created_exact, exact, exact, "write", false},
                        Want{&via_link, sub + "/new", deep + "/", "read", false},
                        Want{&relative, sub + "/new", deep + "/", "read", true}}) {
    auto v = file_events(evs, w.r->pid);
    ASSERT_EQ(v.size(), 1u) << w.path;
    const json &e = v[0];
    check_file_common(e, "open", "access", w.path, true);
    struct stat st;
    ASSERT_EQ(stat(w.path.c_str(), &st), 0);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "openat");
    EXPECT_EQ(e["ktrail"]["file"]["return"], w.r->ret);
    EXPECT_EQ(e["ktrail"]["file"]["watch"], w.watch);
    EXPECT_EQ(e["ktrail"]["file"]["intent"], w.intent);
    EXPECT_EQ(e["ktrail"]["file"]["resolved"], true) << "matched on the opened file";
    EXPECT_EQ(e["ktrail"]["file"].contains("relative"), w.relative);
    if (w.intent == "write") {
      EXPECT_EQ(e["ktrail"]["file"]["create_mode"], "0600");
      EXPECT_EQ(e["ktrail"]["file"]["flags"].get<uint64_t>() & (O_ACCMODE | O_CREAT | O_TRUNC),
                static_cast<uint64_t>(O_WRONLY | O_CREAT | O_TRUNC));
    } else {
      EXPECT_EQ(e["ktrail"]["file"]["flags"].get<uint64_t>() & O_ACCMODE, 0u);
    }
    EXPECT_EQ(e["file"]["inode"], std::to_string(st.st_ino));
    EXPECT_EQ(e["file"]["mode"], "0600");
    EXPECT_EQ(e["file"]["uid"], "0");
    EXPECT_EQ(e["file"]["gid"], "0");
    EXPECT_EQ(e["process"]["user"]["id"], 0);
    EXPECT_FALSE(e.contains("error"));
  }
  EXPECT_TRUE(file_events(evs, sibling.pid).empty());
  EXPECT_TRUE(file_events(evs, sibling_exact.pid).empty());
  for (const auto &e : evs)
    if (e.contains("file")) {
      EXPECT_NE(e["file"]["path"], late + "/other/sub/new");
      EXPECT_NE(e["file"]["path"], later + "/other");
    }
}

// Path-based chmod/chown report the mode/owner they replaced, from the agent's cache (stat at
// start, then every event on the path); fd-based ones from the kernel.
TEST_F(Files, ChmodChownReportOldAndNewAttributes) {
  Agent a;
  ASSERT_TRUE(a.start({"--events", "file", "--no-default-watch", "--watch", secret_})) << a.err();
  HelperResult cm1 = helper({"chmod", secret_, "600"});
  HelperResult co = helper({"chown", secret_, "65534", "65533"});
  HelperResult cm2 = helper({"fchmodat", secret_, "640"});
  HelperResult fcm = helper({"fchmod", secret_, "604"});
  HelperResult co2 = helper({"fchownat", secret_, "1", "-1"});
  for (auto *r : {&cm1, &co, &cm2, &fcm, &co2}) {
    ASSERT_GT(r->pid, 0);
    EXPECT_EQ(r->ret, 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto evs = a.stop_and_read();

  struct Mode {
    HelperResult *r;
    std::string syscall, old_mode, new_mode, source;
  };
  for (const Mode &m : {Mode{&cm1, "chmod", "0644", "0600", "agent"}, Mode{&cm2, "fchmodat", "0600", "0640", "agent"},
                        Mode{&fcm, "fchmod", "0640", "0604", "kernel"}}) {
    auto v = select(file_events(evs, m.r->pid), [](const json &e) { return e["event"]["action"] == "chmod"; });
    ASSERT_EQ(v.size(), 1u) << m.syscall << " " << m.new_mode;
    const json &e = v[0];
    check_file_common(e, "chmod", "change", secret_, true);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], m.syscall);
    EXPECT_EQ(e["ktrail"]["file"]["old_mode"], m.old_mode);
    EXPECT_EQ(e["ktrail"]["file"]["new_mode"], m.new_mode);
    EXPECT_EQ(e["ktrail"]["file"]["old_source"], m.source);
    EXPECT_EQ(e["ktrail"]["file"]["return"], 0);
    EXPECT_EQ(e["ktrail"]["file"]["watch"], secret_);
    EXPECT_EQ(e["file"]["mode"], m.new_mode);
    if (m.source == "kernel") EXPECT_EQ(e["ktrail"]["file"]["by_fd"], true);
  }
  auto v = file_events(evs, co.pid);
  ASSERT_EQ(v.size(), 1u);
  check_file_common(v[0], "chown", "change", secret_, true);
  EXPECT_EQ(v[0]["ktrail"]["file"]["syscall"], "chown");
  EXPECT_EQ(v[0]["ktrail"]["file"]["old_owner"], json({{"uid", 0}, {"gid", 0}}));
  EXPECT_EQ(v[0]["ktrail"]["file"]["new_owner"], json({{"uid", 65534}, {"gid", 65533}}));
  EXPECT_EQ(v[0]["ktrail"]["file"]["old_source"], "agent");
  EXPECT_EQ(v[0]["file"]["mode"], "0600");
  // -1 keeps the group: the cache carries the one chown set before.
  v = file_events(evs, co2.pid);
  ASSERT_EQ(v.size(), 1u);
  check_file_common(v[0], "chown", "change", secret_, true);
  EXPECT_EQ(v[0]["ktrail"]["file"]["syscall"], "fchownat");
  EXPECT_EQ(v[0]["ktrail"]["file"]["old_owner"], json({{"uid", 65534}, {"gid", 65533}}));
  EXPECT_EQ(v[0]["ktrail"]["file"]["new_owner"], json({{"uid", 1}}));
  EXPECT_EQ(v[0]["ktrail"]["file"]["old_source"], "agent");
  EXPECT_EQ(v[0]["file"]["mode"], "0604");
  struct stat st;
  ASSERT_EQ(stat(secret_.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1u);
  EXPECT_EQ(st.st_gid, 65533u);
}

// The evasions the kernel's string match alone missed, resolved by the agent (candidates):
// denied opens through a symlink or "..", attribute changes through a symlink to the file or
// a symlinked directory, rename/unlink under a symlinked directory; and a prefix directory
// many levels above the opened file, matched in the kernel. Unrelated symlinks stay silent.
TEST_F(Files, SymlinkEvasionsResolvedByAgent) {
  ASSERT_EQ(chmod(secret_.c_str(), 0600), 0);
  ASSERT_EQ(chmod(plain_dir_.c_str(), 0755), 0);  // nobody may walk to the links
  const std::string watch = dir_ + "/";
  Agent a;  // the defaults stay: /etc/shadow
  ASSERT_TRUE(a.start({"--events", "file", "--watch", watch})) << a.err();
  const std::string flink = plain_dir_ + "/flink", dlink = plain_dir_ + "/dlink",
                    shadow_link = plain_dir_ + "/shadow", plain_link = plain_dir_ + "/plain-link",
                    pdlink = plain_dir_ + "/pdlink", pdir = plain_dir_ + "/pdir";
  ASSERT_EQ(symlink(secret_.c_str(), flink.c_str()), 0);
  ASSERT_EQ(symlink(dir_.c_str(), dlink.c_str()), 0);
  ASSERT_EQ(symlink("/etc/shadow", shadow_link.c_str()), 0);
  ASSERT_EQ(symlink((plain_dir_ + "/plain").c_str(), plain_link.c_str()), 0);
  ASSERT_EQ(mkdir(pdir.c_str(), 0755), 0);
  ASSERT_EQ(symlink(pdir.c_str(), pdlink.c_str()), 0);
  ASSERT_EQ(chmod((plain_dir_ + "/plain").c_str(), 0600), 0);
  std::ofstream(dir_ + "/victim") << "v\n";
  std::ofstream(dir_ + "/moved") << "m\n";
  std::ofstream(pdir + "/junk") << "j\n";
  std::ofstream(pdir + "/junk2") << "j\n";
  const std::string deep_dir = dir_ + "/a/b/c/d/e";
  fs::create_directories(deep_dir);
  std::ofstream(deep_dir + "/deep") << "d\n";
  const std::string dotdot = plain_dir_ + "/../" + fs::path(dir_).filename().string() + "/secret";

  HelperResult den_link = helper({"read-as", "65534", flink});
  HelperResult den_dotdot = helper({"read-as", "65534", dotdot});
  HelperResult den_shadow = helper({"read-as", "65534", shadow_link});
  HelperResult cm_link = helper({"chmod", flink, "640"});
  HelperResult cm_dir = helper({"chmod", dlink + "/secret", "600"});
  HelperResult cm_denied = helper({"chmod-as", "65534", flink, "666"});
  HelperResult co_dir = helper({"chown", dlink + "/secret", "0", "65534"});
  HelperResult tr_link = helper({"truncate", flink, "3"});
  HelperResult xa_link = helper({"setxattr", flink});
  HelperResult rm_dir = helper({"unlink", dlink + "/victim"});
  HelperResult mv_dir = helper({"rename", dlink + "/moved", dlink + "/moved2"});
  HelperResult deep = helper({"read", deep_dir + "/deep"});
  // Unrelated: symlinks to unwatched files and directories.
  HelperResult u_den = helper({"read-as", "65534", plain_link});
  HelperResult u_cm = helper({"chmod", plain_link, "640"});
  HelperResult u_rm = helper({"unlink", pdlink + "/junk"});
  HelperResult u_mv = helper({"rename", pdlink + "/junk2", pdlink + "/junk3"});
  for (auto *r : {&den_link, &den_dotdot, &den_shadow, &cm_link, &cm_dir, &cm_denied, &co_dir, &tr_link, &xa_link,
                  &rm_dir, &mv_dir, &deep, &u_den, &u_cm, &u_rm, &u_mv})
    ASSERT_GT(r->pid, 0);
  for (auto *r : {&den_link, &den_dotdot, &den_shadow, &u_den}) {
    EXPECT_EQ(r->ret, -1);
    EXPECT_EQ(r->err, EACCES);
  }
  EXPECT_EQ(cm_denied.ret, -1);
  EXPECT_EQ(cm_denied.err, EPERM);
  for (auto *r : {&cm_link, &cm_dir, &co_dir, &tr_link, &rm_dir, &mv_dir, &u_cm, &u_rm, &u_mv}) EXPECT_EQ(r->ret, 0);
  EXPECT_GE(deep.ret, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto evs = a.stop_and_read();

  auto one = [&](const HelperResult &r) {
    auto v = file_events(evs, r.pid);
    EXPECT_EQ(v.size(), 1u) << "pid " << r.pid;
    return v.empty() ? json::object() : v[0];
  };
  auto by_agent = [](const json &e, const std::string &w) {
    EXPECT_EQ(e["ktrail"]["file"]["watch"], w);
    EXPECT_EQ(e["ktrail"]["file"]["resolved"], true);
    EXPECT_EQ(e["ktrail"]["file"]["resolved_by"], "agent");
  };
  struct Denied {
    HelperResult *r;
    std::string path, watch;
  };
  for (const Denied &d : {Denied{&den_link, secret_, watch}, Denied{&den_dotdot, secret_, watch},
                          Denied{&den_shadow, "/etc/shadow", "/etc/shadow"}}) {
    json e = one(*d.r);
    if (e.empty()) continue;
    check_file_common(e, "open", "access", d.path, false);
    by_agent(e, d.watch);
    EXPECT_EQ(e["error"]["code"], "EACCES");
    EXPECT_EQ(e["ktrail"]["file"]["return"], -EACCES);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "openat");
    EXPECT_EQ(e["ktrail"]["file"]["intent"], "read");
    EXPECT_EQ(e["process"]["user"]["id"], 65534);
    EXPECT_FALSE(e["file"].contains("inode")) << "no file was opened";
  }
  {
    json e = one(cm_link);
    check_file_common(e, "chmod", "change", secret_, true);
    by_agent(e, watch);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "chmod");
    EXPECT_EQ(e["ktrail"]["file"]["new_mode"], "0640");
    EXPECT_EQ(e["ktrail"]["file"]["old_mode"], "0600");
    EXPECT_EQ(e["ktrail"]["file"]["old_source"], "agent");
    EXPECT_EQ(e["ktrail"]["file"]["return"], 0);
    EXPECT_FALSE(e.contains("error"));
  }
  {
    json e = one(cm_dir);
    check_file_common(e, "chmod", "change", secret_, true);
    by_agent(e, watch);
    EXPECT_EQ(e["ktrail"]["file"]["new_mode"], "0600");
    EXPECT_EQ(e["ktrail"]["file"]["old_mode"], "0640");
  }
  {
    json e = one(cm_denied);
    check_file_common(e, "chmod", "change", secret_, false);
    by_agent(e, watch);
    EXPECT_EQ(e["error"]["code"], "EPERM");
    EXPECT_EQ(e["ktrail"]["file"]["return"], -EPERM);
    EXPECT_EQ(e["ktrail"]["file"]["new_mode"], "0666");
    EXPECT_EQ(e["process"]["user"]["id"], 65534);
  }
  {
    json e = one(co_dir);
    check_file_common(e, "chown", "change", secret_, true);
    by_agent(e, watch);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "chown");
    EXPECT_EQ(e["ktrail"]["file"]["new_owner"], json({{"uid", 0}, {"gid", 65534}}));
  }
  {
    json e = one(tr_link);
    check_file_common(e, "truncate", "change", secret_, true);
    by_agent(e, watch);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "truncate");
  }
  {
    json e = one(xa_link);
    check_file_common(e, "setxattr", "change", secret_, xa_link.ret == 0);
    by_agent(e, watch);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "setxattr");
    EXPECT_EQ(e["ktrail"]["file"]["return"], xa_link.ret == 0 ? 0 : -xa_link.err);
  }
  {
    json e = one(rm_dir);
    check_file_common(e, "unlink", "deletion", dir_ + "/victim", true);
    by_agent(e, watch);
    EXPECT_EQ(e["ktrail"]["file"]["syscall"], "unlink");
    EXPECT_FALSE(fs::exists(dir_ + "/victim"));
  }
  {
    json e = one(mv_dir);
    check_file_common(e, "rename", "change", dir_ + "/moved", true);
    by_agent(e, watch);
    EXPECT_EQ(e["ktrail"]["file"]["old_path"], dir_ + "/moved");
    EXPECT_EQ(e["ktrail"]["file"]["new_path"], dir_ + "/moved2");
  }
  {  // six directories below the watched one: matched in the kernel by the opened file
    json e = one(deep);
    check_file_common(e, "open", "access", deep_dir + "/deep", true);
    EXPECT_EQ(e["ktrail"]["file"]["watch"], watch);
    EXPECT_EQ(e["ktrail"]["file"]["resolved"], true);
    EXPECT_FALSE(e["ktrail"]["file"].contains("resolved_by"));
    EXPECT_EQ(e["ktrail"]["file"]["return"], deep.ret);
  }
  for (auto *r : {&u_den, &u_cm, &u_rm, &u_mv}) EXPECT_TRUE(file_events(evs, r->pid).empty()) << r->pid;
}

// A caller in another mount namespace (a container) has its own files at the watched path:
// not the host's inodes, so its path string is matched as well.
TEST_F(Files, OtherMountNamespaceMatchedByPath) {
  const std::string nsdir = plain_dir_ + "/nsdir";
  ASSERT_EQ(mkdir(nsdir.c_str(), 0755), 0);
  Agent a;
  ASSERT_TRUE(a.start({"--events", "file", "--no-default-watch", "--watch", nsdir + "/secret"})) << a.err();
  EXPECT_EQ(a.err().find("does not exist yet"), std::string::npos) << a.err();
  HelperResult r = helper({"nsread", nsdir, "secret"});
  ASSERT_GT(r.pid, 0);
  EXPECT_GE(r.ret, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto v = select(file_events(a.stop_and_read(), r.pid), [](const json &e) { return e["ktrail"]["file"]["intent"] == "read"; });
  ASSERT_EQ(v.size(), 1u);
  check_file_common(v[0], "open", "access", nsdir + "/secret", true);
  EXPECT_EQ(v[0]["ktrail"]["file"]["watch"], nsdir + "/secret");
  EXPECT_EQ(v[0]["ktrail"]["file"]["return"], r.ret);
  EXPECT_FALSE(v[0]["ktrail"]["file"].contains("resolved")) << "matched by the caller's path string";
  EXPECT_EQ(v[0]["file"]["mode"], "0600");
  EXPECT_FALSE(fs::exists(nsdir + "/secret")) << "the file lived in the helper's tmpfs only";
}

}  // namespace
