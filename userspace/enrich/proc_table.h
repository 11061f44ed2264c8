// Processes the agent knows: seeded from /proc at start, then kept current from exec/exit
// events, so events from processes older than ktrail still have names and parents.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "enrich/pid_map.h"

namespace ktrail {

struct ProcInfo {
  uint32_t ppid = 0;
  std::string comm;
  std::string executable;
  std::vector<std::string> args;  // bounded at exec (KTRAIL_ARGS_MAX bytes)
  std::string cwd;
  uint32_t argc = 0;  // the true argc, even when args were cut
  // Leaders (ECS process.entry_leader / session_leader): start time identifies the process for
  // good; sid is the session id; pid_ns tells a container's first process from its parent.
  uint64_t start_boot_ns = 0;
  uint32_t sid = 0;
  uint32_t pid_ns = 0;
};

class ProcTable {
 public:
  // Reads every /proc/<pid>; root is configurable for tests.
  size_t seed(const std::string &proc_root = "/proc");
  const ProcInfo *find(uint32_t pid) const { return procs_.find(pid); }
  void upsert(uint32_t pid, ProcInfo info) { put(pid) = std::move(info); }
  // pid's entry, to be assigned in full: a new one reuses a departed process's slot, whose
  // strings still hold that process's values (and keep their buffers for this one's).
  ProcInfo &put(uint32_t pid);
  void remove(uint32_t pid) { procs_.erase(pid); }
  size_t size() const { return procs_.size(); }
  // Bounded memory: past this many entries, dead processes are reaped, then arbitrary ones
  // evicted (they come back from /proc on their next event).
  void set_capacity(size_t cap) { cap_ = cap; }
  size_t capacity() const { return cap_; }
  // Drops entries whose process is gone or whose pid was reused (start time differs).
  size_t reap(const std::string &proc_root = "/proc");
  // start time (CLOCK_BOOTTIME ns, 10 ms resolution) and session id from /proc/PID/stat.
  static bool read_stat(const std::string &proc_root, uint32_t pid, uint64_t &start_boot_ns, uint32_t &sid);
  // Reads one process from /proc (fallback for pids missed at seed time).
  static bool read_proc(const std::string &proc_root, uint32_t pid, ProcInfo &out);

 private:
  PidMap<ProcInfo> procs_;
  size_t cap_ = 65536;
  std::string reap_root_ = "/proc";
};

}  // namespace ktrail
