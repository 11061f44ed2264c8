// Processes the agent knows: seeded from /proc at start, then kept current from exec/exit
// events, so events from processes older than ktrail still have names and parents.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace ktrail {

struct ProcInfo {
  uint32_t ppid = 0;
  std::string comm;
  std::string executable;
  std::vector<std::string> args;  // bounded at exec (KTRAIL_ARGS_MAX bytes)
  std::string cwd;
  uint32_t argc = 0;  // the true argc, even when args were cut
};

class ProcTable {
 public:
  // Reads every /proc/<pid>; root is configurable for tests.
  size_t seed(const std::string &proc_root = "/proc");
  const ProcInfo *find(uint32_t pid) const;
  void upsert(uint32_t pid, ProcInfo info);
  void remove(uint32_t pid) { procs_.erase(pid); }
  size_t size() const { return procs_.size(); }
  // Reads one process from /proc (fallback for pids missed at seed time).
  static bool read_proc(const std::string &proc_root, uint32_t pid, ProcInfo &out);

 private:
  std::unordered_map<uint32_t, ProcInfo> procs_;
};

}  // namespace ktrail
