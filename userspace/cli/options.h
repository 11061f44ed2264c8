// Command-line model and parser (CLI11). Kept apart from main() so tests can parse.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cli/verify.h"
#include "cli/probe.h"
#include "common/status.h"
#include "loader/loader.h"
#include "sinks/sink.h"

namespace ktrail {

// Settings of one output from the config file (README "Configuration file"); unset: the
// global --file-* / --spool-* value.
struct OutputSettings {
  std::optional<uint64_t> file_max_bytes;
  std::optional<unsigned> file_max_files;
  std::optional<std::string> file_fsync;
  std::optional<uint64_t> spool_max_bytes;
  std::optional<bool> spool_fsync;
};

struct RunOptions {
  std::string format = "auto";  // auto | json | table
  // file is opt-in until the open path meets its overhead target (bench/RESULTS.md).
  std::vector<std::string> events{"exec", "exit", "cred", "ssh", "capable"};
  std::vector<std::string> outputs;  // default: stdout
  double duration = 0;               // seconds; 0 = until SIGINT/SIGTERM
  std::string buffer = "auto";       // auto | ring | perf
  std::string hooks = "auto";        // auto | tp_btf | tracepoint
  uint32_t buffer_mb = 4;
  uint64_t wakeup_bytes = 256 * 1024;
  int drain_ms = 50;
  std::string btf;
  std::string pin;  // bpffs directory to pin to / resume from
  std::string log_level = "info";
  std::vector<std::string> ssh_exe_names{"sshd", "sshd-session", "sshd-auth"};
  // Tamper-evident trail (README "Tamper-evident trail").
  std::string chain_state = "/var/lib/ktrail/chain.state";  // "none": in memory, new chain
  std::string signing_key;                                   // Ed25519 PEM; empty: unsigned
  uint64_t checkpoint_records = 10000;
  double checkpoint_seconds = 60;
  uint64_t file_max_bytes = 0;  // 0: file outputs never rotate
  unsigned file_max_files = 9;
  // network outputs (README "Delivery")
  std::string spool_dir = "/var/lib/ktrail/spool";
  uint64_t spool_max_bytes = 256ull << 20;
  // identity (enrich/identity)
  std::string containers = "on";              // on | off
  std::vector<std::string> docker_sockets;    // default: /run/docker.sock, /run/podman/podman.sock
  std::string k8s = "auto";                   // auto (in-cluster when a token is present) | off
  std::string k8s_api, k8s_token_file, k8s_ca_file, node_name;
  std::string cloud = "auto";                 // off | auto | aws | gcp | azure
  std::string cloud_endpoint;                 // default http://169.254.169.254
  int cloud_timeout_ms = 300;
  uint32_t max_processes = 65536;
  // Capability checks
  std::string cap_policy = "denials";  // off | denials | all
  std::vector<std::string> cap_always{"CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_MAC_ADMIN"};
  std::string cap_hook = "auto";       // auto | tp_btf | fentry | kprobe
  std::string cap_key = "cgroup";      // cgroup | process
  double cap_interval = 10;            // seconds between summaries
  // Sensitive files
  std::vector<std::string> watch;      // added to the defaults
  std::string watch_file;
  bool no_default_watch = false;
  // Alert rules (README "Rules"): files, "default" (the embedded pack) or "none"; empty = default.
  std::vector<std::string> rules;
  // Prometheus /metrics and /healthz (metrics/); loopback unless told otherwise; "off": none.
  std::string metrics_addr = "127.0.0.1:9464";
  // Config file and record schema (README "Configuration file", "OCSF")
  std::string config;                 // --config FILE (or KTRAIL_CONFIG)
  std::string schema = "ecs";         // ecs | ocsf
  std::string file_fsync = "rotate";  // never | rotate | always
  std::vector<OutputSettings> output_settings;  // index-aligned with outputs; may be shorter
  // ia32 syscalls: "trace" keeps raw sys_enter/sys_exit programs for them (every syscall of
  // every task pays their invocation); "off" leaves them unseen (reported as a gap).
  std::string ia32 = "trace";  // trace | off
};

// Which event classes reach the outputs (the kernel may trace more: ssh needs exec and exit).
struct OutputClasses {
  bool exec = true, exit = true, cred = true, ssh = true, capable = true, file = true;
};
OutputClasses output_classes(const RunOptions &o);

struct Command {
  enum Kind { None, Run, Version, Verify, Probe, RulesCheck } kind = None;
  RunOptions run;
  VerifyArgs verify;
  ProbeOptions probe;
  std::vector<std::string> rules_check_files;  // `ktrail rules check FILE...`
  bool exit_now = false;  // --help or a parse error already printed
  int exit_code = 0;
};

// Parses argv; on --help / errors prints to stdout/stderr and sets exit_now.
Command parse_command_line(int argc, const char *const *argv);

// Validated translation to the loader's configuration.
Status to_loader_config(const RunOptions &o, LoaderConfig &out);
Format resolve_format(const std::string &format, bool stdout_is_tty);

}  // namespace ktrail
