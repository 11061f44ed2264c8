// `ktrail run`: open -> configure -> load -> attach -> poll, then drain and flush on exit.
#include "cli/run.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <future>
#include <string>

#include "common/log.h"
#include "enrich/enricher.h"
#include "ktrail/abi/events.h"
#include "loader/loader.h"
#include "loader/probe.h"
#include "metrics/agent_metrics.h"
#include "metrics/server.h"
#include "pipeline/cap_summary.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"
#include "sinks/format.h"

namespace ktrail {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
std::atomic<bool> g_reload{false};
void on_reload(int) { g_reload = true; }

struct LoadedRules {
  std::shared_ptr<const rules::RuleSet> set;
  std::vector<rules::RuleError> errors;
};

LoadedRules load_rule_set(const std::vector<std::string> &specs) {
  auto set = std::make_shared<rules::RuleSet>();
  LoadedRules r;
  if (rules::load_rules(specs, *set, r.errors)) r.set = std::move(set);
  return r;
}

log::Level parse_level(const std::string &s) {
  if (s == "debug") return log::Level::Debug;
  if (s == "warning") return log::Level::Warn;
  if (s == "error") return log::Level::Error;
  return log::Level::Info;
}

IdentityConfig identity_config(const RunOptions &o) {
  IdentityConfig c;
  c.containers = o.containers != "off";
  if (!o.docker_sockets.empty()) c.docker_sockets = o.docker_sockets;
  c.kube.api_url = o.k8s_api;
  c.kube.token_file = o.k8s_token_file;
  c.kube.ca_file = o.k8s_ca_file;
  c.kube.node_name = o.node_name;
  if (o.k8s == "off") c.kube = KubeConfig{}, c.kube_auto = false;
  parse_cloud_mode(o.cloud, c.cloud);
  c.cloud_endpoint = o.cloud_endpoint;
  c.cloud_timeout_ms = o.cloud_timeout_ms;
  return c;
}

}  // namespace

