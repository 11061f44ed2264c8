// Kubernetes and cloud metadata against local servers that speak the real protocols
// (identity_servers.py): kube-apiserver list + chunked watch with bearer token and TLS from a
// generated CA, 410 Gone both ways; AWS IMDSv2 with its token, GCE with Metadata-Flavor,
// Azure with Metadata: true. Failure cases: server down, 401, untrusted CA, slow and silent
// metadata services. Enrichment degrades, events still flow, one warning per outage.
// Unprivileged: loopback only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/log.h"
#include "enrich/cloud.h"
#include "enrich/identity.h"
#include "enrich/k8s.h"
#include "net/http.h"
#include "sinks/format.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

using Clock_ = std::chrono::steady_clock;
const std::string kCidA(64, 'a');

std::string slurp(const std::string &p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

bool wait_for(const std::function<bool()> &cond, double seconds) {
  auto end = Clock_::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (Clock_::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

size_t count(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) n++;
  return n;
}

// Captures this process's stderr (where the agent logs) into a file for the test's lifetime.
class StderrCapture {
 public:
  explicit StderrCapture(const std::string &path) : path_(path) {
    fflush(stderr);
    saved_ = dup(2);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() { fflush(stderr); return slurp(path_); }
  void restore() {
    if (saved_ < 0) return;
    fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
  }

 private:
  std::string path_;
  int saved_ = -1;
};

class Server {
 public:
  Server(const test::TempDir &dir, std::vector<std::string> args) {
    static int n = 0;
    port_file_ = dir.path() + "/port" + std::to_string(n);
    log_ = dir.path() + "/server" + std::to_string(n++) + ".log";
    args.insert(args.begin(), {"python3", KTRAIL_IDENTITY_SERVERS});
    for (auto a : {"--port-file", port_file_.c_str(), "--log", log_.c_str()}) args.push_back(a);
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char *> a;
      for (auto &s : args) a.push_back(const_cast<char *>(s.c_str()));
      a.push_back(nullptr);
      execvp("python3", a.data());
      _exit(127);
    }
    EXPECT_TRUE(wait_for([&] { return !slurp(port_file_).empty(); }, 10)) << "server did not start";
    port_ = std::stoi(slurp(port_file_));
  }
  ~Server() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string log() const { return slurp(log_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string port_file_, log_;
};

// A port nothing listens on.
int closed_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr *>(&a), sizeof(a));
  socklen_t l = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr *>(&a), &l);
  close(s);
  return ntohs(a.sin_port);
}

class Protocol : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (system("command -v python3 >/dev/null && command -v openssl >/dev/null") != 0) return;
    dir_ = new test::TempDir();
    std::string d = dir_->path();
    // A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA.
    std::string cmd =
        "cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 "
        "-subj /CN=ktrail-test-ca && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr "
        "-subj /CN=localhost && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' "
        "> ext && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 "
        "-extfile ext && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 1 "
        "-subj /CN=other-ca && printf 's3cret\\n' > token && printf 'wrong\\n' > badtoken";
    ready_ = system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "python3 and openssl are needed (scripts/install-deps.sh test)";
    log::set_level(log::Level::Info);
  }
  static std::string p(const std::string &f) { return dir_->path() + "/" + f; }
  KubeConfig kube(int port, const std::string &token = "token", const std::string &ca = "ca.crt") {
    KubeConfig c;
    c.api_url = "https://127.0.0.1:" + std::to_string(port);
    c.token_file = p(token);
    c.ca_file = p(ca);
    c.node_name = "node-1";
    return c;
  }
  Server kube_server() {
    return Server(*dir_, {"kube", "--token", "s3cret", "--node", "node-1", "--cert", p("srv.crt"), "--key", p("srv.key")});
  }
  static inline test::TempDir *dir_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(Protocol, KubeListWatchResumeAndRelistOn410BothWays) {
  Server srv = kube_server();
  PodStore store;
  KubeWatcher w(kube(srv.port()), store);
  w.start();
  // The scenario ends with pay deleted, cart at v2, after three lists.
  ASSERT_TRUE(wait_for([&] { return w.lists.load() >= 3 && w.watches.load() >= 3 && store.size() == 1; }, 15))
      << srv.log();
  ASSERT_TRUE(wait_for([&] { return !store.by_uid("uid-pay"); }, 5));
  w.stop();
  EXPECT_EQ(w.relists_on_gone.load(), 2u) << "one ERROR 410 event, one HTTP 410";
  auto cart = store.by_uid("uid-cart");
  ASSERT_TRUE(cart);
  EXPECT_EQ(cart->labels, (Labels{{"app", "cart"}, {"v", "2"}}));
  const PodContainer *pc = nullptr;
  ASSERT_TRUE(store.by_container(kCidA, &pc));
  EXPECT_EQ(pc->image, "registry.local/cart:1");
  // The requests as the API server saw them, in order.
  std::string log = srv.log();
  const std::string sel = "fieldSelector=spec.nodeName%3Dnode-1";
  std::vector<std::string> want = {
      "GET /api/v1/pods?" + sel + " auth=Bearer s3cret",
      "GET /api/v1/pods?" + sel + "&watch=1&allowWatchBookmarks=true&resourceVersion=100 auth=Bearer s3cret",
      "GET /api/v1/pods?" + sel + " auth=Bearer s3cret",
      "GET /api/v1/pods?" + sel + "&watch=1&allowWatchBookmarks=true&resourceVersion=200 auth=Bearer s3cret",
      "GET /api/v1/pods?" + sel + " auth=Bearer s3cret",
      "GET /api/v1/pods?" + sel + "&watch=1&allowWatchBookmarks=true&resourceVersion=300 auth=Bearer s3cret",
  };
  std::istringstream in(log);
  std::string line;
  size_t i = 0;
  while (std::getline(in, line) && i < want.size()) EXPECT_EQ(line, want[i++]);
  EXPECT_EQ(i, want.size()) << log;
}

