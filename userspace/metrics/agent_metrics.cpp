#include "metrics/agent_metrics.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "decode/decode.h"
#include "enrich/cache_stats.h"
#include "enrich/file_candidates.h"
#include "ktrail/abi/events.h"
#include "sinks/format.h"

namespace ktrail::metrics {

void BoundedCounts::add(const std::string &key, uint64_t n) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = counts_.find(key);
  if (it != counts_.end()) {
    it->second += n;
    return;
  }
  if (counts_.size() >= limit_) {
    if (limit_ == 0) {
      other_ += n;
      return;
    }
    auto min = std::min_element(counts_.begin(), counts_.end(),
                                [](const auto &a, const auto &b) { return a.second < b.second; });
    other_ += min->second;
    counts_.erase(min);
  }
  counts_.emplace(key, n);
}

std::vector<std::pair<std::string, uint64_t>> BoundedCounts::snapshot(uint64_t &other) const {
  std::lock_guard<std::mutex> g(mu_);
  other = other_;
  return {counts_.begin(), counts_.end()};
}

bool is_privilege_escalation(const Event &e) {
  if (e.kind == EventKind::Exec) return e.proc.creds.euid == 0 && e.proc.creds.uid != 0;
  if (e.kind != EventKind::Cred || e.ssh.self_check) return false;
  if (e.old_creds.uid == 0 || e.old_creds.euid == 0) return false;
  int slots = 0;
  switch (e.syscall) {
    case KTRAIL_SYS_SETUID:
    case KTRAIL_SYS_SETFSUID: slots = 1; break;
    case KTRAIL_SYS_SETREUID: slots = 2; break;
    case KTRAIL_SYS_SETRESUID: slots = 3; break;
    default: return false;
  }
  for (int i = 0; i < slots; i++)
    if (static_cast<uint32_t>(e.req[i]) == 0) return true;
  return false;
}

