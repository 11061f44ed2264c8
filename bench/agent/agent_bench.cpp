// ktrail_agent_bench: agent CPU per record for the exec storm of bench/exec_overhead.sh,
// without the kernel.
//
//   ktrail_agent_bench [--execs N] [--rounds R] [--out PATH]
//       Replays N short-lived processes (an exec record and an exit record each, shaped like
//       the bench's ktb-true: one argument, a cwd, pids that no longer exist, the bench itself
//       as the parent) through Pipeline::on_record with what `ktrail run` sets up by default:
//       the real /proc and /etc, workload identity, the embedded rule pack, the integrity
//       chain (in memory) and a JSON file output (default /dev/null). Prints the median over
//       R rounds of the thread's CPU ns per record. For instruction counts:
//       valgrind --tool=callgrind build/bench/agent/ktrail_agent_bench --execs 20000 --rounds 1
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/log.h"
#include "enrich/enricher.h"
#include "enrich/host.h"
#include "integrity/notary.h"
#include "ktrail/abi/events.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"
#include "sinks/sink.h"
#include "test_records.h"

using namespace ktrail;

namespace {

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Above any pid_max: never a live process, as most of the storm's pids are by the time their
// records are read.
constexpr uint32_t kFirstPid = 5000000;

void set_header(ktrail_header &h, uint32_t pid, uint64_t boot_ns) {
  h.boot_ns = boot_ns;
  h.start_boot_ns = boot_ns - 400000;
  h.cgroup_id = 1;  // the cgroup2 root, as on this hybrid host
  h.pid = h.tid = h.ns_pid = pid;
  h.ppid = static_cast<uint32_t>(getpid());
  h.loginuid = UINT32_MAX;
  h.sessionid = UINT32_MAX;
  h.creds = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(h.comm, "ktb-true", 9);
  h.flags = 0;
}

struct Records {
  std::vector<std::vector<char>> exec, exit;
};

Records make_records(uint64_t execs) {
  Records r;
  const uint64_t now = Clock::boot_now();
  for (uint64_t i = 0; i < execs; i++) {
    const uint32_t pid = kFirstPid + static_cast<uint32_t>(i);
    const uint64_t t = now + i * 600000;
    std::string args("./ktb-true\0", 11);
    auto x = test::exec_record("./ktb-true", std::string("out\0bench\0agent\0wt-agentcpu\0work\0", 33), args,
                               KTRAIL_EXEC_ARGC_KNOWN | KTRAIL_EXEC_SECUREEXEC_KNOWN, 1);
    auto *xe = reinterpret_cast<ktrail_exec *>(x.data());
    set_header(xe->hdr, pid, t);
    xe->tty[0] = 0;
    xe->sid = static_cast<uint32_t>(getsid(0));  // the kernel fills it; 0 would read /proc/PID/stat
    r.exec.push_back(std::move(x));
    ktrail_exit ex;
    std::memset(&ex, 0, sizeof(ex));
    test::fill_header(ex.hdr, KTRAIL_EV_EXIT, sizeof(ex));
    set_header(ex.hdr, pid, t + 300000);
    r.exit.push_back(test::bytes_of(&ex, sizeof(ex)));
  }
  return r;
}

double run_once(const Records &recs, const std::string &out) {
  const HostInfo host = HostInfo::detect();
  Enricher en;
  std::vector<std::unique_ptr<Sink>> sinks;
  std::unique_ptr<Sink> s;
  if (Status st = make_sink("file:" + out, Format::Json, s); !st) {
    fprintf(stderr, "%s\n", st.message.c_str());
    exit(1);
  }
  sinks.push_back(std::move(s));
  Pipeline p(host, en, std::move(sinks));
  std::unique_ptr<Notary> notary;
  if (Status st = Notary::open(NotaryConfig{}, host, notary); !st) {
    fprintf(stderr, "%s\n", st.message.c_str());
    exit(1);
  }
  p.set_notary(std::move(notary));
  rules::RuleEngine rules;
  auto set = std::make_shared<rules::RuleSet>();
  std::vector<rules::RuleError> errors;
  if (!rules::load_rules({"default"}, *set, errors)) {
    fprintf(stderr, "rules: %s\n", errors.empty() ? "?" : errors[0].str().c_str());
    exit(1);
  }
  rules.install(set);
  p.add_observer(&rules);
  IdentityConfig ic;
  ic.cloud = CloudMode::Off;
  ic.kube_auto = false;
  en.enable_identity(ic);
  p.begin();
  const double c0 = thread_cpu_ns();
  for (size_t i = 0; i < recs.exec.size(); i++) {
    p.on_record(recs.exec[i].data(), recs.exec[i].size());
    p.on_record(recs.exit[i].data(), recs.exit[i].size());
  }
  p.flush();
  const double c1 = thread_cpu_ns();
  p.finish();
  return (c1 - c0) / static_cast<double>(2 * recs.exec.size());
}

}  // namespace

int main(int argc, char **argv) {
  uint64_t execs = 100000;
  int rounds = 5;
  std::string out = "/dev/null";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--execs" && i + 1 < argc) execs = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--out" && i + 1 < argc) out = argv[++i];
    else return fprintf(stderr, "usage: %s [--execs N] [--rounds R] [--out PATH]\n", argv[0]), 2;
  }
  log::set_level(log::Level::Warn);
  const Records recs = make_records(execs);
  std::vector<double> ns;
  for (int r = 0; r < rounds; r++) ns.push_back(run_once(recs, out));
  std::sort(ns.begin(), ns.end());
  printf("agent CPU per record: %.0f ns (median of %d rounds, %llu exec+exit pairs each)\n", ns[ns.size() / 2],
         rounds, static_cast<unsigned long long>(execs));
  return 0;
}
