#include "rules/fields.h"

#include <algorithm>
#include <cstring>

#include "decode/decode.h"
#include "ktrail/abi/events.h"
#include "sinks/format.h"

namespace ktrail::rules {
namespace {

bool str(Value &v, std::string_view s) {
  if (s.empty()) return false;
  v.s = s;
  return true;
}
bool num(Value &v, int64_t i) {
  v.i = i;
  return true;
}
bool flag(Value &v, bool b) {
  v.i = b;
  return true;
}

bool has_process(const Event &e) { return e.kind != EventKind::Lost; }
bool is_ssh(const Event &e) {
  return e.kind == EventKind::SshAccept || e.kind == EventKind::SshAuth ||
         e.kind == EventKind::SshSessionStart || e.kind == EventKind::SshSessionEnd;
}
bool is_session(const Event &e) {
  return e.kind == EventKind::SshSessionStart || e.kind == EventKind::SshSessionEnd;
}
bool is_cred_id_call(const Event &e) {
  return e.kind == EventKind::Cred && e.syscall != KTRAIL_SYS_SETGROUPS && e.syscall != KTRAIL_SYS_CAPSET;
}

// ktrail.cred.requested.<which>: the syscall's argument, -1 for "unchanged" (as in the JSON).
bool requested(const Event &e, Value &v, uint32_t call, int idx) {
  if (e.kind != EventKind::Cred || e.syscall != call) return false;
  uint32_t id = static_cast<uint32_t>(e.req[idx]);
  if ((e.hdr_flags & KTRAIL_F_COMPAT_SYSCALL) && (id & 0xffff) == 0xffff) id = UINT32_MAX;
  return num(v, id == UINT32_MAX ? -1 : static_cast<int64_t>(id));
}
bool requested_any(const Event &e, Value &v, std::initializer_list<std::pair<uint32_t, int>> calls) {
  for (auto [call, idx] : calls)
    if (requested(e, v, call, idx)) return true;
  return false;
}

// One name per line keeps the table reviewable against the README.
#define F(name, type, body) {name, FieldType::type, [](const Event &e, Value &v, std::string &scratch) -> bool { (void)scratch; body }}

const std::vector<FieldDef> kFields = {
    // event
    F("event.action", String, { return str(v, event_action(e)); }),
    F("event.outcome", String, { return str(v, event_success(e) ? "success" : "failure"); }),
    F("event.sequence", Int, { return num(v, static_cast<int64_t>(e.sequence)); }),
    // process
    F("process.pid", Int, { return has_process(e) && num(v, e.proc.pid); }),
    F("process.thread.id", Int, { return has_process(e) && num(v, e.proc.tid); }),
    F("process.name", String, { return has_process(e) && str(v, e.proc.comm); }),
    F("process.executable", String, { return has_process(e) && str(v, e.executable); }),
    F("process.command_line", String, {
      if (!has_process(e) || e.args.empty()) return false;
      scratch.clear();
      for (const auto &a : e.args) {
        if (!scratch.empty()) scratch += ' ';
        scratch += a;
      }
      return str(v, scratch);
    }),
    F("process.args_count", Int, {
      return has_process(e) && (e.kind == EventKind::Exec || !e.args.empty()) &&
             num(v, e.kind == EventKind::Exec || e.args_from_table ? e.argc : e.args.size());
    }),
    F("process.working_directory", String, { return has_process(e) && str(v, e.cwd); }),
    F("process.tty.name", String, { return has_process(e) && str(v, e.tty); }),
    F("process.parent.pid", Int, { return has_process(e) && num(v, e.proc.ppid); }),
    F("process.parent.name", String, { return has_process(e) && str(v, e.parent_name); }),
    F("process.parent.executable", String, { return has_process(e) && str(v, e.parent_executable); }),
    F("process.user.id", Int, { return has_process(e) && num(v, e.proc.creds.euid); }),
    F("process.user.name", String, { return has_process(e) && str(v, e.user_name); }),
    F("process.real_user.id", Int, { return has_process(e) && num(v, e.proc.creds.uid); }),
    F("process.real_user.name", String, { return has_process(e) && str(v, e.real_user_name); }),
    F("process.saved_user.id", Int, { return has_process(e) && num(v, e.proc.creds.suid); }),
    F("process.group.id", Int, { return has_process(e) && num(v, e.proc.creds.egid); }),
    F("process.group.name", String, { return has_process(e) && str(v, e.group_name); }),
    F("process.real_group.id", Int, { return has_process(e) && num(v, e.proc.creds.gid); }),
    F("process.entry_leader.name", String, { return e.entry_leader.pid && str(v, e.entry_leader.name); }),
    F("process.entry_leader.executable", String, { return e.entry_leader.pid && str(v, e.entry_leader.executable); }),
    F("process.session_leader.name", String, { return e.session_leader.pid && str(v, e.session_leader.name); }),
    F("process.session_leader.executable", String, { return e.session_leader.pid && str(v, e.session_leader.executable); }),
    F("process.exit_code", Int, { return e.kind == EventKind::Exit && num(v, (e.exit_code >> 8) & 0xff); }),
    // user (SSH events) and the audit login
    F("user.name", String, { return (e.kind == EventKind::SshAuth || is_session(e)) && str(v, e.ssh.user); }),
    F("user.id", Int, { return is_session(e) && e.ssh.uid != UINT32_MAX && num(v, e.ssh.uid); }),
    F("user.audit.id", Int, { return has_process(e) && e.proc.loginuid != UINT32_MAX && num(v, e.proc.loginuid); }),
    F("user.audit.name", String, { return has_process(e) && e.proc.loginuid != UINT32_MAX && str(v, e.audit_user_name); }),
    F("user.audit.session_id", Int, { return has_process(e) && e.proc.sessionid != UINT32_MAX && num(v, e.proc.sessionid); }),
    // network (SSH events)
    F("source.ip", String, { return is_ssh(e) && str(v, e.ssh.source.ip); }),
    F("source.port", Int, { return is_ssh(e) && e.ssh.source.known() && num(v, e.ssh.source.port); }),
    F("destination.ip", String, { return is_ssh(e) && str(v, e.ssh.destination.ip); }),
    F("destination.port", Int, { return is_ssh(e) && e.ssh.destination.known() && num(v, e.ssh.destination.port); }),
    F("error.code", String, { int err = event_errno(e); return err && str(v, errno_name(err)); }),
    // file
    F("file.path", String, { return e.kind == EventKind::File && str(v, e.file.path); }),
    F("file.name", String, {
      if (e.kind != EventKind::File) return false;
      auto slash = e.file.path.rfind('/');
      return slash != std::string::npos && str(v, std::string_view(e.file.path).substr(slash + 1));
    }),
    F("file.directory", String, {
      if (e.kind != EventKind::File) return false;
      auto slash = e.file.path.rfind('/');
      if (slash == std::string::npos) return false;
      return str(v, slash == 0 ? std::string_view("/") : std::string_view(e.file.path).substr(0, slash));
    }),
    F("ktrail.file.syscall", String, { return e.kind == EventKind::File && str(v, file_syscall_name(e.file.syscall)); }),
    F("ktrail.file.watch", String, { return e.kind == EventKind::File && str(v, e.file.watch_entry); }),
    F("ktrail.file.intent", String, {
      if (e.kind != EventKind::File || std::strcmp(file_action(e.file.syscall), "open") != 0) return false;
      switch (e.file.arg_flags & 03) {
        case 0: return str(v, (e.file.arg_flags & (01000 | 0100)) ? "write" : "read");
        case 1: return str(v, "write");
        default: return str(v, "read_write");
      }
    }),
    F("ktrail.file.new_path", String, { return e.kind == EventKind::File && str(v, e.file.new_path); }),
    // capability checks
    F("ktrail.capability.name", String, {
      if (e.kind != EventKind::Capable) return false;
      scratch = capability_name(e.cap.cap);
      return str(v, scratch);
    }),
    F("ktrail.capability.id", Int, { return e.kind == EventKind::Capable && num(v, e.cap.cap); }),
    F("ktrail.capability.noise", Bool, { return e.kind == EventKind::Capable && flag(v, e.cap.noise); }),
    F("ktrail.capability.origin", String, {
      if (e.kind != EventKind::Capable) return false;
      switch (e.cap.origin) {
        case KTRAIL_CAP_FIRST: return str(v, "first");
        case KTRAIL_CAP_SUMMARY: return str(v, "summary");
        case KTRAIL_CAP_ALWAYS: return str(v, "always");
        case KTRAIL_CAP_OVERFLOW: return str(v, "overflow");
      }
      return false;
    }),
    F("ktrail.capability.count", Int, { return e.kind == EventKind::Capable && num(v, static_cast<int64_t>(e.cap.count)); }),
    // exec
    F("ktrail.exec.filename", String, { return e.kind == EventKind::Exec && str(v, e.filename); }),
    F("ktrail.exec.attempted_path", String, { return e.kind == EventKind::ExecFailed && str(v, e.filename); }),
    F("ktrail.exec.secureexec", Bool, {
      return e.kind == EventKind::Exec && (e.exec_flags & KTRAIL_EXEC_SECUREEXEC_KNOWN) &&
             flag(v, e.exec_flags & KTRAIL_EXEC_SECUREEXEC);
    }),
    F("ktrail.exec.privilege_change", Bool, {
      const Creds &c = e.proc.creds;
      return e.kind == EventKind::Exec &&
             flag(v, (e.exec_flags & KTRAIL_EXEC_SECUREEXEC) || c.euid != c.uid || c.egid != c.gid);
    }),
    // credential changes
    F("ktrail.cred.syscall", String, { return e.kind == EventKind::Cred && str(v, cred_syscall_name(e.syscall)); }),
    F("ktrail.cred.return", Int, { return e.kind == EventKind::Cred && num(v, e.ret); }),
    F("ktrail.cred.requested.uid", Int, { return requested(e, v, KTRAIL_SYS_SETUID, 0); }),
    F("ktrail.cred.requested.gid", Int, { return requested(e, v, KTRAIL_SYS_SETGID, 0); }),
    F("ktrail.cred.requested.ruid", Int, { return requested_any(e, v, {{KTRAIL_SYS_SETREUID, 0}, {KTRAIL_SYS_SETRESUID, 0}}); }),
    F("ktrail.cred.requested.euid", Int, { return requested_any(e, v, {{KTRAIL_SYS_SETREUID, 1}, {KTRAIL_SYS_SETRESUID, 1}}); }),
    F("ktrail.cred.requested.suid", Int, { return requested(e, v, KTRAIL_SYS_SETRESUID, 2); }),
    F("ktrail.cred.requested.rgid", Int, { return requested_any(e, v, {{KTRAIL_SYS_SETREGID, 0}, {KTRAIL_SYS_SETRESGID, 0}}); }),
    F("ktrail.cred.requested.egid", Int, { return requested_any(e, v, {{KTRAIL_SYS_SETREGID, 1}, {KTRAIL_SYS_SETRESGID, 1}}); }),
    F("ktrail.cred.requested.sgid", Int, { return requested(e, v, KTRAIL_SYS_SETRESGID, 2); }),
    F("ktrail.cred.requested.fsuid", Int, { return requested(e, v, KTRAIL_SYS_SETFSUID, 0); }),
    F("ktrail.cred.before.uid", Int, { return is_cred_id_call(e) && num(v, e.old_creds.uid); }),
    F("ktrail.cred.before.euid", Int, { return is_cred_id_call(e) && num(v, e.old_creds.euid); }),
    F("ktrail.cred.before.suid", Int, { return is_cred_id_call(e) && num(v, e.old_creds.suid); }),
    F("ktrail.cred.before.fsuid", Int, { return is_cred_id_call(e) && num(v, e.old_creds.fsuid); }),
    F("ktrail.cred.before.gid", Int, { return is_cred_id_call(e) && num(v, e.old_creds.gid); }),
    F("ktrail.cred.before.egid", Int, { return is_cred_id_call(e) && num(v, e.old_creds.egid); }),
    F("ktrail.cred.after.uid", Int, { return is_cred_id_call(e) && num(v, e.proc.creds.uid); }),
    F("ktrail.cred.after.euid", Int, { return is_cred_id_call(e) && num(v, e.proc.creds.euid); }),
    F("ktrail.cred.after.suid", Int, { return is_cred_id_call(e) && num(v, e.proc.creds.suid); }),
    F("ktrail.cred.after.fsuid", Int, { return is_cred_id_call(e) && num(v, e.proc.creds.fsuid); }),
    F("ktrail.cred.after.gid", Int, { return is_cred_id_call(e) && num(v, e.proc.creds.gid); }),
    F("ktrail.cred.after.egid", Int, { return is_cred_id_call(e) && num(v, e.proc.creds.egid); }),
    // SSH
    F("ktrail.ssh.method", String, { return e.kind == EventKind::SshAuth && str(v, e.ssh.method.empty() ? "unknown" : e.ssh.method); }),
    F("ktrail.ssh.user_exists", Bool, { return e.kind == EventKind::SshAuth && e.ssh.user_exists >= 0 && flag(v, e.ssh.user_exists == 1); }),
    F("ktrail.ssh.failures_from_source", Int, { return e.kind == EventKind::SshAuth && num(v, static_cast<int64_t>(e.ssh.failures_from_source)); }),
    F("ktrail.ssh.key.fingerprint", String, { return e.kind == EventKind::SshAuth && str(v, e.ssh.key_fingerprint); }),
    // On every credential change, so `not ktrail.ssh.self_check` reads naturally.
    F("ktrail.ssh.self_check", Bool, { return e.kind == EventKind::Cred && flag(v, e.ssh.self_check); }),
    F("ktrail.ssh.key_lookup", Bool, { return e.kind == EventKind::Cred && flag(v, e.ssh.key_lookup); }),
    // SSH session attribution
    F("ktrail.session.kind", String, { return e.session.present && str(v, e.session.kind); }),
    F("ktrail.session.user", String, { return e.session.present && str(v, e.session.user); }),
    F("ktrail.session.source_ip", String, { return e.session.present && str(v, e.session.source.ip); }),
    F("ktrail.session.id", Int, { return e.session.present && e.session.id != UINT32_MAX && num(v, e.session.id); }),
    F("ktrail.session.tty", String, { return e.session.present && str(v, e.session.tty); }),
    // process internals
    F("ktrail.process.ns_pid", Int, { return has_process(e) && num(v, e.proc.ns_pid); }),
    F("ktrail.cgroup.id", Int, { return has_process(e) && num(v, static_cast<int64_t>(e.proc.cgroup_id)); }),
    // workload identity
    F("container.id", String, { return e.container && str(v, e.container->id); }),
    F("container.runtime", String, { return e.container && str(v, e.container->runtime); }),
    F("container.name", String, { return e.container && str(v, e.container->name); }),
    F("container.image.name", String, { return e.container && str(v, e.container->image); }),
    F("orchestrator.namespace", String, { return e.container && str(v, e.container->pod_namespace); }),
    F("orchestrator.resource.name", String, { return e.container && str(v, e.container->pod_name); }),
    F("cloud.provider", String, { return e.cloud && str(v, e.cloud->provider); }),
    F("cloud.instance.id", String, { return e.cloud && str(v, e.cloud->instance_id); }),
};
#undef F

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const FieldDef *find_field(std::string_view name) {
  for (const auto &f : kFields)
    if (name == f.name) return &f;
  return nullptr;
}

std::string suggest_field(std::string_view name) {
  const FieldDef *best = nullptr;
  size_t best_d = SIZE_MAX;
  for (const auto &f : kFields) {
    size_t d = edit_distance(name, f.name);
    if (d < best_d) best_d = d, best = &f;
  }
  // Far-off names get no suggestion: a wrong hint is worse than none.
  if (!best || best_d > std::max<size_t>(3, name.size() / 3)) {
    // Same last component ("uid" -> "process.user.id" is too far, but "ip" -> "source.ip").
    auto dot = name.rfind('.');
    std::string_view leaf = dot == std::string_view::npos ? name : name.substr(dot + 1);
    for (const auto &f : kFields) {
      std::string_view n = f.name;
      if (n.size() > leaf.size() && n.substr(n.size() - leaf.size()) == leaf && n[n.size() - leaf.size() - 1] == '.')
        return f.name;
    }
    return "";
  }
  return best->name;
}

const std::vector<FieldDef> &all_fields() { return kFields; }

const char *type_name(FieldType t) {
  switch (t) {
    case FieldType::String: return "a string";
    case FieldType::Int: return "a number";
    case FieldType::Bool: return "a boolean";
  }
  return "?";
}

}  // namespace ktrail::rules
