// RELP (Reliable Event Logging Protocol) through librelp: every syslog message is a RELP
// transaction the receiver answers with "rsp 200 OK" once it has taken the message, so the
// spool's cursor moves on application-level acknowledgements, not on TCP's.
//
// librelp's client API has no "which transactions are acknowledged" call. What it does give:
// relpCltSendSyslog() returns only when fewer than WINDOW transactions are unanswered, and a
// session's close handshake ("close" is answered after every earlier transaction). Receivers
// answer in order (librelp's server handles a session's frames one after another), so:
//   - after message k is sent, messages up to k - WINDOW are acknowledged;
//   - once the output is idle, a clean close acknowledges everything sent in that session.
// Anything else (an error response, a broken or timed-out session, a failed close) leaves the
// cursor where it was and the sender resends from it: duplicates, never gaps.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "delivery/sender.h"
#include "delivery/transport.h"

namespace ktrail::delivery {

struct RelpTarget {
  std::string host;
  uint16_t port = 0;
  bool tls = false;
  // librelp verifies the server only when the client has a certificate of its own, so TLS here
  // always means mutual TLS: ca, cert and key are all required.
  TlsConfig tls_files;
  std::string peer_name;  // name the server certificate must carry (CN or DNS SAN); "": host
  int window = 128;       // unanswered transactions in flight (librelp takes 2 and up)
  int timeout_ms = 5000;
  std::string name;       // for log lines
};

// Defined only where librelp is linked in (the dynamically linked ktrail): librelp needs GnuTLS,
// which Debian ships no complete static build of, so ktrail-static goes without RELP and this
// weak reference is null there.
Status make_relp_protocol(const RelpTarget &target, std::unique_ptr<Protocol> &out)
    __attribute__((weak));

}  // namespace ktrail::delivery
