#include "decode/decode.h"

#include <arpa/inet.h>

#include <cstring>

#include "ktrail/abi/events.h"

namespace ktrail {

namespace {

std::string bounded_str(const char *p, size_t max) { return std::string(p, strnlen(p, max)); }

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
    case KTRAIL_EV_SSH_ACCEPT: return KTRAIL_HOOK_SSH_ACCEPT;
    case KTRAIL_EV_SSH_LOG: return KTRAIL_HOOK_SSH_LOG;
    case KTRAIL_EV_SSH_PAM: return KTRAIL_HOOK_SSH_PAM;
    case KTRAIL_EV_CGROUP: return KTRAIL_HOOK_CGROUP;
    case KTRAIL_EV_CAPABLE: return KTRAIL_HOOK_CAPABLE;
    case KTRAIL_EV_FILE: return KTRAIL_HOOK_FILE;
  }
  return KTRAIL_HOOK_MAX;
}

// SSH records: everything after the header.
bool decode_ssh(const ktrail_header &h, const char *base, Event &e, std::string &err) {
  switch (h.type) {
    case KTRAIL_EV_SSH_ACCEPT: {
      if (h.size < sizeof(ktrail_ssh_accept)) {
        err = "ssh_accept record too short";
        return false;
      }
      ktrail_ssh_accept x;
      std::memcpy(&x, base, sizeof(x));
      e.kind = EventKind::SshAccept;
      e.ssh.source = decode_sockaddr(x.peer);
      e.ssh.destination = decode_sockaddr(x.local);
      e.syscall = x.syscall;
      e.ret = x.fd;
      return true;
    }
    case KTRAIL_EV_SSH_LOG: {
      const size_t fixed = offsetof(ktrail_ssh_log, data);
      if (h.size < fixed) {
        err = "ssh_log record too short";
        return false;
      }
      ktrail_ssh_log x;
      std::memset(&x, 0, sizeof(x));
      std::memcpy(&x, base, h.size > sizeof(x) ? sizeof(x) : h.size);
      if (x.len > KTRAIL_SSH_LOG_MAX || fixed + x.len > h.size) {
        err = "ssh_log record length out of range";
        return false;
      }
      e.kind = EventKind::SshLog;
      e.ssh.log_line.assign(x.data, x.len);
      e.ssh.log_fd_kind = x.fd_kind;
      e.syscall = x.syscall;
      e.ret = x.ret;
      return true;
    }
    case KTRAIL_EV_SSH_PAM: {
      if (h.size < sizeof(ktrail_ssh_pam)) {
        err = "ssh_pam record too short";
        return false;
      }
      ktrail_ssh_pam x;
      std::memcpy(&x, base, sizeof(x));
      if (x.op < KTRAIL_PAM_START || x.op > KTRAIL_PAM_CLOSE_SESSION) {
        err = "ssh_pam record with unknown op " + std::to_string(x.op);
        return false;
      }
      e.kind = EventKind::SshPam;
      e.ssh.pam_op = x.op;
      e.ret = x.ret;
      e.ssh.pam_service = bounded_str(x.service, sizeof(x.service));
      e.ssh.pam_user = bounded_str(x.user, sizeof(x.user));
      e.ssh.source = decode_sockaddr(x.peer);
      e.ssh.destination = decode_sockaddr(x.local);
      return true;
    }
  }
  err = "unknown record type " + std::to_string(h.type);
  return false;
}

}  // namespace

std::string tty_display_name(const std::string &kernel_name) {
  // The kernel names pty slaves "pts<N>" (driver name + index); users know them as pts/N.
  if (kernel_name.size() > 3 && kernel_name.compare(0, 3, "pts") == 0 &&
      kernel_name.find_first_not_of("0123456789", 3) == std::string::npos)
    return "pts/" + kernel_name.substr(3);
  return kernel_name;
}

Endpoint decode_sockaddr(const ktrail_sockaddr &a) {
  Endpoint out;
  char buf[INET6_ADDRSTRLEN] = {};
  static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a.family == 2) {
    inet_ntop(AF_INET, a.addr, buf, sizeof(buf));
  } else if (a.family == 10) {
    // A v4 client on a dual-stack listener: show it the way sshd logs it.
    if (std::memcmp(a.addr, v4mapped, sizeof(v4mapped)) == 0)
      inet_ntop(AF_INET, a.addr + 12, buf, sizeof(buf));
    else
      inet_ntop(AF_INET6, a.addr, buf, sizeof(buf));
  } else {
    return out;
  }
  out.ip = buf;
  out.port = a.port;
  return out;
}

