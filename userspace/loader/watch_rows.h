// The rows the kernel's file filter (bpf/file.bpf.h) compares inodes against, computed by
// stat() of the watch entries when the agent starts.
#pragma once
#include <string>
#include <vector>

#include "ktrail/abi/events.h"
#include "loader/loader.h"

namespace ktrail {

// For every directory on the way to a non-suffix entry, its inode and the entry's next bytes;
// for prefix entries, their own directory as INSIDE. stat() follows symlinks, so /var/run/...
// gets /run's inode. A directory that does not exist yet gets no row here (see missing_rows).
std::vector<ktrail_watch_rel> relative_rows(const std::vector<WatchSpec> &watches);

// A watched directory (an exact entry's parent, a prefix entry's directory) that does not exist.
struct MissingDir {
  std::string dir;       // as the entry spells it
  std::string ancestor;  // its nearest existing directory
  ktrail_watch_miss row;
  bool coverable;        // false: deeper than the kernel's walk below the ancestor
};

// One per entry whose directory is missing. Rows of coverable entries that differ only in an
// "at least" level are merged into the shallower one.
std::vector<MissingDir> missing_dirs(const std::vector<WatchSpec> &watches);
std::vector<ktrail_watch_miss> missing_rows(const std::vector<MissingDir> &missing);

}  // namespace ktrail
