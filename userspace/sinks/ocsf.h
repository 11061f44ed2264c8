// OCSF 1.1.0 records (`--schema ocsf`); README "OCSF" holds the mapping table.
//
// Layout, fixed because the chain and the tools rely on it: a record starts with `{"time":`
// (epoch milliseconds), `metadata` comes right after it (holding `sequence` and `event_code`,
// the ECS event.action, within the first bytes, where chain::find_sequence/find_action look),
// and the record's last member is `unmapped`: the very object ECS records carry as `ktrail`.
// So the chain member lands at `unmapped.chain.hash` and checkpoints at `unmapped.checkpoint`.
#pragma once
#include <string>

#include "decode/event.h"
#include "enrich/host.h"
#include "sinks/json_writer.h"

namespace ktrail {

inline constexpr const char *kOcsfVersion = "1.1.0";

void format_ocsf(const Event &e, const HostInfo &host, std::string &out);

// The agent's own records (agent_start, checkpoint): a Base Event (class 0) header. The caller
// then writes the `unmapped` member and closes the record.
void ocsf_begin_agent_record(JsonWriter &w, int64_t realtime_ns, uint64_t seq, const char *event_code,
                             const HostInfo &host);

}  // namespace ktrail
