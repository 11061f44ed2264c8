// `ktrail rules check FILE...`: parse and compile rule files as `run` would, print every error
// as FILE:LINE:COL: message, exit 2 on any error.
#pragma once
#include <string>
#include <vector>

namespace ktrail {

int rules_check_command(const std::vector<std::string> &files);

}  // namespace ktrail
