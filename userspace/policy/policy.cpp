#include "policy/policy.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "ktrail/abi/events.h"
#include "sinks/format.h"

namespace ktrail {


const std::vector<std::string> &default_watch_list() {
  static const std::vector<std::string> list = {
      "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d/",
      "w:/etc/passwd", "w:/etc/group",
      "/etc/ssh/", "/root/.ssh/", "*/.ssh/authorized_keys",
      "/var/run/secrets/kubernetes.io/", "/run/secrets/",
  };
  return list;
}

Status parse_watch(const std::string &spec, WatchSpec &out) {
  out = WatchSpec{};
  std::string p = spec;
  if (p.rfind("w:", 0) == 0) {
    out.flags |= KTRAIL_WATCH_WRITE;
    p = p.substr(2);
  }
  if (!p.empty() && p[0] == '*') {
    out.flags |= KTRAIL_WATCH_SUFFIX;
    p = p.substr(1);
    if (p.empty() || p.find('*') != std::string::npos)
      return Status::error(KTRAIL_EXIT_USAGE, "--watch '" + spec + "': a suffix entry is '*' then a path end");
  } else {
    if (p.empty() || p[0] != '/')
      return Status::error(KTRAIL_EXIT_USAGE, "--watch '" + spec + "': paths must be absolute");
    if (p.find('*') != std::string::npos)
      return Status::error(KTRAIL_EXIT_USAGE, "--watch '" + spec + "': '*' is allowed only at the start");
    if (p.size() > 1 && p.back() == '/') out.flags |= KTRAIL_WATCH_PREFIX;
    if (p == "/") return Status::error(KTRAIL_EXIT_USAGE, "--watch '/': that is every file");
  }
  // The kernel compares strings, not resolved paths: "//", "/./" and "/../" never match.
  if (p.find("//") != std::string::npos || p.find("/./") != std::string::npos ||
      p.find("/../") != std::string::npos)
    return Status::error(KTRAIL_EXIT_USAGE, "--watch '" + spec + "': use a normalized path");
  if (p.size() > KTRAIL_WATCH_LEN)
    return Status::error(KTRAIL_EXIT_USAGE, "--watch '" + spec + "': longer than " +
                                                std::to_string(KTRAIL_WATCH_LEN) + " bytes");
  out.path = p;
  return Status::ok();
}

Status parse_watch_file(const std::string &path, std::vector<std::string> &entries) {
  std::ifstream f(path);
  if (!f) return Status::error(KTRAIL_EXIT_USAGE, "--watch-file: cannot read " + path);
  std::string line;
  while (std::getline(f, line)) {
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    auto e = line.find_last_not_of(" \t\r");
    entries.push_back(line.substr(b, e - b + 1));
  }
  return Status::ok();
}

int parse_capability(const std::string &name) {
  if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) {
    int v = std::stoi(name);
    return v < 64 ? v : -1;
  }
  std::string u;
  for (char c : name) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u.rfind("CAP_", 0) != 0) u = "CAP_" + u;
  return capability_id(u);
}

std::string capability_display_name(int cap) { return capability_name(cap); }

Status parse_capability_list(const std::vector<std::string> &names, uint64_t &mask) {
  mask = 0;
  for (const auto &n : names) {
    if (n.empty()) continue;
    int c = parse_capability(n);
    if (c < 0) return Status::error(KTRAIL_EXIT_USAGE, "unknown capability '" + n + "'");
    mask |= uint64_t{1} << c;
  }
  return Status::ok();
}

}  // namespace ktrail