int run_command(const RunOptions &o) {
  log::set_level(parse_level(o.log_level));
  LoaderConfig lc;
  if (Status s = to_loader_config(o, lc); !s) {
    KLOG_ERROR("%s", s.message.c_str());
    return s.code;
  }
  // Privileges first: an unprivileged user must hear about CAP_BPF, not about the chain state
  // directory or an output path it cannot write.
  if (std::string missing = missing_bpf_capabilities(); !missing.empty()) {
    KLOG_ERROR("missing capability %s: run ktrail as root", missing.c_str());
    return KTRAIL_EXIT_PRIVILEGE;
  }
  Format fmt = resolve_format(o.format, isatty(STDOUT_FILENO));
  std::vector<std::unique_ptr<Sink>> sinks;
  std::vector<std::string> outs = o.outputs.empty() ? std::vector<std::string>{"stdout"} : o.outputs;
  for (size_t i = 0; i < outs.size(); i++) {
    const std::string &spec = outs[i];
    std::unique_ptr<Sink> s;
    // Per-output settings from the config file override the global flags.
    const OutputSettings per = i < o.output_settings.size() ? o.output_settings[i] : OutputSettings{};
    const std::string fsync = per.file_fsync.value_or(o.file_fsync);
    FileRotation rotation{per.file_max_bytes.value_or(o.file_max_bytes), per.file_max_files.value_or(o.file_max_files)};
    rotation.fsync = fsync == "never"    ? FileRotation::Fsync::Never
                     : fsync == "always" ? FileRotation::Fsync::Always
                                         : FileRotation::Fsync::Rotate;
    DeliveryOptions delivery;
    delivery.spool_dir = o.spool_dir;
    delivery.spool_max_bytes = per.spool_max_bytes.value_or(o.spool_max_bytes);
    delivery.spool_fsync = per.spool_fsync.value_or(delivery.spool_fsync);
    if (Status st = make_sink(spec, fmt, s, rotation, delivery); !st) {
      KLOG_ERROR("%s", st.message.c_str());
      return st.code;
    }
    sinks.push_back(std::move(s));
  }

  // A broken rule file is a configuration error: refuse to start rather than run without them.
  rules::RuleEngine rule_engine;
  {
    LoadedRules lr = load_rule_set(o.rules);
    for (const auto &e : lr.errors) KLOG_ERROR("rules: %s", e.str().c_str());
    if (!lr.set) return KTRAIL_EXIT_USAGE;
    rule_engine.install(lr.set);
    KLOG_INFO("rules: %zu loaded", rule_engine.rule_count());
  }

  // Bound before anything loads, so a bad address fails fast. A taken default port only
  // costs the metrics: tracing matters more (an explicit address must work).
  std::unique_ptr<metrics::Server> metrics_server;
  if (o.metrics_addr != "off") {
    if (Status st = metrics::Server::listen(o.metrics_addr, metrics_server); !st) {
      if (o.metrics_addr != RunOptions{}.metrics_addr || st.message.find("cannot listen") == std::string::npos) {
        KLOG_ERROR("%s", st.message.c_str());
        return st.code;
      }
      KLOG_WARN("%s; running without metrics", st.message.c_str());
    }
  }

  // No SA_RESTART: the signal must interrupt epoll so shutdown is prompt.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction hup {};
  hup.sa_handler = on_reload;
  sigaction(SIGHUP, &hup, nullptr);

  const HostInfo host = HostInfo::detect();
  const Schema schema = o.schema == "ocsf" ? Schema::Ocsf : Schema::Ecs;
  NotaryConfig nc;
  nc.schema = schema;
  nc.state_path = o.chain_state == "none" ? "" : o.chain_state;
  nc.signing_key_path = o.signing_key;
  nc.checkpoint_records = o.checkpoint_records;
  nc.checkpoint_seconds = o.checkpoint_seconds;
  std::unique_ptr<Notary> notary;
  if (Status st = Notary::open(nc, host, notary); !st) {
    KLOG_ERROR("%s", st.message.c_str());
    return st.code;
  }
  KLOG_INFO("chain: state %s; checkpoints %s", nc.state_path.empty() ? "in memory" : nc.state_path.c_str(),
            notary->signing() ? ("signed by key " + notary->key_id_hex().substr(0, 16)).c_str() : "unsigned");

  Enricher enricher;
  {
    OutputClasses oc = output_classes(o);
    EnrichOptions eo;
    eo.ssh = lc.trace_ssh;
    eo.ssh_exe_names = lc.ssh_exe_names;
    eo.out_exec = oc.exec;
    eo.out_exit = oc.exit;
    eo.out_cred = oc.cred;
    eo.out_ssh = oc.ssh;
    eo.out_capable = oc.capable;
    eo.out_file = oc.file;
    eo.cap_by_process = lc.cap_by_process;
    for (const auto &w : lc.watches)
      eo.watch_entries.push_back(std::string((w.flags & KTRAIL_WATCH_WRITE) ? "w:" : "") +
                                 ((w.flags & KTRAIL_WATCH_SUFFIX) ? "*" : "") + w.path);
    enricher.configure(eo);
  }
  std::vector<const Sink *> output_list;
  for (auto &s : sinks) output_list.push_back(s.get());
  Pipeline pipeline(host, enricher, std::move(sinks));
  pipeline.set_schema(schema);
  pipeline.set_notary(std::move(notary));
  pipeline.add_observer(&rule_engine);  // always: a SIGHUP may bring rules to a run without
  Loader loader;
  Status st = loader.start(lc, [&](const void *d, size_t n) { pipeline.on_record(d, n); });
  if (!st) {
    KLOG_ERROR("%s", st.message.c_str());
    return st.code;
  }
  loader.source()->set_look_ahead([&](const void *d, size_t n) { pipeline.look_ahead(d, n); });
  metrics::Registry registry;
  metrics::AgentMetrics agent_metrics(registry);
  // Stops serving before the loader and pipeline it reads from go away, on every return.
  struct ServerStop {
    metrics::Server *s;
    ~ServerStop() { if (s) s->stop(); }
  } server_stop{metrics_server.get()};
  // ktrail_rule_hits_total{rule}: counted from the alert records as they are emitted.
  struct RuleHits : EventObserver {
    metrics::Registry &reg;
    explicit RuleHits(metrics::Registry &r) : reg(r) {}
    void observe(const Event &e, std::vector<Event> &) override {
      if (e.kind == EventKind::Alert && e.alert) reg.counter("ktrail_rule_hits_total", {{"rule", e.alert->rule_id}})->inc();
    }
  } rule_hits{registry};
  if (metrics_server) {
    pipeline.add_observer(&agent_metrics);
    pipeline.add_observer(&rule_hits);
    agent_metrics.watch_loader(loader);
    agent_metrics.watch_outputs(output_list);
    metrics_server->route("/metrics", [&registry] {
      return metrics::Response{200, metrics::kContentType, registry.render()};
    });
    metrics_server->route("/healthz", [&agent_metrics] { return agent_metrics.health(); });
    metrics_server->start();
    KLOG_INFO("metrics: http://%s/metrics and /healthz", metrics_server->address().c_str());
  }
  // Resumed: drops the previous agent reported are not reported again; the rest are.
  if (loader.resumed()) pipeline.set_drops_reported(loader.reported_drops());
  // Seed after attach: a process started in between is then seen either way.
  enricher.procs().set_capacity(o.max_processes);
  enricher.enable_identity(identity_config(o));
  size_t seeded = enricher.seed();
  size_t ssh_seeded = enricher.seed_sessions();
  if (lc.trace_ssh) KLOG_INFO("SSH: %zu sessions open before start", ssh_seeded);

  std::string active;
  for (const auto &h : loader.hooks())
    active += (active.empty() ? "" : ", ") + h.hook + "=" + (h.attached ? h.variant : "inactive");
  KLOG_INFO("tracing via %s; hooks: %s; %zu processes known", loader.buffer_name(), active.c_str(), seeded);
  // The table goes to stdout only (file: outputs are NDJSON), whatever other outputs there are.
  if (fmt == Format::Table &&
      std::any_of(outs.begin(), outs.end(), [](const std::string &o) { return o == "stdout" || o == "-"; })) {
    std::string hdr = table_header();
    fwrite(hdr.data(), 1, hdr.size(), stdout);
    fputc('\n', stdout);
  }
  // Records only arrive while polling: agent_start is the run's first record.
  pipeline.begin();

  EventSource *src = loader.source();
  const uint64_t start = Clock::boot_now();
  const uint64_t deadline = o.duration > 0 ? start + static_cast<uint64_t>(o.duration * 1e9) : 0;
  uint64_t last_stats = start, last_sync = start, last_caps = start;
  const uint64_t cap_interval_ns = static_cast<uint64_t>(o.cap_interval * 1e9);
  CapSummarizer caps;
  auto summarize_caps = [&](bool final) {
    if (lc.cap_policy == CapPolicy::Off) return;
    caps.scan(
        loader.read_cap_agg(),
        [&](const std::vector<uint8_t> &k, std::vector<uint8_t> &v) { return loader.take_cap_agg(k, v); },
        [&](const void *d, size_t n) { pipeline.on_record(d, n); }, final);
  };
  auto account = [&] {
    auto counters = loader.read_counters();
    std::vector<uint64_t> dropped(counters.size());
    for (size_t i = 0; i < counters.size(); i++) dropped[i] = counters[i].dropped;
    pipeline.account_drops(dropped, "kernel");
    pipeline.account_transport_lost(src->transport_lost());
  };
  // SIGHUP: the rule files are parsed on another thread; the new set is installed here, between
  // two records, or (on an error) the old one stays and the failure is reported in-band.
  std::future<LoadedRules> reload;
  auto poll_reload = [&] {
    if (!reload.valid() && g_reload.exchange(false))
      reload = std::async(std::launch::async, load_rule_set, o.rules);
    if (!reload.valid() || reload.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    LoadedRules lr = reload.get();
    if (lr.set) {
      rule_engine.install(lr.set);
      KLOG_INFO("rules: reloaded, %zu active", rule_engine.rule_count());
      return;
    }
    for (const auto &e : lr.errors) KLOG_ERROR("rules: %s", e.str().c_str());
    KLOG_ERROR("rules: reload failed, keeping the %zu rules in use", rule_engine.rule_count());
    uint64_t now = Clock::boot_now();
    Event notice = rules::reload_failed_notice(lr.errors, now, enricher.clock().to_realtime(now));
    pipeline.emit(notice);
  };
  int rc = KTRAIL_EXIT_OK;
  while (!g_stop) {
    int n = src->poll(o.drain_ms);
    if (n < 0 && n != -EINTR) {
      KLOG_ERROR("polling the %s failed: %s", src->name(), strerror(-n));
      rc = KTRAIL_EXIT_RUNTIME;
      break;
    }
    agent_metrics.heartbeat();
    uint64_t now = Clock::boot_now();
    if (now - last_stats >= 1000000000ull) {
      account();
      enricher.housekeeping();
      agent_metrics.set_pending_events(enricher.sessions().pending_auths());
      last_stats = now;
    }
    if (now - last_sync >= 60000000000ull) {
      enricher.clock().resync();
      last_sync = now;
    }
    if (now - last_caps >= cap_interval_ns) {
      summarize_caps(false);
      last_caps = now;
    }
    pipeline.tick(now);
    poll_reload();
    pipeline.flush();
    if (deadline && now >= deadline) break;
  }
  // Drain what the kernel still holds, then report any drops, then flush.
  while (src->poll(0) > 0) {
  }
  account();
  summarize_caps(true);
  if (lc.cap_policy != CapPolicy::Off) {
    auto cc = loader.read_cap_counters();
    KLOG_INFO("capability checks: %llu seen, %llu selected by policy, %llu aggregated, %llu reported alone (map full); %llu summaries",
              (unsigned long long)cc[KTRAIL_CAPC_CHECKS], (unsigned long long)cc[KTRAIL_CAPC_SELECTED],
              (unsigned long long)cc[KTRAIL_CAPC_AGGREGATED], (unsigned long long)cc[KTRAIL_CAPC_OVERFLOW],
              (unsigned long long)caps.summaries());
  }
  pipeline.tick(UINT64_MAX);
  if (reload.valid()) reload.wait();
  pipeline.finish();  // the final checkpoint: a clean stop is not a cut trail
  loader.save_reported_drops(pipeline.drops_reported());
  const auto &ps = pipeline.stats();
  KLOG_INFO("stopped: %llu events emitted, %llu undecodable, %llu write errors",
            static_cast<unsigned long long>(ps.emitted), static_cast<unsigned long long>(ps.decode_errors),
            static_cast<unsigned long long>(ps.write_errors));
  uint64_t alerts = 0;
  for (const auto &[id, n] : rule_engine.hits()) alerts += n;
  KLOG_INFO("rules: %llu evaluations, %llu alerts", static_cast<unsigned long long>(rule_engine.evaluations()),
            static_cast<unsigned long long>(alerts));
  if ((ps.write_errors || ps.state_errors) && rc == KTRAIL_EXIT_OK) rc = KTRAIL_EXIT_OUTPUT;
  return rc;
}

}  // namespace ktrail
