// Command-line model and parser (CLI11). Kept apart from main() so tests can parse.
#pragma once
#include <string>
#include <vector>

#include "cli/probe.h"
#include "common/status.h"
#include "loader/loader.h"
#include "sinks/sink.h"

namespace ktrail {

struct RunOptions {
  std::string format = "auto";  // auto | json | table
  std::vector<std::string> events{"exec", "exit", "cred"};
  std::vector<std::string> outputs;  // default: stdout
  double duration = 0;               // seconds; 0 = until SIGINT/SIGTERM
  std::string buffer = "auto";       // auto | ring | perf
  std::string hooks = "auto";        // auto | tp_btf | tracepoint
  uint32_t buffer_mb = 8;
  uint64_t wakeup_bytes = 256 * 1024;
  int drain_ms = 50;
  std::string btf;
  std::string pin;  // bpffs directory to pin to / resume from
  std::string log_level = "info";
};

struct Command {
  enum Kind { None, Run, Version, Probe } kind = None;
  RunOptions run;
  ProbeOptions probe;
  bool exit_now = false;  // --help or a parse error already printed
  int exit_code = 0;
};

// Parses argv; on --help / errors prints to stdout/stderr and sets exit_now.
Command parse_command_line(int argc, const char *const *argv);

// Validated translation to the loader's configuration.
Status to_loader_config(const RunOptions &o, LoaderConfig &out);
Format resolve_format(const std::string &format, bool stdout_is_tty);

}  // namespace ktrail
