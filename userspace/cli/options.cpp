#include "cli/options.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "config/config.h"
#include "policy/policy.h"

namespace ktrail {

namespace {
constexpr size_t kMaxWatches = 32;  // KTRAIL_WATCH_MAX (include/ktrail/abi/events.h)
}  // namespace

Command parse_command_line(int argc, const char *const *argv) {
  Command cmd;
  CLI::App app{"ktrail: an eBPF access tracer (exec, credential changes, ...)", "ktrail"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ktrail ") + KTRAIL_VERSION);

  auto *run = app.add_subcommand("run", "Trace until SIGINT/SIGTERM or --duration, then flush");
  RunOptions &o = cmd.run;
  run->add_option("--format", o.format, "Output format: table on a terminal, json otherwise")
      ->check(CLI::IsMember({"auto", "json", "table"}));
  run->add_option("--events", o.events, "Event classes to trace")
      ->delimiter(',')
      ->check(CLI::IsMember({"exec", "exit", "cred", "ssh", "capable", "file"}));
  run->add_option("-o,--output", o.outputs, "Output: stdout, file:PATH, syslog+tcp://H:P, syslog+tls://H:P?ca=F[&cert=F&key=F], "
                  "syslog+udp://H:P, syslog+relp://H:P, syslog+relp+tls://H:P?ca=F&cert=F&key=F[&peer=N], "
                  "otlp+https://H[:P], loki+https://H[:P], splunk+https://H[:P]?token_file=F, "
                  "elasticsearch+https://H[:P] (repeatable; README \"Delivery\")");
  run->add_option("--duration", o.duration, "Stop after SECONDS")->check(CLI::NonNegativeNumber);
  run->add_option("--buffer", o.buffer, "Transport: ring buffer, or perf buffer fallback")
      ->check(CLI::IsMember({"auto", "ring", "perf"}));
  run->add_option("--hooks", o.hooks, "Hook variant: tp_btf (no tracefs) or classic tracepoint")
      ->check(CLI::IsMember({"auto", "tp_btf", "tracepoint"}));
  run->add_option("--buffer-mb", o.buffer_mb, "Kernel buffer size in MiB (power of two)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--wakeup-bytes", o.wakeup_bytes, "Backlog that wakes the agent early")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  run->add_option("--drain-ms", o.drain_ms, "Drain the buffer at least this often")
      ->check(CLI::Range(1, 1000));
  run->add_option("--btf", o.btf, "Kernel BTF file for kernels without /sys/kernel/btf/vmlinux");
  run->add_option("--pin", o.pin,
                  "bpffs directory (e.g. /sys/fs/bpf/ktrail): keep the programs and ring buffer "
                  "pinned across restarts, so nothing is lost between agents");
  run->add_option("--log-level", o.log_level, "Diagnostics on stderr")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  run->add_option("--ssh-exe-names", o.ssh_exe_names,
                  "Executable names recognised as sshd (OpenSSH >= 9.8 adds sshd-session, sshd-auth)")
      ->delimiter(',');
  run->add_option("--chain-state", o.chain_state,
                   "Chain state that carries the chain across restarts, or 'none'");
  run->add_option("--signing-key", o.signing_key, "Ed25519 private key (PEM) that signs checkpoints")
      ->check(CLI::ExistingFile);
  run->add_option("--checkpoint-records", o.checkpoint_records,
                  "Checkpoint after this many records (0: no count trigger)");
  run->add_option("--checkpoint-seconds", o.checkpoint_seconds,
                  "Checkpoint at least this often when records arrive (0: no time trigger)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--file-max-bytes", o.file_max_bytes, "Rotate file: outputs at this size (0: never)");
  run->add_option("--file-max-files", o.file_max_files, "Rotated files kept per file: output")
      ->check(CLI::Range(0u, 1000u));
  run->add_option("--spool-dir", o.spool_dir,
                  "Network outputs spool here (one subdirectory each) until the collector has them");
  run->add_option("--spool-max-bytes", o.spool_max_bytes,
                  "Disk bytes per network output spool; when full the oldest records go (a lost event)")
      ->check(CLI::Range(uint64_t{4096}, UINT64_MAX));
  run->add_option("--containers", o.containers, "Container identity from cgroups and the Engine API")
      ->check(CLI::IsMember({"on", "off"}));
  run->add_option("--docker-socket", o.docker_sockets,
                  "Docker-compatible Engine API socket (repeatable; default /run/docker.sock and "
                  "/run/podman/podman.sock)");
  run->add_option("--k8s", o.k8s, "Kubernetes pod metadata: auto (in a cluster or configured) or off")
      ->check(CLI::IsMember({"auto", "off"}));
  run->add_option("--k8s-api", o.k8s_api, "kube-apiserver URL (default from KUBERNETES_SERVICE_HOST/PORT)");
  run->add_option("--k8s-token-file", o.k8s_token_file, "Bearer token file (default: the service account's)");
  run->add_option("--k8s-ca-file", o.k8s_ca_file, "CA bundle for the API server (default: the service account's)");
  run->add_option("--node-name", o.node_name, "This node's name (default $NODE_NAME)");
  run->add_option("--cloud", o.cloud, "Cloud instance metadata")
      ->check(CLI::IsMember({"off", "auto", "aws", "gcp", "azure"}));
  run->add_option("--cloud-endpoint", o.cloud_endpoint, "Metadata service URL (default http://169.254.169.254)");
  run->add_option("--cloud-timeout-ms", o.cloud_timeout_ms, "Timeout per metadata request")
      ->check(CLI::Range(10, 10000));
  run->add_option("--max-processes", o.max_processes, "Process cache capacity (bounded memory)")
      ->check(CLI::Range(1024u, 4194304u));
  run->add_option("--cap-policy", o.cap_policy,
                  "Capability checks: off, denials only, or all (aggregated in the kernel)")
      ->check(CLI::IsMember({"off", "denials", "all"}));
  run->add_option("--cap-always", o.cap_always,
                  "Capabilities reported one by one, granted or denied (CAP_X,...; '' for none)")
      ->delimiter(',');
  run->add_option("--cap-hook", o.cap_hook,
                  "cap_capable hook variant: auto (tp_btf, then fexit, then kprobe) or forced")
      ->check(CLI::IsMember({"auto", "tp_btf", "fentry", "kprobe"}));
  run->add_option("--cap-key", o.cap_key, "Aggregate capability checks per cgroup or per process")
      ->check(CLI::IsMember({"cgroup", "process"}));
  run->add_option("--cap-interval", o.cap_interval, "Seconds between capability summaries")
      ->check(CLI::Range(0.1, 3600.0));
  run->add_option("--watch", o.watch,
                  "Watched path (repeatable): /exact, /dir/, */suffix; w: prefix = writes only");
  run->add_option("--watch-file", o.watch_file, "File of --watch entries, one per line");
  run->add_flag("--no-default-watch", o.no_default_watch, "Do not watch the default secrets");
  run->add_option("--rules", o.rules,
                  "Alert rule file (repeatable); 'default' = the embedded pack (used when absent), "
                  "'none' = no rules. SIGHUP reloads them");
  run->add_option("--metrics-addr", o.metrics_addr,
                  "Serve /metrics and /healthz on HOST:PORT ([V6]:PORT for IPv6); off disables");
  run->add_option("--config", o.config,
                  "Config file (YAML or JSON); environment KTRAIL_* and flags override it")
      ->envname("KTRAIL_CONFIG");
  run->add_option("--schema", o.schema, "Record schema: ECS, or OCSF 1.1.0")
      ->check(CLI::IsMember({"ecs", "ocsf"}));
  run->add_option("--file-fsync", o.file_fsync,
                  "When file: outputs reach the disk: never, at rotation, or always (every flush)")
      ->check(CLI::IsMember({"never", "rotate", "always"}));
  run->add_option("--ia32", o.ia32,
                  "ia32 syscalls (int $0x80, 32-bit binaries): trace (raw syscall hooks, a cost on "
                  "every syscall) or off (not seen)")
      ->check(CLI::IsMember({"trace", "off"}));
  auto *config = app.add_subcommand("config", "Configuration file tools");
  config->require_subcommand(1);
  auto *config_check = config->add_subcommand("check", "Validate a config file (with the KTRAIL_* environment)");
  std::string config_file;
  bool config_print = false;
  config_check->add_option("FILE", config_file, "Config file (YAML or JSON)")->required();
  config_check->add_flag("--print", config_print, "Print the effective configuration (secrets redacted)");
  auto *version = app.add_subcommand("version", "Print the version");
  auto *verify = add_verify_command(app, cmd.verify);
  auto *probe = add_probe_command(app, cmd.probe);
  auto *rules = app.add_subcommand("rules", "Alert rules");
  rules->require_subcommand(1);
  auto *rules_check = rules->add_subcommand("check", "Validate rule files (exit 2 with FILE:LINE:COL on errors)");
  rules_check->add_option("FILE", cmd.rules_check_files, "Rule file, or 'default' for the embedded pack")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int rc = app.exit(e);
    cmd.exit_now = true;
    // CLI11 returns 0 for --help/--version; every real parse error is a usage error.
    cmd.exit_code = rc == 0 ? KTRAIL_EXIT_OK : KTRAIL_EXIT_USAGE;
    return cmd;
  }
  if (config_check->parsed()) {
    cmd.exit_now = true;
    cmd.exit_code = config::check_command(*run, o, config_file, config_print);
    return cmd;
  }
  if (run->parsed()) {
    std::vector<config::Diagnostic> errs;
    std::vector<std::string> warnings;
    bool ok = config::apply_layers(*run, o, "", config::process_env(), errs, warnings);
    for (const auto &w : warnings) std::cerr << "ktrail: warning: " << w << "\n";
    for (const auto &d : errs) std::cerr << "ktrail: " << d.text() << "\n";
    if (!ok) {
      cmd.exit_now = true;
      cmd.exit_code = KTRAIL_EXIT_USAGE;
      return cmd;
    }
    cmd.kind = Command::Run;
  }
  if (version->parsed()) cmd.kind = Command::Version;
  if (verify->parsed()) cmd.kind = Command::Verify;
  if (probe->parsed()) cmd.kind = Command::Probe;
  if (rules_check->parsed()) cmd.kind = Command::RulesCheck;
  return cmd;
}

Status to_loader_config(const RunOptions &o, LoaderConfig &c) {
  c.trace_exec = c.trace_exit = c.trace_cred = c.trace_ssh = false;
  for (const auto &e : o.events) {
    if (e == "exec") c.trace_exec = true;
    else if (e == "exit") c.trace_exit = true;
    else if (e == "cred") c.trace_cred = true;
    else if (e == "ssh") c.trace_ssh = true;
    else if (e == "capable" || e == "file") continue;  // below
    else return Status::error(KTRAIL_EXIT_USAGE, "unknown event class " + e);
  }
  if (o.events.empty()) return Status::error(KTRAIL_EXIT_USAGE, "--events selects nothing");
  if (c.trace_ssh) {
    // Sessions need execs (tty, ancestry), exits (session end) and sshd's own cred calls;
    // classes not selected are traced but not output (output_classes).
    c.trace_exec = c.trace_exit = c.trace_cred = true;
    c.ssh_exe_names.clear();
    for (const auto &n : o.ssh_exe_names)
      if (!n.empty()) c.ssh_exe_names.push_back(n);
    if (c.ssh_exe_names.empty())
      return Status::error(KTRAIL_EXIT_USAGE, "--ssh-exe-names is empty");
    for (const auto &n : c.ssh_exe_names)
      if (n.size() > 15)
        return Status::error(KTRAIL_EXIT_USAGE, "--ssh-exe-names: '" + n +
                                                    "' is longer than the 15 bytes the kernel keeps as the process name");
  }
  c.cap_policy = CapPolicy::Off;
  c.trace_file = false;
  for (const auto &e : o.events) {
    if (e == "capable")
      c.cap_policy = o.cap_policy == "all" ? CapPolicy::All
                     : o.cap_policy == "off" ? CapPolicy::Off
                                             : CapPolicy::Denials;
    if (e == "file") c.trace_file = true;
  }
  if (Status s = parse_capability_list(o.cap_always, c.cap_always); !s) return s;
  c.cap_hook = o.cap_hook == "tp_btf"   ? CapHook::TpBtf
               : o.cap_hook == "fentry" ? CapHook::Fentry
               : o.cap_hook == "kprobe" ? CapHook::Kprobe
                                        : CapHook::Auto;
  c.cap_by_process = o.cap_key == "process";
  c.watches.clear();
  if (c.trace_file) {
    std::vector<std::string> entries;
    if (!o.no_default_watch) entries = default_watch_list();
    if (!o.watch_file.empty())
      if (Status s = parse_watch_file(o.watch_file, entries); !s) return s;
    entries.insert(entries.end(), o.watch.begin(), o.watch.end());
    for (const auto &spec : entries) {
      WatchSpec w;
      if (Status s = parse_watch(spec, w); !s) return s;
      c.watches.push_back(w);
    }
    if (c.watches.size() > kMaxWatches)
      return Status::error(KTRAIL_EXIT_USAGE, "at most " + std::to_string(kMaxWatches) +
                                                  " watch entries (defaults included)");
    if (c.watches.empty()) c.trace_file = false;
  }
  c.buffer = o.buffer == "ring" ? BufferKind::Ring : o.buffer == "perf" ? BufferKind::Perf : BufferKind::Auto;
  c.hooks = o.hooks == "tp_btf" ? HookMode::TpBtf : o.hooks == "tracepoint" ? HookMode::Tracepoint : HookMode::Auto;
  if (o.buffer_mb & (o.buffer_mb - 1))
    return Status::error(KTRAIL_EXIT_USAGE, "--buffer-mb must be a power of two");
  c.buffer_mb = o.buffer_mb;
  c.wakeup_bytes = o.wakeup_bytes;
  c.btf_path = o.btf;
  c.pin_dir = o.pin;
  c.trace_ia32 = o.ia32 != "off";
  return Status::ok();
}

OutputClasses output_classes(const RunOptions &o) {
  OutputClasses c{false, false, false, false, false, false};
  for (const auto &e : o.events) {
    if (e == "exec") c.exec = true;
    else if (e == "exit") c.exit = true;
    else if (e == "cred") c.cred = true;
    else if (e == "ssh") c.ssh = true;
    else if (e == "capable") c.capable = true;
    else if (e == "file") c.file = true;
  }
  return c;
}

Format resolve_format(const std::string &f, bool tty) {
  if (f == "json") return Format::Json;
  if (f == "table") return Format::Table;
  return tty ? Format::Table : Format::Json;
}

}  // namespace ktrail
