#include "enrich/users.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "enrich/cache_stats.h"

namespace ktrail {

void NameDb::refresh() {
  time_t now = time(nullptr);
  if (now == last_check_ && !names_.empty()) return;  // stat at most once a second
  last_check_ = now;
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return;
  if (st.st_mtim.tv_sec == mtime_.tv_sec && st.st_mtim.tv_nsec == mtime_.tv_nsec) return;
  mtime_ = st.st_mtim;
  std::unordered_map<uint32_t, std::string> fresh;
  std::ifstream f(path_);
  std::string line;
  while (std::getline(f, line)) {
    // name:passwd:id:...
    auto a = line.find(':');
    if (a == std::string::npos || line[0] == '#') continue;
    auto b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    auto c = line.find(':', b + 1);
    std::string id = line.substr(b + 1, c == std::string::npos ? std::string::npos : c - b - 1);
    char *end;
    unsigned long v = strtoul(id.c_str(), &end, 10);
    if (id.empty() || *end) continue;
    fresh.emplace(static_cast<uint32_t>(v), line.substr(0, a));  // first entry wins, like getpwuid
  }
  names_ = std::move(fresh);
  last_ = nullptr;
}

const std::string &NameDb::lookup(uint32_t id) {
  static const std::string empty;
  refresh();
  // A record looks up four or five ids, nearly always the same one or two: the last answer
  // is kept (a pointer into names_, stable until refresh replaces the map).
  if (last_ && id == last_id_) {
    g_user_cache.count(last_ != &empty);
    return *last_;
  }
  auto it = names_.find(id);
  g_user_cache.count(it != names_.end());
  last_id_ = id;
  last_ = it == names_.end() ? &empty : &it->second;
  return *last_;
}

}  // namespace ktrail
