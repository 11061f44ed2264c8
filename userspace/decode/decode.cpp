#include "decode/decode.h"

#include <cstring>

#include "ktrail/abi/events.h"

namespace ktrail {

namespace {

std::string bounded_str(const char *p, size_t max) { return std::string(p, strnlen(p, max)); }

// The kernel names a pty slave "pts3" (tty->name); its device is /dev/pts/3, and ps, who and
// the documented field say "pts/3".
std::string tty_name(const char *p, size_t max) {
  std::string s = bounded_str(p, max);
  if (s.size() > 3 && s.compare(0, 3, "pts") == 0 && s.find_first_not_of("0123456789", 3) == std::string::npos)
    s.insert(3, "/");
  return s;
}

void decode_creds(const ktrail_creds &c, Creds &out) {
  out = {c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid};
}

void decode_header(const ktrail_header &h, Event &e) {
  e.boot_ns = h.boot_ns;
  e.hdr_flags = h.flags;
  e.proc.cgroup_id = h.cgroup_id;
  e.proc.start_boot_ns = h.start_boot_ns;
  e.proc.pid = h.pid;
  e.proc.tid = h.tid;
  e.proc.ppid = h.ppid;
  e.proc.ns_pid = h.ns_pid;
  e.proc.mnt_ns = h.mnt_ns;
  e.proc.pid_ns = h.pid_ns;
  e.proc.loginuid = h.loginuid;
  e.proc.sessionid = h.sessionid;
  decode_creds(h.creds, e.proc.creds);
  e.proc.comm = bounded_str(h.comm, sizeof(h.comm));
}

uint32_t hook_of_type(uint32_t type) {
  switch (type) {
    case KTRAIL_EV_EXEC: return KTRAIL_HOOK_EXEC;
    case KTRAIL_EV_EXEC_FAILED: return KTRAIL_HOOK_EXEC_FAILED;
    case KTRAIL_EV_EXIT: return KTRAIL_HOOK_EXIT;
    case KTRAIL_EV_CRED: return KTRAIL_HOOK_CRED;
    case KTRAIL_EV_CGROUP: return KTRAIL_HOOK_CGROUP;
  }
  return KTRAIL_HOOK_MAX;
}

}  // namespace

std::string join_cwd_components(const char *buf, size_t len) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < len) {
    size_t n = strnlen(buf + i, len - i);
    if (n > 0) parts.emplace_back(buf + i, n);
    i += n + 1;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (*it == "/") continue;
    out += '/';
    out += *it;
  }
  return out.empty() ? "/" : out;
}

std::vector<std::string> split_args(const char *buf, size_t len) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < len) {
    size_t n = strnlen(buf + i, len - i);
    out.emplace_back(buf + i, n);
    i += n + 1;
  }
  return out;
}

const char *cred_syscall_name(uint32_t s) {
  switch (s) {
    case KTRAIL_SYS_SETUID: return "setuid";
    case KTRAIL_SYS_SETGID: return "setgid";
    case KTRAIL_SYS_SETREUID: return "setreuid";
    case KTRAIL_SYS_SETREGID: return "setregid";
    case KTRAIL_SYS_SETRESUID: return "setresuid";
    case KTRAIL_SYS_SETRESGID: return "setresgid";
    case KTRAIL_SYS_SETFSUID: return "setfsuid";
    case KTRAIL_SYS_SETFSGID: return "setfsgid";
    case KTRAIL_SYS_SETGROUPS: return "setgroups";
    case KTRAIL_SYS_CAPSET: return "capset";
    case KTRAIL_SYS_EXECVE: return "execve";
    case KTRAIL_SYS_EXECVEAT: return "execveat";
  }
  return "unknown";
}

const char *hook_name(uint32_t hook) {
  switch (hook) {
    case KTRAIL_HOOK_EXEC: return "exec";
    case KTRAIL_HOOK_EXEC_FAILED: return "exec_failed";
    case KTRAIL_HOOK_EXIT: return "exit";
    case KTRAIL_HOOK_CRED: return "cred";
    case KTRAIL_HOOK_CGROUP: return "cgroup";
  }
  return "unknown";
}

bool decode_cgroup_record(const void *data, size_t size, CgroupRecord &out, DecodeResult &r) {
  r = DecodeResult{};
  if (size < sizeof(ktrail_header)) return false;
  ktrail_header h;
  std::memcpy(&h, data, sizeof(h));
  if (h.type != KTRAIL_EV_CGROUP) return false;
  r.hook = KTRAIL_HOOK_CGROUP;
  if (h.size > size || h.size < sizeof(ktrail_cgroup)) {
    r.error = "cgroup record too short";
    return true;
  }
  ktrail_cgroup x;
  std::memcpy(&x, data, sizeof(x));
  if (x.path_len >= KTRAIL_PATH_MAX) {
    r.error = "cgroup record path length out of range";
    return true;
  }
  out.boot_ns = h.boot_ns;
  out.id = x.id;
  out.level = x.level;
  out.path.assign(x.path, strnlen(x.path, x.path_len));
  if (out.path.empty()) out.path = "/";
  r.ok = true;
  return true;
}

