#include "enrich/sshd_log.h"

#include <charconv>

namespace ktrail {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool parse_port(std::string_view s, uint16_t &out) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > 65535 || s.empty()) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

// "<ip> port <port>" at the end of `s`; returns the text before it (without the space).
bool take_endpoint_suffix(std::string_view s, std::string_view &rest, std::string &ip, uint16_t &port) {
  auto p = s.rfind(" port ");
  if (p == std::string_view::npos) return false;
  if (!parse_port(s.substr(p + 6), port)) return false;
  std::string_view head = s.substr(0, p);
  auto sp = head.rfind(' ');
  if (sp == std::string_view::npos) return false;
  ip = std::string(head.substr(sp + 1));
  rest = head.substr(0, sp);
  return !ip.empty();
}

// "Accepted|Partial|Failed <method> for [invalid user ]<user> from <ip> port <port> ssh2[: KEY]"
std::optional<SshdLogMsg> parse_outcome(std::string_view m, SshdLogMsg::Kind kind, size_t skip) {
  SshdLogMsg out;
  out.kind = kind;
  std::string_view s = m.substr(skip);
  auto sp = s.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  out.method = std::string(s.substr(0, sp));
  s = s.substr(sp + 1);
  if (!starts_with(s, "for ")) return std::nullopt;
  s = s.substr(4);
  // The key part follows " ssh2"; the user may contain anything, so anchor on the right.
  // The endpoint ends at the last " port <digits> ssh2" followed by the end or ": <key>".
  // The user name is typed by an unauthenticated client and may contain anything, so it
  // must not be able to move this anchor; a certificate ID (after it) is signed by a CA.
  std::string_view tail;
  size_t ssh2 = std::string_view::npos;
  for (size_t at = s.find(" ssh2"); at != std::string_view::npos; at = s.find(" ssh2", at + 1)) {
    size_t d = at;
    while (d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9') d--;
    std::string_view after = s.substr(at + 5);
    if (d < at && d >= 6 && s.substr(d - 6, 6) == " port " && (after.empty() || starts_with(after, ": ")))
      ssh2 = at;
  }
  if (ssh2 == std::string_view::npos) return std::nullopt;
  tail = s.substr(ssh2 + 5);
  s = s.substr(0, ssh2);
  auto from = s.rfind(" from ");
  if (from == std::string_view::npos) return std::nullopt;
  std::string_view ep = s.substr(from + 6);
  auto port = ep.rfind(" port ");
  if (port == std::string_view::npos || !parse_port(ep.substr(port + 6), out.port)) return std::nullopt;
  out.ip = std::string(ep.substr(0, port));
  std::string_view user = s.substr(0, from);
  if (starts_with(user, "invalid user ")) {
    out.invalid_user = true;
    user = user.substr(13);
  }
  out.user = std::string(user);
  // ": ED25519 SHA256:abc" or ": RSA-CERT SHA256:abc ID ... (serial N) CA ..."
  if (starts_with(tail, ": ")) {
    tail = tail.substr(2);
    auto k = tail.find(' ');
    if (k != std::string_view::npos) {
      out.key_type = std::string(tail.substr(0, k));
      std::string_view fp = tail.substr(k + 1);
      fp = fp.substr(0, fp.find(' '));
      out.fingerprint = std::string(fp);
    }
  }
  return out;
}

// "<prefix><user> <ip> port <port>[: reason] [preauth]" for authenticating/invalid users.
std::optional<SshdLogMsg> parse_closed(std::string_view m, std::string_view prefix) {
  std::string_view s = m.substr(prefix.size());
  SshdLogMsg out;
  out.kind = SshdLogMsg::Kind::ClosedPreauth;
  if (starts_with(s, "authenticating user ")) {
    s = s.substr(20);
  } else if (starts_with(s, "invalid user ")) {
    s = s.substr(13);
    out.invalid_user = true;
  } else {
    return std::nullopt;
  }
  auto pre = s.rfind(" [preauth]");
  if (pre == std::string_view::npos) return std::nullopt;
  s = s.substr(0, pre);
  if (auto colon = s.find(": "); colon != std::string_view::npos) {
    // "Disconnecting ... port 22: Too many authentication failures": drop the reason,
    // but a user name with ": " in it must survive, so only if the rest parses.
    std::string_view rest;
    std::string ip;
    uint16_t port;
    if (!take_endpoint_suffix(s, rest, ip, port)) s = s.substr(0, s.rfind(": "));
  }
  std::string_view user;
  if (!take_endpoint_suffix(s, user, out.ip, out.port)) return std::nullopt;
  out.user = std::string(user);
  return out;
}

}  // namespace

std::string_view strip_syslog_header(std::string_view line) {
  if (!starts_with(line, "<")) return line;
  auto gt = line.find('>');
  if (gt == std::string_view::npos || gt > 4) return line;
  // "<PRI>TIMESTAMP TAG[PID]: MSG": the message starts after the first "]: " or ": ".
  auto tag = line.find("]: ", gt);
  if (tag != std::string_view::npos && tag < 96) return line.substr(tag + 3);
  auto colon = line.find(": ", gt);
  if (colon != std::string_view::npos && colon < 96) return line.substr(colon + 2);
  return line;
}

std::optional<SshdLogMsg> parse_sshd_log_message(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == '\0'))
    line.remove_suffix(1);
  std::string_view m = strip_syslog_header(line);
  std::optional<SshdLogMsg> out;
  if (starts_with(m, "Accepted ")) {
    out = parse_outcome(m, SshdLogMsg::Kind::Accepted, 9);
  } else if (starts_with(m, "Partial ")) {
    out = parse_outcome(m, SshdLogMsg::Kind::Partial, 8);
  } else if (starts_with(m, "Failed ")) {
    out = parse_outcome(m, SshdLogMsg::Kind::Failed, 7);
  } else if (starts_with(m, "Invalid user ")) {
    SshdLogMsg msg;
    msg.kind = SshdLogMsg::Kind::InvalidUser;
    msg.invalid_user = true;
    std::string_view rest = m.substr(13), user;
    auto from = rest.rfind(" from ");
    if (from != std::string_view::npos && take_endpoint_suffix(rest, user, msg.ip, msg.port) &&
        user.size() == from + 5) {
      msg.user = std::string(rest.substr(0, from));
      out = msg;
    }
  } else if (starts_with(m, "Connection closed by ")) {
    out = parse_closed(m, "Connection closed by ");
  } else if (starts_with(m, "Disconnected from ")) {
    out = parse_closed(m, "Disconnected from ");
  } else if (starts_with(m, "Disconnecting ")) {
    out = parse_closed(m, "Disconnecting ");
  }
  if (out) out->message = std::string(m);
  return out;
}

std::vector<SshdLogMsg> parse_sshd_log_write(std::string_view data) {
  std::vector<SshdLogMsg> out;
  while (!data.empty()) {
    auto nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    if (auto m = parse_sshd_log_message(line)) out.push_back(std::move(*m));
    if (nl == std::string_view::npos) break;
    data = data.substr(nl + 1);
  }
  return out;
}

}  // namespace ktrail
