#include "enrich/file_candidates.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>

#include "ktrail/abi/events.h"
#include "policy/policy.h"

namespace ktrail {

namespace {

constexpr int kMaxLinks = 40;  // the kernel's MAXSYMLINKS

void split_into(const std::string &p, std::deque<std::string> &out, bool front) {
  std::deque<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) parts.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  if (front)
    out.insert(out.begin(), parts.begin(), parts.end());
  else
    out.insert(out.end(), parts.begin(), parts.end());
}

std::string join(const std::vector<std::string> &done, const std::string *last = nullptr) {
  std::string s;
  for (const auto &c : done) {
    if (!s.empty()) s += '/';
    s += c;
  }
  if (last) {
    if (!s.empty()) s += '/';
    s += *last;
  }
  return s;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

bool resolve_in_root(int root_fd, const std::string &path, bool follow_last, std::string &out, int *links_out) {
  std::vector<std::string> done;  // components already walked: none of them a symlink
  std::deque<std::string> todo;
  split_into(path, todo, false);
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();  // ".." of the root is the root
      continue;
    }
    bool last = todo.empty();
    if (last && !follow_last) {
      done.push_back(std::move(c));
      break;
    }
    // Relative to the root fd, through components known not to be symlinks: readlinkat reads
    // this component's link without following it.
    std::string rel = join(done, &c);
    char buf[PATH_MAX];
    ssize_t n = readlinkat(root_fd, rel.c_str(), buf, sizeof(buf));
    if (n < 0) {
      // EINVAL: not a symlink. ENOENT on the last component: removed or renamed by now.
      if (errno == EINVAL || (errno == ENOENT && last)) {
        done.push_back(std::move(c));
        continue;
      }
      return false;
    }
    if (n == 0 || static_cast<size_t>(n) >= sizeof(buf) || ++links > kMaxLinks) return false;
    std::string target(buf, static_cast<size_t>(n));
    if (target[0] == '/') done.clear();
    split_into(target, todo, true);
  }
  out = "/" + join(done);
  if (links_out) *links_out = links;
  return true;
}

bool follows_last_link(uint32_t syscall, uint64_t arg_flags) {
  constexpr uint64_t kONofollow = 0400000, kOCreat = 0100, kOExcl = 0200, kAtSymlinkNofollow = 0x100;
  switch (syscall) {
    case KTRAIL_SYS_OPEN:
    case KTRAIL_SYS_OPENAT:
    case KTRAIL_SYS_OPENAT2:
    case KTRAIL_SYS_CREAT:
      return !(arg_flags & kONofollow) && (arg_flags & (kOCreat | kOExcl)) != (kOCreat | kOExcl);
    case KTRAIL_SYS_CHMOD:
    case KTRAIL_SYS_FCHMODAT:
    case KTRAIL_SYS_CHOWN:
    case KTRAIL_SYS_TRUNCATE:
    case KTRAIL_SYS_SETXATTR: return true;
    case KTRAIL_SYS_FCHMODAT2:
    case KTRAIL_SYS_FCHOWNAT: return !(arg_flags & kAtSymlinkNofollow);
    default: return false;  // lchown, lsetxattr, rename*, unlink*
  }
}

void FileCandidateResolver::configure(const std::vector<std::string> &entries, const std::string &proc_root) {
  proc_root_ = proc_root;
  entries_.clear();
  for (uint32_t i = 0; i < entries.size(); i++) {
    WatchSpec w;
    if (!parse_watch(entries[i], w).ok()) continue;
    entries_.push_back({w.path, w.flags, i});
    if (w.flags & KTRAIL_WATCH_SUFFIX) continue;
    // A watched directory reached through a symlink of the agent's own tree (/var/run ->
    // /run): a resolved path is spelled the real way.
    std::string dir = w.path, rest;
    if (w.flags & KTRAIL_WATCH_PREFIX) {
      dir.pop_back();
      rest = "/";
    } else {
      size_t slash = dir.rfind('/');
      rest = dir.substr(slash);
      dir.resize(slash);
    }
    char real[PATH_MAX];
    if (!dir.empty() && realpath(dir.c_str(), real) && dir != real)
      entries_.push_back({std::string(real == std::string("/") ? "" : real) + rest, w.flags, i});
  }
  struct stat st;
  agent_mntns_ = stat("/proc/self/ns/mnt", &st) == 0 ? st.st_ino : 0;
}

int FileCandidateResolver::match(const std::string &path, bool write) const {
  for (const Entry &e : entries_) {
    if ((e.flags & KTRAIL_WATCH_WRITE) && !write) continue;
    const std::string &w = e.path;
    if (e.flags & KTRAIL_WATCH_SUFFIX) {
      if (path.size() >= w.size() && path.compare(path.size() - w.size(), w.size(), w) == 0)
        return static_cast<int>(e.index);
    } else if (e.flags & KTRAIL_WATCH_PREFIX) {
      // "/dir/" covers "/dir" and everything below it, never "/dirx".
      if (path.compare(0, w.size() - 1, w, 0, w.size() - 1) == 0 &&
          (path.size() == w.size() - 1 || path[w.size() - 1] == '/'))
        return static_cast<int>(e.index);
    } else if (path == w) {
      return static_cast<int>(e.index);
    }
  }
  return -1;
}

bool FileCandidateResolver::resolve(Event &e) {
  FileFields &f = e.file;
  Fd root;
  if (!(f.flags & KTRAIL_FILE_PATH_TRUNCATED)) {
    std::string proc = proc_root_ + "/" + std::to_string(e.proc.pid) + "/root";
    root.fd = open(proc.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    // Gone already (chmod(1) exits right after the call): the agent's root stands in for a
    // caller of the agent's mount namespace; a chroot of a gone process is not known.
    if (root.fd < 0 && agent_mntns_ && e.proc.mnt_ns == agent_mntns_)
      root.fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  if (root.fd < 0) {
    g_file_candidates.unresolved.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  bool is_open = f.syscall >= KTRAIL_SYS_OPEN && f.syscall <= KTRAIL_SYS_CREAT;
  bool write = !is_open || (f.arg_flags & 03) || (f.arg_flags & (0100 | 01000));
  std::string path, new_path;
  bool ok = resolve_in_root(root.fd, f.path, follows_last_link(f.syscall, f.arg_flags), path);
  bool ok_new = !f.new_path.empty() && resolve_in_root(root.fd, f.new_path, false, new_path);
  if (!ok && !ok_new) {
    g_file_candidates.unresolved.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  int w = ok ? match(path, write) : -1;
  if (w < 0 && ok_new) w = match(new_path, true);
  if (w < 0) {
    g_file_candidates.unwatched.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (ok) f.path = path;
  if (ok_new) f.new_path = new_path;
  f.watch = static_cast<uint32_t>(w);
  f.flags |= KTRAIL_FILE_RESOLVED;
  f.resolved_by_agent = true;
  g_file_candidates.reported.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace ktrail
