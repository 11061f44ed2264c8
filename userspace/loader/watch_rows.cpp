#include "loader/watch_rows.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace ktrail {
namespace {

bool is_dir(const std::string &path, struct stat &st) {
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Up to 8 bytes of s in a word (low byte first, as the kernel loads them) and its mask.
void first_word(const std::string &s, __u64 &word, __u64 &mask) {
  size_t n = std::min<size_t>(s.size(), 8);
  word = 0;
  memcpy(&word, s.data(), n);
  mask = n >= 8 ? ~0ull : (1ull << (n * 8)) - 1;
}

}  // namespace

std::vector<ktrail_watch_rel> relative_rows(const std::vector<WatchSpec> &watches) {
  std::vector<ktrail_watch_rel> rows;
  auto add = [&rows](uint64_t ino, const std::string &rest, uint32_t flags) {
    ktrail_watch_rel r{};
    r.ino = ino;
    r.flags = flags;
    first_word(rest, r.word, r.mask);
    if (flags & KTRAIL_REL_INSIDE) r.word = r.mask = 0;
    for (const auto &o : rows)
      if (o.ino == r.ino && o.word == r.word && o.mask == r.mask && o.flags == r.flags) return;
    rows.push_back(r);
  };
  for (const auto &w : watches) {
    if (w.flags & KTRAIL_WATCH_SUFFIX) continue;
    std::string p = w.path;
    if (w.flags & KTRAIL_WATCH_PREFIX) {
      p.pop_back();
      struct stat st;
      if (stat(p.c_str(), &st) == 0) add(st.st_ino, "", KTRAIL_REL_INSIDE);
    }
    for (size_t slash = p.find('/'); slash != std::string::npos && slash + 1 < p.size();
         slash = p.find('/', slash + 1)) {
      std::string dir = slash == 0 ? "/" : p.substr(0, slash);
      struct stat st;
      if (stat(dir.c_str(), &st) == 0) add(st.st_ino, p.substr(slash + 1), 0);
    }
  }
  return rows;
}

std::vector<MissingDir> missing_dirs(const std::vector<WatchSpec> &watches) {
  std::vector<MissingDir> out;
  for (const auto &w : watches) {
    if (w.flags & KTRAIL_WATCH_SUFFIX) continue;
    const bool prefix = w.flags & KTRAIL_WATCH_PREFIX;
    std::string p = w.path;
    if (prefix) p.pop_back();
    std::vector<std::string> comps;
    for (size_t b = 1; b <= p.size();) {
      size_t e = std::min(p.find('/', b), p.size());
      comps.push_back(p.substr(b, e - b));
      b = e + 1;
    }
    // The directory the entry needs: all of a prefix entry, an exact entry's parent.
    const size_t need = prefix ? comps.size() : comps.size() - 1;
    struct stat st;
    std::string dir;
    for (size_t i = 0; i < need; i++) dir.append("/").append(comps[i]);
    if (is_dir(dir.empty() ? "/" : dir, st)) continue;
    // Existing directories form a chain from "/": the first missing one ends it.
    std::string anc, next;
    size_t k = 0;
    for (; k < need; k++) {
      next = anc;
      next.append("/").append(comps[k]);
      if (!is_dir(next, st)) break;
      anc = next;
    }
    static const std::string root = "/";
    const std::string &ancestor = anc.empty() ? root : anc;
    if (!is_dir(ancestor, st)) continue;  // "/" itself: nothing can be watched then
    MissingDir m{};
    m.dir = prefix ? w.path : dir;
    m.ancestor = ancestor;
    m.row.ino = st.st_ino;
    first_word(comps[k], m.row.word, m.row.mask);
    m.row.len = static_cast<__u32>(comps[k].size());
    // Levels of the walk from the opened file (0) up to the ancestor: the entry itself sits
    // comps.size() - k levels below it; anything under a prefix entry deeper.
    m.row.lvl = static_cast<__u32>(comps.size() - k);
    m.row.flags = prefix ? KTRAIL_MISS_AT_LEAST : 0;
    m.coverable = m.row.lvl < KTRAIL_FILE_DEPTH;
    out.push_back(m);
  }
  return out;
}

std::vector<ktrail_watch_miss> missing_rows(const std::vector<MissingDir> &missing) {
  std::vector<ktrail_watch_miss> rows;
  for (const auto &m : missing) {
    if (!m.coverable) continue;
    const ktrail_watch_miss &r = m.row;
    auto same = std::find_if(rows.begin(), rows.end(), [&r](const ktrail_watch_miss &o) {
      return o.ino == r.ino && o.word == r.word && o.len == r.len &&
             (o.flags == r.flags && (o.lvl == r.lvl || (r.flags & KTRAIL_MISS_AT_LEAST)));
    });
    if (same == rows.end())
      rows.push_back(r);
    else
      same->lvl = std::min(same->lvl, r.lvl);
  }
  return rows;
}

}  // namespace ktrail
