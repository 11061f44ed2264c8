// `ktrail run --schema ocsf` (set through a config file) on a real exec: the Process Activity
// Launch and Terminate records with every field the exec determines, then `ktrail verify` on
// the OCSF trail the run wrote. Root only (loads BPF); skips otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

std::string slurp(const std::string &p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string first_line(const std::string &p) {
  std::string s = slurp(p);
  return s.substr(0, s.find('\n'));
}

class OcsfE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "loads BPF programs: needs root";
    char tmpl[] = "/tmp/ktrail-ocsf-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    else std::printf("ocsf e2e: keeping %s\n", dir_.c_str());
  }
  std::string dir_;
};

TEST_F(OcsfE2E, ExecAndExitAreProcessActivityAndTheTrailVerifies) {
  const std::string out = dir_ + "/trail.ndjson", cfg = dir_ + "/ktrail.yaml";
  {
    std::ofstream f(cfg);
    f << "schema: ocsf\nformat: json\nevents: [exec, exit]\ncap_policy: off\nchain_state: none\n"
         "outputs:\n  - type: file\n    path: " << out << "\n";
  }
  int errp[2];
  ASSERT_EQ(pipe2(errp, O_CLOEXEC), 0);
  const int64_t t0 = now_ms();
  pid_t agent = fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    dup2(errp[1], 2);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    execl(KTRAIL_BIN, KTRAIL_BIN, "run", "--config", cfg.c_str(), (char *)nullptr);
    _exit(127);
  }
  close(errp[1]);
  std::string err;
  for (int i = 0; i < 3000 && err.find("tracing via ") == std::string::npos; i++) {
    pollfd p{errp[0], POLLIN, 0};
    if (poll(&p, 1, 10) > 0) {
      char b[4096];
      ssize_t n = read(errp[0], b, sizeof(b));
      if (n <= 0) break;
      err.append(b, static_cast<size_t>(n));
    }
  }
  ASSERT_NE(err.find("tracing via "), std::string::npos) << err;

  // The traced exec: /bin/true with a marker argument, forked from this process.
  const std::string marker = "ocsf-marker-" + std::to_string(getpid());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl("/bin/true", "true", marker.c_str(), (char *)nullptr);
    _exit(127);
  }
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  usleep(300 * 1000);  // past --drain-ms, so the records are drained before the stop
  kill(agent, SIGINT);
  ASSERT_EQ(waitpid(agent, &st, 0), agent);
  const int64_t t1 = now_ms();
  char b[4096];
  ssize_t n;
  while ((n = read(errp[0], b, sizeof(b))) > 0) err.append(b, static_cast<size_t>(n));
  close(errp[0]);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << err;

  struct utsname u;
  ASSERT_EQ(uname(&u), 0);
  const std::string host_id = first_line("/etc/machine-id");
  const std::string exe = "/bin/true";  // the path as executed (bprm->filename), not resolved
  const json *launch = nullptr, *terminate = nullptr;
  std::vector<json> records;
  std::istringstream lines(slurp(out));
  uint64_t seq = 0;
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    ASSERT_EQ(line.rfind("{\"time\":", 0), 0u) << line;
    EXPECT_EQ(j["metadata"]["sequence"], ++seq) << line;
    EXPECT_EQ(j["metadata"]["version"], "1.1.0");
    EXPECT_EQ(j["type_uid"], j["class_uid"].get<int>() * 100 + j["activity_id"].get<int>()) << line;
    EXPECT_EQ(j["device"]["hostname"], u.nodename);
    EXPECT_EQ(j["device"]["uid"], host_id);
    EXPECT_EQ(j["unmapped"]["chain"]["hash"].get<std::string>().size(), 64u);
    records.push_back(std::move(j));
  }
  for (const json &j : records) {
    if (!j.contains("process") || j["process"]["pid"] != child) continue;
    if (j["activity_id"] == 1 && j["process"].value("cmd_line", "").find(marker) != std::string::npos) launch = &j;
    if (j["activity_id"] == 2) terminate = &j;
  }
  ASSERT_NE(launch, nullptr) << "no Launch record for pid " << child << " in " << out;
  const json &l = *launch;
  EXPECT_EQ(l["category_uid"], 1);
  EXPECT_EQ(l["category_name"], "System Activity");
  EXPECT_EQ(l["class_uid"], 1007);
  EXPECT_EQ(l["class_name"], "Process Activity");
  EXPECT_EQ(l["activity_name"], "Launch");
  EXPECT_EQ(l["type_uid"], 100701);
  EXPECT_EQ(l["severity_id"], 1);
  EXPECT_EQ(l["status_id"], 1);
  EXPECT_EQ(l["status"], "Success");
  EXPECT_EQ(l["metadata"]["event_code"], "exec");
  EXPECT_EQ(l["metadata"]["product"]["name"], "ktrail");
  EXPECT_EQ(l["metadata"]["product"]["vendor_name"], "ktrail");
  EXPECT_GE(l["time"].get<int64_t>(), t0);
  EXPECT_LE(l["time"].get<int64_t>(), t1);
  EXPECT_EQ(l["process"]["tid"], child);
  EXPECT_EQ(l["process"]["name"], "true");
  EXPECT_EQ(l["process"]["cmd_line"], "true " + marker);
  EXPECT_EQ(l["process"]["file"]["path"], exe);
  EXPECT_EQ(l["process"]["file"]["name"], std::filesystem::path(exe).filename().string());
  EXPECT_EQ(l["process"]["user"]["uid"], "0");
  EXPECT_EQ(l["process"]["user"]["name"], "root");
  EXPECT_EQ(l["process"]["parent_process"]["pid"], getpid());
  EXPECT_EQ(l["actor"]["process"]["pid"], getpid());
  EXPECT_EQ(l["actor"]["process"]["file"]["path"], std::filesystem::canonical("/proc/self/exe").string());
  EXPECT_EQ(l["actor"]["user"]["uid"], "0");
  EXPECT_EQ(l["unmapped"]["exec"]["filename"], "/bin/true");
  EXPECT_EQ(l["unmapped"]["exec"]["args_truncated"], false);
  ASSERT_NE(terminate, nullptr) << "no Terminate record for pid " << child;
  EXPECT_EQ((*terminate)["type_uid"], 100702);
  EXPECT_EQ((*terminate)["exit_code"], 0);
  EXPECT_EQ((*terminate)["status"], "Success");
  EXPECT_LT((*launch)["metadata"]["sequence"], (*terminate)["metadata"]["sequence"]);
  EXPECT_EQ(records.front()["metadata"]["event_code"], "agent_start");
  EXPECT_EQ(records.back()["metadata"]["event_code"], "checkpoint");
  EXPECT_EQ(records.back()["unmapped"]["checkpoint"]["reason"], "shutdown");

  // The OCSF trail verifies: intact, unsigned (no key given) -> 12.
  FILE *v = popen((std::string(KTRAIL_BIN) + " verify " + out + " 2>&1").c_str(), "r");
  std::string report;
  while ((n = static_cast<ssize_t>(fread(b, 1, sizeof(b), v))) > 0) report.append(b, static_cast<size_t>(n));
  int vst = pclose(v);
  EXPECT_TRUE(WIFEXITED(vst) && WEXITSTATUS(vst) == 12) << report;
  EXPECT_NE(report.find("INTACT"), std::string::npos) << report;
  EXPECT_NE(report.find("verified:    sequences 1.." + std::to_string(seq)), std::string::npos) << report;
}

}  // namespace
