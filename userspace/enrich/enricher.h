// Adds who and where to a decoded event: names, executable, parent, wall-clock time.
#pragma once
#include "decode/event.h"
#include "enrich/host.h"
#include "enrich/identity.h"
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
  // Container, Kubernetes and cloud identity. Off until enabled (unit tests construct plain
  // enrichers); start() seeds the cgroup map and starts the background lookups.
  void enable_identity(IdentityConfig cfg);
  IdentityEnricher *identity() { return identity_.get(); }
  void observe_cgroup(uint64_t id, const std::string &path, uint64_t boot_ns) {
    if (identity_) identity_->observe_cgroup(id, path, boot_ns);
  }
  // Periodic upkeep (run loop, every few seconds): reap exited processes and gone cgroups.
  void housekeeping();

 private:
  std::string proc_root_;
  ProcTable procs_;
  Users users_;
  Clock clock_;
  std::unique_ptr<IdentityEnricher> identity_;
  uint64_t last_reap_ns_ = 0;
};

// Resolves the exec'ed file: absolute as is, relative against cwd.
std::string resolve_executable(const std::string &filename, const std::string &cwd);

}  // namespace ktrail