bool read_self_usage(double &cpu_seconds, uint64_t &rss_bytes, double &start_time_seconds) {
  std::ifstream f("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // comm may hold spaces and parentheses: the fields start after the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string t; in >> t;) fields.push_back(t);
  // fields[0] is field 3 (state): utime is field 14, stime 15, starttime 22, rss 24 (pages).
  if (fields.size() < 22) return false;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / tick;
  rss_bytes = std::stoull(fields[21]) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::ifstream s("/proc/stat");
  start_time_seconds = 0;
  for (std::string line; std::getline(s, line);)
    if (line.rfind("btime ", 0) == 0) start_time_seconds = std::stod(line.substr(6)) + std::stod(fields[19]) / tick;
  return true;
}

namespace {

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Family gauge(const char *name, const char *help) { return {name, help, Type::Gauge, {}}; }
Family counter(const char *name, const char *help) { return {name, help, Type::Counter, {}}; }

}  // namespace

AgentMetrics::AgentMetrics(Registry &r) : reg_(r) {
  heartbeat_ns_ = mono_ns();
  health_change_ns_ = heartbeat_ns_;
  r.describe("ktrail_rule_hits_total", "Alerts raised by the alert rules, by rule id.");
  r.add_collector([this](std::vector<Family> &out) { collect(out); });
}

AgentMetrics::EventSeries *AgentMetrics::series_for(const char *action, uint8_t outcome) {
  auto key = reinterpret_cast<uintptr_t>(action);
  auto &fast = fast_[outcome];
  if (auto it = fast.find(key); it != fast.end()) return it->second;
  std::lock_guard<std::mutex> g(series_mu_);
  auto &slot = events_[{key, outcome}];
  if (!slot) {
    slot = std::make_unique<EventSeries>();
    slot->action = action;
    slot->outcome = outcome;
  }
  fast[key] = slot.get();
  return slot.get();
}

void AgentMetrics::observe(const Event &e, std::vector<Event> &) {
  const bool ok = event_success(e);
  // Every series this event touches exists before the seqlock opens: a scrape holding
  // series_mu_ while it waits for the lock to close must never wait on us.
  // Alerts have no event.outcome in the record; the series says so rather than inventing one.
  EventSeries *s = series_for(event_action(e), e.kind == EventKind::Alert ? 2 : ok);
  std::atomic<uint64_t> *esc = nullptr;
  if (is_privilege_escalation(e)) {
    std::lock_guard<std::mutex> g(series_mu_);
    auto &slot = escalations_[{event_action(e), ok}];
    if (!slot) slot = std::make_unique<std::atomic<uint64_t>>(0);
    esc = slot.get();
  }
  uint64_t v = seq_.load(std::memory_order_relaxed);
  seq_.store(v + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s->n.store(s->n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (esc) esc->store(esc->load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  events_total_.store(events_total_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  last_sequence_.store(e.sequence, std::memory_order_relaxed);
  seq_.store(v + 2, std::memory_order_release);

  if (e.kind == EventKind::SshAuth && !ok && !e.ssh.partial)
    ssh_failures_.add(e.ssh.source.known() ? e.ssh.source.ip : "unknown");
}

void AgentMetrics::heartbeat() { heartbeat_ns_.store(mono_ns(), std::memory_order_relaxed); }

void AgentMetrics::watch_loader(Loader &loader) {
  loader_ = &loader;
  hooks_ = &loader.hooks();
}

void AgentMetrics::watch_outputs(std::vector<const Sink *> outputs) { outputs_ = std::move(outputs); }

void AgentMetrics::collect(std::vector<Family> &out) const {
  Family ev = counter("ktrail_events_total", "Records emitted, by event.action and event.outcome.");
  Family esc = counter("ktrail_privilege_escalations_total",
                       "Credential changes to uid 0 by a non-root process (setuid family) and execs of "
                       "set-user-id-root binaries by non-root users, by action and outcome.");
  Family last = gauge("ktrail_events_last_sequence", "event.sequence of the last record counted in ktrail_events_total.");
  {
    std::lock_guard<std::mutex> g(series_mu_);
    for (;;) {
      ev.samples.clear();
      esc.samples.clear();
      uint64_t before = seq_.load(std::memory_order_acquire);
      if (before & 1) {
        std::this_thread::yield();
        continue;
      }
      for (auto &[k, s] : events_)
        ev.samples.push_back({{{"action", s->action}, {"outcome", s->outcome == 2 ? "unknown" : s->outcome ? "success" : "failure"}},
                              static_cast<double>(s->n.load(std::memory_order_relaxed))});
      for (auto &[k, n] : escalations_)
        esc.samples.push_back({{{"action", k.first}, {"outcome", k.second ? "success" : "failure"}},
                               static_cast<double>(n->load(std::memory_order_relaxed))});
      uint64_t seqno = last_sequence_.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq_.load(std::memory_order_relaxed) == before) {
        last.samples.push_back({{}, static_cast<double>(seqno)});
        break;
      }
    }
  }
  out.push_back(std::move(ev));
  out.push_back(std::move(esc));
  out.push_back(std::move(last));

  Family ssh = counter("ktrail_ssh_auth_failures_total",
                       "Failed SSH authentications by source address: at most 100 addresses (the busiest), "
                       "the rest under source_ip=\"other\".");
  uint64_t other = 0;
  for (auto &[ip, n] : ssh_failures_.snapshot(other)) ssh.samples.push_back({{{"source_ip", ip}}, static_cast<double>(n)});
  if (other) ssh.samples.push_back({{{"source_ip", "other"}}, static_cast<double>(other)});
  out.push_back(std::move(ssh));

  if (loader_) {
    Family rec = counter("ktrail_kernel_records_total", "Records the kernel hooks submitted, by hook.");
    Family drop = counter("ktrail_kernel_drops_total",
                          "Records the kernel hooks could not submit (buffer full, no room to track a syscall), by hook.");
    auto counters = loader_->read_counters();
    for (size_t h = 0; h < counters.size(); h++) {
      std::string name = hook_name(static_cast<uint32_t>(h));
      if (name == "unknown") continue;  // ids reserved in the ABI, no hook yet
      Labels l{{"hook", name}};
      rec.samples.push_back({l, static_cast<double>(counters[h].emitted)});
      drop.samples.push_back({l, static_cast<double>(counters[h].dropped)});
    }
    out.push_back(std::move(rec));
    out.push_back(std::move(drop));
  }
  if (hooks_) {
    Family att = gauge("ktrail_hook_attached", "1 when the hook's program is attached, by hook and variant.");
    for (auto &h : *hooks_)
      att.samples.push_back({{{"hook", h.hook}, {"variant", h.variant}}, h.attached ? 1.0 : 0.0});
    out.push_back(std::move(att));
  }
  if (loader_) {
    uint64_t pending = 0, size = 0;
    if (EventSource *src = loader_->source(); src && src->fill(pending, size)) {
      Family used = gauge("ktrail_ring_buffer_used_bytes",
                          "Bytes in the ring buffer not yet consumed by the agent: the pipeline's queue.");
      used.samples.push_back({{}, static_cast<double>(pending)});
      Family sz = gauge("ktrail_ring_buffer_size_bytes", "Size of the ring buffer.");
      sz.samples.push_back({{}, static_cast<double>(size)});
      out.push_back(std::move(used));
      out.push_back(std::move(sz));
    }
  }

  Family loop = gauge("ktrail_pipeline_loop_age_seconds",
                      "Seconds since the consumer loop last completed an iteration (normally < --drain-ms).");
  loop.samples.push_back({{}, static_cast<double>(mono_ns() - heartbeat_ns_.load(std::memory_order_relaxed)) / 1e9});
  out.push_back(std::move(loop));
  Family pend = gauge("ktrail_pipeline_pending_events",
                      "Events the pipeline holds back (SSH authentications waiting up to 0.5 s for their partner "
                      "signal), sampled every second.");
  pend.samples.push_back({{}, static_cast<double>(pending_events_.load(std::memory_order_relaxed))});
  out.push_back(std::move(pend));

  Family sent = counter("ktrail_output_records_sent_total",
                        "Records written (stdout, file) or sent to the collector (network outputs), by output.");
  Family failed = counter("ktrail_output_failures_total",
                          "Records that failed to write (stdout, file); failed connects or sends (network), by output.");
  Family retried = counter("ktrail_output_records_retried_total", "Records sent again after a failure, by network output.");
  Family connects = counter("ktrail_output_connects_total", "Connections made to the collector, by network output.");
  Family connected = gauge("ktrail_output_connected", "1 while the network output is connected to its collector.");
  Family spool = gauge("ktrail_output_spool_bytes", "Bytes in the output's on-disk spool.");
  Family age = gauge("ktrail_output_spool_oldest_age_seconds",
                     "Age of the oldest record the collector has not acknowledged (0: none), by network output.");
  for (const Sink *s : outputs_) {
    OutputStats st = s->stats();
    Labels l{{"output", s->describe()}};
    sent.samples.push_back({l, static_cast<double>(st.records_sent)});
    failed.samples.push_back({l, static_cast<double>(st.failures)});
    if (!st.network) continue;
    retried.samples.push_back({l, static_cast<double>(st.records_retried)});
    connects.samples.push_back({l, static_cast<double>(st.connects)});
    connected.samples.push_back({l, st.connected ? 1.0 : 0.0});
    spool.samples.push_back({l, static_cast<double>(st.spool_bytes)});
    age.samples.push_back({l, st.spool_oldest_age_seconds});
  }
  for (auto *f : {&sent, &failed, &retried, &connects, &connected, &spool, &age}) out.push_back(std::move(*f));

  Family hits = counter("ktrail_enrich_cache_hits_total", "Enrichment cache lookups answered from the cache, by cache.");
  Family misses = counter("ktrail_enrich_cache_misses_total",
                          "Enrichment cache lookups that missed (process: read from /proc; users: id not named; "
                          "container: cgroup parsed or unknown), by cache.");
  for (auto [name, c] : {std::pair<const char *, CacheCounters *>{"process", &g_process_cache},
                         {"users", &g_user_cache},
                         {"container", &g_container_cache}}) {
    hits.samples.push_back({{{"cache", name}}, static_cast<double>(c->hits.load(std::memory_order_relaxed))});
    misses.samples.push_back({{{"cache", name}}, static_cast<double>(c->misses.load(std::memory_order_relaxed))});
  }
  out.push_back(std::move(hits));
  out.push_back(std::move(misses));
  Family cand = counter("ktrail_file_candidates_total",
                        "File calls no watch entry matched in the kernel, resolved by the agent: reported (watched), "
                        "unwatched (dropped), unresolved (caller's root gone or path not walkable; dropped).");
  for (auto [name, c] : {std::pair<const char *, const std::atomic<uint64_t> *>{"reported", &g_file_candidates.reported},
                         {"unwatched", &g_file_candidates.unwatched},
                         {"unresolved", &g_file_candidates.unresolved}})
    cand.samples.push_back({{{"result", name}}, static_cast<double>(c->load(std::memory_order_relaxed))});
  out.push_back(std::move(cand));

  double cpu = 0, start = 0;
  uint64_t rss = 0;
  if (read_self_usage(cpu, rss, start)) {
    Family c = counter("process_cpu_seconds_total", "Total user and system CPU time of the agent, in seconds.");
    c.samples.push_back({{}, cpu});
    Family r = gauge("process_resident_memory_bytes", "Resident memory of the agent, in bytes.");
    r.samples.push_back({{}, static_cast<double>(rss)});
    Family t = gauge("process_start_time_seconds", "Start time of the agent since the Unix epoch, in seconds.");
    t.samples.push_back({{}, start});
    out.push_back(std::move(c));
    out.push_back(std::move(r));
    out.push_back(std::move(t));
  }
  Family build = gauge("ktrail_build_info", "Always 1; the labels say which ktrail this is.");
  build.samples.push_back({{{"version", KTRAIL_VERSION}}, 1});
  out.push_back(std::move(build));
}

Response AgentMetrics::health() {
  nlohmann::json body;
  std::vector<std::string> problems;
  int hooks = 0;
  nlohmann::json hook_list = nlohmann::json::object();
  if (hooks_)
    for (auto &h : *hooks_) {
      hooks += h.attached;
      hook_list[h.hook] = h.attached ? h.variant : "inactive";
    }
  if (hooks == 0) problems.push_back("no hook attached");

  const int64_t now = mono_ns();
  double loop_age = static_cast<double>(now - heartbeat_ns_.load(std::memory_order_relaxed)) / 1e9;
  double idle;
  {
    // Under a burst the loop may stay in one drain for long: events still counted are progress.
    std::lock_guard<std::mutex> g(health_mu_);
    uint64_t total = events_total_.load(std::memory_order_relaxed);
    if (total != health_events_) health_events_ = total, health_change_ns_ = now;
    idle = static_cast<double>(now - health_change_ns_) / 1e9;
  }
  bool stalled = loop_age > kStallSeconds && idle > kStallSeconds;
  if (stalled) problems.push_back("pipeline stalled: no loop iteration and no event for " + std::to_string(int(kStallSeconds)) + " s");

  nlohmann::json outs = nlohmann::json::array();
  for (const Sink *s : outputs_) {
    OutputStats st = s->stats();
    nlohmann::json o{{"name", s->describe()}};
    if (st.network) {
      o["live"] = st.sender_running;
      o["collector"] = st.connected ? "connected" : "disconnected";
      o["spool_oldest_age_seconds"] = st.spool_oldest_age_seconds;
      if (!st.sender_running) problems.push_back("output " + s->describe() + ": sender thread not running");
    } else {
      o["live"] = true;
    }
    outs.push_back(std::move(o));
  }
  body["status"] = problems.empty() ? "ok" : "unhealthy";
  body["problems"] = problems;
  body["hooks_attached"] = hooks;
  body["hooks"] = hook_list;
  body["pipeline"] = {{"loop_age_seconds", loop_age}, {"events", events_total_.load(std::memory_order_relaxed)}};
  body["outputs"] = outs;
  return {problems.empty() ? 200 : 503, "application/json", body.dump() + "\n"};
}

}  // namespace ktrail::metrics
