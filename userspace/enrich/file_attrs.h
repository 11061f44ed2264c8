// The mode and owner the agent last knew for watched paths, so path-based chmod/chown (which
// the kernel side cannot look up before the call) report the attributes they replaced.
#pragma once
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/event.h"

namespace ktrail {

class FileAttrCache {
 public:
  static constexpr size_t kMaxEntries = 16384;
  static constexpr size_t kSeedPerDirectory = 4096;
  static constexpr int kSeedDepth = 4;

  // stat() of every exact entry and of the files up to kSeedDepth levels below each prefix
  // entry (at most kSeedPerDirectory each). Suffix entries name no path to stat.
  size_t seed(const std::vector<std::string> &watch_entries);
  // Fills the old mode/owner of a path-based chmod/chown from the cache (old_source Agent;
  // fd-based calls already carry the kernel's, old_source Kernel), then records what the
  // event shows of the path's current attributes.
  void apply(FileFields &f, int64_t ret);
  size_t size() const { return attrs_.size(); }

 private:
  struct Attrs {
    uint32_t mode, uid, gid;
  };
  void put(const std::string &path, const Attrs &a);
  void put_stat(const std::string &path);
  std::unordered_map<std::string, Attrs> attrs_;
};

}  // namespace ktrail
