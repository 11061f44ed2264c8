// Configuration of the capability and sensitive-file hooks: parsing and validation of the
// watch list and capability names, kept free of BPF so it is unit tested.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "loader/loader.h"

namespace ktrail {

// The default watch list (README "Sensitive files"): secrets are watched for any access,
// /etc/passwd and /etc/group for writes only.
const std::vector<std::string> &default_watch_list();

// One --watch entry: "PATH" (exact), "DIR/" (directory and below), "*SUFFIX" (any path that
// ends with SUFFIX, e.g. "*/.ssh/authorized_keys"), each optionally prefixed with "w:" to
// watch opens with write intent only (chmod/chown/rename/unlink/... always count).
Status parse_watch(const std::string &spec, WatchSpec &out);
// Lines of a --watch-file: one entry per line, '#' comments and blank lines skipped.
Status parse_watch_file(const std::string &path, std::vector<std::string> &entries);

// "CAP_NET_ADMIN", "net_admin" or "12" -> 12; -1 when unknown.
int parse_capability(const std::string &name);
std::string capability_display_name(int cap);
Status parse_capability_list(const std::vector<std::string> &names, uint64_t &mask);

}  // namespace ktrail
