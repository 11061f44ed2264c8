// Reading /proc and /etc files without exceptions: a process can exit between open() and
// read() (ESRCH), and libstdc++'s filebuf then throws from inside an iterator.
#pragma once
#include <string>
#include <string_view>

namespace ktrail {

// The file's contents, at most max_bytes; "" when it cannot be read.
std::string read_file(const std::string &path, size_t max_bytes = 1 << 20);

// Writes all of data to fd, across partial writes and EINTR. False on an error (errno says
// which) or a write of 0 bytes.
bool write_all(int fd, std::string_view data);

}  // namespace ktrail
