// Watched-file candidates (KTRAIL_FILE_CANDIDATE): file calls whose path string matched no
// watch entry in the kernel but which may have reached a watched file through a symlink (a
// denied open, chmod/chown/truncate/setxattr, rename/unlink under a symlinked directory). The
// agent resolves the caller's path itself, component by component as the kernel would, in the
// caller's root, and reports the call only when the real path is watched.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "decode/event.h"

namespace ktrail {

// For /metrics (ktrail_file_candidates_total{result}); the pipeline thread counts.
struct FileCandidateCounters {
  std::atomic<uint64_t> reported{0};    // resolved to a watched path: emitted
  std::atomic<uint64_t> unwatched{0};   // resolved, not watched: dropped
  std::atomic<uint64_t> unresolved{0};  // caller's root gone or path no longer resolvable
};
inline FileCandidateCounters g_file_candidates;

// Resolves `path` (absolute, inside the directory root_fd stands for) as path lookup does: ".."
// and symlinks in directory components are followed, a symlink in the last component only with
// follow_last; at most 40 links (ELOOP). A missing last component is kept as spelled (unlink
// and rename have removed it). Returns false when the path cannot be walked. *links counts the
// symlinks followed.
bool resolve_in_root(int root_fd, const std::string &path, bool follow_last, std::string &out, int *links = nullptr);

// Whether a call of this kind (enum ktrail_cred_syscall) with these flags follows a symlink in
// its last component.
bool follows_last_link(uint32_t syscall, uint64_t arg_flags);

class FileCandidateResolver {
 public:
  // entries: the watch list as configured (index = ktrail_file.watch). Entries whose directory
  // is itself reached through a symlink (/var/run -> /run) also match in their real form.
  void configure(const std::vector<std::string> &entries, const std::string &proc_root = "/proc");
  // On a watched result: path/new_path become the real paths, watch the entry's index, and the
  // RESOLVED flag is set (resolved_by_agent). Otherwise false; every outcome is counted.
  bool resolve(Event &e);
  // The first entry matching path (with write intent or not), or -1; kernel semantics.
  int match(const std::string &path, bool write) const;

 private:
  struct Entry {
    std::string path;  // "/dir/" (prefix), "X" (suffix, without '*'), or an exact path
    uint32_t flags;    // enum ktrail_watch_flags
    uint32_t index;
  };
  std::vector<Entry> entries_;
  std::string proc_root_ = "/proc";
  uint64_t agent_mntns_ = 0;
};

}  // namespace ktrail
