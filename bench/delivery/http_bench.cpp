// Events/s into each HTTP output with the spool on (fsync per flush, as the pipeline flushes):
// records go through make_sink() -> spool -> sender thread -> HTTPS (gzip, keep-alive) to the
// stand-in of tests/delivery/http_collectors.py in --discard mode (it counts, checks nothing).
// Reports wall-clock throughput and events per CPU-second of this process (the agent side:
// pipeline append + sender encode/compress/TLS), medians over interleaved rounds.
//
//   ktrail_http_bench COLLECTORS_PY CERT_DIR [records=100000] [rounds=3] [nofsync]
// CERT_DIR holds ca.pem, server.pem, server.key (openssl; see bench/delivery/http_bench.sh).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "sinks/sink.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string slurp(const std::string &p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// An exec record as the agent writes it (about 1.3 KB).
std::string record(uint64_t seq) {
  char ts[48];
  snprintf(ts, sizeof(ts), "2026-11-26T16:%02llu:%02llu.%09lluZ", (unsigned long long)(seq / 60 % 60),
           (unsigned long long)(seq % 60), (unsigned long long)(seq * 7919 % 1000000000));
  char hash[65];
  snprintf(hash, sizeof(hash), "%016llx%016llx%016llx%016llx", (unsigned long long)seq * 0x9e3779b97f4a7c15ull,
           (unsigned long long)seq, (unsigned long long)~seq, (unsigned long long)seq << 7);
  return std::string("{\"@timestamp\":\"") + ts +
         "\",\"event\":{\"kind\":\"event\",\"category\":[\"process\"],\"type\":[\"start\"],\"action\":\"exec\","
         "\"outcome\":\"success\",\"sequence\":" + std::to_string(seq) +
         "},\"host\":{\"name\":\"ip-10-0-3-17\",\"id\":\"4f1c2d3e4b5a69788796a5b4c3d2e1f0\",\"boot\":{\"id\":"
         "\"7d3f0a4c-1b2e-4c5d-9e8f-0a1b2c3d4e5f\"},\"os\":{\"type\":\"linux\",\"kernel\":\"6.1.0-18-amd64\","
         "\"name\":\"Debian GNU/Linux\",\"version\":\"12\",\"family\":\"debian\"}},\"process\":{\"pid\":" +
         std::to_string(20000 + seq % 30000) +
         ",\"thread\":{\"id\":" + std::to_string(20000 + seq % 30000) +
         "},\"name\":\"curl\",\"executable\":\"/usr/bin/curl\",\"args\":[\"curl\",\"-fsS\",\"--max-time\",\"5\","
         "\"https://internal.example/api/v1/health?probe=liveness\"],\"args_count\":5,\"working_directory\":\"/srv/app\","
         "\"start\":\"" + ts + "\",\"parent\":{\"pid\":1187,\"name\":\"bash\",\"executable\":\"/usr/bin/bash\"},"
         "\"user\":{\"id\":1000,\"name\":\"deploy\"},\"real_user\":{\"id\":1000,\"name\":\"deploy\"},\"saved_user\":{\"id\":1000},"
         "\"group\":{\"id\":1000,\"name\":\"deploy\"},\"real_group\":{\"id\":1000,\"name\":\"deploy\"},\"saved_group\":{\"id\":1000}},"
         "\"container\":{\"id\":\"3f4e5d6c7b8a99887766554433221100ffeeddccbbaa99887766554433221100\",\"runtime\":\"containerd\","
         "\"name\":\"api\",\"image\":{\"name\":\"registry.example/api:1.42.0\"}},\"orchestrator\":{\"type\":\"kubernetes\","
         "\"namespace\":\"payments\",\"resource\":{\"name\":\"api-7d9f8c6b5-x2k4q\",\"type\":\"pod\"}},"
         "\"cloud\":{\"provider\":\"aws\",\"instance\":{\"id\":\"i-0abc123def4567890\"},\"region\":\"eu-west-1\","
         "\"availability_zone\":\"eu-west-1b\",\"account\":{\"id\":\"123456789012\"},\"machine\":{\"type\":\"m5.large\"}},"
         "\"ktrail\":{\"process\":{\"ns_pid\":57,\"fsuid\":1000,\"fsgid\":1000},\"cgroup\":{\"id\":8812},\"namespace\":"
         "{\"mnt\":4026532301,\"pid\":4026532304},\"exec\":{\"filename\":\"/usr/bin/curl\",\"args_truncated\":false,"
         "\"secureexec\":false,\"privilege_change\":false},\"chain\":{\"hash\":\"" + hash + "\"}}}";
}

struct Server {
  pid_t pid = -1;
  std::string dir;
  uint16_t port = 0;
  uint64_t records() const {
    std::string s = slurp(dir + "/stats.json");
    if (s.empty()) return 0;
    auto j = nlohmann::json::parse(s, nullptr, false);
    return j.is_object() ? j.value("records", 0ull) : 0;
  }
  ~Server() {
    if (pid > 0) kill(pid, SIGTERM), waitpid(pid, nullptr, 0);
  }
};

