// Parses the sshd log messages that carry authentication outcomes (OpenSSH auth.c auth_log,
// sshd.c/auth2.c/packet.c). The agent receives what sshd wrote, byte for byte: a plain line
// (-E FILE, -e) or a syslog(3) datagram ("<PRI>Mmm dd hh:mm:ss sshd[PID]: message").
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ktrail {

struct SshdLogMsg {
  enum class Kind {
    Accepted,     // "Accepted <method> for <user> from <ip> port <port> ssh2[: <key>]"
    Partial,      // "Partial <method> for ..." (one step of AuthenticationMethods)
    Failed,       // "Failed <method> for [invalid user ]<user> from ..."
    InvalidUser,  // "Invalid user <user> from <ip> port <port>"
    ClosedPreauth,  // the client left during authentication (closed/disconnected/too many)
  };
  Kind kind = Kind::Failed;
  std::string method;      // password, publickey, keyboard-interactive, hostbased, ...
  std::string user;        // as typed (may contain spaces)
  bool invalid_user = false;
  std::string ip;
  uint16_t port = 0;
  std::string key_type;     // "ED25519", "RSA", "ECDSA-CERT", ...
  std::string fingerprint;  // "SHA256:..."
  std::string message;      // the message without syslog header and line end
};

// One message, or nullopt for lines that are not authentication outcomes.
std::optional<SshdLogMsg> parse_sshd_log_message(std::string_view line);

// A write may hold several lines (or a syslog header); every message found, in order.
std::vector<SshdLogMsg> parse_sshd_log_write(std::string_view data);

// Strips a syslog(3) header ("<38>Nov 26 16:53:49 sshd[123]: ") if there is one.
std::string_view strip_syslog_header(std::string_view line);

}  // namespace ktrail
