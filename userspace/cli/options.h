// Command-line model and parser (CLI11). Kept apart from main() so tests can parse.
#pragma once
#include <string>
#include <vector>

#include "common/status.h"
#include "loader/loader.h"
#include "sinks/sink.h"

namespace ktrail {

struct RunOptions {
  std::string format = "auto";  // auto | json | table
  std::vector<std::string> events{"exec", "exit", "cred", "ssh", "capable", "file"};
  std::vector<std::string> outputs;  // default: stdout
  double duration = 0;               // seconds; 0 = until SIGINT/SIGTERM
  std::string buffer = "auto";       // auto | ring | perf
  std::string hooks = "auto";        // auto | tp_btf | tracepoint
  uint32_t buffer_mb = 8;
  uint64_t wakeup_bytes = 256 * 1024;
  int drain_ms = 50;
  std::string btf;
  std::string log_level = "info";
  std::vector<std::string> ssh_exe_names{"sshd", "sshd-session", "sshd-auth"};
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
};

// Which event classes reach the outputs (the kernel may trace more: ssh needs exec and exit).
struct OutputClasses {
  bool exec = true, exit = true, cred = true, ssh = true, capable = true, file = true;
};
OutputClasses output_classes(const RunOptions &o);

struct Command {
  enum Kind { None, Run, Version } kind = None;
  RunOptions run;
  bool exit_now = false;  // --help or a parse error already printed
  int exit_code = 0;
};

// Parses argv; on --help / errors prints to stdout/stderr and sets exit_now.
Command parse_command_line(int argc, const char *const *argv);

// Validated translation to the loader's configuration.
Status to_loader_config(const RunOptions &o, LoaderConfig &out);
Format resolve_format(const std::string &format, bool stdout_is_tty);

}  // namespace ktrail