std::string join_cwd_components(const char *buf, size_t len) {
  std::string out;
  join_cwd_components(buf, len, out);
  return out;
}

void join_cwd_components(const char *buf, size_t len, std::string &out) {
  // Leaf first in the record, root first out: walk the NUL-separated runs from the end.
  out.clear();
  out.reserve(len + 1);
  size_t end = len;
  while (end > 0) {
    size_t start = end;
    while (start > 0 && buf[start - 1] != '\0') start--;
    const std::string_view part(buf + start, end - start);
    if (!part.empty() && part != "/") {
      out += '/';
      out.append(part);
    }
    if (start == 0) break;
    end = start - 1;
  }
  if (out.empty()) out = "/";
}

std::vector<std::string> split_args(const char *buf, size_t len) {
  std::vector<std::string> out;
  split_args(buf, len, out);
  return out;
}

void split_args(const char *buf, size_t len, std::vector<std::string> &out) {
  out.clear();
  size_t i = 0;
  while (i < len) {
    size_t n = strnlen(buf + i, len - i);
    out.emplace_back(buf + i, n);
    i += n + 1;
  }
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
    case KTRAIL_SYS_ACCEPT: return "accept";
    case KTRAIL_SYS_ACCEPT4: return "accept4";
    case KTRAIL_SYS_WRITE: return "write";
    case KTRAIL_SYS_WRITEV: return "writev";
    case KTRAIL_SYS_SENDTO: return "sendto";
    case KTRAIL_SYS_SENDMSG: return "sendmsg";
  }
  return "unknown";
}

