// The config file (YAML or JSON) and KTRAIL_* environment variables for `ktrail run`, layered
//     built-in defaults < config file < environment < command line.
// Every key is one row of the key table in config.cpp; its value goes through the very CLI11
// option (validators, conversion) the command line uses, so the file, the environment and the
// flags accept exactly the same values. README "Configuration file" is the user's reference.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "cli/options.h"

namespace CLI {
class App;
}

namespace ktrail::config {

// One precise complaint: where (file:line:column, or the environment variable), which key
// (outputs[1].tls.ca_file) and what was expected.
struct Diagnostic {
  std::string source;  // file name, or "environment"
  int line = 0, column = 0;  // 1-based; 0 when not from a file
  std::string path;          // key path
  std::string message;
  std::string text() const;
};

using Env = std::map<std::string, std::string>;
// The process's KTRAIL_* variables.
Env process_env();

// `o` is the struct whose members the `run` subcommand's options are bound to, already filled
// by CLI11 from argv. Rebuilds it as defaults < `file` (if not empty) < env < argv. False
// (and errs filled) when the file or the environment holds anything invalid. Unknown KTRAIL_*
// variables are warnings (the environment is shared with other tools), unknown file keys errors.
bool apply_layers(CLI::App &run, RunOptions &o, const std::string &file, const Env &env,
                  std::vector<Diagnostic> &errs, std::vector<std::string> &warnings);

// The effective configuration as YAML (a valid config file). Secrets never appear: credentials
// are only accepted as file paths or environment variable names, and userinfo or secret-looking
// URL parameters are redacted.
std::string effective_yaml(const RunOptions &o);

// `ktrail config check FILE [--print]`: exit code and what to print.
int check_command(CLI::App &run, RunOptions &o, const std::string &file, bool print);

}  // namespace ktrail::config
