#include "sinks/identity_format.h"

#include "sinks/format.h"

namespace ktrail {
namespace {

void write_labels(JsonWriter &w, std::string_view key, const Labels &labels) {
  if (labels.empty()) return;
  w.key(key).begin_object();
  for (const auto &[k, v] : labels) w.key_escaped(k).value(v);
  w.end_object();
}

void write_leader(JsonWriter &w, std::string_view key, const LeaderInfo &l, const Event &e) {
  if (!l.pid) return;
  w.key(key).begin_object().field("pid", l.pid);
  if (!l.name.empty()) w.field("name", l.name);
  if (!l.executable.empty()) w.field("executable", l.executable);
  // The leader's start, on the event's wall clock: boot time + the event's offset.
  if (l.start_boot_ns && e.realtime_ns)
    write_time_field(w, "start", e.realtime_ns - static_cast<int64_t>(e.boot_ns) +
                                     static_cast<int64_t>(l.start_boot_ns));
  w.end_object();
}

}  // namespace

void write_host_identity(JsonWriter &w, const HostInfo &h) {
  if (!h.boot_id.empty()) w.key("boot").begin_object().field("id", h.boot_id).end_object();
  if (h.os_kernel.empty() && h.os_name.empty()) return;
  w.key("os").begin_object().field("type", "linux");
  if (!h.os_kernel.empty()) w.field("kernel", h.os_kernel);
  if (!h.os_name.empty()) w.field("name", h.os_name);
  if (!h.os_version.empty()) w.field("version", h.os_version);
  if (!h.os_family.empty()) w.field("family", h.os_family);
  w.end_object();
}

void write_process_leaders(JsonWriter &w, const Event &e) {
  write_leader(w, "entry_leader", e.entry_leader, e);
  write_leader(w, "session_leader", e.session_leader, e);
}

void write_identity(JsonWriter &w, const Event &e) {
  if (const ContainerInfo *c = e.container.get()) {
    w.key("container").begin_object().field("id", c->id).field("runtime", c->runtime);
    if (!c->name.empty()) w.field("name", c->name);
    if (!c->image.empty()) w.key("image").begin_object().field("name", c->image).end_object();
    write_labels(w, "labels", c->labels);
    w.end_object();
    if (!c->pod_name.empty()) {
      w.key("orchestrator").begin_object().field("type", "kubernetes");
      if (!c->pod_namespace.empty()) w.field("namespace", c->pod_namespace);
      w.key("resource").begin_object().field("name", c->pod_name).field("type", "pod").end_object();
      w.end_object();
    }
  }
  if (const CloudInfo *c = e.cloud.get()) {
    w.key("cloud").begin_object().field("provider", c->provider);
    if (!c->instance_id.empty()) w.key("instance").begin_object().field("id", c->instance_id).end_object();
    if (!c->region.empty()) w.field("region", c->region);
    if (!c->availability_zone.empty()) w.field("availability_zone", c->availability_zone);
    if (!c->account_id.empty()) w.key("account").begin_object().field("id", c->account_id).end_object();
    if (!c->machine_type.empty()) w.key("machine").begin_object().field("type", c->machine_type).end_object();
    w.end_object();
  }
}

void write_identity_ktrail(JsonWriter &w, const Event &e) {
  const ContainerInfo *c = e.container.get();
  if (!c || c->pod_uid.empty()) return;
  w.key("k8s").begin_object();
  w.key("pod").begin_object().field("uid", c->pod_uid).end_object();
  if (!c->qos_class.empty()) w.field("qos_class", c->qos_class);
  write_labels(w, "labels", c->pod_labels);
  w.end_object();
}

}  // namespace ktrail
