#include "sinks/format.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "decode/decode.h"
#include "ktrail/abi/events.h"
#include "sinks/alert_format.h"
#include "sinks/identity_format.h"
#include "sinks/json_writer.h"

namespace ktrail {

const char *errno_name(int err) {
  switch (err) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF)
    E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(ENOTBLK) E(EBUSY) E(EEXIST)
    E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY)
    E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(EDOM) E(ERANGE)
    E(ENAMETOOLONG) E(ELOOP) E(ENOSYS) E(ELIBBAD) E(EOVERFLOW) E(ENOTSUP) E(ETIMEDOUT)
#undef E
  }
  static thread_local char buf[16];
  snprintf(buf, sizeof(buf), "E%d", err);
  return buf;
}

const char *signal_name(int sig) {
  switch (sig) {
#define S(x) case x: return #x;
    S(SIGHUP) S(SIGINT) S(SIGQUIT) S(SIGILL) S(SIGTRAP) S(SIGABRT) S(SIGBUS) S(SIGFPE)
    S(SIGKILL) S(SIGUSR1) S(SIGSEGV) S(SIGUSR2) S(SIGPIPE) S(SIGALRM) S(SIGTERM)
    S(SIGSTKFLT) S(SIGCHLD) S(SIGCONT) S(SIGSTOP) S(SIGTSTP) S(SIGTTIN) S(SIGTTOU) S(SIGURG)
    S(SIGXCPU) S(SIGXFSZ) S(SIGVTALRM) S(SIGPROF) S(SIGWINCH) S(SIGIO) S(SIGPWR) S(SIGSYS)
#undef S
  }
  static thread_local char buf[16];
  snprintf(buf, sizeof(buf), "SIG%d", sig);
  return buf;
}

