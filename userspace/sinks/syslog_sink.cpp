#include "sinks/syslog_sink.h"

#include <unistd.h>


#include <chrono>
#include <deque>
#include <map>

#include "common/log.h"
#include "sinks/output_url.h"
#include "delivery/relp.h"
#include "delivery/sender.h"
#include "sinks/format.h"
#include "delivery/spool.h"
#include "sinks/spooling_sink.h"

namespace ktrail {
namespace {

using delivery::Proto;

// A TCP/TLS record counts as delivered once the collector's TCP acknowledged its bytes and
// the connection then stayed up this long: a collector that stops right after reading is
// seen (closed connection) before the cursor moves, and those records go again. Batch by
// batch: under a steady stream to a distant collector the send queue is never empty, and the
// cursor must still move.
constexpr auto kConfirmHold = std::chrono::milliseconds(1000);

const std::map<std::string, int> &facilities() {
  static const std::map<std::string, int> f = {
      {"kern", 0},    {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
      {"syslog", 5},  {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},
      {"authpriv", 10}, {"ftp", 11},  {"ntp", 12},    {"audit", 13},  {"alert", 14},
      {"clock", 15},  {"local0", 16}, {"local1", 17}, {"local2", 18}, {"local3", 19},
      {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23}};
  return f;
}

class SyslogProtocol : public delivery::Protocol {
 public:
  explicit SyslogProtocol(SyslogTarget t) : t_(std::move(t)) {}
  Status connect() override {
    pending_.clear();
    written_ = 0;
    return delivery::connect_peer(t_.peer, conn_);
  }
  void disconnect() override {
    conn_.reset();
    pending_.clear();
  }
  Status send(const std::vector<delivery::SpoolRecord> &batch) override {
    if (t_.peer.proto == Proto::Udp) {
      for (auto &r : batch)
        if (Status st = conn_->send(r.payload); !st) return st;
      pending_.push_back({batch.back().next, 0, {}});
      return Status::ok();
    }
    buf_.clear();
    for (auto &r : batch) {
      buf_ += std::to_string(r.payload.size());  // octet counting: MSG-LEN SP SYSLOG-MSG
      buf_ += ' ';
      buf_ += r.payload;
    }
    if (Status st = conn_->send(buf_); !st) return st;
    written_ += buf_.size();
    pending_.push_back({batch.back().next, written_, std::chrono::steady_clock::now()});
    return Status::ok();
  }
  Status confirmed(uint64_t &upto) override {
    if (!conn_) return Status::error(KTRAIL_EXIT_OUTPUT, "not connected");
    if (!conn_->healthy()) return Status::error(KTRAIL_EXIT_OUTPUT, "the collector closed the connection");
    if (t_.peer.proto == Proto::Udp) {
      if (!pending_.empty()) upto = pending_.back().next;
      pending_.clear();
      return Status::ok();
    }
    // The send queue counts TLS record bytes, which exceed the plaintext counted in written_:
    // under TLS this underestimates what was acknowledged (later, never wrong).
    uint64_t unacked = conn_->unacknowledged_bytes();
    uint64_t acked_bytes = written_ > unacked ? written_ - unacked : 0;
    auto ripe = std::chrono::steady_clock::now() - kConfirmHold;
    while (!pending_.empty() && pending_.front().stream_end <= acked_bytes && pending_.front().sent <= ripe) {
      upto = pending_.front().next;
      pending_.pop_front();
    }
    return Status::ok();
  }
  std::string describe() const override { return t_.name; }

 private:
  SyslogTarget t_;
  std::unique_ptr<delivery::Connection> conn_;
  struct Pending {
    uint64_t next;        // spool offset to acknowledge
    uint64_t stream_end;  // bytes written on this connection up to the batch's end
    std::chrono::steady_clock::time_point sent;
  };
  std::deque<Pending> pending_;
  uint64_t written_ = 0;
  std::string buf_;
};

}  // namespace

bool parse_syslog_url(const std::string &url, SyslogTarget &out, std::string &err) {
  size_t sep = url.find("://");
  std::string scheme = url.substr(0, sep);
  SyslogTarget t;
  if (scheme == "syslog+tcp") t.peer.proto = Proto::Tcp, t.peer.port = 514;
  else if (scheme == "syslog+udp") t.peer.proto = Proto::Udp, t.peer.port = 514;
  else if (scheme == "syslog+tls") t.peer.proto = Proto::Tls, t.peer.port = 6514;
  else if (scheme == "syslog+relp") t.peer.proto = Proto::Tcp, t.peer.port = 2514, t.relp = true;
  else if (scheme == "syslog+relp+tls") t.peer.proto = Proto::Tls, t.peer.port = 2514, t.relp = true;
  else {
    err = "unknown output scheme '" + scheme +
          "' (expected syslog+tcp, syslog+tls, syslog+udp, syslog+relp or syslog+relp+tls)";
    return false;
  }
  std::string rest = sep == std::string::npos ? "" : url.substr(sep + 3);
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) query = rest.substr(q + 1), rest.resize(q);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string host, port;
  if (!split_authority(scheme, rest, host, port, err)) return false;
  if (host.empty() || host.find('/') != std::string::npos) {
    err = scheme + " output needs a host: " + scheme + "://HOST[:PORT]";
    return false;
  }
  if (!port.empty() && !valid_port(port, t.peer.port)) {
    err = scheme + " output: port '" + port + "' is not a number from 1 to 65535";
    return false;
  }
  t.peer.host = host;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string kv = query.substr(0, amp);
    query = amp == std::string::npos ? "" : query.substr(amp + 1);
    size_t eq = kv.find('=');
    std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    bool tls_only = k == "ca" || k == "cert" || k == "key" || k == "peer";
    if (tls_only && t.peer.proto != Proto::Tls) {
      err = scheme + " output: parameter '" + k + "' only applies to syslog+tls and syslog+relp+tls";
      return false;
    }
    if ((k == "window" || k == "peer") && !t.relp) {
      err = scheme + " output: parameter '" + k + "' only applies to syslog+relp and syslog+relp+tls";
      return false;
    }
    if (v.empty()) {
      err = scheme + " output: parameter '" + k + "' needs a value";
      return false;
    }
    if (k == "ca") t.peer.tls.ca_file = v;
    else if (k == "cert") t.peer.tls.cert_file = v;
    else if (k == "key") t.peer.tls.key_file = v;
    else if (k == "peer") t.relp_peer = v;
    else if (k == "window") {
      // librelp silently replaces a window below 2 with its default, which would break the
      // acknowledgement arithmetic in delivery/relp.h.
      if (v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) < 2 ||
          std::stoi(v) > 1024) {
        err = scheme + " output: window '" + v + "' is not a number from 2 to 1024";
        return false;
      }
      t.relp_window = std::stoi(v);
    }    else if (k == "facility") {
      auto it = facilities().find(v);
      if (it == facilities().end()) {
        err = scheme + " output: unknown facility '" + v + "'";
        return false;
      }
      t.facility = it->second;
    } else {
      err = scheme + " output: unknown parameter '" + k + "' (expected ca, cert, key, facility" +
            (t.relp ? std::string(", window or peer)") : std::string(")"));
      return false;
    }
  }
  if (t.peer.tls.cert_file.empty() != t.peer.tls.key_file.empty()) {
    err = scheme + " output: mutual TLS needs both cert= and key=";
    return false;
  }
  if (t.relp && t.peer.proto == Proto::Tls &&
      (t.peer.tls.ca_file.empty() || t.peer.tls.cert_file.empty())) {
    err = scheme + " output needs ca=, cert= and key=: librelp verifies the server certificate only "
                   "when the client presents one of its own";
    return false;
  }
  bool v6 = host.find(':') != std::string::npos;
  t.name = scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(t.peer.port);
  out = std::move(t);
  return true;
}

