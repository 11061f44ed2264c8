#include "enrich/proc_table.h"

#include "common/fs.h"

#include <dirent.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ktrail {

bool ProcTable::read_proc(const std::string &root, uint32_t pid, ProcInfo &out) {
  std::string base = root + "/" + std::to_string(pid);
  std::string line = read_file(base + "/stat", 4096);
  if (line.empty()) return false;
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  // comm may contain spaces and parentheses: it ends at the last ')'.
  auto l = line.find('('), r = line.rfind(')');
  if (l == std::string::npos || r == std::string::npos || r < l) return false;
  out.comm = line.substr(l + 1, r - l - 1);
  std::istringstream rest(line.substr(r + 1));
  std::string state;
  uint32_t pgrp = 0;
  rest >> state >> out.ppid >> pgrp >> out.sid;
  // Fields 7..21 sit between session and starttime (field 22).
  std::string skip;
  for (int i = 0; i < 15; i++) rest >> skip;
  unsigned long long ticks = 0;
  if (rest >> ticks) out.start_boot_ns = ticks * (1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
  char buf[PATH_MAX];
  ssize_t n = readlink((base + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) out.executable.assign(buf, n);
  n = readlink((base + "/cwd").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) out.cwd.assign(buf, n);
  n = readlink((base + "/ns/pid").c_str(), buf, sizeof(buf) - 1);  // "pid:[4026531836]"
  if (n > 5) out.pid_ns = static_cast<uint32_t>(strtoul(std::string(buf + 5, n - 5).c_str(), nullptr, 10));
  std::string all = read_file(base + "/cmdline");
  out.args.clear();
  size_t i = 0;
  while (i < all.size()) {
    size_t j = all.find('\0', i);
    if (j == std::string::npos) j = all.size();
    out.args.push_back(all.substr(i, j - i));
    i = j + 1;
  }
  out.argc = static_cast<uint32_t>(out.args.size());
  return true;
}

size_t ProcTable::seed(const std::string &root) {
  DIR *d = opendir(root.c_str());
  if (!d) return 0;
  size_t n = 0;
  while (dirent *de = readdir(d)) {
    char *end;
    unsigned long pid = strtoul(de->d_name, &end, 10);
    if (*end || pid == 0) continue;
    ProcInfo info;
    if (procs_.size() >= cap_) break;
    if (read_proc(root, static_cast<uint32_t>(pid), info)) {
      put(static_cast<uint32_t>(pid)) = std::move(info);
      n++;
    }
  }
  closedir(d);
  return n;
}

ProcInfo &ProcTable::put(uint32_t pid) {
  if (procs_.size() >= cap_ && !procs_.contains(pid)) {
    reap(reap_root_);
    // Still full: every entry is alive. Evict one; it is re-read from /proc if it shows up.
    procs_.erase_if([&](uint32_t p, const ProcInfo &) { return p != 1 && procs_.size() >= cap_; });
  }
  return procs_.put(pid);
}

bool ProcTable::read_stat(const std::string &root, uint32_t pid, uint64_t &start, uint32_t &sid) {
  std::ifstream stat(root + "/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto r = line.rfind(')');
  if (r == std::string::npos) return false;
  std::istringstream rest(line.substr(r + 1));
  std::string state, skip;
  uint32_t ppid = 0, pgrp = 0;
  rest >> state >> ppid >> pgrp >> sid;
  for (int i = 0; i < 15; i++) rest >> skip;
  unsigned long long ticks = 0;
  if (!(rest >> ticks)) return false;
  start = ticks * (1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
  return true;
}

size_t ProcTable::reap(const std::string &root) {
  reap_root_ = root;
  // /proc start times have clock-tick resolution: compare at that granularity.
  const uint64_t tick = 1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  return procs_.erase_if([&](uint32_t pid, const ProcInfo &p) {
    uint64_t start = 0;
    uint32_t sid = 0;
    bool alive = read_stat(root, pid, start, sid);
    bool reused = alive && p.start_boot_ns && start / tick != p.start_boot_ns / tick;
    return !alive || reused;
  });
}

}  // namespace ktrail
