#include "enrich/file_attrs.h"

#include <fcntl.h>

#include "ktrail/abi/events.h"

#include <filesystem>
#include <system_error>

namespace ktrail {

namespace fs = std::filesystem;

size_t FileAttrCache::seed(const std::vector<std::string> &watch_entries) {
  for (std::string p : watch_entries) {
    if (p.rfind("w:", 0) == 0) p.erase(0, 2);
    if (p.empty() || p[0] != '/') continue;  // suffix entries ("*X")
    if (p.back() != '/') {
      put_stat(p);
      continue;
    }
    p.pop_back();
    put_stat(p);
    std::error_code ec;
    fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
    size_t n = 0;
    for (; !ec && it != end && n < kSeedPerDirectory; it.increment(ec), n++) {
      if (it.depth() >= kSeedDepth - 1) it.disable_recursion_pending();
      put_stat(it->path().string());
    }
  }
  return attrs_.size();
}

void FileAttrCache::put(const std::string &path, const Attrs &a) {
  if (attrs_.size() >= kMaxEntries && !attrs_.count(path)) return;
  attrs_[path] = a;
}

void FileAttrCache::put_stat(const std::string &path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) put(path, {st.st_mode, st.st_uid, st.st_gid});
  else attrs_.erase(path);
}

void FileAttrCache::apply(FileFields &f, int64_t ret) {
  const uint32_t k = f.syscall;
  const bool chmod = k == KTRAIL_SYS_CHMOD || k == KTRAIL_SYS_FCHMOD || k == KTRAIL_SYS_FCHMODAT ||
                     k == KTRAIL_SYS_FCHMODAT2;
  const bool chown = k == KTRAIL_SYS_CHOWN || k == KTRAIL_SYS_FCHOWN || k == KTRAIL_SYS_LCHOWN ||
                     k == KTRAIL_SYS_FCHOWNAT;
  const bool open = k >= KTRAIL_SYS_OPEN && k <= KTRAIL_SYS_CREAT;
  if (chmod || chown) {
    if (f.old_uid != UINT32_MAX) {
      f.old_source = FileFields::OldSource::Kernel;
    } else {
      // The cache holds what stat() (which follows symlinks) saw: a call that does not follow
      // them on a path that is a link changed the link, not that.
      struct stat lst;
      bool nofollow = k == KTRAIL_SYS_LCHOWN || (k == KTRAIL_SYS_FCHOWNAT && (f.arg_flags & AT_SYMLINK_NOFOLLOW)) ||
                      (k == KTRAIL_SYS_FCHMODAT2 && (f.arg_flags & AT_SYMLINK_NOFOLLOW));
      auto it = attrs_.find(f.path);
      if (it != attrs_.end() && !(nofollow && lstat(f.path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))) {
        f.old_mode = it->second.mode;
        f.old_uid = it->second.uid;
        f.old_gid = it->second.gid;
        f.old_source = FileFields::OldSource::Agent;
      }
    }
  }
  if (ret < 0) return;
  if (open && f.ino) {
    put(f.path, {f.old_mode, f.old_uid, f.old_gid});
  } else if (chmod || chown) {
    auto it = attrs_.find(f.path);
    if (it == attrs_.end()) {
      put_stat(f.path);
    } else if (chmod) {
      it->second.mode = (it->second.mode & ~07777u) | (f.mode & 07777u);
    } else {
      if (f.uid != UINT32_MAX) it->second.uid = f.uid;
      if (f.gid != UINT32_MAX) it->second.gid = f.gid;
    }
  } else if (k == KTRAIL_SYS_RENAME || k == KTRAIL_SYS_RENAMEAT || k == KTRAIL_SYS_RENAMEAT2) {
    auto it = attrs_.find(f.path);
    if (it != attrs_.end() && !f.new_path.empty()) {
      Attrs a = it->second;
      attrs_.erase(it);
      put(f.new_path, a);
    }
  } else if (k == KTRAIL_SYS_UNLINK || k == KTRAIL_SYS_UNLINKAT) {
    attrs_.erase(f.path);
  }
}

}  // namespace ktrail
