// The typed event every stage after decode works on. Kernel fields first, then what the
// agent adds (enrichment, sequence).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/identity.h"

namespace ktrail {

enum class EventKind : uint8_t {
  Exec, ExecFailed, Exit, Cred, Lost,
  // SSH, emitted
  SshAccept, SshAuth, SshSessionStart, SshSessionEnd,
  // SSH signals: consumed by the session tracker, never emitted themselves
  SshLog, SshPam,
  // capability checks and sensitive files (appended)
  Capable, File,
  // a rule matched (userspace/rules): derived by the agent, never derived from (appended)
  Alert,
};

// capable events (README "Capability checks").
struct CapFields {
  int32_t cap = -1;
  int32_t ret = 0;              // 0 granted, -EPERM denied
  uint64_t count = 0;           // checks since the key's last report
  uint64_t first_boot_ns = 0;
  int64_t first_realtime_ns = 0;  // enrich
  uint64_t exe_ino = 0;
  uint32_t exe_dev = 0;
  int32_t syscall_nr = -1;
  uint8_t audit = 0;            // enum ktrail_cap_audit
  uint8_t origin = 0;           // enum ktrail_cap_origin
  uint8_t hook = 0;             // enum ktrail_cap_hook
  bool noise = false;
  bool by_process = false;      // aggregated per process (else per cgroup)
};

// open/chmod/chown/rename/unlink/truncate/setxattr on a watched path.
struct FileFields {
  uint32_t syscall = 0;         // enum ktrail_cred_syscall (KTRAIL_SYS_OPEN..)
  uint32_t flags = 0;           // enum ktrail_file_flags
  uint64_t arg_flags = 0;
  uint32_t mode = 0, old_mode = 0;
  uint32_t uid = UINT32_MAX, gid = UINT32_MAX, old_uid = UINT32_MAX, old_gid = UINT32_MAX;
  uint64_t ino = 0;
  uint32_t dev = 0;
  uint32_t watch = 0;
  std::string path, new_path;
  std::string watch_entry;      // the matching --watch entry (agent)
  // chmod/chown: where old_mode/old_uid/old_gid come from (the kernel reads them only for
  // fd-based calls; path-based ones get the agent's cache, enrich/file_attrs.h).
  enum class OldSource : uint8_t { None, Kernel, Agent };
  OldSource old_source = OldSource::None;
  bool resolved_by_agent = false;  // a kernel candidate the agent resolved (enrich/file_candidates.h)
};

struct Event;
// An alert's own fields; the user, process, source and container it names are the last
// triggering event's (`trigger`).
struct AlertFields {
  std::string rule_id, rule_name, description;
  int severity = 0;                          // ECS event.severity: 21 low .. 99 critical
  std::string severity_text;                 // low, medium, high, critical
  std::vector<uint64_t> trigger_sequences;   // event.sequence of every triggering event, in order
  std::shared_ptr<const Event> trigger;      // the event that completed the match
};

struct Endpoint {
  std::string ip;  // "" when unknown; IPv4-mapped IPv6 is shown as IPv4
  uint16_t port = 0;
  bool known() const { return !ip.empty(); }
  bool operator==(const Endpoint &) const = default;
};

// ssh_* events and their signals (see README "SSH access").
struct SshFields {
  Endpoint source, destination;
  // SshLog: what sshd wrote; SshPam: which call and its result.
  std::string log_line;
  uint32_t log_fd_kind = 0;
  uint32_t pam_op = 0;
  std::string pam_service, pam_user;
  // ssh_auth
  std::string user;         // as typed
  int8_t user_exists = -1;  // -1 unknown
  bool partial = false;     // one step of a multi-method login (AuthenticationMethods)
  std::string method, key_type, key_fingerprint, log_message;
  std::vector<std::string> signals;
  uint64_t failures_from_source = 0;
  // sessions
  uint32_t uid = UINT32_MAX;
  uint32_t session_id = UINT32_MAX;
  std::string tty;
  uint64_t duration_ns = 0;
  bool seeded = false;      // the session was open before ktrail started
  // cred events of sshd itself
  bool self_check = false;  // privsep self-test: a deliberate, failing attempt to regain ids
  bool key_lookup = false;  // the monitor briefly became the user to read authorized_keys
};

// The SSH session an event belongs to (by audit session id, or by ancestry without PAM).
struct SessionRef {
  bool present = false;
  std::string kind;  // "ssh"
  std::string user;
  Endpoint source;
  uint32_t id = UINT32_MAX;  // audit session id; UINT32_MAX when the session has none
  std::string tty;
};

struct Creds {
  uint32_t uid = 0, euid = 0, suid = 0, fsuid = 0;
  uint32_t gid = 0, egid = 0, sgid = 0, fsgid = 0;
  bool operator==(const Creds &) const = default;
};

struct Subject {  // the task that caused the event (ktrail_header)
  uint64_t cgroup_id = 0;
  uint64_t start_boot_ns = 0;
  uint32_t pid = 0, tid = 0, ppid = 0, ns_pid = 0;
  uint32_t mnt_ns = 0, pid_ns = 0;
  uint32_t loginuid = UINT32_MAX, sessionid = UINT32_MAX;
  Creds creds;
  std::string comm;
};

struct Event {
  EventKind kind = EventKind::Exec;
  uint64_t boot_ns = 0;
  uint16_t hdr_flags = 0;
  Subject proc;