std::string syslog_message(const std::string &json, const std::string &hostname, int pid, int facility) {
  // The record's time (ECS @timestamp, OCSF time) as RFC 3339 UTC: RFC 5424's TIMESTAMP.
  std::string ts = record_timestamp(json);
  if (ts.empty()) ts = "-";
  // Only the head is searched: the kind of record (ECS event.action, OCSF metadata.event_code)
  // is written in its first few hundred bytes, and the whole record has a quote every few
  // bytes, for every record.
  std::string_view head = std::string_view(json).substr(0, 512);
  int severity = head.find("\"kind\":\"lost\"") != std::string_view::npos ||
                         head.find("\"action\":\"lost\"") != std::string_view::npos ||
                         head.find("\"event_code\":\"lost\"") != std::string_view::npos
                     ? 4
                     : 5;
  std::string host = hostname.empty() ? "-" : hostname.substr(0, 255);
  for (char &c : host)
    if (c < 33 || c > 126) c = '_';  // PRINTUSASCII only
  std::string m;
  m.reserve(json.size() + 64);
  m += '<';
  m += std::to_string(facility * 8 + severity);
  m += ">1 ";
  m += ts;
  m += ' ';
  m += host;
  m += " ktrail ";
  m += std::to_string(pid);
  m += " - - ";  // MSGID, STRUCTURED-DATA: the record itself carries everything
  m += json;
  return m;
}

Status make_network_sink(const std::string &spec, const DeliveryOptions &opt, std::unique_ptr<Sink> &out) {
  SyslogTarget t;
  std::string err;
  if (!parse_syslog_url(spec, t, err)) return Status::error(KTRAIL_EXIT_USAGE, err);
  if (t.relp && !delivery::make_relp_protocol)
    return Status::error(KTRAIL_EXIT_USAGE, t.name + ": this ktrail binary has no RELP support (ktrail-static is "
                                            "linked without librelp, which needs GnuTLS); use the dynamically "
                                            "linked ktrail for syslog+relp outputs");
  std::string hostname = opt.hostname;
  if (hostname.empty()) {
    char h[256] = {};
    gethostname(h, sizeof(h) - 1);
    hostname = h;
  }
  int facility = t.facility, pid = getpid();
  std::string name = t.name;
  std::unique_ptr<delivery::Protocol> proto;
  if (t.relp) {
    delivery::RelpTarget r;
    r.host = t.peer.host;
    r.port = t.peer.port;
    r.tls = t.peer.proto == Proto::Tls;
    r.tls_files = t.peer.tls;
    r.peer_name = t.relp_peer;
    r.window = t.relp_window;
    r.timeout_ms = t.peer.timeout_ms;
    r.name = t.name;
    if (Status st = delivery::make_relp_protocol(r, proto); !st) return Status::error(st.code, t.name + ": " + st.message);
  } else {
    proto = std::make_unique<SyslogProtocol>(std::move(t));
  }
  return make_spooling_sink(
      name, opt, std::move(proto),
      [hostname, pid, facility](const std::string &json) { return syslog_message(json, hostname, pid, facility); },
      nullptr, out);
}

}  // namespace ktrail
