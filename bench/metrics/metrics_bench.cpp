// ktrail_metrics_bench: the agent-side CPU cost of /metrics per event.
//
//   ktrail_metrics_bench [--events N] [--rounds R]
//       Pipeline::emit over N synthetic exec/exit/cred events (a third of the creds are
//       escalations) into a discarding JSON sink, in three variants interleaved per round:
//       none (no observer), observer (metrics::AgentMetrics counting) and observer+scrapes
//       (the same while another thread renders /metrics 10 times a second, as a busy
//       Prometheus would never do). Medians of the emitting thread's CPU ns/event, and of
//       AgentMetrics::observe() alone.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "enrich/enricher.h"
#include "ktrail/abi/events.h"
#include "metrics/agent_metrics.h"
#include "pipeline/pipeline.h"
#include "sinks/sink.h"

using namespace ktrail;

namespace {

class NullSink : public Sink {
 public:
  Format format() const override { return Format::Json; }
  bool write(const std::string &) override { return true; }
  bool flush() override { return true; }
  std::string describe() const override { return "null"; }
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
    e.user_name = e.real_user_name = "alice";
    switch (n % 3) {
      case 0:
        e.kind = EventKind::Exec;
        e.filename = e.executable = "/usr/bin/git";
        e.args = {"git", "commit", "-m", "change number " + std::to_string(n)};
        e.argc = 4;
        e.cwd = "/home/alice/src/project";
        break;
      case 1:
        e.kind = n % 2 ? EventKind::Exit : EventKind::ExecFailed;
        e.executable = "/usr/bin/git";
        e.ret = -2;
        break;
      default:
        e.kind = EventKind::Cred;
        e.syscall = n % 2 ? KTRAIL_SYS_SETRESUID : KTRAIL_SYS_SETUID;
        e.req[0] = e.req[1] = e.req[2] = n % 4 ? 0 : 1001;
        e.ret = n % 5 ? 0 : -1;
        e.old_creds = e.proc.creds;
        break;
    }
    v.push_back(e);
  }
  return v;
}

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

enum Variant { None, Observer, Scraped };
const char *kNames[] = {"none", "observer", "observer+scrapes"};

double run_once(Variant v, uint64_t events, const std::vector<Event> &evs) {
  Enricher en("/nonexistent/proc", "/nonexistent/etc");
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<NullSink>());
  Pipeline p(HostInfo{"bench", "0123456789abcdef0123456789abcdef"}, en, std::move(sinks));
  metrics::Registry reg;
  metrics::AgentMetrics am(reg);
  if (v != None) p.add_observer(&am);
  std::atomic<bool> stop{false};
  std::thread scraper;
  if (v == Scraped)
    scraper = std::thread([&] {
      while (!stop) {
        std::string s = reg.render();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  std::vector<Event> local = evs;
  const double c0 = thread_cpu_ns();
  for (uint64_t i = 0; i < events; i++) p.emit(local[i % local.size()]);
  const double c1 = thread_cpu_ns();
  stop = true;
  if (scraper.joinable()) scraper.join();
  return (c1 - c0) / static_cast<double>(events);
}

double observe_only(uint64_t events, const std::vector<Event> &evs) {
  metrics::Registry reg;
  metrics::AgentMetrics am(reg);
  std::vector<Event> derived;
  const double c0 = thread_cpu_ns();
  for (uint64_t i = 0; i < events; i++) am.observe(evs[i % evs.size()], derived);
  return (thread_cpu_ns() - c0) / static_cast<double>(events);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char **argv) {
  uint64_t events = 1000000;
  int rounds = 5;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--events" && i + 1 < argc) events = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else return fprintf(stderr, "usage: %s [--events N] [--rounds R]\n", argv[0]), 2;
  }
  log::set_level(log::Level::Warn);
  const auto evs = make_events();
  std::vector<double> res[3], obs;
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 3; k++) {
      Variant v = static_cast<Variant>((k + r) % 3);  // rotate the order per round
      res[v].push_back(run_once(v, events, evs));
    }
    obs.push_back(observe_only(events, evs));
  }
  printf("| variant | CPU ns/event (median) | rounds |\n|---|---:|---|\n");
  for (int v = 0; v < 3; v++) {
    std::string all;
    for (double x : res[v]) all += std::to_string(static_cast<int>(x)) + " ";
    printf("| %s | %.0f | %s|\n", kNames[v], median(res[v]), all.c_str());
  }
  std::string all;
  for (double x : obs) all += std::to_string(x).substr(0, 5) + " ";
  printf("| AgentMetrics::observe() alone | %.1f | %s|\n", median(obs), all.c_str());
  return 0;
}
