// Privileged container tests: real podman (runc) and containerd (ctr) containers run our own
// static probe binary while the real `ktrail run` traces; the probe's exec event must carry the
// container's identity. Setup follows ../shared ENVIRONMENT notes: a private podman config
// (cgroupfs, vfs, runc, file events, no network), an image imported from a rootfs tarball
// (busybox-static + probe + our own /etc/passwd), `podman system service` as the Engine API
// peer, and containerd with its own root/state/socket and the CRI plugin disabled.
// Everything created (containers, images, storage dirs, cgroups, daemons) is removed at the end.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent.h"

using json = nlohmann::json;
using ktrail::test::Agent;

namespace {

const char *kImage = "localhost/ktrail-ct:test";

std::string read_file(const std::string &p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_file(const std::string &p, const std::string &s) {
  std::ofstream f(p);
  f << s;
}

// Runs a shell command; returns its exit status and stdout (trimmed).
int sh(const std::string &cmd, std::string *out = nullptr) {
  FILE *p = popen((cmd + " 2>>/tmp/ktrail-ct-cmd.log").c_str(), "r");
  if (!p) return -1;
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) s.append(buf, n);
  int st = pclose(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (out) *out = s;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool have(const char *tool) { return sh(std::string("command -v ") + tool + " >/dev/null") == 0; }

pid_t spawn(const std::vector<std::string> &argv, const std::string &log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char *> a;
    for (auto &s : argv) a.push_back(const_cast<char *>(s.c_str()));
    a.push_back(nullptr);
    setpgid(0, 0);
    execvp(a[0], a.data());
    _exit(127);
  }
  return pid;
}

void stop(pid_t &pid, int sig = SIGTERM) {
  if (pid <= 0) return;
  kill(pid, sig);
  for (int i = 0; i < 100; i++) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

bool wait_for(const std::function<bool()> &cond, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

// Removes empty cgroup directories whose name contains any of ids, deepest first.
void remove_cgroups(const std::string &dir, const std::vector<std::string> &ids, int depth = 0) {
  if (depth > 6) return;
  DIR *d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subs;
  while (dirent *de = readdir(d))
    if (de->d_type == DT_DIR && de->d_name[0] != '.') subs.push_back(de->d_name);
  closedir(d);
  for (const auto &s : subs) {
    std::string p = dir + "/" + s;
    bool ours = false;
    for (const auto &id : ids) ours |= !id.empty() && p.find(id) != std::string::npos;
    remove_cgroups(p, ids, depth + 1);
    if (ours) rmdir(p.c_str());
  }
}

class Containers : public ::testing::Test {
 protected:
  static inline std::string dir_;
  static inline std::string skip_;
  static inline pid_t service_ = -1, containerd_ = -1;
  static inline std::vector<std::string> ids_;
  // Directories the runtimes create outside our private dirs; removed if we created them.
  static inline const std::vector<std::string> kRuntimeDirs = {
      "/var/lib/containers", "/run/containers", "/run/containerd", "/run/runc", "/run/libpod"};
  static inline std::vector<std::string> created_;

  static std::string podman() { return "podman"; }
  static std::string ctr() { return "ctr --address " + dir_ + "/ctrd/containerd.sock"; }

  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_ = "needs root";
      return;
    }
    for (const char *t : {"podman", "runc", "containerd", "ctr", "tar"})
      if (!have(t)) {
        skip_ = std::string(t) + " is not installed (scripts/install-deps.sh test)";
        return;
      }
    if (access("/bin/busybox", X_OK) != 0) {
      skip_ = "busybox-static is not installed";
      return;
    }
    for (const auto &d : kRuntimeDirs)
      if (access(d.c_str(), F_OK) != 0) created_.push_back(d);
    char tmpl[] = "/tmp/ktrail-ct-XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (const char *d : {"rootfs", "rootfs/etc", "rootfs/bin", "conf", "run", "graph", "tmp", "ctrd"})
      mkdir((dir_ + "/" + d).c_str(), 0755);
    // Our own image: the probe, busybox, and a passwd whose uid 1 is not the host's name for it.
    sh("cp " KTRAIL_CT_PROBE " " + dir_ + "/rootfs/probe && cp /bin/busybox " + dir_ + "/rootfs/bin/busybox");
    write_file(dir_ + "/rootfs/etc/passwd", "root:x:0:0:root:/:/bin/sh\nktctr:x:1:1::/:/probe\n");
    write_file(dir_ + "/rootfs/etc/group", "root:x:0:\nktgrp:x:1:\n");
    write_file(dir_ + "/conf/containers.conf",
               "[containers]\nnetns=\"none\"\ndefault_ulimits=[\"nofile=1024:1024\",\"nproc=1024:1024\"]\n"
               "[engine]\ncgroup_manager=\"cgroupfs\"\nevents_logger=\"file\"\nevents_logfile_path=\"" +
                   dir_ + "/tmp/events.log\"\nruntime=\"runc\"\ntmp_dir=\"" + dir_ + "/tmp\"\n");
    write_file(dir_ + "/conf/storage.conf", "[storage]\ndriver=\"vfs\"\nrunroot=\"" + dir_ +
                                                "/run\"\ngraphroot=\"" + dir_ + "/graph\"\n");
    setenv("CONTAINERS_CONF", (dir_ + "/conf/containers.conf").c_str(), 1);
    setenv("CONTAINERS_STORAGE_CONF", (dir_ + "/conf/storage.conf").c_str(), 1);
    if (sh("tar -C " + dir_ + "/rootfs -cf " + dir_ + "/img.tar . && podman import " + dir_ + "/img.tar " +
           kImage + " >/dev/null") != 0) {
      skip_ = "podman import failed (see /tmp/ktrail-ct-cmd.log)";
      return;
    }
    service_ = spawn({"podman", "system", "service", "--time=0", "unix://" + dir_ + "/podman.sock"},
                     dir_ + "/service.log");
    write_file(dir_ + "/ctrd/config.toml",
               "version = 2\nroot = \"" + dir_ + "/ctrd/root\"\nstate = \"" + dir_ +
                   "/ctrd/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"" +
                   dir_ + "/ctrd/containerd.sock\"\n[ttrpc]\n  address = \"" + dir_ +
                   "/ctrd/containerd.sock.ttrpc\"\n[debug]\n  address = \"" + dir_ + "/ctrd/debug.sock\"\n");
    containerd_ = spawn({"containerd", "--config", dir_ + "/ctrd/config.toml"}, dir_ + "/ctrd/log");
    bool up = wait_for([] { return access((dir_ + "/podman.sock").c_str(), F_OK) == 0; }, 10) &&
              wait_for([] { return access((dir_ + "/ctrd/containerd.sock").c_str(), F_OK) == 0; }, 10);
    if (!up) {
      skip_ = "podman system service or containerd did not start";
      return;
    }
    if (sh("podman save -o " + dir_ + "/img-save.tar " + kImage + " && " + ctr() +
           " images import --snapshotter native " + dir_ + "/img-save.tar >/dev/null") != 0)
      skip_ = "ctr images import failed (see /tmp/ktrail-ct-cmd.log)";
  }

  static void TearDownTestSuite() {
    if (dir_.empty()) return;
    for (const auto &id : ids_) {
      sh(ctr() + " tasks kill -s SIGKILL " + id + " >/dev/null 2>&1; " + ctr() + " tasks delete " + id +
         " >/dev/null 2>&1; " + ctr() + " containers delete " + id + " >/dev/null 2>&1");
    }
    sh(ctr() + " images rm " + kImage + " >/dev/null 2>&1");
    sh("podman rm -af -t 0 >/dev/null 2>&1; podman rmi -af >/dev/null 2>&1");
    stop(service_);
    stop(containerd_);
    // Mounts the runtimes may leave under our dir (vfs has none; native snapshots neither, but
    // be safe), then the dir itself.
    sh("grep -o ' " + dir_ + "[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l");
    sh("rm -rf " + dir_);
    for (const auto &id : ids_) sh("rm -rf /run/runc/" + id + " /run/containerd/runc/default/" + id);
    for (const auto &d : created_) sh("rm -rf " + d);
    if (!::testing::UnitTest::GetInstance()->Failed()) unlink("/tmp/ktrail-ct-cmd.log");
    for (const char *h : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      remove_cgroups(h, ids_);
      (void)!rmdir((std::string(h) + "/libpod_parent/conmon").c_str());  // only if empty
      (void)!rmdir((std::string(h) + "/libpod_parent").c_str());
    }
    // v1 controllers on hybrid hosts.
    if (DIR *d = opendir("/sys/fs/cgroup")) {
      while (dirent *de = readdir(d)) {
        if (de->d_name[0] == '.' || std::string(de->d_name) == "unified") continue;
        std::string h = std::string("/sys/fs/cgroup/") + de->d_name;
        remove_cgroups(h, ids_);
        (void)!rmdir((h + "/libpod_parent/conmon").c_str());
        (void)!rmdir((h + "/libpod_parent").c_str());
        (void)!rmdir((h + "/default").c_str());
      }
      closedir(d);
    }
    (void)!rmdir("/sys/fs/cgroup/unified/default");
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  // The agent, asking socket for container metadata.
  bool start_agent(const std::string &socket) {
    return agent_.start({"--cloud", "off", "--k8s", "off", "--docker-socket", socket});
  }
  // The probe's events of one kind ("exec", "exit") whose args end with marker.
  static std::vector<json> probe_events(const std::vector<json> &evs, const std::string &action,
                                        const std::string &marker) {
    std::vector<json> out;
    for (const auto &e : evs) {
      if (e.at("event").at("action") != action || !e.contains("process")) continue;
      const json &p = e.at("process");
      if (action == "exec") {
        if (p.value("executable", "") != "/probe") continue;
        const json &a = p.at("args");
        if (a.empty() || a.back() != marker) continue;
      } else if (p.value("executable", "") != "/probe") {
        continue;
      }
      out.push_back(e);
    }
    return out;
  }

  Agent agent_;
};

std::string host_user_name(uint32_t uid) {
  std::istringstream in(read_file("/etc/passwd"));
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a + 1), c = line.find(':', b + 1);
    if (c != std::string::npos && line.substr(b + 1, c - b - 1) == std::to_string(uid)) return line.substr(0, a);
  }
  return "";
}

TEST_F(Containers, PodmanExecCarriesIdNameImageLabelsAndContainerUsers) {
  ASSERT_NE(host_user_name(1), "ktctr") << "the host must name uid 1 differently for this test to mean anything";
  ASSERT_TRUE(start_agent(dir_ + "/podman.sock")) << agent_.err();
  std::string id;
  // A marker argument (sleep ms) tells our probe's exec apart from any other.
  ASSERT_EQ(sh("podman create --name ktrail-ct-named --label app=probe --label tier=e2e --user 1:1 " +
               std::string(kImage) + " /probe 700", &id), 0);
  ids_.push_back(id);
  // Metadata is fetched in the background, never waited for: the agent learns a container from
  // the Engine API's /events stream ("create") and from its cgroup's creation. A pause between
  // create and start gives that path time on a loaded 2-vCPU machine, so the first exec
  // deterministically has it; without it the exec may carry only id and runtime (by design).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_EQ(sh("podman start -a " + id), 0);
  auto evs = agent_.stop_and_read();
  auto execs = probe_events(evs, "exec", "700");
  ASSERT_EQ(execs.size(), 1u) << "events: " << evs.size();
  json e = execs[0];  // a copy: operator[] on a missing key must fail the test, not crash it
  ASSERT_TRUE(e.contains("container")) << e.dump();
  EXPECT_EQ(e["container"]["id"], id);
  EXPECT_EQ(e["container"]["runtime"], "podman");
  EXPECT_EQ(e["container"]["name"], "ktrail-ct-named");
  EXPECT_EQ(e["container"]["image"]["name"], kImage);
  EXPECT_EQ(e["container"]["labels"], json({{"app", "probe"}, {"tier", "e2e"}}));
  EXPECT_EQ(e["process"]["user"], json({{"id", 1}, {"name", "ktctr"}}));
  EXPECT_EQ(e["process"]["real_user"], json({{"id", 1}, {"name", "ktctr"}}));
  EXPECT_EQ(e["process"]["group"], json({{"id", 1}, {"name", "ktgrp"}}));
  EXPECT_EQ(e["process"]["real_group"], json({{"id", 1}, {"name", "ktgrp"}}));
  EXPECT_EQ(e["process"]["args"], json({"/probe", "700"}));
  // The probe's own pid namespace: it is pid 1 there.
  EXPECT_EQ(e["ktrail"]["process"]["ns_pid"], 1);
  // The exit event of the same process carries the same identity.
  uint32_t pid = e["process"]["pid"];
  bool exit_seen = false;
  for (json x : probe_events(evs, "exit", ""))
    if (x["process"]["pid"] == pid) {
      exit_seen = true;
      EXPECT_EQ(x["container"]["id"], id);
      EXPECT_EQ(x["container"]["name"], "ktrail-ct-named");
    }
  EXPECT_TRUE(exit_seen);
  // The agent's cgroup id is the podman cgroup's cgroup2 inode (the event field).
  EXPECT_GT(e["ktrail"]["cgroup"]["id"].get<uint64_t>(), 1u);
}

TEST_F(Containers, ContainerExitingWithin100msIsStillIdentified) {
  ASSERT_TRUE(start_agent(dir_ + "/podman.sock")) << agent_.err();
  std::string id;
  ASSERT_EQ(sh("podman create --name ktrail-ct-short " + std::string(kImage) + " /probe 0", &id), 0);
  ids_.push_back(id);
  ASSERT_EQ(sh("podman start -a " + id), 0);
  // The container's cgroup is gone now: identification cannot rely on reading it.
  auto evs = agent_.stop_and_read();
  auto execs = probe_events(evs, "exec", "0");
  ASSERT_EQ(execs.size(), 1u);
  json e = execs[0];  // a copy: operator[] on a missing key must fail the test, not crash it
  EXPECT_EQ(e["container"]["id"], id);
  EXPECT_EQ(e["container"]["runtime"], "podman");
  uint32_t pid = e["process"]["pid"];
  json exit_ev;
  for (const auto &x : evs)
    if (x.at("event").at("action") == "exit" && x.contains("process") && x.at("process").at("pid") == pid) exit_ev = x;
  ASSERT_FALSE(exit_ev.is_null());
  EXPECT_EQ(exit_ev["container"]["id"], id);
  // It really was short-lived: exec to exit within 100 ms (event timestamps).
  auto ns = [](const json &ev) {
    std::string t = ev.at("@timestamp");
    struct tm tm {};
    strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    return static_cast<int64_t>(timegm(&tm)) * 1000000000ll + std::stoll(t.substr(20, 9));
  };
  EXPECT_LT(ns(exit_ev) - ns(e), 100000000ll);
  struct stat st;
  EXPECT_NE(stat(("/sys/fs/cgroup/unified/libpod_parent/libpod-" + id).c_str(), &st), 0)
      << "cgroup still exists; the test would not prove the kernel-side record";
}

TEST_F(Containers, ContainerdCtrExecHasIdAndRuntime) {
  ASSERT_TRUE(start_agent(dir_ + "/podman.sock")) << agent_.err();
  std::string id = "ktrail-ct-ctrd-" + std::to_string(getpid());
  ids_.push_back(id);
  ASSERT_EQ(sh(ctr() + " run --rm --snapshotter native " + kImage + " " + id + " /probe 300"), 0);
  auto evs = agent_.stop_and_read();
  auto execs = probe_events(evs, "exec", "300");
  ASSERT_EQ(execs.size(), 1u);
  json e = execs[0];  // a copy: operator[] on a missing key must fail the test, not crash it
  EXPECT_EQ(e["container"], json({{"id", id}, {"runtime", "containerd"}}));
  // Plain containerd has no Engine API: no name, and the user names still come from the
  // container's /etc (root is root in both).
  EXPECT_EQ(e["process"]["user"]["name"], "root");
}

TEST_F(Containers, EngineApiDownKeepsIdAndRuntimeAndWarnsOnce) {
  ASSERT_TRUE(start_agent(dir_ + "/no-such-dir/podman.sock")) << agent_.err();
  // A socket path that exists but refuses: a stale file.
  std::string id;
  ASSERT_EQ(sh("podman create --name ktrail-ct-noapi " + std::string(kImage) + " /probe 200", &id), 0);
  ids_.push_back(id);
  ASSERT_EQ(sh("podman start -a " + id), 0);
  auto evs = agent_.stop_and_read();
  auto execs = probe_events(evs, "exec", "200");
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0]["container"], json({{"id", id}, {"runtime", "podman"}}));
}

}  // namespace