const char *hook_name(uint32_t hook) {
  switch (hook) {
    case KTRAIL_HOOK_EXEC: return "exec";
    case KTRAIL_HOOK_EXEC_FAILED: return "exec_failed";
    case KTRAIL_HOOK_EXIT: return "exit";
    case KTRAIL_HOOK_CRED: return "cred";
    case KTRAIL_HOOK_SSH_ACCEPT: return "ssh_accept";
    case KTRAIL_HOOK_SSH_LOG: return "ssh_log";
    case KTRAIL_HOOK_SSH_PAM: return "ssh_pam";
    case KTRAIL_HOOK_CGROUP: return "cgroup";
    case KTRAIL_HOOK_CAPABLE: return "capable";
    case KTRAIL_HOOK_FILE: return "file";
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

bool peek_exit(const void *data, size_t size, uint32_t &pid) {
  if (size < sizeof(ktrail_exit)) return false;
  ktrail_header h;
  std::memcpy(&h, data, sizeof(h));
  if (h.type != KTRAIL_EV_EXIT || h.size > size || h.size < sizeof(ktrail_exit)) return false;
  pid = h.pid;
  return true;
}

namespace {

// The string members keep their heap buffers through clear(); everything else is what a
// default member initializer says, assigned from a default instance of its own struct (or
// directly where that struct holds strings).
void reset_endpoint(Endpoint &p) {
  p.ip.clear();
  p.port = 0;
}

void reset_leader(LeaderInfo &l) {
  l.pid = 0;
  l.name.clear();
  l.executable.clear();
  l.start_boot_ns = 0;
}

}  // namespace

void reset_event(Event &e) {
  // Every member must be reset below. A member added to Event (or to one of the structs reset
  // member by member here) changes its size: then extend this function and the numbers (those
  // of 64-bit libstdc++, where CI builds).
#if defined(__GLIBCXX__) && __SIZEOF_POINTER__ == 8
  static_assert(sizeof(Event) == 1856 && sizeof(Subject) == 112 && sizeof(SshFields) == 440 &&
                    sizeof(SessionRef) == 152 && sizeof(FileFields) == 160 &&
                    sizeof(LeaderInfo) == 80 && sizeof(Endpoint) == 40,
                "Event changed: reset the new member in reset_event");
#endif
  static const Event kFresh;
  e.kind = kFresh.kind;
  e.boot_ns = 0;
  e.hdr_flags = 0;
  {
    std::string comm = std::move(e.proc.comm);
    e.proc = kFresh.proc;
    comm.clear();
    e.proc.comm = std::move(comm);
  }
  e.filename.clear();
  e.args.clear();
  e.argc = 0;
  e.exec_flags = 0;
  e.cwd.clear();
  e.tty.clear();
  e.sid = 0;
  e.ret = 0;
  e.dirfd = 0;
  e.at_flags = 0;
  e.syscall = 0;
  e.exit_code = 0;
  for (int i = 0; i < 3; i++) e.req[i] = e.cap_req[i] = e.cap_old[i] = e.cap_new[i] = 0;
  e.old_creds = Creds{};
  e.ngroups = 0;
  e.groups.clear();
  e.lost_hook.clear();
  e.lost_source.clear();
  e.lost_count = 0;
  e.lost_first_sequence = 0;
  e.lost_last_sequence = 0;
  e.sequence = 0;
  e.realtime_ns = 0;
  e.start_realtime_ns = 0;
  e.executable.clear();
  e.parent_name.clear();
  e.parent_executable.clear();
  e.user_name.clear();
  e.real_user_name.clear();
  e.group_name.clear();
  e.real_group_name.clear();
  e.audit_user_name.clear();
  e.args_from_table = false;

  SshFields &s = e.ssh;
  reset_endpoint(s.source);
  reset_endpoint(s.destination);
  s.log_line.clear();
  s.log_fd_kind = 0;
  s.pam_op = 0;
  s.pam_service.clear();
  s.pam_user.clear();
  s.user.clear();
  s.user_exists = kFresh.ssh.user_exists;
  s.partial = false;
  s.method.clear();
  s.key_type.clear();
  s.key_fingerprint.clear();
  s.log_message.clear();
  s.signals.clear();
  s.failures_from_source = 0;
  s.uid = kFresh.ssh.uid;
  s.session_id = kFresh.ssh.session_id;
  s.tty.clear();
  s.duration_ns = 0;
  s.seeded = false;
  s.self_check = false;
  s.key_lookup = false;

  SessionRef &r = e.session;
  r.present = false;
  r.kind.clear();
  r.user.clear();
  reset_endpoint(r.source);
  r.id = kFresh.session.id;
  r.tty.clear();

  e.cap = kFresh.cap;

  FileFields &f = e.file;
  f.syscall = 0;
  f.flags = 0;
  f.arg_flags = 0;
  f.mode = f.old_mode = 0;
  f.uid = f.gid = f.old_uid = f.old_gid = UINT32_MAX;
  f.ino = 0;
  f.dev = 0;
  f.watch = 0;
  f.path.clear();
  f.new_path.clear();
  f.watch_entry.clear();
  f.old_source = kFresh.file.old_source;
  f.resolved_by_agent = false;

  e.suppress = false;
  e.container.reset();
  e.cloud.reset();
  reset_leader(e.entry_leader);
  reset_leader(e.session_leader);
  e.alert.reset();
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
  reset_event(e);
  decode_header(h, e);
  const char *base = static_cast<const char *>(data);
  switch (h.type) {
    case KTRAIL_EV_EXEC: {
      const size_t fixed = offsetof(ktrail_exec, data);
      if (h.size < fixed) {
        r.error = "exec record too short";
        return r;
      }
      // The fixed part only: the packed strings after it are read in place (bounded by h.size).
      ktrail_exec x;
      std::memcpy(&x, base, fixed);
      if (x.args_len > KTRAIL_ARGS_MAX || x.cwd_len > KTRAIL_PATH_MAX ||
          x.filename_len >= KTRAIL_PATH_MAX ||
          fixed + x.filename_len + 1 + x.cwd_len + x.args_len > h.size) {
        r.error = "exec record lengths out of range";
        return r;
      }
      const char *filename = base + fixed;
      const char *cwd = filename + x.filename_len + 1;
      e.kind = EventKind::Exec;
      e.exec_flags = x.flags;
      // assign(), not a temporary: the reused event's buffers take the bytes (pipeline.cpp).
      e.filename.assign(filename, strnlen(filename, x.filename_len));
      e.tty = tty_display_name(bounded_str(x.tty, sizeof(x.tty)));
      e.sid = x.sid;
      if (x.cwd_len) join_cwd_components(cwd, x.cwd_len, e.cwd);
      if ((x.flags & KTRAIL_EXEC_CWD_UNREACHABLE) && !e.cwd.empty()) e.cwd = "(unreachable)" + e.cwd;
      split_args(cwd + x.cwd_len, x.args_len, e.args);
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
    case KTRAIL_EV_CAPABLE:
      if (!decode_capable(base, h.size, e, r.error)) return r;
      break;
    case KTRAIL_EV_FILE:
      if (!decode_file(base, h.size, e, r.error)) return r;
      break;
    default:
      if (!decode_ssh(h, base, e, r.error)) return r;
      break;
  }
  r.ok = true;
  return r;
}

}  // namespace ktrail