bool start(Server &s, const std::string &py, const std::string &certs, const std::string &kind,
           const std::vector<std::string> &extra) {
  std::filesystem::create_directories(s.dir);
  s.pid = fork();
  if (s.pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    freopen("/dev/null", "w", stderr);
    std::vector<std::string> a = {"python3", py, kind, "--dir", s.dir, "--discard", "--cert",
                                  certs + "/server.pem", "--key", certs + "/server.key"};
    a.insert(a.end(), extra.begin(), extra.end());
    std::vector<char *> argv;
    for (auto &x : a) argv.push_back(x.data());
    argv.push_back(nullptr);
    execvp("python3", argv.data());
    _exit(127);
  }
  for (int i = 0; i < 500 && !std::filesystem::exists(s.dir + "/port"); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!std::filesystem::exists(s.dir + "/port")) return false;
  s.port = static_cast<uint16_t>(std::stoi(slurp(s.dir + "/port")));
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s COLLECTORS_PY CERT_DIR [records] [rounds]\n", argv[0]);
    return 2;
  }
  std::string py = argv[1], certs = argv[2];
  uint64_t n = argc > 3 ? std::stoull(argv[3]) : 100000;
  int rounds = argc > 4 ? std::stoi(argv[4]) : 3;
  bool fsync = !(argc > 5 && std::string(argv[5]) == "nofsync");
  ktrail::log::set_level(ktrail::log::Level::Warn);
  std::string work = std::filesystem::temp_directory_path() / ("ktrail-http-bench-" + std::to_string(getpid()));
  struct Kind {
    std::string name, scheme, params;
    std::vector<std::string> server;
  } kinds[] = {
      {"otlp-protobuf", "otlp", "", {}},
      {"otlp-json", "otlp", "&encoding=json", {}},
      {"loki", "loki", "", {}},
      {"splunk", "splunk", "&token_file=" + work + "/token", {"--auth", "Splunk bench-token"}},
      {"elasticsearch", "elasticsearch", "", {}},
  };
  std::filesystem::create_directories(work);
  std::ofstream(work + "/token") << "bench-token\n";
  const size_t nk = std::size(kinds);
  std::vector<std::vector<double>> wall(nk), per_cpu(nk);
  std::vector<std::string> payload(n);
  for (uint64_t i = 0; i < n; i++) payload[i] = record(i + 1);
  for (int r = 0; r < rounds; r++) {
    for (size_t k0 = 0; k0 < nk; k0++) {
      size_t k = (k0 + r) % nk;  // rotate the order each round
      Server srv;
      srv.dir = work + "/srv-" + std::to_string(r) + "-" + kinds[k].name;
      if (!start(srv, py, certs, kinds[k].scheme, kinds[k].server)) {
        fprintf(stderr, "stand-in for %s did not start\n", kinds[k].name.c_str());
        return 1;
      }
      ktrail::DeliveryOptions o;
      o.spool_dir = srv.dir + "/spool";
      o.spool_max_bytes = 4ull << 30;
      o.spool_fsync = fsync;
      std::unique_ptr<ktrail::Sink> sink;
      std::string url = kinds[k].scheme + "+https://localhost:" + std::to_string(srv.port) + "?ca=" + certs +
                        "/ca.pem" + kinds[k].params;
      if (auto st = ktrail::make_sink(url, ktrail::Format::Json, sink, {}, o); !st) {
        fprintf(stderr, "%s\n", st.message.c_str());
        return 1;
      }
      double c0 = cpu_seconds();
      auto t0 = Clock::now();
      for (uint64_t i = 0; i < n; i++) {
        sink->write_record(i + 1, payload[i]);
        if (i % 256 == 255) sink->flush();
      }
      sink->flush();
      while (srv.records() < n) {
        if (Clock::now() - t0 > std::chrono::seconds(300)) {
          fprintf(stderr, "%s: only %llu of %llu arrived\n", kinds[k].name.c_str(),
                  (unsigned long long)srv.records(), (unsigned long long)n);
          return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      double cpu = cpu_seconds() - c0;
      sink.reset();
      wall[k].push_back(n / secs);
      per_cpu[k].push_back(n / cpu);
      fprintf(stderr, "round %d %-14s %9.0f events/s wall, %9.0f events per CPU-second\n", r + 1,
              kinds[k].name.c_str(), n / secs, n / cpu);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  printf("| output | events/s (wall) | events per CPU-second (agent side) |\n|---|---|---|\n");
  for (size_t k = 0; k < nk; k++)
    printf("| %s | %.0f | %.0f |\n", kinds[k].name.c_str(), median(wall[k]), median(per_cpu[k]));
  std::filesystem::remove_all(work);
  return 0;
}
