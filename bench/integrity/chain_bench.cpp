// ktrail_chain_bench: what chaining costs per event, and synthetic trails for verify_bench.sh.
//
//   ktrail_chain_bench [--events N] [--rounds R]
//       Pipeline::emit over N synthetic exec/exit/cred events into a discarding JSON sink:
//       plain (no chain), chain (chain + signed checkpoints every 10000, state in memory) and
//       chain+state (the same, state file saved before every release). Rounds interleave the
//       variants; medians of thread CPU ns/event (and of wall ns/event).
//   ktrail_chain_bench --write-trail PATH --signing-key KEY [--events N]
//       A signed trail through the real file sink.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/log.h"
#include "enrich/enricher.h"
#include "integrity/notary.h"
#include "ktrail/abi/events.h"
#include "pipeline/pipeline.h"
#include "sinks/sink.h"

using namespace ktrail;

namespace {

class NullSink : public Sink {
 public:
  Format format() const override { return Format::Json; }
  bool write(const std::string &line) override {
    bytes_ += line.size() + 1;
    return true;
  }
  bool flush() override { return true; }
  std::string describe() const override { return "null"; }
  uint64_t bytes_ = 0;
};

std::vector<Event> make_events() {
  std::vector<Event> v;
  for (int n = 0; n < 64; n++) {
    Event e;
    e.realtime_ns = 1790000000000000000ll + n * 1000;
    e.proc.pid = 2000 + n;
    e.proc.tid = e.proc.pid;
    e.proc.ppid = 1999;
    e.proc.comm = "bash";
    e.proc.creds = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    e.proc.cgroup_id = 0x1234;
    e.proc.mnt_ns = 4026531841u;
    e.proc.pid_ns = 4026531836u;
    e.proc.loginuid = 1000;
    e.proc.sessionid = 3;
    e.start_realtime_ns = e.realtime_ns - 5000000;
    e.user_name = e.real_user_name = "alice";
    e.group_name = e.real_group_name = "alice";
    e.audit_user_name = "alice";
    e.parent_name = "bash";
    e.parent_executable = "/usr/bin/bash";
    switch (n % 3) {
      case 0:
        e.kind = EventKind::Exec;
        e.filename = "/usr/bin/git";
        e.executable = "/usr/bin/git";
        e.args = {"git", "commit", "-m", "change number " + std::to_string(n), "--no-verify"};
        e.argc = 5;
        e.cwd = "/home/alice/src/project";
        e.tty = "pts/0";
        e.exec_flags = KTRAIL_EXEC_SECUREEXEC_KNOWN;
        break;
      case 1:
        e.kind = EventKind::Exit;
        e.executable = "/usr/bin/git";
        e.args = {"git", "status"};
        break;
      default:
        e.kind = EventKind::Cred;
        e.syscall = KTRAIL_SYS_SETRESUID;
        e.req[0] = e.req[1] = e.req[2] = 0;
        e.ret = 0;
        e.old_creds = e.proc.creds;
        e.proc.creds = {};
        break;
    }
    v.push_back(e);
  }
  return v;
}

enum Variant { Plain, Chain, ChainAndState };
const char *kNames[] = {"plain", "chain", "chain+state"};

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Sample {
  double cpu_ns, wall_ns;  // per event
};

// CPU time is the primary figure: other load on the machine does not bill to this thread.
// Wall time also shows the time blocked (the state file's fdatasync).
Sample run_once(Variant variant, uint64_t events, const std::vector<Event> &evs,
                const std::string &scratch, const std::string &key, uint64_t &bytes) {
  Enricher en(scratch + "/proc", scratch + "/etc");
  auto sink = std::make_unique<NullSink>();
  NullSink *ns = sink.get();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(sink));
  HostInfo host{"bench", "0123456789abcdef0123456789abcdef"};
  Pipeline p(host, en, std::move(sinks));
  if (variant != Plain) {
    NotaryConfig c;
    c.signing_key_path = key;
    c.checkpoint_records = 10000;
    c.checkpoint_seconds = 0;
    if (variant == ChainAndState) {
      c.state_path = scratch + "/chain.state";
      std::filesystem::remove(c.state_path);
    }
    std::unique_ptr<Notary> n;
    if (Status s = Notary::open(c, host, n); !s) {
      fprintf(stderr, "%s\n", s.message.c_str());
      exit(1);
    }
    p.set_notary(std::move(n));
    p.begin();
  }
  std::vector<Event> local = evs;
  const double c0 = thread_cpu_ns();
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < events; i++) p.emit(local[i % local.size()]);
  p.finish();
  auto t1 = std::chrono::steady_clock::now();
  const double c1 = thread_cpu_ns();
  bytes = ns->bytes_;
  const double n = static_cast<double>(events);
  return {(c1 - c0) / n, std::chrono::duration<double, std::nano>(t1 - t0).count() / n};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char **argv) {
  uint64_t events = 1000000;
  int rounds = 5;
  std::string trail, key;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--events") events = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--rounds") rounds = std::atoi(next().c_str());
    else if (a == "--write-trail") trail = next();
    else if (a == "--signing-key") key = next();
    else {
      fprintf(stderr, "usage: %s [--events N] [--rounds R] [--write-trail PATH --signing-key KEY]\n", argv[0]);
      return 2;
    }
  }
  log::set_level(log::Level::Warn);
  char tmpl[] = "/tmp/ktrail-chain-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  const std::string scratch = tmpl;
  const std::vector<Event> evs = make_events();

  if (!trail.empty()) {
    Enricher en(scratch + "/proc", scratch + "/etc");
    std::vector<std::unique_ptr<Sink>> sinks;
    std::unique_ptr<Sink> s;
    std::filesystem::remove(trail);
    if (Status st = make_sink("file:" + trail, Format::Json, s); !st) return fprintf(stderr, "%s\n", st.message.c_str()), 1;
    sinks.push_back(std::move(s));
    HostInfo host{"bench", "0123456789abcdef0123456789abcdef"};
    Pipeline p(host, en, std::move(sinks));
    NotaryConfig c;
    c.signing_key_path = key;
    c.checkpoint_seconds = 0;
    std::unique_ptr<Notary> n;
    if (Status st = Notary::open(c, host, n); !st) return fprintf(stderr, "%s\n", st.message.c_str()), 1;
    p.set_notary(std::move(n));
    p.begin();
    std::vector<Event> local = evs;
    for (uint64_t i = 0; i < events; i++) p.emit(local[i % local.size()]);
    p.finish();
    std::filesystem::remove_all(scratch);
    return 0;
  }

  const std::string keypath = scratch + "/key.pem";
  {
    std::string pem = SigningKey::generate()->private_pem();
    FILE *f = fopen(keypath.c_str(), "w");
    fwrite(pem.data(), 1, pem.size(), f);
    fclose(f);
    chmod(keypath.c_str(), 0600);
  }
  std::vector<double> cpu[3], wall[3];
  uint64_t bytes = 0;
  run_once(Plain, events / 10, evs, scratch, keypath, bytes);  // warm-up
  for (int r = 0; r < rounds; r++)
    for (int v : {Plain, Chain, ChainAndState}) {
      Sample x = run_once(static_cast<Variant>(v), events, evs, scratch, keypath, bytes);
      cpu[v].push_back(x.cpu_ns);
      wall[v].push_back(x.wall_ns);
    }
  printf("events per round: %llu, rounds: %d, mean record: %.0f bytes\n", static_cast<unsigned long long>(events), rounds,
         static_cast<double>(bytes) / static_cast<double>(events));
  for (int v : {Plain, Chain, ChainAndState}) {
    printf("%-12s cpu median %7.1f ns/event, wall median %7.1f ns/event  (cpu rounds:", kNames[v],
           median(cpu[v]), median(wall[v]));
    for (double x : cpu[v]) printf(" %.0f", x);
    printf(")\n");
  }
  const double plain = median(cpu[Plain]), plain_wall = median(wall[Plain]);
  printf("chain cost (cpu): +%.1f ns/event (x%.3f); with the state file: +%.1f ns/event (x%.3f)\n",
         median(cpu[Chain]) - plain, median(cpu[Chain]) / plain, median(cpu[ChainAndState]) - plain,
         median(cpu[ChainAndState]) / plain);
  printf("chain cost (wall): +%.1f ns/event; with the state file: +%.1f ns/event\n",
         median(wall[Chain]) - plain_wall, median(wall[ChainAndState]) - plain_wall);
  std::filesystem::remove_all(scratch);
  return 0;
}
