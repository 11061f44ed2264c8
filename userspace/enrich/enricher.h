// Adds who and where to a decoded event: names, executable, parent, wall-clock time.
#pragma once
#include "decode/event.h"
#include "enrich/host.h"
#include "enrich/proc_table.h"
#include "enrich/users.h"

namespace ktrail {

class Enricher {
 public:
  Enricher(const std::string &proc_root = "/proc", const std::string &etc = "/etc");
  size_t seed() { return procs_.seed(proc_root_); }
  void enrich(Event &e);
  // Exit events drop the process from the table once they have been enriched.
  void after_emit(const Event &e);
  Clock &clock() { return clock_; }
  ProcTable &procs() { return procs_; }

 private:
  std::string proc_root_;
  ProcTable procs_;
  Users users_;
  Clock clock_;
};

// Resolves the exec'ed file: absolute as is, relative against cwd.
std::string resolve_executable(const std::string &filename, const std::string &cwd);

}  // namespace ktrail