namespace {
// include/uapi/linux/capability.h, in CAP_* order; the one table every name lookup uses.
const char *const kCapNames[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
constexpr int kNumCaps = static_cast<int>(sizeof(kCapNames) / sizeof(kCapNames[0]));
}  // namespace

std::string capability_name(int cap) {
  if (cap >= 0 && cap < kNumCaps) return kCapNames[cap];
  return "CAP_" + std::to_string(cap);
}

int capability_id(const std::string &name) {
  for (int i = 0; i < kNumCaps; i++)
    if (name == kCapNames[i]) return i;
  return -1;
}

// One action per kind of change; ktrail.file.syscall keeps the exact call.
const char *file_action(uint32_t syscall) {
  switch (syscall) {
    case KTRAIL_SYS_OPEN: case KTRAIL_SYS_OPENAT: case KTRAIL_SYS_OPENAT2: case KTRAIL_SYS_CREAT: return "open";
    case KTRAIL_SYS_CHMOD: case KTRAIL_SYS_FCHMOD: case KTRAIL_SYS_FCHMODAT: case KTRAIL_SYS_FCHMODAT2: return "chmod";
    case KTRAIL_SYS_CHOWN: case KTRAIL_SYS_FCHOWN: case KTRAIL_SYS_LCHOWN: case KTRAIL_SYS_FCHOWNAT: return "chown";
    case KTRAIL_SYS_RENAME: case KTRAIL_SYS_RENAMEAT: case KTRAIL_SYS_RENAMEAT2: return "rename";
    case KTRAIL_SYS_UNLINK: case KTRAIL_SYS_UNLINKAT: return "unlink";
    case KTRAIL_SYS_TRUNCATE: case KTRAIL_SYS_FTRUNCATE: return "truncate";
    case KTRAIL_SYS_SETXATTR: case KTRAIL_SYS_LSETXATTR: case KTRAIL_SYS_FSETXATTR: return "setxattr";
  }
  return "file";
}

const char *event_action(const Event &e) {
  switch (e.kind) {
    case EventKind::Exec:
    case EventKind::ExecFailed: return "exec";
    case EventKind::Exit: return "exit";
    case EventKind::Cred: return cred_syscall_name(e.syscall);
    case EventKind::Lost: return "lost";
    case EventKind::SshAccept: return "ssh_accept";
    case EventKind::SshAuth: return "ssh_auth";
    case EventKind::SshSessionStart: return "ssh_session_start";
    case EventKind::SshSessionEnd: return "ssh_session_end";
    case EventKind::SshLog: return "ssh_log";
    case EventKind::SshPam: return "ssh_pam";
    case EventKind::Capable: return "capable";
    case EventKind::File: return file_action(e.file.syscall);
    case EventKind::Alert: return "alert";
  }
  return "unknown";
}

namespace {

// setfsuid/setfsgid return the previous id and never fail: success means the id changed to
// what was asked.
bool fs_call_succeeded(const Event &e) {
  if (e.syscall == KTRAIL_SYS_SETFSUID) return e.proc.creds.fsuid == static_cast<uint32_t>(e.req[0]);
  return e.proc.creds.fsgid == static_cast<uint32_t>(e.req[0]);
}

}  // namespace

int event_errno(const Event &e) {
  if (e.kind == EventKind::ExecFailed) return static_cast<int>(-e.ret);
  if (e.kind == EventKind::File && e.ret < 0) return static_cast<int>(-e.ret);
  if (e.kind == EventKind::Cred && e.syscall != KTRAIL_SYS_SETFSUID &&
      e.syscall != KTRAIL_SYS_SETFSGID && e.ret < 0)
    return static_cast<int>(-e.ret);
  return 0;
}

namespace {

void write_creds(JsonWriter &w, const Creds &c) {
  w.begin_object()
      .field("uid", c.uid).field("euid", c.euid).field("suid", c.suid).field("fsuid", c.fsuid)
      .field("gid", c.gid).field("egid", c.egid).field("sgid", c.sgid).field("fsgid", c.fsgid)
      .end_object();
}

void write_caps(JsonWriter &w, uint64_t caps) {
  w.begin_array();
  for (int i = 0; i < 64; i++)
    if (caps >> i & 1) w.value(capability_name(i));
  w.end_array();
}

// ids as requested; (u32)-1 means "leave unchanged" and is written as -1.
void write_id(JsonWriter &w, std::string_view k, uint64_t v, bool compat16) {
  uint32_t id = static_cast<uint32_t>(v);
  if (compat16 && (id & 0xffff) == 0xffff) id = UINT32_MAX;
  w.key(k);
  if (id == UINT32_MAX)
    w.value(int64_t{-1});
  else
    w.value(id);
}

void write_requested(JsonWriter &w, const Event &e) {
  bool c16 = (e.hdr_flags & KTRAIL_F_COMPAT_SYSCALL) != 0;
  w.key("requested").begin_object();
  switch (e.syscall) {
    case KTRAIL_SYS_SETUID: write_id(w, "uid", e.req[0], c16); break;
    case KTRAIL_SYS_SETGID: write_id(w, "gid", e.req[0], c16); break;
    case KTRAIL_SYS_SETREUID: write_id(w, "ruid", e.req[0], c16); write_id(w, "euid", e.req[1], c16); break;
    case KTRAIL_SYS_SETREGID: write_id(w, "rgid", e.req[0], c16); write_id(w, "egid", e.req[1], c16); break;
    case KTRAIL_SYS_SETRESUID:
      write_id(w, "ruid", e.req[0], c16); write_id(w, "euid", e.req[1], c16); write_id(w, "suid", e.req[2], c16);
      break;
    case KTRAIL_SYS_SETRESGID:
      write_id(w, "rgid", e.req[0], c16); write_id(w, "egid", e.req[1], c16); write_id(w, "sgid", e.req[2], c16);
      break;
    case KTRAIL_SYS_SETFSUID: write_id(w, "fsuid", e.req[0], c16); break;
    case KTRAIL_SYS_SETFSGID: write_id(w, "fsgid", e.req[0], c16); break;
    case KTRAIL_SYS_SETGROUPS:
      w.field("count", e.ngroups);
      w.key("groups").begin_array();
      for (uint32_t g : e.groups) w.value(g);
      w.end_array();
      w.field("groups_truncated", e.ngroups > e.groups.size());
      break;
    case KTRAIL_SYS_CAPSET:
      w.key("effective"); write_caps(w, e.cap_req[0]);
      w.key("permitted"); write_caps(w, e.cap_req[1]);
      w.key("inheritable"); write_caps(w, e.cap_req[2]);
      break;
  }
  w.end_object();
}

void write_cap_set(JsonWriter &w, const uint64_t caps[3]) {
  w.begin_object();
  w.key("effective"); write_caps(w, caps[0]);
  w.key("permitted"); write_caps(w, caps[1]);
  w.key("inheritable"); write_caps(w, caps[2]);
  w.end_object();
}

}  // namespace

// ---- SSH (kept apart so the generic writer above stays small) ------------------------
namespace {

void ssh_category_type(const Event &e, const char *&category, const char *&type) {
  switch (e.kind) {
    case EventKind::SshAccept: category = "network"; type = "start"; break;
    case EventKind::SshAuth: category = "authentication"; type = "info"; break;
    case EventKind::SshSessionStart: category = "session"; type = "start"; break;
    case EventKind::SshSessionEnd: category = "session"; type = "end"; break;
    default: break;
  }
}

bool ssh_has_user(const Event &e) {
  switch (e.kind) {
    case EventKind::SshAuth: return !e.ssh.user.empty();
    case EventKind::SshSessionStart:
    case EventKind::SshSessionEnd: return !e.ssh.user.empty() || e.ssh.uid != UINT32_MAX;
    default: return false;
  }
}

// user.name / user.id inside the open "user" object.
void write_ssh_user(JsonWriter &w, const Event &e) {
  if (!ssh_has_user(e)) return;
  if (!e.ssh.user.empty()) w.field("name", e.ssh.user);
  if (e.kind != EventKind::SshAuth && e.ssh.uid != UINT32_MAX) w.field("id", e.ssh.uid);
}

void write_endpoint(JsonWriter &w, const char *key, const Endpoint &ep) {
  if (!ep.known()) return;
  w.key(key).begin_object().field("ip", ep.ip).field("address", ep.ip);
  if (ep.port) w.field("port", static_cast<uint32_t>(ep.port));
  w.end_object();
}

// ECS source.* / destination.* of ssh_* events.
void write_ssh_endpoints(JsonWriter &w, const Event &e) {
  switch (e.kind) {
    case EventKind::SshAccept:
    case EventKind::SshAuth:
    case EventKind::SshSessionStart:
    case EventKind::SshSessionEnd:
      write_endpoint(w, "source", e.ssh.source);
      write_endpoint(w, "destination", e.ssh.destination);
      if (e.kind == EventKind::SshAccept) w.key("network").begin_object().field("transport", "tcp").end_object();
      break;
    default: break;
  }
}

// ktrail.session (every event inside an SSH session) and ktrail.ssh.
void write_ssh_ktrail(JsonWriter &w, const Event &e) {
  if (e.session.present) {
    w.key("session").begin_object();
    w.field("kind", e.session.kind);
    if (!e.session.user.empty()) w.field("user", e.session.user);
    if (e.session.source.known()) {
      w.field("source_ip", e.session.source.ip);
      w.field("source_port", static_cast<uint32_t>(e.session.source.port));
    }
    if (e.session.id != UINT32_MAX) w.field("id", e.session.id);
    if (!e.session.tty.empty()) w.field("tty", e.session.tty);
    w.end_object();
  }
  const SshFields &s = e.ssh;
  switch (e.kind) {
    case EventKind::Cred:
      if (s.self_check || s.key_lookup) {
        w.key("ssh").begin_object();
        if (s.self_check) w.field("self_check", true);
        if (s.key_lookup) w.field("key_lookup", true);
        w.end_object();
      }
      return;
    case EventKind::SshAccept:
      w.key("ssh").begin_object().field("fd", e.ret).field("syscall", cred_syscall_name(e.syscall)).end_object();
      return;
    case EventKind::SshAuth:
      w.key("ssh").begin_object();
      w.field("method", s.method.empty() ? "unknown" : s.method);
      if (s.user_exists >= 0) w.field("user_exists", s.user_exists == 1);
      if (s.partial) w.field("partial", true);
      if (!s.key_type.empty() || !s.key_fingerprint.empty()) {
        w.key("key").begin_object();
        if (!s.key_type.empty()) w.field("type", s.key_type);
        if (!s.key_fingerprint.empty()) w.field("fingerprint", s.key_fingerprint);
        w.end_object();
      }
      w.key("signals").begin_array();
      for (const auto &sig : s.signals) w.value(sig);
      w.end_array();
      w.field("failures_from_source", s.failures_from_source);
      if (!s.log_message.empty()) w.field("log_message", s.log_message);
      w.end_object();
      return;
    case EventKind::SshSessionStart:
    case EventKind::SshSessionEnd:
      w.key("ssh").begin_object();
      w.key("signals").begin_array();
      for (const auto &sig : s.signals) w.value(sig);
      w.end_array();
      if (s.seeded) w.field("seeded", true);
      w.end_object();
      return;
    default:
      return;
  }
}

std::string ssh_table_details(const Event &e) {
  const SshFields &s = e.ssh;
  auto ep = [](const Endpoint &p) { return p.known() ? p.ip + ":" + std::to_string(p.port) : std::string("?"); };
  switch (e.kind) {
    case EventKind::SshAccept: return "from " + ep(s.source) + " to " + ep(s.destination);
    case EventKind::SshAuth: {
      std::string d = (s.method.empty() ? "unknown" : s.method) + " " + s.user;
      if (s.user_exists == 0) d += " (no such user)";
      d += " from " + ep(s.source);
      if (!s.key_fingerprint.empty()) d += " " + s.key_type + " " + s.key_fingerprint;
      return d;
    }
    case EventKind::SshSessionStart:
    case EventKind::SshSessionEnd: {
      std::string d = s.user + " from " + ep(s.source);
      if (s.session_id != UINT32_MAX) d += " session " + std::to_string(s.session_id);
      if (!s.tty.empty()) d += " on " + s.tty;
      if (e.kind == EventKind::SshSessionEnd) d += " after " + std::to_string(s.duration_ns / 1000000) + " ms";
      return d;
    }
    default: return "";
  }
}

}  // namespace

bool event_success(const Event &e) {
  switch (e.kind) {
    case EventKind::Exec: return true;
    case EventKind::ExecFailed: return false;
    case EventKind::Exit: return e.exit_code == 0;
    case EventKind::Cred:
      if (e.syscall == KTRAIL_SYS_SETFSUID || e.syscall == KTRAIL_SYS_SETFSGID) return fs_call_succeeded(e);
      return e.ret == 0;
    case EventKind::Lost: return false;
    case EventKind::SshAuth: return e.ret == 0;
    case EventKind::SshAccept:
    case EventKind::SshSessionStart:
    case EventKind::SshSessionEnd:
    case EventKind::SshLog:
    case EventKind::SshPam: return true;
    case EventKind::Capable: return e.cap.ret == 0;
    case EventKind::File: return e.ret >= 0;
    case EventKind::Alert: return true;
  }
  return false;
}

namespace {

const char *cap_origin_name(uint8_t o) {
  switch (o) {
    case KTRAIL_CAP_FIRST: return "first";
    case KTRAIL_CAP_SUMMARY: return "summary";
    case KTRAIL_CAP_ALWAYS: return "always";
    case KTRAIL_CAP_OVERFLOW: return "overflow";
  }
  return "unknown";
}

const char *cap_hook_variant(uint8_t h) {
  switch (h) {
    case KTRAIL_CAP_HOOK_TP_BTF: return "tp_btf";
    case KTRAIL_CAP_HOOK_FEXIT: return "fexit";
    case KTRAIL_CAP_HOOK_KPROBE: return "kprobe";
  }
  return "unknown";
}

// ECS event.type for a file event.
const char *file_event_type(const Event &e) {
  std::string_view a = file_action(e.file.syscall);
  if (a == "open") return "access";
  if (a == "unlink") return "deletion";
  return "change";
}

std::string octal_mode(uint32_t m) {
  char b[16];
  snprintf(b, sizeof(b), "%04o", m & 07777);
  return b;
}

// open(2) intent from the access mode and the flags that write without O_WRONLY/O_RDWR.
const char *open_intent(uint64_t flags) {
  switch (flags & 03) {
    case 0: return (flags & (01000 /*O_TRUNC*/ | 0100 /*O_CREAT*/)) ? "write" : "read";
    case 1: return "write";
    default: return "read_write";
  }
}

void write_capable_ktrail(JsonWriter &w, const Event &e) {
  const CapFields &c = e.cap;
  w.key("capability").begin_object();
  w.field("name", capability_name(c.cap));
  w.field("id", c.cap);
  w.field("count", c.count);
  w.field("origin", cap_origin_name(c.origin));
  if (c.audit != KTRAIL_CAP_AUDIT_UNKNOWN) w.field("audit", c.audit == KTRAIL_CAP_AUDIT_YES);
  w.field("noise", c.noise);
  w.field("hook", cap_hook_variant(c.hook));
  if (c.syscall_nr >= 0) w.field("syscall_nr", c.syscall_nr);
  if (c.origin == KTRAIL_CAP_SUMMARY) {
    write_time_field(w, "first", c.first_realtime_ns);
    w.field("aggregation", c.by_process ? "process" : "cgroup");
  }
  if (c.exe_ino) w.key("executable").begin_object().field("inode", c.exe_ino).field("device", c.exe_dev).end_object();
  w.end_object();
}

// ECS file.*: the path the call named (rename: the source) and what is known of the inode.
void write_file_ecs(JsonWriter &w, const Event &e) {
  const FileFields &f = e.file;
  bool is_open = file_action(f.syscall) == std::string_view("open");
  w.key("file").begin_object();
  w.field("path", f.path);
  auto slash = f.path.rfind('/');
  if (slash != std::string::npos) {
    w.field("name", f.path.substr(slash + 1));
    w.field("directory", slash == 0 ? std::string("/") : f.path.substr(0, slash));
  }
  if (std::string_view(file_action(f.syscall)) == "chmod") w.field("mode", octal_mode(f.mode));
  else if (is_open && f.ino) w.field("mode", octal_mode(f.old_mode));
  else if (f.old_uid != UINT32_MAX && f.old_mode) w.field("mode", octal_mode(f.old_mode));
  if (f.ino) w.field("inode", std::to_string(f.ino)).field("device", f.dev);
  if (is_open && f.ino) w.field("uid", std::to_string(f.old_uid)).field("gid", std::to_string(f.old_gid));
  w.end_object();
}

void write_file_ktrail(JsonWriter &w, const Event &e) {
  const FileFields &f = e.file;
  std::string_view action = file_action(f.syscall);
  w.key("file").begin_object();
  w.field("syscall", file_syscall_name(f.syscall));
  w.field("return", e.ret);
  if (!e.file.watch_entry.empty()) w.field("watch", e.file.watch_entry);
  if (action == "open") {
    w.field("intent", open_intent(f.arg_flags));
    w.field("flags", f.arg_flags);
    if (f.arg_flags & 0100) w.field("create_mode", octal_mode(f.mode));
  } else if (action == "chmod") {
    if (f.old_uid != UINT32_MAX) w.field("old_mode", octal_mode(f.old_mode));
    w.field("new_mode", octal_mode(f.mode));
  } else if (action == "chown") {
    if (f.old_uid != UINT32_MAX) w.key("old_owner").begin_object().field("uid", f.old_uid).field("gid", f.old_gid).end_object();
    // (uid_t)-1 leaves that id unchanged.
    w.key("new_owner").begin_object();
    if (f.uid != UINT32_MAX) w.field("uid", f.uid);
    if (f.gid != UINT32_MAX) w.field("gid", f.gid);
    w.end_object();
  } else if (action == "rename") {
    w.field("old_path", f.path).field("new_path", f.new_path);
    if (f.arg_flags) w.field("flags", f.arg_flags);
  } else if (f.arg_flags) {
    w.field("flags", f.arg_flags);
  }
  if (f.flags & KTRAIL_FILE_RELATIVE) w.field("relative", true);
  if (f.flags & KTRAIL_FILE_BY_FD) w.field("by_fd", true);
  if (f.flags & KTRAIL_FILE_RESOLVED) w.field("resolved", true);
  if (f.resolved_by_agent) w.field("resolved_by", "agent");
  if (f.old_source != FileFields::OldSource::None)
    w.field("old_source", f.old_source == FileFields::OldSource::Kernel ? "kernel" : "agent");
  if (f.flags & KTRAIL_FILE_PATH_TRUNCATED) w.field("path_truncated", true);
  w.end_object();
}

}  // namespace

namespace {

// host.* is the same in every record: encoded once, again only when the host differs.
struct HostJson {
  HostInfo host;
  std::string json;
  bool invalid = false;
  bool set = false;
};

const HostJson &host_json(const HostInfo &host) {
  static thread_local HostJson cache;
  if (!cache.set || !(cache.host == host)) {
    cache.host = host;
    cache.json.clear();
    JsonWriter w(cache.json);
    w.begin_object().field("name", host.name).field("id", host.id);
    write_host_identity(w, host);
    w.end_object();
    cache.invalid = w.saw_invalid_utf8();
    cache.set = true;
  }
  return cache;
}

}  // namespace

void format_json(const Event &e, const HostInfo &host, std::string &out) {
  if (e.kind == EventKind::Alert) return format_alert_json(e, host, out);
  JsonWriter w(out);
  const bool ok = event_success(e);
  const Creds &c = e.proc.creds;
  w.begin_object();
  write_time_field(w, "@timestamp", e.realtime_ns);

  w.key("event").begin_object();
  w.field("kind", "event");
  const char *category = e.kind == EventKind::Lost ? "host" : "process";
  const char *type2 = nullptr;
  ssh_category_type(e, category, type2);
  const char *type = "info";
  switch (e.kind) {
    case EventKind::Exec:
    case EventKind::ExecFailed: type = "start"; break;
    case EventKind::Exit: type = "end"; break;
    case EventKind::Cred: type = "change"; break;
    case EventKind::Lost: type = "info"; break;
    case EventKind::Capable: type = "access"; break;
    case EventKind::File: category = "file"; type = file_event_type(e); break;
    default: type = type2 ? type2 : "info"; break;
  }
  w.key("category").begin_array().value(category).end_array();
  w.key("type").begin_array().value(type).end_array();
  w.field("action", event_action(e));
  w.field("outcome", ok ? "success" : "failure");
  w.field("sequence", e.sequence);
  if (e.kind == EventKind::SshSessionEnd) w.field("duration", e.ssh.duration_ns);
  w.end_object();

  const HostJson &h = host_json(host);
  w.key("host").encoded(h.json, h.invalid);

  if (e.kind == EventKind::Lost) {
    w.key("ktrail");
    write_ktrail_object(w, e);
    w.end_object();
    return;
  }

  w.key("process").begin_object();
  w.field("pid", e.proc.pid);
  w.key("thread").begin_object().field("id", e.proc.tid).end_object();
  w.field("name", e.proc.comm);
  if (!e.executable.empty()) w.field("executable", e.executable);
  if (e.kind == EventKind::Exec || !e.args.empty()) {
    w.key("args").begin_array();
    for (const auto &a : e.args) w.value(a);
    w.end_array();
    // The true argc: exec's from the kernel, others' from the process table (args may be cut).
    w.field("args_count", e.kind == EventKind::Exec || e.args_from_table
                              ? e.argc
                              : static_cast<uint32_t>(e.args.size()));
  }
  if (!e.cwd.empty()) w.field("working_directory", e.cwd);
  if (e.start_realtime_ns) write_time_field(w, "start", e.start_realtime_ns);
  if (e.kind == EventKind::Exit) w.field("exit_code", static_cast<int64_t>((e.exit_code >> 8) & 0xff));
  if (!e.tty.empty()) w.key("tty").begin_object().field("name", e.tty).end_object();
  w.key("parent").begin_object().field("pid", e.proc.ppid);
  if (!e.parent_name.empty()) w.field("name", e.parent_name);
  if (!e.parent_executable.empty()) w.field("executable", e.parent_executable);
  w.end_object();
  w.key("user").begin_object().field("id", c.euid);
  if (!e.user_name.empty()) w.field("name", e.user_name);
  w.end_object();
  w.key("real_user").begin_object().field("id", c.uid);
  if (!e.real_user_name.empty()) w.field("name", e.real_user_name);
  w.end_object();
  w.key("saved_user").begin_object().field("id", c.suid).end_object();
  w.key("group").begin_object().field("id", c.egid);
  if (!e.group_name.empty()) w.field("name", e.group_name);
  w.end_object();
  w.key("real_group").begin_object().field("id", c.gid);
  if (!e.real_group_name.empty()) w.field("name", e.real_group_name);
  w.end_object();
  w.key("saved_group").begin_object().field("id", c.sgid).end_object();
  write_process_leaders(w, e);
  w.end_object();  // process

  if (e.proc.loginuid != UINT32_MAX || e.proc.sessionid != UINT32_MAX || ssh_has_user(e)) {
    w.key("user").begin_object();
    write_ssh_user(w, e);
  }
  if (e.proc.loginuid != UINT32_MAX || e.proc.sessionid != UINT32_MAX) {
    w.key("audit").begin_object();
    if (e.proc.loginuid != UINT32_MAX) {
      w.field("id", e.proc.loginuid);
      if (!e.audit_user_name.empty()) w.field("name", e.audit_user_name);
    }
    if (e.proc.sessionid != UINT32_MAX) w.field("session_id", e.proc.sessionid);
    w.end_object();
  }
  if (e.proc.loginuid != UINT32_MAX || e.proc.sessionid != UINT32_MAX || ssh_has_user(e))
    w.end_object();  // user
  write_ssh_endpoints(w, e);
  if (e.kind == EventKind::File) write_file_ecs(w, e);

  if (int err = event_errno(e)) {
    w.key("error").begin_object().field("code", errno_name(err)).field("message", strerror(err)).end_object();
  }

  write_identity(w, e);

  w.key("ktrail");
  write_ktrail_object(w, e);
  w.end_object();
}

void write_ktrail_object(JsonWriter &w, const Event &e) {
  w.begin_object();
  if (e.kind == EventKind::Lost) {
    w.key("lost").begin_object()
        .field("hook", e.lost_hook).field("source", e.lost_source).field("count", e.lost_count);
    if (e.lost_last_sequence)
      w.field("first_sequence", e.lost_first_sequence).field("last_sequence", e.lost_last_sequence);
    w.end_object();
    w.end_object();
    return;
  }
  const Creds &c = e.proc.creds;
  write_identity_ktrail(w, e);
  w.key("process").begin_object()
      .field("ns_pid", e.proc.ns_pid)
      .field("fsuid", c.fsuid).field("fsgid", c.fsgid)
      .end_object();
  w.key("cgroup").begin_object().field("id", e.proc.cgroup_id).end_object();
  w.key("namespace").begin_object().field("mnt", e.proc.mnt_ns).field("pid", e.proc.pid_ns).end_object();
  if (e.hdr_flags & KTRAIL_F_COMPAT_SYSCALL) w.field("compat_syscall", true);
  switch (e.kind) {
    case EventKind::Exec: {
      bool known = e.exec_flags & KTRAIL_EXEC_SECUREEXEC_KNOWN;
      w.key("exec").begin_object();
      w.field("filename", e.filename);
      w.field("args_truncated", (e.exec_flags & KTRAIL_EXEC_ARGS_TRUNCATED) != 0);
      if (e.exec_flags & KTRAIL_EXEC_FILENAME_TRUNCATED) w.field("filename_truncated", true);
      if (e.exec_flags & KTRAIL_EXEC_CWD_TRUNCATED) w.field("cwd_truncated", true);
      if (known) w.field("secureexec", (e.exec_flags & KTRAIL_EXEC_SECUREEXEC) != 0);
      // A setuid/setgid binary or file capabilities changed privileges at this exec.
      w.field("privilege_change", (e.exec_flags & KTRAIL_EXEC_SECUREEXEC) != 0 ||
                                      c.euid != c.uid || c.egid != c.gid);
      w.end_object();
      break;
    }
    case EventKind::ExecFailed:
      w.key("exec").begin_object()
          .field("syscall", cred_syscall_name(e.syscall))
          .field("attempted_path", e.filename)
          .field("dirfd", e.dirfd)
          .field("at_flags", e.at_flags)
          .end_object();
      break;
    case EventKind::Exit: {
      int sig = e.exit_code & 0x7f;
      w.key("exit").begin_object().field("status", e.exit_code);
      if (sig) w.field("signal", signal_name(sig)).field("core_dumped", (e.exit_code & 0x80) != 0);
      w.end_object();
      break;
    }
    case EventKind::Cred: {
      w.key("cred").begin_object();
      w.field("syscall", cred_syscall_name(e.syscall));
      w.field("return", e.ret);
      write_requested(w, e);
      w.key("before"); write_creds(w, e.old_creds);
      w.key("after"); write_creds(w, e.proc.creds);
      if (e.syscall == KTRAIL_SYS_CAPSET) {
        w.key("capabilities_before"); write_cap_set(w, e.cap_old);
        w.key("capabilities_after"); write_cap_set(w, e.cap_new);
      }
      w.end_object();
      break;
    }
    case EventKind::Capable: write_capable_ktrail(w, e); break;
    case EventKind::File: write_file_ktrail(w, e); break;
    default: break;
  }
  write_ssh_ktrail(w, e);
  if (w.saw_invalid_utf8()) w.field("invalid_utf8", true);
  w.end_object();
}

std::string table_header() {
  char buf[160];
  snprintf(buf, sizeof(buf), "%-12s %-10s %7s %7s %-10s %-16s %-7s %s", "TIME", "EVENT", "PID",
           "PPID", "USER", "COMM", "RESULT", "DETAILS");
  return buf;
}

namespace {
// The table is for terminals: control bytes (C0, DEL, and C1 such as the 8-bit CSI U+009B)
// and invalid UTF-8 must not reach them raw. Each such byte is shown once as \xHH.
std::string printable(const std::string &s) {
  std::string out;
  std::string_view v(s);
  for (size_t i = 0; i < s.size();) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    if (ch >= 0x20 && ch < 0x7f) {
      n = 1;
    } else if (ch >= 0x80) {
      // UTF-8 sequences are prefix-free: the first valid prefix is the whole sequence.
      for (size_t k = 2; k <= 4 && i + k <= s.size() && !n; k++)
        if (is_valid_utf8(v.substr(i, k))) n = k;
      if (n == 2 && ch == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) n = 0;  // C1
    }
    if (n == 0) {
      char b[8];
      snprintf(b, sizeof(b), "\\x%02x", ch);
      out += b;
      i++;
      continue;
    }
    out.append(s, i, n);
    i += n;
  }
  return out;
}
}  // namespace

