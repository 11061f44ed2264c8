#include "sinks/ocsf.h"

#include <cstring>
#include <string_view>

#include "decode/decode.h"
#include "ktrail/abi/events.h"
#include "sinks/format.h"

namespace ktrail {
namespace {

// One event's place in OCSF 1.1.0: class, activity and their captions.
struct Mapping {
  int category_uid;
  const char *category_name;
  int class_uid;
  const char *class_name;
  int activity_id;
  const char *activity_name;
};

constexpr Mapping kBase{0, "Uncategorized", 0, "Base Event", 99, "Other"};
constexpr int kOther = 99;

Mapping process_activity(int activity, const char *name) {
  return {1, "System Activity", 1007, "Process Activity", activity, name};
}

Mapping file_activity(const Event &e) {
  std::string_view a = file_action(e.file.syscall);
  auto m = [](int id, const char *name) { return Mapping{1, "System Activity", 1001, "File System Activity", id, name}; };
  if (a == "open") return m(14, "Open");
  if (a == "unlink") return m(4, "Delete");
  if (a == "rename") return m(5, "Rename");
  if (a == "truncate") return m(3, "Update");
  if (a == "setxattr") return m(6, "Set Attributes");
  if (a == "chmod" || a == "chown") return m(7, "Set Security");  // permissions and ownership
  return m(kOther, "Other");
}

Mapping authentication(int activity, const char *name) {
  return {3, "Identity & Access Management", 3002, "Authentication", activity, name};
}

bool uid_call(uint32_t syscall) {
  switch (syscall) {
    case KTRAIL_SYS_SETUID: case KTRAIL_SYS_SETREUID: case KTRAIL_SYS_SETRESUID: case KTRAIL_SYS_SETFSUID: return true;
  }
  return false;
}

Mapping mapping(const Event &e) {
  switch (e.kind) {
    case EventKind::Exec:
    case EventKind::ExecFailed: return process_activity(1, "Launch");
    case EventKind::Exit: return process_activity(2, "Terminate");
    // "Set User ID" is the setuid() family; group, supplementary group and capability changes
    // have no activity of their own in 1.1.0.
    case EventKind::Cred:
      return uid_call(e.syscall) ? process_activity(5, "Set User ID") : process_activity(kOther, cred_syscall_name(e.syscall));
    case EventKind::Capable: return process_activity(kOther, "Capability Check");
    case EventKind::File: return file_activity(e);
    case EventKind::SshAuth: return authentication(1, "Logon");
    case EventKind::SshSessionStart: return authentication(kOther, "Session Start");
    case EventKind::SshSessionEnd: return authentication(2, "Logoff");
    case EventKind::SshAccept: return {4, "Network Activity", 4001, "Network Activity", 1, "Open"};
    default: {
      Mapping b = kBase;
      b.activity_name = event_action(e);
      return b;
    }
  }
}

void write_header(JsonWriter &w, int64_t realtime_ns, uint64_t seq, const char *event_code, const Mapping &m,
                  int severity_id, const HostInfo &host, bool container, bool cloud) {
  w.begin_object();
  w.field("time", static_cast<int64_t>(realtime_ns / 1000000));
  w.key("metadata").begin_object();
  w.field("version", kOcsfVersion);
  w.key("product").begin_object().field("name", "ktrail").field("vendor_name", "ktrail").field("version", KTRAIL_VERSION).end_object();
  w.field("event_code", event_code);
  w.field("sequence", seq);
  w.field("uid", host.id + ":" + std::to_string(seq));
  w.key("profiles").begin_array().value("host");
  if (container) w.value("container");
  if (cloud) w.value("cloud");
  w.end_array();
  w.end_object();
  w.field("category_uid", m.category_uid).field("category_name", m.category_name);
  w.field("class_uid", m.class_uid).field("class_name", m.class_name);
  w.field("activity_id", m.activity_id).field("activity_name", m.activity_name);
  w.field("type_uid", static_cast<int64_t>(m.class_uid) * 100 + m.activity_id);
  w.field("type_name", std::string(m.class_name) + ": " + m.activity_name);
  static const char *const kSeverity[] = {"Unknown", "Informational", "Low", "Medium", "High", "Critical", "Fatal"};
  w.field("severity_id", severity_id).field("severity", kSeverity[severity_id]);
  w.key("device").begin_object();
  w.field("hostname", host.name).field("uid", host.id).field("type_id", 0).field("type", "Unknown");
  w.key("os").begin_object().field("name", host.os_name.empty() ? std::string("Linux") : host.os_name);
  w.field("type_id", 200).field("type", "Linux");
  if (!host.os_version.empty()) w.field("version", host.os_version);
  w.end_object();
  w.end_object();
}

void write_user(JsonWriter &w, std::string_view key, uint32_t uid, const std::string &name) {
  w.key(key).begin_object().field("uid", std::to_string(uid));
  if (!name.empty()) w.field("name", name);
  w.end_object();
}

void write_file_path(JsonWriter &w, std::string_view key, const std::string &path) {
  w.key(key).begin_object().field("path", path);
  auto slash = path.rfind('/');
  w.field("name", slash == std::string::npos ? path : path.substr(slash + 1));
  if (slash != std::string::npos) w.field("parent_folder", slash == 0 ? std::string("/") : path.substr(0, slash));
  w.field("type_id", 0).field("type", "Unknown");  // not looked at: no stat() on the hot path
  w.end_object();
}

// The process the event is about (OCSF process object).
void write_process(JsonWriter &w, std::string_view key, const Event &e) {
  const Creds &c = e.proc.creds;
  w.key(key).begin_object();
  w.field("pid", e.proc.pid).field("tid", e.proc.tid).field("name", e.proc.comm);
  if (!e.executable.empty()) write_file_path(w, "file", e.executable);
  if (!e.args.empty()) {
    std::string cmd;
    for (const auto &a : e.args) cmd += (cmd.empty() ? "" : " ") + a;
    w.field("cmd_line", cmd);
  }
  if (e.start_realtime_ns) w.field("created_time", static_cast<int64_t>(e.start_realtime_ns / 1000000));
  write_user(w, "user", c.euid, e.user_name);
  w.key("parent_process").begin_object().field("pid", e.proc.ppid);
  if (!e.parent_name.empty()) w.field("name", e.parent_name);
  if (!e.parent_executable.empty()) write_file_path(w, "file", e.parent_executable);
  w.end_object();
  if (e.proc.sessionid != UINT32_MAX) w.key("session").begin_object().field("uid", std::to_string(e.proc.sessionid)).end_object();
  w.end_object();
}

// The actor: who did it. For a launch, the parent that asked for it; otherwise the process.
void write_actor(JsonWriter &w, const Event &e) {
  w.key("actor").begin_object();
  if (e.kind == EventKind::Exec) {
    w.key("process").begin_object().field("pid", e.proc.ppid);
    if (!e.parent_name.empty()) w.field("name", e.parent_name);
    if (!e.parent_executable.empty()) write_file_path(w, "file", e.parent_executable);
    w.end_object();
  } else {
    write_process(w, "process", e);
  }
  write_user(w, "user", e.proc.creds.euid, e.user_name);
  if (e.proc.sessionid != UINT32_MAX) {
    w.key("session").begin_object().field("uid", std::to_string(e.proc.sessionid));
    if (!e.tty.empty()) w.field("terminal", e.tty);
    w.end_object();
  }
  w.end_object();
}

void write_endpoint(JsonWriter &w, std::string_view key, const Endpoint &ep) {
  if (!ep.known()) return;
  w.key(key).begin_object().field("ip", ep.ip);
  if (ep.port) w.field("port", static_cast<uint32_t>(ep.port));
  w.end_object();
}

void write_status(JsonWriter &w, const Event &e) {
  const bool ok = event_success(e);
  w.field("status_id", ok ? 1 : 2).field("status", ok ? "Success" : "Failure");
  if (int err = event_errno(e)) w.field("status_code", errno_name(err)).field("status_detail", strerror(err));
}

void write_container_cloud(JsonWriter &w, const Event &e) {
  if (e.container) {
    const ContainerInfo &c = *e.container;
    w.key("container").begin_object().field("uid", c.id);
    if (!c.name.empty()) w.field("name", c.name);
    if (!c.image.empty()) w.key("image").begin_object().field("name", c.image).end_object();
    if (!c.runtime.empty()) w.field("runtime", c.runtime);
    if (!c.pod_uid.empty()) w.field("pod_uuid", c.pod_uid);
    w.end_object();
  }
  if (e.cloud) {
    w.key("cloud").begin_object().field("provider", e.cloud->provider);
    if (!e.cloud->region.empty()) w.field("region", e.cloud->region);
    if (!e.cloud->availability_zone.empty()) w.field("zone", e.cloud->availability_zone);
    if (!e.cloud->account_id.empty()) w.key("account").begin_object().field("uid", e.cloud->account_id).end_object();
    w.end_object();
  }
}

int severity(const Event &e) {
  if (e.kind == EventKind::Lost) return 3;  // Medium: records are missing
  return event_success(e) ? 1 : 2;          // a failure (denied, refused) is worth a look
}

}  // namespace

void ocsf_begin_agent_record(JsonWriter &w, int64_t realtime_ns, uint64_t seq, const char *event_code,
                             const HostInfo &host) {
  Mapping m = kBase;
  m.activity_name = event_code;
  write_header(w, realtime_ns, seq, event_code, m, 1, host, false, false);
  w.field("status_id", 1).field("status", "Success");
}

// An alert of the rules engine (userspace/rules) is a Detection Finding: the rule is the
// analytic, the triggering records are the related events, and actor/process/container are the
// last trigger's.
static void format_ocsf_alert(const Event &e, const HostInfo &host, std::string &out) {
  static const AlertFields kNone;
  const AlertFields &a = e.alert ? *e.alert : kNone;
  const Event *t = a.trigger.get();
  JsonWriter w(out);
  const Mapping m{2, "Findings", 2004, "Detection Finding", 1, "Create"};
  // ECS event.severity 21/47/73/99 -> OCSF Low/Medium/High/Critical.
  const int sev = a.severity >= 99 ? 5 : a.severity >= 73 ? 4 : a.severity >= 47 ? 3 : 2;
  write_header(w, e.realtime_ns, e.sequence, "alert", m, sev, host, t && t->container, t && t->cloud);
  w.field("status_id", 1).field("status", "New");
  w.key("finding_info").begin_object();
  w.field("uid", host.id + ":" + std::to_string(e.sequence));
  w.field("title", a.rule_name);
  if (!a.description.empty()) w.field("desc", a.description);
  w.key("types").begin_array().value(a.rule_id).end_array();
  w.key("analytic").begin_object().field("uid", a.rule_id).field("name", a.rule_name)
      .field("type_id", 1).field("type", "Rule").end_object();
  w.key("related_events").begin_array();
  for (uint64_t s : a.trigger_sequences)
    w.begin_object().field("uid", host.id + ":" + std::to_string(s)).end_object();
  w.end_array();
  w.end_object();
  if (t && t->kind != EventKind::Lost) {
    write_actor(w, *t);
    write_container_cloud(w, *t);
  }
  w.key("unmapped").begin_object().key("alert").begin_object();  // unmapped is OCSF's `ktrail`
  w.field("rule_id", a.rule_id).field("severity", a.severity_text);
  w.key("trigger_sequences").begin_array();
  for (uint64_t s : a.trigger_sequences) w.value(s);
  w.end_array();
  if (t) w.field("trigger_action", event_action(*t));
  w.end_object().end_object();
  w.end_object();
}

void format_ocsf(const Event &e, const HostInfo &host, std::string &out) {
  if (e.kind == EventKind::Alert) return format_ocsf_alert(e, host, out);
  JsonWriter w(out);
  const Mapping m = mapping(e);
  write_header(w, e.realtime_ns, e.sequence, event_action(e), m, severity(e), host, e.container != nullptr,
               e.cloud != nullptr);
  write_status(w, e);
  if (e.kind == EventKind::Lost) {
    w.field("message", std::to_string(e.lost_count) + " records lost at " + e.lost_hook + " (" + e.lost_source + ")");
    w.key("unmapped");
    write_ktrail_object(w, e);
    w.end_object();
    return;
  }
  write_actor(w, e);
  switch (m.class_uid) {
    case 1007:
      write_process(w, "process", e);
      if (e.kind == EventKind::Exit) w.field("exit_code", static_cast<int64_t>((e.exit_code >> 8) & 0xff));
      if (e.kind == EventKind::ExecFailed) write_file_path(w, "file", e.filename);
      break;
    case 1001:
      write_file_path(w, "file", e.file.path);
      if (!e.file.new_path.empty()) write_file_path(w, "file_result", e.file.new_path);
      break;
    case 3002:
      if (!e.ssh.user.empty() || e.ssh.uid != UINT32_MAX) {
        w.key("user").begin_object();
        if (!e.ssh.user.empty()) w.field("name", e.ssh.user);
        if (e.kind != EventKind::SshAuth && e.ssh.uid != UINT32_MAX) w.field("uid", std::to_string(e.ssh.uid));
        w.end_object();
      } else {
        w.key("user").begin_object().end_object();  // required by the class, not known here
      }
      write_endpoint(w, "src_endpoint", e.ssh.source);
      write_endpoint(w, "dst_endpoint", e.ssh.destination);
      w.field("auth_protocol_id", kOther).field("auth_protocol", e.ssh.method.empty() ? std::string("ssh") : "ssh " + e.ssh.method);
      w.field("logon_type_id", 10).field("logon_type", "Remote Interactive");
      w.field("is_remote", true);
      w.key("service").begin_object().field("name", "sshd").end_object();
      if (e.ssh.session_id != UINT32_MAX || !e.ssh.tty.empty()) {
        w.key("session").begin_object();
        if (e.ssh.session_id != UINT32_MAX) w.field("uid", std::to_string(e.ssh.session_id));
        if (!e.ssh.tty.empty()) w.field("terminal", e.ssh.tty);
        w.end_object();
      }
      if (!e.ssh.log_message.empty()) w.field("message", e.ssh.log_message);
      break;
    case 4001:
      write_endpoint(w, "src_endpoint", e.ssh.source);
      write_endpoint(w, "dst_endpoint", e.ssh.destination);
      w.key("connection_info").begin_object().field("protocol_name", "tcp").field("direction_id", 1).field("direction", "Inbound").end_object();
      break;
  }
  write_container_cloud(w, e);
  w.key("unmapped");
  write_ktrail_object(w, e);
  w.end_object();
}

void format_record(Schema schema, const Event &e, const HostInfo &host, std::string &out) {
  if (schema == Schema::Ocsf) format_ocsf(e, host, out);
  else format_json(e, host, out);
}

std::string record_timestamp(std::string_view r) {
  constexpr std::string_view kEcs = "{\"@timestamp\":\"", kOcsf = "{\"time\":";
  if (r.substr(0, kEcs.size()) == kEcs) {
    size_t end = r.find('"', kEcs.size());
    return end == std::string_view::npos ? "" : std::string(r.substr(kEcs.size(), end - kEcs.size()));
  }
  if (r.substr(0, kOcsf.size()) == kOcsf) {
    int64_t ms = 0;
    size_t i = kOcsf.size(), digits = 0;
    for (; i < r.size() && r[i] >= '0' && r[i] <= '9' && digits < 18; i++, digits++) ms = ms * 10 + (r[i] - '0');
    if (digits) return format_rfc3339(ms * 1000000);
  }
  return "";
}

}  // namespace ktrail
