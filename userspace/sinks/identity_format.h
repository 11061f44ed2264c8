// ECS fields for workload identity: host.{boot,os}, container.*, orchestrator.*, cloud.*,
// process.{entry,session}_leader and ktrail.k8s.*. Called from format_json.
#pragma once
#include "decode/event.h"
#include "enrich/host.h"
#include "sinks/json_writer.h"

namespace ktrail {

void write_host_identity(JsonWriter &w, const HostInfo &host);     // inside "host"
void write_process_leaders(JsonWriter &w, const Event &e);         // inside "process"
void write_identity(JsonWriter &w, const Event &e);                // top level
void write_identity_ktrail(JsonWriter &w, const Event &e);         // inside "ktrail"

}  // namespace ktrail