DecodeResult decode_record(const void *data, size_t size, Event &e) {
  DecodeResult r;
  if (size < sizeof(ktrail_header)) {
    r.error = "record shorter than the header (" + std::to_string(size) + " bytes)";
    r.hook = KTRAIL_HOOK_MAX;
    return r;
  }
  ktrail_header h;
  std::memcpy(&h, data, sizeof(h));
  r.hook = hook_of_type(h.type);
  if (h.size > size) {
    r.error = "record size field " + std::to_string(h.size) + " exceeds " + std::to_string(size);
    return r;
  }
  e = Event{};
  decode_header(h, e);
  const char *base = static_cast<const char *>(data);
  switch (h.type) {
    case KTRAIL_EV_EXEC: {
      const size_t fixed = offsetof(ktrail_exec, args);
      if (h.size < fixed) {
        r.error = "exec record too short";
        return r;
      }
      ktrail_exec x;
      std::memset(&x, 0, sizeof(x));
      std::memcpy(&x, base, h.size > sizeof(x) ? sizeof(x) : h.size);
      if (x.args_len > KTRAIL_ARGS_MAX || fixed + x.args_len > h.size ||
          x.cwd_len > KTRAIL_PATH_MAX || x.filename_len > KTRAIL_PATH_MAX) {
        r.error = "exec record lengths out of range";
        return r;
      }
      e.kind = EventKind::Exec;
      e.exec_flags = x.flags;
      e.filename = std::string(x.filename, strnlen(x.filename, sizeof(x.filename)));
      e.tty = tty_name(x.tty, sizeof(x.tty));
      e.cwd = x.cwd_len ? join_cwd_components(x.cwd, x.cwd_len) : std::string();
      if ((x.flags & KTRAIL_EXEC_CWD_UNREACHABLE) && !e.cwd.empty()) e.cwd = "(unreachable)" + e.cwd;
      e.args = split_args(x.args, x.args_len);
      e.argc = (x.flags & KTRAIL_EXEC_ARGC_KNOWN) ? x.argc : static_cast<uint32_t>(e.args.size());
      break;
    }
    case KTRAIL_EV_EXEC_FAILED: {
      if (h.size < sizeof(ktrail_exec_failed)) {
        r.error = "exec_failed record too short";
        return r;
      }
      ktrail_exec_failed x;
      std::memcpy(&x, base, sizeof(x));
      e.kind = EventKind::ExecFailed;
      e.ret = x.ret;
      e.dirfd = x.dirfd;
      e.syscall = x.syscall;
      e.at_flags = x.at_flags;
      e.filename = bounded_str(x.filename, sizeof(x.filename));
      break;
    }
    case KTRAIL_EV_EXIT: {
      if (h.size < sizeof(ktrail_exit)) {
        r.error = "exit record too short";
        return r;
      }
      ktrail_exit x;
      std::memcpy(&x, base, sizeof(x));
      e.kind = EventKind::Exit;
      e.exit_code = x.exit_code;
      break;
    }
    case KTRAIL_EV_CRED: {
      if (h.size < sizeof(ktrail_cred)) {
        r.error = "cred record too short";
        return r;
      }
      ktrail_cred x;
      std::memcpy(&x, base, sizeof(x));
      e.kind = EventKind::Cred;
      e.ret = x.ret;
      e.syscall = x.syscall;
      if (x.syscall < KTRAIL_SYS_SETUID || x.syscall > KTRAIL_SYS_CAPSET) {
        r.error = "cred record with unknown syscall " + std::to_string(x.syscall);
        return r;
      }
      for (int i = 0; i < 3; i++) {
        e.req[i] = x.args[i];
        e.cap_req[i] = x.cap_req[i];
        e.cap_old[i] = x.cap_old[i];
        e.cap_new[i] = x.cap_new[i];
      }
      decode_creds(x.old_creds, e.old_creds);
      e.ngroups = x.ngroups;
      if (x.syscall == KTRAIL_SYS_SETGROUPS) {
        uint32_t n = x.ngroups < KTRAIL_MAX_GROUPS ? x.ngroups : KTRAIL_MAX_GROUPS;
        if (e.hdr_flags & KTRAIL_F_COMPAT_SYSCALL) n = 0;
        e.groups.assign(x.groups, x.groups + n);
      }
      break;
    }
    default:
      r.error = "unknown record type " + std::to_string(h.type);
      return r;
  }
  r.ok = true;
  return r;
}

}  // namespace ktrail
