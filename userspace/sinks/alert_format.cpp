#include "sinks/alert_format.h"

#include "sinks/format.h"
#include "sinks/identity_format.h"
#include "sinks/json_writer.h"

namespace ktrail {
namespace {

bool ssh_kind(EventKind k) {
  return k == EventKind::SshAccept || k == EventKind::SshAuth || k == EventKind::SshSessionStart ||
         k == EventKind::SshSessionEnd;
}

// The source address an analyst pivots on: the SSH peer of an ssh_* event, otherwise the
// source of the SSH session the process belongs to.
const Endpoint *alert_source(const Event &t) {
  if (ssh_kind(t.kind) && t.ssh.source.known()) return &t.ssh.source;
  if (t.session.present && t.session.source.known()) return &t.session.source;
  return nullptr;
}

}  // namespace

void format_alert_json(const Event &e, const HostInfo &host, std::string &out) {
  static const AlertFields kNone;
  const AlertFields &a = e.alert ? *e.alert : kNone;
  const Event *t = a.trigger.get();
  JsonWriter w(out);
  w.begin_object();
  write_time_field(w, "@timestamp", e.realtime_ns);
  w.key("event").begin_object();
  w.field("kind", "alert");
  w.key("category").begin_array().value("intrusion_detection").end_array();
  w.key("type").begin_array().value("info").end_array();
  w.field("action", "alert");
  w.field("severity", static_cast<int64_t>(a.severity));
  w.field("sequence", e.sequence);
  w.end_object();
  w.key("host").begin_object().field("name", host.name).field("id", host.id);
  write_host_identity(w, host);
  w.end_object();
  w.key("rule").begin_object().field("id", a.rule_id).field("name", a.rule_name);
  if (!a.description.empty()) w.field("description", a.description);
  w.end_object();

  if (t && t->kind != EventKind::Lost) {
    w.key("process").begin_object();
    w.field("pid", t->proc.pid);
    w.field("name", t->proc.comm);
    if (!t->executable.empty()) w.field("executable", t->executable);
    if (!t->args.empty()) {
      w.key("args").begin_array();
      for (const auto &s : t->args) w.value(s);
      w.end_array();
    }
    w.key("parent").begin_object().field("pid", t->proc.ppid);
    if (!t->parent_name.empty()) w.field("name", t->parent_name);
    if (!t->parent_executable.empty()) w.field("executable", t->parent_executable);
    w.end_object();
    w.key("user").begin_object().field("id", t->proc.creds.euid);
    if (!t->user_name.empty()) w.field("name", t->user_name);
    w.end_object();
    w.key("real_user").begin_object().field("id", t->proc.creds.uid);
    if (!t->real_user_name.empty()) w.field("name", t->real_user_name);
    w.end_object();
    w.end_object();
    // user.*: who, as a person: the SSH user of the event or of its session, else the login uid.
    std::string user = ssh_kind(t->kind) ? t->ssh.user : "";
    if (user.empty() && t->session.present) user = t->session.user;
    if (!user.empty() || t->proc.loginuid != UINT32_MAX) {
      w.key("user").begin_object();
      if (!user.empty()) w.field("name", user);
      if (t->proc.loginuid != UINT32_MAX) {
        w.key("audit").begin_object().field("id", t->proc.loginuid);
        if (!t->audit_user_name.empty()) w.field("name", t->audit_user_name);
        if (t->proc.sessionid != UINT32_MAX) w.field("session_id", t->proc.sessionid);
        w.end_object();
      }
      w.end_object();
    }
    if (const Endpoint *src = alert_source(*t)) {
      w.key("source").begin_object().field("ip", src->ip).field("address", src->ip);
      if (src->port) w.field("port", static_cast<uint32_t>(src->port));
      w.end_object();
    }
    if (t->kind == EventKind::File) {
      w.key("file").begin_object().field("path", t->file.path).end_object();
    }
    write_identity(w, *t);  // container.*, orchestrator.*, cloud.*
  }

  w.key("ktrail").begin_object();
  w.key("alert").begin_object();
  w.field("severity", a.severity_text);
  w.key("trigger_sequences").begin_array();
  for (uint64_t s : a.trigger_sequences) w.value(s);
  w.end_array();
  if (t) w.field("trigger_action", event_action(*t));
  if (t && t->kind == EventKind::Capable) w.field("capability", capability_name(t->cap.cap));
  w.end_object();
  if (t && t->session.present) {  // the same shape as on every event of the session
    w.key("session").begin_object().field("kind", t->session.kind);
    if (!t->session.user.empty()) w.field("user", t->session.user);
    if (t->session.source.known()) {
      w.field("source_ip", t->session.source.ip);
      w.field("source_port", static_cast<uint32_t>(t->session.source.port));
    }
    if (t->session.id != UINT32_MAX) w.field("id", t->session.id);
    if (!t->session.tty.empty()) w.field("tty", t->session.tty);
    w.end_object();
  }
  if (w.saw_invalid_utf8()) w.field("invalid_utf8", true);
  w.end_object();  // ktrail
  w.end_object();
}

std::string alert_table_details(const Event &e) {
  if (!e.alert) return "";
  const AlertFields &a = *e.alert;
  std::string d = a.rule_id + ": " + a.rule_name;
  if (const Event *t = a.trigger.get())
    if (const Endpoint *src = alert_source(*t)) d += " from " + src->ip;
  d += " (seq";
  for (size_t i = 0; i < a.trigger_sequences.size(); i++) {
    d += i ? ',' : ' ';
    d += std::to_string(a.trigger_sequences[i]);
  }
  return d + ")";
}

}  // namespace ktrail
