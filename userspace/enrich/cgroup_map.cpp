#include "enrich/cgroup_map.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

namespace ktrail {

std::string CgroupMap::find_cgroup2_root(const std::string &base, CgroupLayout &layout) {
  struct statfs fs;
  if (statfs(base.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
    layout = CgroupLayout::V2;
    return base;
  }
  std::string unified = base + "/unified";
  if (statfs(unified.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
    layout = CgroupLayout::Hybrid;
    return unified;
  }
  layout = CgroupLayout::V1;
  return "";
}

void CgroupMap::walk(const std::string &rel, int depth) {
  if (depth > 32 || map_.size() >= cap_) return;
  std::string dir = root_ + rel;
  DIR *d = opendir(dir.c_str());
  if (!d) return;
  struct stat st;
  if (fstat(dirfd(d), &st) == 0) map_[st.st_ino] = Entry{rel.empty() ? "/" : rel, 0};
  while (dirent *de = readdir(d)) {
    if (de->d_type != DT_DIR || de->d_name[0] == '.') continue;
    walk(rel + "/" + de->d_name, depth + 1);
  }
  closedir(d);
}

size_t CgroupMap::seed() {
  if (root_.empty()) return 0;
  size_t before = map_.size();
  walk("", 0);
  return map_.size() - before;
}

void CgroupMap::add(uint64_t id, std::string path, uint64_t now_ns) {
  if (map_.size() >= cap_ && !map_.count(id)) return;
  Entry &e = map_[id];
  e.path = std::move(path);
  e.added_ns = now_ns;
}

const std::string *CgroupMap::find(uint64_t id) const {
  auto it = map_.find(id);
  return it == map_.end() ? nullptr : &it->second.path;
}

size_t CgroupMap::reap(uint64_t now_ns, uint64_t grace_ns) {
  if (root_.empty()) return 0;
  size_t n = 0;
  struct stat st;
  for (auto it = map_.begin(); it != map_.end();) {
    bool gone = stat((root_ + it->second.path).c_str(), &st) != 0 || st.st_ino != it->first;
    if (now_ns - it->second.added_ns >= grace_ns && gone) {
      it = map_.erase(it);
      n++;
    } else {
      ++it;
    }
  }
  return n;
}

}  // namespace ktrail
