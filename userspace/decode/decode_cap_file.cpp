// Capability-check and sensitive-file records.
#include <cstring>

#include "decode/decode.h"
#include "ktrail/abi/events.h"

namespace ktrail {

bool decode_capable(const void *data, size_t size, Event &e, std::string &err) {
  if (size < sizeof(ktrail_capable)) {
    err = "capable record too short";
    return false;
  }
  ktrail_capable x;
  std::memcpy(&x, data, sizeof(x));
  if (x.cap < 0 || x.cap > 63 || x.origin < KTRAIL_CAP_FIRST || x.origin > KTRAIL_CAP_OVERFLOW ||
      x.audit > KTRAIL_CAP_AUDIT_NO || x.count == 0) {
    err = "capable record fields out of range";
    return false;
  }
  e.kind = EventKind::Capable;
  e.cap.cap = x.cap;
  e.cap.ret = x.ret;
  e.cap.count = x.count;
  e.cap.first_boot_ns = x.first_boot_ns;
  e.cap.exe_ino = x.exe_ino;
  e.cap.exe_dev = x.exe_dev;
  e.cap.syscall_nr = x.syscall_nr;
  e.cap.audit = x.audit;
  e.cap.origin = x.origin;
  e.cap.hook = x.hook;
  e.cap.noise = x.noise != 0;
  e.ret = x.ret;
  return true;
}

const char *file_syscall_name(uint32_t s) {
  switch (s) {
    case KTRAIL_SYS_OPEN: return "open";
    case KTRAIL_SYS_OPENAT: return "openat";
    case KTRAIL_SYS_OPENAT2: return "openat2";
    case KTRAIL_SYS_CREAT: return "creat";
    case KTRAIL_SYS_CHMOD: return "chmod";
    case KTRAIL_SYS_FCHMOD: return "fchmod";
    case KTRAIL_SYS_FCHMODAT: return "fchmodat";
    case KTRAIL_SYS_FCHMODAT2: return "fchmodat2";
    case KTRAIL_SYS_CHOWN: return "chown";
    case KTRAIL_SYS_FCHOWN: return "fchown";
    case KTRAIL_SYS_LCHOWN: return "lchown";
    case KTRAIL_SYS_FCHOWNAT: return "fchownat";
    case KTRAIL_SYS_RENAME: return "rename";
    case KTRAIL_SYS_RENAMEAT: return "renameat";
    case KTRAIL_SYS_RENAMEAT2: return "renameat2";
    case KTRAIL_SYS_UNLINK: return "unlink";
    case KTRAIL_SYS_UNLINKAT: return "unlinkat";
    case KTRAIL_SYS_TRUNCATE: return "truncate";
    case KTRAIL_SYS_FTRUNCATE: return "ftruncate";
    case KTRAIL_SYS_SETXATTR: return "setxattr";
    case KTRAIL_SYS_LSETXATTR: return "lsetxattr";
    case KTRAIL_SYS_FSETXATTR: return "fsetxattr";
  }
  return "unknown";
}

bool decode_file(const void *data, size_t size, Event &e, std::string &err) {
  if (size < sizeof(ktrail_file)) {
    err = "file record too short";
    return false;
  }
  // ~1 KiB: decode from the caller's bytes rather than a stack copy of the whole record.
  const auto *x = static_cast<const ktrail_file *>(data);
  ktrail_file f;
  std::memcpy(&f, x, offsetof(ktrail_file, path));
  if (f.syscall < KTRAIL_SYS_OPEN || f.syscall > KTRAIL_SYS_FILE_LAST ||
      f.path_len >= KTRAIL_PATH_MAX || f.new_path_len >= KTRAIL_PATH_MAX ||
      f.watch >= KTRAIL_WATCH_MAX) {
    err = "file record fields out of range";
    return false;
  }
  const char *base = static_cast<const char *>(data);
  e.kind = EventKind::File;
  e.ret = f.ret;
  e.syscall = f.syscall;
  e.file.syscall = f.syscall;
  e.file.flags = f.flags;
  e.file.arg_flags = f.arg_flags;
  e.file.mode = f.mode;
  e.file.old_mode = f.old_mode;
  e.file.uid = f.uid;
  e.file.gid = f.gid;
  e.file.old_uid = f.old_uid;
  e.file.old_gid = f.old_gid;
  e.file.ino = f.ino;
  e.file.dev = f.dev;
  e.file.watch = f.watch;
  const char *p = base + offsetof(ktrail_file, path);
  const char *np = base + offsetof(ktrail_file, new_path);
  e.file.path.assign(p, strnlen(p, f.path_len));
  e.file.new_path.assign(np, strnlen(np, f.new_path_len));
  return true;
}

}  // namespace ktrail