TEST_F(Protocol, KubeFailuresDegradeAndWarnOnce) {
  struct Case {
    const char *what;
    std::function<KubeConfig(int)> cfg;
  };
  Server srv = kube_server();
  ASSERT_EQ(slurp(p("badtoken")), "wrong\n");
  int down = closed_port();
  std::vector<Case> cases = {
      {"401", [&](int port) { return kube(port, "badtoken"); }},
      {"untrusted CA", [&](int port) { return kube(port, "token", "other.crt"); }},
      {"server down", [&](int) { return kube(down); }},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(c.what);
    StderrCapture cap(p(std::string("stderr-") + c.what));
    PodStore store;
    KubeWatcher w(c.cfg(srv.port()), store);
    w.start();
    // Backoff 200, 400, 800 ms: at least three attempts in 2 s.
    ASSERT_TRUE(wait_for([&] { return w.lists.load() >= 3; }, 5));
    w.stop();
    std::string err = cap.text();
    cap.restore();
    EXPECT_EQ(store.size(), 0u);
    EXPECT_EQ(count(err, "warning: kubernetes metadata unavailable"), 1u) << err;
  }
  EXPECT_NE(srv.log().find("auth=Bearer wrong"), std::string::npos) << srv.log();
}

TEST_F(Protocol, PodMetadataReachesEventsAndNeverBlocksThem) {
  Server srv = kube_server();
  // A v1-style host (no cgroup2 mount under this sys/fs/cgroup): identity from /proc/PID/cgroup.
  test::TempDir root;
  root.write("sys/fs/cgroup/.keep", "");
  root.write("proc/4242/cgroup", "5:memory:/kubepods/burstable/pod8a3b1c52-6a4e-4d8a-9b51-0f2c9d7e1a33/" + kCidA + "\n");
  IdentityConfig cfg;
  cfg.docker_sockets = {};
  cfg.kube = kube(srv.port());
  cfg.kube_auto = false;
  cfg.cloud = CloudMode::Off;
  cfg.sys_fs_cgroup = root.path() + "/sys/fs/cgroup";
  cfg.proc_root = root.path() + "/proc";
  IdentityEnricher id(cfg);
  EXPECT_EQ(id.layout(), CgroupLayout::V1);
  id.start();
  Event e;
  e.kind = EventKind::Exec;
  e.proc.pid = 4242;
  auto t0 = Clock_::now();
  id.enrich(e);
  EXPECT_LT(Clock_::now() - t0, std::chrono::milliseconds(50)) << "enrich must not wait for the API server";
  ASSERT_TRUE(e.container);
  EXPECT_EQ(e.container->id, kCidA);
  EXPECT_EQ(e.container->pod_uid, "8a3b1c52-6a4e-4d8a-9b51-0f2c9d7e1a33");
  ASSERT_TRUE(wait_for([&] {
    Event x;
    x.kind = EventKind::Exec;
    x.proc.pid = 4242;
    id.enrich(x);
    return x.container && !x.container->pod_name.empty();
  }, 10));
  Event x;
  x.kind = EventKind::Exec;
  x.proc.pid = 4242;
  id.enrich(x);
  id.stop();
  std::string out;
  format_json(x, HostInfo{}, out);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["orchestrator"], nlohmann::json({{"type", "kubernetes"}, {"namespace", "shop"},
                                               {"resource", {{"name", "cart"}, {"type", "pod"}}}}));
  EXPECT_EQ(j["container"]["name"], "main");
  EXPECT_EQ(j["container"]["image"]["name"], "registry.local/cart:1");
  EXPECT_EQ(j["container"]["runtime"], "containerd") << "the containerID scheme names the CRI runtime";
  EXPECT_EQ(j["ktrail"]["k8s"]["labels"]["app"], "cart");
  EXPECT_EQ(j["ktrail"]["k8s"]["qos_class"], "burstable");
}

