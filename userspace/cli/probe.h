// `ktrail probe`: what this kernel offers and what `ktrail run` would do with it.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ktrail {

struct ProbeOptions {
  bool json = false;
  std::vector<std::string> events{"exec", "exit", "cred"};
  std::string buffer = "auto";
  std::string hooks = "auto";
  std::string btf;
  std::string ia32 = "trace";  // as `ktrail run --ia32`
};

CLI::App *add_probe_command(CLI::App &app, ProbeOptions &o);

// Probes the kernel (loads tiny programs when privileged) and returns the report. The text
// output is rendered from this same document, so both formats carry the same content.
nlohmann::json collect_probe(const ProbeOptions &o);
std::string render_probe_text(const nlohmann::json &report);

// Prints the report; the exit code is what `ktrail run` would hit first (0 = it can run).
int probe_command(const ProbeOptions &o);

}  // namespace ktrail
