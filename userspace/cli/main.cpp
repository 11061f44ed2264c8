#include <cstdio>

#include "cli/options.h"
#include "cli/rules_check.h"
#include "cli/run.h"
#include "cli/verify.h"

int main(int argc, char **argv) {
  ktrail::Command cmd = ktrail::parse_command_line(argc, argv);
  if (cmd.exit_now) return cmd.exit_code;
  switch (cmd.kind) {
    case ktrail::Command::Run: return ktrail::run_command(cmd.run);
    case ktrail::Command::Probe: return ktrail::probe_command(cmd.probe);
    case ktrail::Command::Version: std::printf("ktrail %s\n", KTRAIL_VERSION); return 0;
    case ktrail::Command::Verify: return ktrail::verify_command(cmd.verify);
    case ktrail::Command::RulesCheck: return ktrail::rules_check_command(cmd.rules_check_files);
    default: return ktrail::KTRAIL_EXIT_USAGE;
  }
}
