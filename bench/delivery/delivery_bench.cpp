// The delivery path's cost per record: what a network output costs the agent for each event,
// from the formatted JSON record to the collector's acknowledgement. Not a test: timing never
// fails a build. bench/delivery_throughput.sh runs it against a real rsyslog.
//
//   ktrail_delivery_bench URL SPOOL_DIR RECORDS [FLUSH_EVERY] [FSYNC 0|1]
//
// It opens the output exactly as `ktrail run -o URL` does (make_sink: RFC 5424 formatting,
// spool append, the sender thread, TCP or TLS), writes RECORDS copies of a real exec record
// (sequence numbers differ), flushing every FLUSH_EVERY records as the pipeline does (it
// releases every 1 MiB of output, ~700 such records, and at every poll), and stops the clock
// once the spool's cursor says the collector confirmed the last one. One JSON line on stdout:
//   {"records":N,"bytes":B,"cpu_s":C,"wall_s":W,"per_cpu_s":N/C,"cpu_us_per_record":...}
// cpu_s is this process's user+system time (every thread: the caller's appends and the
// sender's reads, framing, TLS and sends); wall_s includes the output's 1 s confirmation hold.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "sinks/sink.h"
#include "sinks/syslog_sink.h"

namespace {

// A real record from `ktrail run --format json` (exec of /bin/true), 1.4 KB; `%SEQ%` varies.
const char *kRecord =
    R"({"@timestamp":"2026-11-26T19:41:48.731657672Z","event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","outcome":"success","sequence":%SEQ%},"host":{"name":"vm","id":"3d1219c7c4c5404aaa1f6d2a48adfda4","boot":{"id":"f2cc26e7-b259-4ec1-89a1-a1b164f6f44c"},"os":{"type":"linux","kernel":"6.18.44-fc-v669","name":"Debian GNU/Linux","version":"12","family":"debian"}},"process":{"pid":28765,"thread":{"id":28765},"name":"true","executable":"/bin/true","args":["true"],"args_count":1,"working_directory":"/work/wt-faults/build","start":"2026-11-26T19:41:48.731364956Z","parent":{"pid":28741,"name":"ktrail_delivery","executable":"/work/wt-faults/build/tests/delivery/ktrail_delivery_fault_tests"},"user":{"id":0,"name":"root"},"real_user":{"id":0,"name":"root"},"saved_user":{"id":0},"group":{"id":0,"name":"root"},"real_group":{"id":0,"name":"root"},"saved_group":{"id":0},"entry_leader":{"pid":28740,"name":"timeout","executable":"/usr/bin/timeout","start":"2026-11-26T19:41:48.303075012Z"},"session_leader":{"pid":7571,"name":"bash","executable":"/usr/bin/bash","start":"2026-11-26T19:33:50.993075012Z"}},"ktrail":{"process":{"ns_pid":28765,"fsuid":0,"fsgid":0},"cgroup":{"id":1},"namespace":{"mnt":4026531832,"pid":4026531836},"exec":{"filename":"/bin/true","args_truncated":false,"secureexec":false,"privilege_change":false},"chain":{"hash":"c5ff1224373135e611e44900932ebabbd8706ccab03215ddcb2776b414eba4e6"}}})";

double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The spool's acknowledged logical offset (spool.h: u64 offset, u32 CRC-32C, little endian).
uint64_t cursor(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  unsigned char b[12];
  uint64_t v = 0;
  if (pread(fd, b, sizeof(b), 0) == static_cast<ssize_t>(sizeof(b)))
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
  close(fd);
  return v;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s URL SPOOL_DIR RECORDS [FLUSH_EVERY] [FSYNC 0|1]\n", argv[0]);
    return 2;
  }
  std::string url = argv[1], spool_dir = argv[2];
  uint64_t n = std::strtoull(argv[3], nullptr, 10);
  uint64_t flush_every = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 700;
  ktrail::DeliveryOptions d;
  d.spool_dir = spool_dir;
  d.spool_max_bytes = 4ull << 30;  // nothing evicted: every record is sent and confirmed
  d.spool_fsync = argc > 5 ? std::atoi(argv[5]) != 0 : true;
  d.hostname = "bench";
  std::unique_ptr<ktrail::Sink> sink;
  if (ktrail::Status st = ktrail::make_sink(url, ktrail::Format::Json, sink, {}, d); !st) {
    std::fprintf(stderr, "%s\n", st.message.c_str());
    return 1;
  }
  std::string sub;
  for (auto &e : std::filesystem::directory_iterator(spool_dir)) sub = e.path();
  std::string tmpl = kRecord;
  size_t at = tmpl.find("%SEQ%");
  std::string prefix = tmpl.substr(0, at), suffix = tmpl.substr(at + 5);
  // Each spooled record: a 16-byte header and the RFC 5424 message around the JSON.
  const size_t header = ktrail::syslog_message("", "bench", getpid(), 10).size() + 16;

  double cpu0 = cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  uint64_t end = 0, json_bytes = 0;
  std::string line;
  for (uint64_t seq = 1; seq <= n; seq++) {
    line = prefix;
    line += std::to_string(seq);
    line += suffix;
    json_bytes += line.size();
    end += header + line.size();
    if (!sink->write_record(seq, line)) return 1;
    if (seq % flush_every == 0 && !sink->flush()) return 1;
  }
  if (!sink->flush()) return 1;
  double cpu_appended = cpu_seconds() - cpu0;
  auto deadline = t0 + std::chrono::seconds(600);
  while (cursor(sub + "/cursor") < end) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "not confirmed within 600 s\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double cpu = cpu_seconds() - cpu0;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"records\":%llu,\"bytes\":%llu,\"cpu_s\":%.4f,\"cpu_append_s\":%.4f,\"wall_s\":%.3f,"
              "\"per_cpu_s\":%.0f,\"cpu_us_per_record\":%.3f}\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(json_bytes), cpu,
              cpu_appended, wall, n / cpu, cpu * 1e6 / n);
  return 0;
}
