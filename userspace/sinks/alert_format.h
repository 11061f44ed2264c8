// The `alert` record of a matched rule (userspace/rules): ECS rule.*, event.severity, and the
// user, process, source and container of the event that triggered it.
#pragma once
#include <string>

#include "decode/event.h"
#include "enrich/host.h"

namespace ktrail {

void format_alert_json(const Event &e, const HostInfo &host, std::string &out);
// The table's DETAILS column of an alert.
std::string alert_table_details(const Event &e);

}  // namespace ktrail
