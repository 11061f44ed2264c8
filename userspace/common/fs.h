// Reading /proc and /etc files without exceptions: a process can exit between open() and
// read() (ESRCH), and libstdc++'s filebuf then throws from inside an iterator.
#pragma once
#include <string>

namespace ktrail {

// The file's contents, at most max_bytes; "" when it cannot be read.
std::string read_file(const std::string &path, size_t max_bytes = 1 << 20);

}  // namespace ktrail
