// Pieces of the network output URLs (syslog+*, otlp+*, loki+*, splunk+*, elasticsearch+*)
// that every scheme parses the same way.
#pragma once
#include <cstdint>
#include <string>

namespace ktrail {

// "HOST[:PORT]" or "[V6][:PORT]" into host and port text (port "" when absent). Errors name
// the scheme as the user wrote it.
bool split_authority(const std::string &scheme, const std::string &authority, std::string &host,
                     std::string &port, std::string &err);

// A decimal port 1-65535.
bool valid_port(const std::string &s, uint16_t &port);

}  // namespace ktrail
