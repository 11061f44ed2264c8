#pragma once
#include "cli/options.h"

namespace ktrail {
int run_command(const RunOptions &o);
}
