// cgroup id -> path. Seeded by walking the cgroup2 mount at start, then kept current from the
// kernel's cgroup_mkdir records, so a cgroup that is already gone still resolves. Bounded:
// entries whose directory is gone are dropped after a grace period.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>

namespace ktrail {

enum class CgroupLayout { V2, Hybrid, V1 };

class CgroupMap {
 public:
  // Where cgroup2 is mounted ("" on v1-only hosts); layout says which kind of host this is.
  static std::string find_cgroup2_root(const std::string &sys_fs_cgroup, CgroupLayout &layout);

  explicit CgroupMap(std::string cgroup2_root = "", size_t cap = 262144)
      : root_(std::move(cgroup2_root)), cap_(cap) {}
  const std::string &root() const { return root_; }
  // Walks root recursively (inode = cgroup id). Returns the number of cgroups recorded.
  size_t seed();
  void add(uint64_t id, std::string path, uint64_t now_ns);
  const std::string *find(uint64_t id) const;
  // Drops entries older than grace_ns whose directory no longer exists.
  size_t reap(uint64_t now_ns, uint64_t grace_ns);
  size_t size() const { return map_.size(); }

 private:
  struct Entry {
    std::string path;
    uint64_t added_ns = 0;
  };
  void walk(const std::string &rel, int depth);
  std::string root_;
  size_t cap_;
  std::unordered_map<uint64_t, Entry> map_;
};

}  // namespace ktrail
