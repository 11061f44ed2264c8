// Event -> text: NDJSON (ECS field names) and the human table view.
#pragma once
#include <string>

#include "decode/event.h"
#include "enrich/host.h"

namespace ktrail {

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
const char *file_action(uint32_t syscall);  // open, chmod, chown, rename, unlink, truncate, setxattr

}  // namespace ktrail
