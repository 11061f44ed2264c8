// Adds who and where to a decoded event: names, executable, parent, wall-clock time.
#pragma once
#include "decode/event.h"
#include "enrich/file_attrs.h"
#include "enrich/file_candidates.h"
#include "enrich/host.h"
#include "enrich/identity.h"
#include "enrich/proc_table.h"
#include "enrich/session.h"
#include "enrich/users.h"

namespace ktrail {

// What the agent derives and which classes reach the outputs.
struct EnrichOptions {
  bool ssh = false;  // run the SSH session tracker
  std::vector<std::string> ssh_exe_names{"sshd", "sshd-session", "sshd-auth"};
  bool out_exec = true, out_exit = true, out_cred = true, out_ssh = true;
  bool out_capable = true, out_file = true;
  bool cap_by_process = false;            // capability aggregation key
  std::vector<std::string> watch_entries; // index = ktrail_file.watch, as configured
};

class Enricher {
 public:
  Enricher(const std::string &proc_root = "/proc", const std::string &etc = "/etc");
  size_t seed() { return procs_.seed(proc_root_); }
  void enrich(Event &e);
  void configure(const EnrichOptions &o);
  // SSH sessions open before ktrail started.
  size_t seed_sessions() { return opts_.ssh ? sessions_.seed() : 0; }
  // Events derived from the last enriched one (ssh_auth, ssh_session_*), to emit before and
  // after it; the caller takes them.
  std::vector<Event> &derived_before() { return before_; }
  std::vector<Event> &derived_after() { return after_; }
  // Derived events whose wait is over (now = CLOCK_BOOTTIME ns; UINT64_MAX flushes all).
  void tick(uint64_t now_boot_ns, std::vector<Event> &out);
  SessionTracker &sessions() { return sessions_; }
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
  // pid's exit record is queued behind the records being handled: the process is gone.
  void exit_ahead(uint32_t pid) {
    if (identity_) identity_->exit_ahead(pid);
  }
  // Periodic upkeep (run loop, every few seconds): reap exited processes and gone cgroups.
  void housekeeping();

 private:
  std::string proc_root_;
  ProcTable procs_;
  Users users_;
  Clock clock_;
  EnrichOptions opts_;
  SessionTracker sessions_;
  std::vector<Event> before_, after_;
  std::unique_ptr<IdentityEnricher> identity_;
  uint64_t last_reap_ns_ = 0;
  FileAttrCache file_attrs_;
  FileCandidateResolver file_candidates_;
};

// Resolves the exec'ed file: absolute as is, relative against cwd.
std::string resolve_executable(const std::string &filename, const std::string &cwd);
void resolve_executable(const std::string &filename, const std::string &cwd, std::string &out);

}  // namespace ktrail
