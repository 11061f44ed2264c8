// Event -> text: NDJSON (ECS field names) and the human table view.
#pragma once
#include <string>

#include "decode/event.h"
#include "enrich/host.h"
#include "sinks/json_writer.h"

namespace ktrail {

// key: RFC 3339 time of unix_ns, formatted on the stack (every event has one or more).
inline void write_time_field(JsonWriter &w, std::string_view key, int64_t unix_ns) {
  char buf[kRfc3339Max];
  w.field(key, std::string_view(buf, format_rfc3339(unix_ns, buf)));
}

// Appends one JSON object (no newline).
void format_json(const Event &e, const HostInfo &host, std::string &out);
// One table line (no newline) and its header.
void format_table(const Event &e, std::string &out);
std::string table_header();

const char *errno_name(int err);           // "EPERM"; "E<number>" when unknown
const char *signal_name(int sig);          // "SIGKILL"
std::string capability_name(int cap);      // "CAP_SYS_ADMIN"; "CAP_<n>" past the known table
int capability_id(const std::string &name); // "CAP_SYS_ADMIN" -> 21; -1 when not a known name
const char *event_action(const Event &e);  // "exec", "setresuid", ...
bool event_success(const Event &e);

// The record schema (--schema): ECS (format_json) or OCSF 1.1.0 (sinks/ocsf.h).
enum class Schema { Ecs, Ocsf };
void format_record(Schema schema, const Event &e, const HostInfo &host, std::string &out);
// The ktrail-specific object ({...}): ECS `ktrail`, OCSF `unmapped`. Always a record's last member.
void write_ktrail_object(JsonWriter &w, const Event &e);
int event_errno(const Event &e);                 // the failed call's errno, 0 if none
const char *file_action(uint32_t file_syscall);  // "open", "chmod", ...
// A record's time as RFC 3339 UTC, whichever schema wrote it; "" when it has none.
std::string record_timestamp(std::string_view record);

}  // namespace ktrail
