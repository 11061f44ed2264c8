#include "cli/rules_check.h"

#include <cstdio>

#include "common/status.h"
#include "rules/rules.h"

namespace ktrail {

int rules_check_command(const std::vector<std::string> &files) {
  rules::RuleSet set;
  std::vector<rules::RuleError> errors;
  bool ok = rules::load_rules(files, set, errors);
  for (const auto &e : errors) std::fprintf(stderr, "%s\n", e.str().c_str());
  if (!ok) return KTRAIL_EXIT_USAGE;
  size_t stateful = 0;
  for (const auto &r : set.rules) stateful += r.has_threshold || r.has_after || !r.first_seen.empty();
  std::printf("OK: %zu rules (%zu stateful) in %zu file%s\n", set.rules.size(), stateful, files.size(),
              files.size() == 1 ? "" : "s");
  return KTRAIL_EXIT_OK;
}

}  // namespace ktrail
