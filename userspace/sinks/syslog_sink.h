// syslog outputs: RFC 5424 messages, octet-counting framing (RFC 6587 3.4.1 / RFC 5425) over
// TCP and TLS, one message per datagram over UDP (RFC 5426). Every record goes through the
// output's spool (delivery/spool.h) and leaves from its sender thread.
//
//   syslog+tcp://HOST[:PORT]   (default port 514)
//   syslog+tls://HOST[:PORT]?ca=FILE&cert=FILE&key=FILE   (6514; server certificate and
//                              hostname always verified; cert+key: mutual TLS)
//   syslog+udp://HOST[:PORT]   (514; best effort: UDP has no delivery confirmation)
//   syslog+relp://HOST[:PORT]  (2514; RELP: the cursor moves on the collector's acknowledgements)
//   syslog+relp+tls://HOST[:PORT]?ca=FILE&cert=FILE&key=FILE[&peer=NAME]   (2514; mutual TLS
//                              only: librelp verifies the server only with a client certificate)
//   syslog+relp*: &window=N (unanswered messages in flight, 2..1024, default 128)
//   any of them: &facility=NAME (default authpriv)
#pragma once
#include <memory>
#include <string>

#include "delivery/transport.h"
#include "sinks/sink.h"

namespace ktrail {

struct SyslogTarget {
  delivery::Peer peer;
  int facility = 10;     // authpriv
  std::string name;      // "syslog+tls://host:port": logs, lost events, spool directory
  bool relp = false;     // syslog+relp, syslog+relp+tls (peer.proto Tcp or Tls)
  int relp_window = 128;
  std::string relp_peer; // name the RELP server certificate must carry; "": the host
};

// Parses a syslog URL; err is precise (which part, which parameter).
bool parse_syslog_url(const std::string &url, SyslogTarget &out, std::string &err);

// One RFC 5424 message for a formatted record: timestamp from the record's @timestamp,
// APP-NAME ktrail, MSG the JSON record. severity: 5 (notice) or 4 (warning) for `lost`.
std::string syslog_message(const std::string &json, const std::string &hostname, int pid,
                           int facility);

Status make_network_sink(const std::string &spec, const DeliveryOptions &opt,
                         std::unique_ptr<Sink> &out);

}  // namespace ktrail