TEST_F(Protocol, SimulatorsAreStrict) {
  // The local servers refuse what the real services refuse, so passing tests mean something.
  Server aws(*dir_, {"aws"}), gcp(*dir_, {"gcp"}), azure(*dir_, {"azure"});
  net::Endpoint ep;
  net::Options opt;
  net::Response r;
  std::string err;
  net::Request get;
  ep.host = "127.0.0.1";
  ep.port = static_cast<uint16_t>(aws.port());
  get.target = "/latest/dynamic/instance-identity/document";
  ASSERT_TRUE(net::fetch(ep, get, opt, r, err)) << err;
  EXPECT_EQ(r.status, 401) << "IMDSv2 needs the session token";
  ep.port = static_cast<uint16_t>(gcp.port());
  get.target = "/computeMetadata/v1/instance/id";
  ASSERT_TRUE(net::fetch(ep, get, opt, r, err)) << err;
  EXPECT_EQ(r.status, 403) << "GCE needs Metadata-Flavor: Google";
  ep.port = static_cast<uint16_t>(azure.port());
  get.target = "/metadata/instance?api-version=2021-02-01";
  ASSERT_TRUE(net::fetch(ep, get, opt, r, err)) << err;
  EXPECT_EQ(r.status, 400) << "Azure needs Metadata: true";
}

TEST_F(Protocol, CloudProvidersDetected) {
  struct Case {
    const char *server;
    CloudMode mode;
    CloudInfo want;
  } cases[] = {
      {"aws", CloudMode::Aws, {"aws", "i-0123456789abcdef0", "eu-west-1", "eu-west-1b", "123456789012", "m5.large"}},
      {"aws", CloudMode::Auto, {"aws", "i-0123456789abcdef0", "eu-west-1", "eu-west-1b", "123456789012", "m5.large"}},
      {"gcp", CloudMode::Gcp, {"gcp", "4520031799277581759", "us-central1", "us-central1-a", "my-proj", "e2-medium"}},
      {"gcp", CloudMode::Auto, {"gcp", "4520031799277581759", "us-central1", "us-central1-a", "my-proj", "e2-medium"}},
      {"azure", CloudMode::Azure,
       {"azure", "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "westeurope", "2", "8d10da13-8125-4ba9-a717-bf7490507b3d",
        "Standard_D2s_v3"}},
      {"azure", CloudMode::Auto,
       {"azure", "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "westeurope", "2", "8d10da13-8125-4ba9-a717-bf7490507b3d",
        "Standard_D2s_v3"}},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(std::string(c.server) + " auto=" + std::to_string(c.mode == CloudMode::Auto));
    Server s(*dir_, {c.server});
    CloudDetector d(c.mode, "http://127.0.0.1:" + std::to_string(s.port()), 300);
    std::string why;
    auto info = d.detect(why);
    ASSERT_TRUE(info) << why;
    EXPECT_EQ(info->provider, c.want.provider);
    EXPECT_EQ(info->instance_id, c.want.instance_id);
    EXPECT_EQ(info->region, c.want.region);
    EXPECT_EQ(info->availability_zone, c.want.availability_zone);
    EXPECT_EQ(info->account_id, c.want.account_id);
    EXPECT_EQ(info->machine_type, c.want.machine_type);
    if (std::string(c.server) == "aws")
      EXPECT_NE(s.log().find("PUT /latest/api/token"), std::string::npos) << "token first";
  }
}

TEST_F(Protocol, CloudSlowSilentOrAbsentDegradesWithOneWarning) {
  Server slow(*dir_, {"aws", "--delay", "2"}), silent(*dir_, {"silent"});
  int absent = closed_port();
  for (int port : {slow.port(), silent.port(), absent}) {
    SCOPED_TRACE(port);
    StderrCapture cap(p("cloud-stderr"));
    IdentityConfig cfg;
    cfg.containers = false;
    cfg.kube_auto = false;
    cfg.cloud = CloudMode::Auto;
    cfg.cloud_endpoint = "http://127.0.0.1:" + std::to_string(port);
    cfg.cloud_timeout_ms = 300;
    IdentityEnricher id(cfg);
    auto t0 = Clock_::now();
    id.start();
    Event e;
    e.kind = EventKind::Exec;
    id.enrich(e);  // while detection runs: no wait, no cloud fields
    EXPECT_LT(Clock_::now() - t0, std::chrono::milliseconds(50));
    EXPECT_FALSE(e.cloud);
    // Three providers probed, each bounded by the timeout.
    ASSERT_TRUE(wait_for([&] { return cap.text().find("cloud metadata unavailable") != std::string::npos; }, 5));
    EXPECT_LT(Clock_::now() - t0, std::chrono::milliseconds(4000));
    for (int i = 0; i < 3; i++) {
      Event x;
      x.kind = EventKind::Exec;
      id.enrich(x);
      EXPECT_FALSE(x.cloud);
    }
    id.stop();
    std::string err = cap.text();
    cap.restore();
    EXPECT_EQ(count(err, "warning: cloud metadata unavailable"), 1u) << err;
  }
}

}  // namespace
}  // namespace ktrail
