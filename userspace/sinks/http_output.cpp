#include "sinks/http_output.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "sinks/output_url.h"

namespace ktrail {
namespace {

using http_formats::RecordView;

struct Scheme {
  const char *prefix;
  HttpKind kind;
  uint16_t port;
  const char *path;
};
constexpr Scheme kSchemes[] = {
    {"otlp", HttpKind::Otlp, 4318, "/v1/logs"},
    {"loki", HttpKind::Loki, 3100, "/loki/api/v1/push"},
    {"splunk", HttpKind::Splunk, 8088, "/services/collector/event"},
    {"elasticsearch", HttpKind::Elasticsearch, 9200, "/_bulk"},
};

const Scheme &scheme_of(HttpKind k) {
  for (const auto &s : kSchemes)
    if (s.kind == k) return s;
  return kSchemes[0];
}

Status fail(const std::string &msg) { return Status::error(KTRAIL_EXIT_OUTPUT, msg); }

std::string base64(const std::string &in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                          reinterpret_cast<const unsigned char *>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A secret from a file (trailing newline and spaces cut) or an environment variable.
Status read_secret(const std::string &file, const std::string &env, const char *what, std::string &out) {
  out.clear();
  if (!file.empty()) {
    std::ifstream f(file);
    if (!f) return fail(std::string("cannot read ") + what + " file " + file + ": " + strerror(errno));
    std::stringstream ss;
    ss << f.rdbuf();
    out = ss.str();
  } else if (!env.empty()) {
    const char *v = getenv(env.c_str());
    if (!v) return fail(std::string(what) + " variable " + env + " is not set");
    out = v;
  } else {
    return Status::ok();
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' || out.back() == '\t'))
    out.pop_back();
  if (out.empty()) return fail(std::string(what) + " from " + (file.empty() ? "$" + env : file) + " is empty");
  if (out.find_first_of("\r\n") != std::string::npos)
    return fail(std::string(what) + " from " + (file.empty() ? "$" + env : file) + " spans several lines");
  return Status::ok();
}

// A version 4 UUID (HEC channel id).
std::string random_uuid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof(b));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  snprintf(out, sizeof(out), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

class HttpProtocol : public delivery::Protocol {
 public:
  HttpProtocol(HttpTarget t, std::shared_ptr<Rejections> rej) : t_(std::move(t)), rej_(std::move(rej)) {}

  Status connect() override {
    if (Status st = load_credentials(); !st) return st;
    net::Options o;
    o.connect_timeout_ms = std::min(t_.timeout_ms, 5000);
    o.io_timeout_ms = t_.timeout_ms;
    client_ = std::make_unique<net::Client>(t_.ep, o);
    std::string err;
    if (!client_->connect(err)) {
      client_.reset();
      return fail("cannot connect: " + redact(err));
    }
    return Status::ok();
  }
  // Unacknowledged HEC batches are sent again after a reconnect (at-least-once).
  void disconnect() override {
    client_.reset();
    acks_.clear();
  }

  Status send(const std::vector<delivery::SpoolRecord> &batch) override {
    // Records before confirmed_ reached the collector before a failure cut the batch short.
    std::vector<RecordView> views;
    std::vector<uint64_t> nexts;
    views.reserve(batch.size());
    for (const auto &r : batch) {
      if (r.next <= confirmed_) continue;
      RecordView v;
      std::string err;
      if (!http_formats::view_record(r.payload, v, err)) {
        // Cannot happen with our own formatter; never let one bad record block the spool.
        refuse(r.sequence, "record is " + err);
        complete(r.next, -1);
        continue;
      }
      if (v.sequence == 0) v.sequence = r.sequence;
      views.push_back(std::move(v));
      nexts.push_back(r.next);
    }
    if (views.empty()) return Status::ok();
    return deliver(views, nexts, 0, views.size());
  }

  Status confirmed(uint64_t &upto) override {
    if (!client_) return fail("not connected");
    if (t_.hec_ack && !acks_.empty())
      if (Status st = poll_acks(); !st) return st;
    if (confirmed_) upto = confirmed_;
    return Status::ok();
  }
  std::string describe() const override { return t_.name; }
  int retry_after_ms() override { return std::exchange(retry_after_ms_, 0); }

 private:
  enum class Verdict { Ok, Retry, Refused };

  // Records up to `next` are done: delivered (with HEC indexer acknowledgement: once ack_id is
  // acknowledged) or refused for good. Completions are confirmed in order.
  void complete(uint64_t next, int64_t ack_id) {
    if (!t_.hec_ack) {
      confirmed_ = next;
      return;
    }
    acks_.push_back({ack_id, next, std::chrono::steady_clock::now(), false});
    settle();
  }
  void settle() {
    while (!acks_.empty() && (acks_.front().id < 0 || acks_.front().acked)) {
      confirmed_ = acks_.front().next;
      acks_.pop_front();
    }
  }

  // POST /services/collector/ack?channel=C {"acks":[ids]} -> {"acks":{"id":true|false}}.
  Status poll_acks() {
    settle();
    auto now = std::chrono::steady_clock::now();
    if (acks_.empty() || now - last_poll_ < kAckPollInterval) return Status::ok();
    last_poll_ = now;
    std::string body = "{\"acks\":[";
    size_t n = 0;
    for (const auto &a : acks_) {
      if (a.id < 0 || a.acked) continue;
      body += (n++ ? "," : "") + std::to_string(a.id);
    }
    body += "]}";
    net::Request req;
    req.method = "POST";
    req.target = "/services/collector/ack?channel=" + channel_;
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", auth_}};
    req.body = body;
    net::Response resp;
    std::string err;
    if (!client_->request(req, resp, err)) return fail("acknowledgement poll failed: " + redact(err));
    if (resp.status != 200) return fail("acknowledgement poll: " + redact(answer(resp)));
    std::vector<int64_t> done;
    if (!http_formats::hec_acks(resp.body, done)) return fail("unreadable acknowledgement answer: " + redact(answer(resp)));
    for (int64_t id : done)
      for (auto &a : acks_)
        if (a.id == id) a.acked = true;
    settle();
    if (!acks_.empty() && now - acks_.front().sent > kAckTimeout)
      return fail("no indexer acknowledgement for ackId " + std::to_string(acks_.front().id) + " within " +
                  std::to_string(kAckTimeout.count()) + " s; sending again");
    return Status::ok();
  }

  static constexpr auto kAckPollInterval = std::chrono::milliseconds(250);
  static constexpr auto kAckTimeout = std::chrono::seconds(120);
  struct PendingAck {
    int64_t id;  // -1: nothing to wait for (refused records)
    uint64_t next;
    std::chrono::steady_clock::time_point sent;
    bool acked;
  };

  Status load_credentials() {
    auth_.clear();
    secrets_.clear();
    std::string token, password;
    if (Status st = read_secret(t_.token_file, t_.token_env, "token", token); !st) return st;
    if (Status st = read_secret(t_.password_file, t_.password_env, "password", password); !st) return st;
    if (!token.empty()) {
      secrets_.push_back(token);
      switch (t_.kind) {
        case HttpKind::Splunk: auth_ = "Splunk " + token; break;
        case HttpKind::Elasticsearch: auth_ = "ApiKey " + token; break;
        default: auth_ = "Bearer " + token; break;
      }
    } else if (!t_.user.empty()) {
      std::string b = base64(t_.user + ":" + password);
      secrets_.push_back(password);
      secrets_.push_back(b);
      auth_ = "Basic " + b;
    }
    return Status::ok();
  }

  // Whatever a server or library says goes through here before it reaches a log line.
  std::string redact(std::string s) const {
    for (const auto &secret : secrets_) {
      if (secret.empty()) continue;
      for (size_t p; (p = s.find(secret)) != std::string::npos;) s.replace(p, secret.size(), "[redacted]");
    }
    return s;
  }

  void refuse(uint64_t sequence, const std::string &why) {
    rej_->add(1, sequence, sequence);
    if (why != last_refusal_)
      KLOG_WARN("%s: the collector refused record %llu for good: %s", t_.name.c_str(),
                static_cast<unsigned long long>(sequence), redact(why).c_str());
    last_refusal_ = why;
  }

  // Sends recs[lo, hi); a refused range is halved until the refused records are single ones.
  Status deliver(const std::vector<RecordView> &recs, const std::vector<uint64_t> &nexts, size_t lo, size_t hi) {
    std::string why;
    switch (post(recs, lo, hi, why)) {
      case Verdict::Ok:
        complete(nexts[hi - 1], ack_id_);
        return Status::ok();
      case Verdict::Retry:
        return fail(redact(why));
      case Verdict::Refused:
        break;
    }
    if (hi - lo == 1) {
      refuse(recs[lo].sequence, why);
      complete(nexts[lo], -1);
      return Status::ok();
    }
    size_t mid = lo + (hi - lo) / 2;
    if (Status st = deliver(recs, nexts, lo, mid); !st) return st;
    return deliver(recs, nexts, mid, hi);
  }

  Verdict post(const std::vector<RecordView> &all, size_t lo, size_t hi, std::string &why) {
    // The whole batch as is; a copy only for the halves of a refused one.
    std::vector<RecordView> part;
    if (lo != 0 || hi != all.size()) part.assign(all.begin() + static_cast<long>(lo), all.begin() + static_cast<long>(hi));
    const std::vector<RecordView> &recs = part.empty() ? all : part;
    net::Request req;
    req.method = "POST";
    req.target = scheme_of(t_.kind).path;
    std::string body, type;
    switch (t_.kind) {
      case HttpKind::Otlp: {
        int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
        body = t_.otlp_json ? http_formats::otlp_json(recs, now) : http_formats::otlp_protobuf(recs, now);
        type = t_.otlp_json ? "application/json" : "application/x-protobuf";
        break;
      }
      case HttpKind::Loki:
        body = http_formats::loki_push(recs);
        type = "application/json";
        if (!t_.tenant.empty()) req.headers.push_back({"X-Scope-OrgID", t_.tenant});
        break;
      case HttpKind::Splunk:
        body = http_formats::hec_events(recs, t_.hec);
        type = "application/json";
        break;
      case HttpKind::Elasticsearch:
        body = http_formats::es_bulk(recs, t_.index);
        type = "application/x-ndjson";
        break;
    }
    req.headers.push_back({"Content-Type", type});
    if (t_.kind == HttpKind::Otlp || t_.kind == HttpKind::Elasticsearch)
      req.headers.push_back({"Accept", type == "application/x-ndjson" ? "application/json" : type});
    if (!auth_.empty()) req.headers.push_back({"Authorization", auth_});
    if (t_.hec_ack) req.headers.push_back({"X-Splunk-Request-Channel", channel_});
    if (t_.gzip) {
      if (!http_formats::gzip(body, req.body)) {
        why = "gzip failed";
        return Verdict::Retry;
      }
      req.headers.push_back({"Content-Encoding", "gzip"});
    } else {
      req.body = std::move(body);
    }
    net::Response resp;
    std::string err;
    if (!client_->request(req, resp, err)) {
      why = "request failed: " + err;
      return Verdict::Retry;
    }
    return judge(recs, resp, why);
  }

  std::string answer(const net::Response &r) const {
    std::string b = r.body.substr(0, 300);
    for (char &c : b)
      if (c == '\n' || c == '\r') c = ' ';
    return "HTTP " + std::to_string(r.status) + (b.empty() ? "" : ": " + b);
  }

  Verdict judge(const std::vector<RecordView> &recs, const net::Response &r, std::string &why) {
    int s = r.status;
    if (s == 408 || s == 429 || s >= 500) {
      if (auto it = r.headers.find("retry-after"); it != r.headers.end()) {
        // Delta-seconds only; an HTTP-date falls back to our own backoff.
        char *end = nullptr;
        long secs = strtol(it->second.c_str(), &end, 10);
        if (end && *end == '\0' && secs >= 0) retry_after_ms_ = static_cast<int>(std::min(secs, 3600L) * 1000);
      }
      why = "collector busy or failing (" + answer(r) + ")";
      return Verdict::Retry;
    }
    if (s == 401 || s == 403) {
      why = "authentication refused (" + answer(r) + "); check the credentials" +
            (t_.token_file.empty() ? std::string() : " in " + t_.token_file) +
            (t_.password_file.empty() ? std::string() : " in " + t_.password_file);
      return Verdict::Retry;
    }
    if (s == 404) {
      why = "no such endpoint (" + answer(r) + "); check the URL";
      return Verdict::Retry;
    }
    if (s < 200 || s >= 300) {
      why = answer(r);
      return Verdict::Refused;
    }
    switch (t_.kind) {
      case HttpKind::Otlp: {
        int64_t rejected = 0;
        std::string msg;
        auto ct = r.headers.find("content-type");
        bool json = ct != r.headers.end() ? ct->second.find("json") != std::string::npos : t_.otlp_json;
        if (!http_formats::otlp_response(r.body, json, rejected, msg)) {
          KLOG_WARN("%s: unreadable ExportLogsServiceResponse; counting the batch as delivered", t_.name.c_str());
        } else if (rejected > 0) {
          // OTLP names no records: the whole batch's range is reported with the count.
          rej_->add(static_cast<uint64_t>(rejected), recs.front().sequence, recs.back().sequence);
          KLOG_WARN("%s: the collector rejected %lld of %zu records: %s", t_.name.c_str(),
                    static_cast<long long>(rejected), recs.size(), redact(msg).c_str());
        }
        return Verdict::Ok;
      }
      case HttpKind::Loki:
        return Verdict::Ok;
      case HttpKind::Splunk: {
        int code = -1;
        int64_t ack = -1;
        std::string text;
        if (http_formats::hec_response(r.body, code, text, ack) && code != 0) {
          why = answer(r);
          return Verdict::Refused;
        }
        if (t_.hec_ack && ack < 0) {
          why = "no ackId in the answer: indexer acknowledgement is not enabled for this token (drop ack=on, "
                "or enable it in Splunk)";
          return Verdict::Retry;
        }
        ack_id_ = ack;
        return Verdict::Ok;
      }
      case HttpKind::Elasticsearch: {
        std::vector<http_formats::BulkItem> items;
        std::string first_error;
        if (!http_formats::es_bulk_response(r.body, recs.size(), items, first_error)) {
          why = "unreadable _bulk response (" + answer(r) + ")";
          return Verdict::Retry;
        }
        size_t retry = 0, dup = 0;
        for (auto i : items) retry += i == http_formats::BulkItem::Retry, dup += i == http_formats::BulkItem::Duplicate;
        if (retry) {
          // The whole batch goes again: what was indexed answers 409 then, not a second copy.
          why = std::to_string(retry) + " of " + std::to_string(items.size()) + " documents must be retried (429/5xx)";
          return Verdict::Retry;
        }
        if (dup) KLOG_DEBUG("%s: %zu documents were already indexed (a resend)", t_.name.c_str(), dup);
        for (size_t i = 0; i < items.size(); i++)
          if (items[i] == http_formats::BulkItem::Rejected) refuse(recs[i].sequence, first_error);
        return Verdict::Ok;
      }
    }
    return Verdict::Ok;
  }

  HttpTarget t_;
  std::shared_ptr<Rejections> rej_;
  std::unique_ptr<net::Client> client_;
  std::string auth_;
  std::vector<std::string> secrets_;
  uint64_t confirmed_ = 0;
  int retry_after_ms_ = 0;
  int64_t ack_id_ = -1;
  std::deque<PendingAck> acks_;
  std::chrono::steady_clock::time_point last_poll_{};
  std::string channel_ = random_uuid();  // HEC acknowledgements are per channel: one per agent run
  std::string last_refusal_;
};

// on/off, or true/false as a config file's booleans arrive.
bool on_off(const std::string &v, bool &out) {
  if (v == "on" || v == "true") return out = true, true;
  if (v == "off" || v == "false") return out = false, true;
  return false;
}

}  // namespace

bool is_http_output(const std::string &spec) {
  for (const auto &s : kSchemes) {
    std::string p = s.prefix;
    if (spec.rfind(p + "+https://", 0) == 0 || spec.rfind(p + "+http://", 0) == 0) return true;
  }
  return false;
}

bool parse_http_output_url(const std::string &url, HttpTarget &out, std::string &err) {
  size_t sep = url.find("://");
  std::string scheme = url.substr(0, sep);
  HttpTarget t;
  const Scheme *sch = nullptr;
  for (const auto &s : kSchemes)
    if (scheme == std::string(s.prefix) + "+https" || scheme == std::string(s.prefix) + "+http") sch = &s;
  if (!sch || sep == std::string::npos) {
    err = "unknown output scheme '" + scheme + "' (expected otlp, loki, splunk or elasticsearch with +https or +http)";
    return false;
  }
  t.kind = sch->kind;
  bool tls = scheme.back() == 's';
  std::string rest = url.substr(sep + 3), query;
  if (size_t q = rest.find('?'); q != std::string::npos) query = rest.substr(q + 1), rest.resize(q);
  if (rest.find('@') != std::string::npos) {
    err = scheme + " output: credentials do not belong in the URL (use user= with password_file= or password_env=)";
    return false;
  }
  std::string authority = rest.substr(0, rest.find('/'));
  std::string path = rest.size() > authority.size() ? rest.substr(authority.size()) : "";
  std::string host, port;
  if (!split_authority(scheme, authority, host, port, err)) return false;
  if (host.empty()) {
    err = scheme + " output needs a host: " + scheme + "://HOST[:PORT]";
    return false;
  }
  t.ep.host = host;
  t.ep.tls = tls;
  t.ep.port = sch->port;
  if (!port.empty() && !valid_port(port, t.ep.port)) {
    err = scheme + " output: port '" + port + "' is not a number from 1 to 65535";
    return false;
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  t.ep.base_path = path;
  if (t.kind == HttpKind::Elasticsearch) t.index = "ktrail";
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string kv = query.substr(0, amp);
    query = amp == std::string::npos ? "" : query.substr(amp + 1);
    size_t eq = kv.find('=');
    std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (v.empty()) {
      err = scheme + " output: parameter '" + k + "' needs a value";
      return false;
    }
    auto only = [&](std::initializer_list<HttpKind> kinds, const char *who) {
      for (HttpKind kk : kinds)
        if (kk == t.kind) return true;
      err = scheme + " output: parameter '" + k + "' only applies to " + who;
      return false;
    };
    if (k == "ca" || k == "cert" || k == "key") {
      if (!tls) {
        err = scheme + " output: parameter '" + k + "' needs https";
        return false;
      }
      (k == "ca" ? t.ep.ca_file : k == "cert" ? t.ep.cert_file : t.ep.key_file) = v;
    } else if (k == "token_file") t.token_file = v;
    else if (k == "token_env") t.token_env = v;
    else if (k == "user") t.user = v;
    else if (k == "password_file") t.password_file = v;
    else if (k == "password_env") t.password_env = v;
    else if (k == "token" || k == "password") {
      err = scheme + " output: secrets are not taken from the URL (it shows in ps and logs); use " + k +
            "_file= or " + k + "_env=";
      return false;
    } else if (k == "gzip") {
      if (!on_off(v, t.gzip)) {
        err = scheme + " output: gzip must be on or off";
        return false;
      }
    } else if (k == "timeout_ms") {
      if (v.find_first_not_of("0123456789") != std::string::npos || v.size() > 7 || std::stoi(v) < 100) {
        err = scheme + " output: timeout_ms must be a number of milliseconds >= 100";
        return false;
      }
      t.timeout_ms = std::stoi(v);
    } else if (k == "encoding") {
      if (!only({HttpKind::Otlp}, "otlp")) return false;
      if (v != "protobuf" && v != "json") {
        err = scheme + " output: encoding must be protobuf or json";
        return false;
      }
      t.otlp_json = v == "json";
    } else if (k == "tenant") {
      if (!only({HttpKind::Loki}, "loki")) return false;
      t.tenant = v;
    } else if (k == "index") {
      if (!only({HttpKind::Splunk, HttpKind::Elasticsearch}, "splunk and elasticsearch")) return false;
      (t.kind == HttpKind::Splunk ? t.hec.index : t.index) = v;
    } else if (k == "ack") {
      if (!only({HttpKind::Splunk}, "splunk")) return false;
      if (!on_off(v, t.hec_ack)) {
        err = scheme + " output: ack must be on or off";
        return false;
      }
    } else if (k == "source" || k == "sourcetype") {
      if (!only({HttpKind::Splunk}, "splunk")) return false;
      (k == "source" ? t.hec.source : t.hec.sourcetype) = v;
    } else {
      err = scheme + " output: unknown parameter '" + k + "'";
      return false;
    }
  }
  if (t.ep.cert_file.empty() != t.ep.key_file.empty()) {
    err = scheme + " output: mutual TLS needs both cert= and key=";
    return false;
  }
  if (!t.token_file.empty() && !t.token_env.empty()) {
    err = scheme + " output: token_file= and token_env= exclude each other";
    return false;
  }
  if (!t.password_file.empty() && !t.password_env.empty()) {
    err = scheme + " output: password_file= and password_env= exclude each other";
    return false;
  }
  bool token = !t.token_file.empty() || !t.token_env.empty();
  bool password = !t.password_file.empty() || !t.password_env.empty();
  if (password && t.user.empty()) {
    err = scheme + " output: a password needs user=";
    return false;
  }
  if (!t.user.empty() && !password) {
    err = scheme + " output: user= needs password_file= or password_env=";
    return false;
  }
  if (token && !t.user.empty()) {
    err = scheme + " output: use either a token or user= with a password, not both";
    return false;
  }
  if (!t.user.empty() && t.kind == HttpKind::Splunk) {
    err = scheme + " output: Splunk HEC authenticates with a token (token_file= or token_env=)";
    return false;
  }
  if (t.kind == HttpKind::Splunk && !token) {
    err = scheme + " output needs the HEC token: token_file=FILE or token_env=VAR";
    return false;
  }
  if (t.kind == HttpKind::Elasticsearch &&
      (t.index.empty() || t.index[0] == '_' || t.index[0] == '-' || t.index[0] == '+' ||
       t.index.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ\\/*?\"<>| ,#:") != std::string::npos)) {
    err = scheme + " output: '" + t.index + "' is not a valid Elasticsearch index name (lowercase, no \\/*?\"<>| ,#:, not starting with _ - +)";
    return false;
  }
  bool v6 = host.find(':') != std::string::npos;
  t.name = scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(t.ep.port) + t.ep.base_path;
  out = std::move(t);
  return true;
}

std::unique_ptr<delivery::Protocol> make_http_protocol(HttpTarget t, std::shared_ptr<Rejections> rejections) {
  return std::make_unique<HttpProtocol>(std::move(t), std::move(rejections));
}

Status make_http_sink(const std::string &spec, const DeliveryOptions &opt, std::unique_ptr<Sink> &out) {
  HttpTarget t;
  std::string err;
  if (!parse_http_output_url(spec, t, err)) return Status::error(KTRAIL_EXIT_USAGE, err);
  auto rejections = std::make_shared<Rejections>();
  std::string name = t.name;
  return make_spooling_sink(name, opt, make_http_protocol(std::move(t), rejections), nullptr, rejections, out);
}

}  // namespace ktrail
