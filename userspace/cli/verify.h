// `ktrail verify`: the auditor's side of the tamper-evident trail (integrity/verify.h).
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ktrail {

struct VerifyArgs {
  std::vector<std::string> pubkeys;
  std::vector<std::string> files;  // empty: stdin
  bool json = false;
  bool live = false;
};

CLI::App *add_verify_command(CLI::App &app, VerifyArgs &a);
int verify_command(const VerifyArgs &a);

}  // namespace ktrail