  // exec (and failed exec: filename, syscall, ret, dirfd, at_flags)
  std::string filename;
  std::vector<std::string> args;
  uint32_t argc = 0;
  uint32_t exec_flags = 0;
  std::string cwd;  // joined; empty when unknown
  std::string tty;
  uint32_t sid = 0;  // exec: session id from the kernel (0 unknown)
  int64_t ret = 0;
  int32_t dirfd = 0;
  uint32_t at_flags = 0;
  uint32_t syscall = 0;  // enum ktrail_cred_syscall

  // exit
  uint32_t exit_code = 0;

  // cred
  uint64_t req[3] = {0, 0, 0};
  uint64_t cap_req[3] = {0, 0, 0}, cap_old[3] = {0, 0, 0}, cap_new[3] = {0, 0, 0};
  Creds old_creds;
  uint32_t ngroups = 0;
  std::vector<uint32_t> groups;

  // lost (synthesized by the agent)
  std::string lost_hook;
  std::string lost_source;  // "kernel", "perf_buffer", "decode", "spool", "rejected" (hook: the output)
  uint64_t lost_count = 0;
  // A full delivery spool evicted these event.sequence values (0: range not known).
  uint64_t lost_first_sequence = 0;
  uint64_t lost_last_sequence = 0;

  // ---- added by enrich / pipeline ----
  uint64_t sequence = 0;
  int64_t realtime_ns = 0;  // @timestamp
  int64_t start_realtime_ns = 0;
  std::string executable;
  std::string parent_name;
  std::string parent_executable;
  std::string user_name, real_user_name, group_name, real_group_name;
  std::string audit_user_name;
  bool args_from_table = false;  // non-exec events: args from the process table

  // ---- SSH (decode for signals, session tracker for the rest) ----
  SshFields ssh;
  SessionRef session;
  CapFields cap;
  FileFields file;
  bool suppress = false;  // not emitted: an internal signal or an event class not selected
  // ---- identity (enrich/identity): shared immutable snapshots, null when unknown ----
  std::shared_ptr<const ContainerInfo> container;
  std::shared_ptr<const CloudInfo> cloud;
  LeaderInfo entry_leader, session_leader;  // pid 0 = unknown
  // ---- alerts only (kind Alert): shared, so a plain event pays one null pointer ----
  std::shared_ptr<const AlertFields> alert;
};

}  // namespace ktrail