void format_table(const Event &e, std::string &out) {
  time_t sec = static_cast<time_t>(e.realtime_ns / 1000000000ll);
  struct tm tm;
  localtime_r(&sec, &tm);
  char ts[32];
  snprintf(ts, sizeof(ts), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
           static_cast<int>((e.realtime_ns / 1000000) % 1000));
  std::string details;
  std::string result = event_success(e) ? "ok" : "fail";
  switch (e.kind) {
    case EventKind::Exec:
      details = printable(e.executable.empty() ? e.filename : e.executable);
      for (size_t i = 1; i < e.args.size(); i++) details += " " + printable(e.args[i]);
      if (e.exec_flags & KTRAIL_EXEC_ARGS_TRUNCATED) details += " ...";
      if (!e.cwd.empty()) details += "  [cwd " + printable(e.cwd) + "]";
      if (e.exec_flags & KTRAIL_EXEC_SECUREEXEC) details += "  [secureexec]";
      break;
    case EventKind::ExecFailed:
      result = errno_name(static_cast<int>(-e.ret));
      details = printable(e.filename);
      break;
    case EventKind::Exit: {
      int sig = e.exit_code & 0x7f;
      details = sig ? std::string("killed by ") + signal_name(sig)
                    : "code " + std::to_string((e.exit_code >> 8) & 0xff);
      break;
    }
    case EventKind::Cred: {
      if (!event_success(e) && e.ret < 0) result = errno_name(static_cast<int>(-e.ret));
      const Creds &a = e.old_creds, &b = e.proc.creds;
      char buf[200];
      if (e.syscall == KTRAIL_SYS_SETGROUPS) {
        snprintf(buf, sizeof(buf), "%u groups", e.ngroups);
      } else if (e.syscall == KTRAIL_SYS_CAPSET) {
        snprintf(buf, sizeof(buf), "eff %#llx -> %#llx", (unsigned long long)e.cap_old[0],
                 (unsigned long long)e.cap_new[0]);
      } else {
        snprintf(buf, sizeof(buf), "uid %u/%u/%u -> %u/%u/%u  gid %u/%u/%u -> %u/%u/%u", a.uid,
                 a.euid, a.suid, b.uid, b.euid, b.suid, a.gid, a.egid, a.sgid, b.gid, b.egid, b.sgid);
      }
      details = buf;
      break;
    }
    case EventKind::Capable:
      details = capability_name(e.cap.cap) + " x" + std::to_string(e.cap.count) + " (" +
                cap_origin_name(e.cap.origin) + (e.cap.noise ? ", noise" : "") + ")";
      if (!event_success(e)) result = "denied";
      break;
    case EventKind::File:
      details = printable(e.file.path);
      if (!e.file.new_path.empty()) details += " -> " + printable(e.file.new_path);
      if (e.ret < 0) result = errno_name(static_cast<int>(-e.ret));
      break;
    case EventKind::Alert:
      result = e.alert ? e.alert->severity_text : "";
      details = printable(alert_table_details(e));
      break;
    case EventKind::Lost:
      details = std::to_string(e.lost_count) + " records lost at " + e.lost_hook + " (" + e.lost_source + ")";
      if (e.lost_last_sequence)
        details += " seq " + std::to_string(e.lost_first_sequence) + "-" + std::to_string(e.lost_last_sequence);
      break;
    default:
      details = printable(ssh_table_details(e));
      break;
  }
  std::string user = e.user_name.empty() ? std::to_string(e.proc.creds.euid) : e.user_name;
  char line[256];
  snprintf(line, sizeof(line), "%-12s %-10s %7u %7u %-10.10s %-16s %-7s ", ts, event_action(e),
           e.proc.pid, e.proc.ppid, printable(user).c_str(), printable(e.proc.comm).c_str(), result.c_str());
  out += line;
  out += details;
}

}  // namespace ktrail
