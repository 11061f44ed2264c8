#include "sinks/http_formats.h"

#include <zlib.h>

#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "sinks/json_writer.h"

namespace ktrail::http_formats {
namespace {

using nlohmann::json;

// A record as a JSON string value. Records are valid UTF-8 by construction (the writer turns
// any other byte into "\\xHH" text), so only quotes, backslashes and control characters need
// escaping: runs between them are copied whole (the body of every OTLP/JSON and Loki entry).
void append_record_string(std::string &out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + s.size() / 8 + 2);
  out += '"';
  size_t run = 0;
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\n': out += 'n'; break;
      case '\r': out += 'r'; break;
      case '\t': out += 't'; break;
      default:
        out += "u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

std::string jstr(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// ---- protobuf wire format (proto3): just what the logs messages need ----
void varint(std::string &out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void tag(std::string &out, uint32_t field, uint32_t wire) { varint(out, (static_cast<uint64_t>(field) << 3) | wire); }
void pb_bytes(std::string &out, uint32_t field, std::string_view data) {
  tag(out, field, 2);
  varint(out, data.size());
  out.append(data);
}
void pb_varint(std::string &out, uint32_t field, uint64_t v) {
  tag(out, field, 0);
  varint(out, v);
}
void pb_fixed64(std::string &out, uint32_t field, uint64_t v) {
  tag(out, field, 1);
  for (int i = 0; i < 8; i++) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// One attribute for both encodings: string or int.
struct Attr {
  std::string key;
  std::string s;
  int64_t i = 0;
  bool is_int = false;
};

// AnyValue{string_value=1 | int_value=3} inside KeyValue{key=1, value=2}.
std::string pb_keyvalue(const Attr &a) {
  std::string any, kv;
  if (a.is_int) pb_varint(any, 3, static_cast<uint64_t>(a.i));
  else pb_bytes(any, 1, a.s);
  pb_bytes(kv, 1, a.key);
  pb_bytes(kv, 2, any);
  return kv;
}

void json_attrs(std::string &out, const std::vector<Attr> &attrs) {
  out += "\"attributes\":[";
  for (size_t i = 0; i < attrs.size(); i++) {
    if (i) out += ',';
    out += "{\"key\":" + jstr(attrs[i].key) + ",\"value\":{";
    // OTLP/JSON: 64-bit integers are decimal strings.
    if (attrs[i].is_int) out += "\"intValue\":\"" + std::to_string(attrs[i].i) + "\"}}";
    else out += "\"stringValue\":" + jstr(attrs[i].s) + "}}";
  }
  out += ']';
}

void add(std::vector<Attr> &v, const char *key, const std::string &s) {
  if (!s.empty()) v.push_back({key, s, 0, false});
}

// OpenTelemetry semantic conventions: on a cloud instance host.id is the instance id, else
// the machine id; host.type is the machine type.
std::vector<Attr> resource_attrs(const RecordView &r) {
  std::vector<Attr> a;
  add(a, "service.name", "ktrail");
  add(a, "host.name", r.host_name);
  add(a, "host.id", r.cloud_instance.empty() ? r.host_id : r.cloud_instance);
  add(a, "host.type", r.cloud_machine_type);
  add(a, "os.type", r.os_type);
  add(a, "os.name", r.os_name);
  add(a, "os.version", r.os_version);
  add(a, "os.description", r.os_kernel);
  add(a, "cloud.provider", r.cloud_provider);
  static const std::map<std::string, std::string> platforms = {
      {"aws", "aws_ec2"}, {"gcp", "gcp_compute_engine"}, {"azure", "azure_vm"}};
  if (auto it = platforms.find(r.cloud_provider); it != platforms.end()) add(a, "cloud.platform", it->second);
  add(a, "cloud.region", r.cloud_region);
  add(a, "cloud.availability_zone", r.cloud_zone);
  add(a, "cloud.account.id", r.cloud_account);
  return a;
}

std::vector<Attr> record_attrs(const RecordView &r) {
  std::vector<Attr> a;
  add(a, "event.action", r.action);
  add(a, "event.outcome", r.outcome);
  add(a, "event.category", r.category);
  a.push_back({"event.sequence", {}, static_cast<int64_t>(r.sequence), true});
  add(a, "container.id", r.container_id);
  add(a, "container.runtime", r.container_runtime);
  add(a, "container.name", r.container_name);
  add(a, "k8s.pod.name", r.pod_name);
  add(a, "k8s.namespace.name", r.pod_namespace);
  return a;
}

// Lost records are the agent's own warning; everything else is an audit fact at INFO.
int severity_number(const RecordView &r) { return r.action == "lost" ? 13 : 9; }
const char *severity_text(const RecordView &r) { return r.action == "lost" ? "WARN" : "INFO"; }

std::string resource_key(const std::vector<Attr> &attrs) {
  std::string k;
  for (const auto &a : attrs) k += a.key + '\0' + a.s + '\0';
  return k;
}

bool same_resource(const RecordView &a, const RecordView &b) {
  return a.host_name == b.host_name && a.host_id == b.host_id && a.os_type == b.os_type &&
         a.os_name == b.os_name && a.os_version == b.os_version && a.os_kernel == b.os_kernel &&
         a.cloud_provider == b.cloud_provider && a.cloud_region == b.cloud_region &&
         a.cloud_zone == b.cloud_zone && a.cloud_account == b.cloud_account &&
         a.cloud_instance == b.cloud_instance && a.cloud_machine_type == b.cloud_machine_type;
}

// Records grouped by resource, groups in order of first appearance. A batch nearly always has
// one resource (the cloud identity arrives once, early): comparing with the previous record
// avoids building its attributes again.
std::vector<std::pair<std::vector<Attr>, std::vector<const RecordView *>>> by_resource(
    const std::vector<RecordView> &recs) {
  std::vector<std::pair<std::vector<Attr>, std::vector<const RecordView *>>> groups;
  std::map<std::string, size_t> index;
  const RecordView *prev = nullptr;
  size_t prev_group = 0;
  for (const auto &r : recs) {
    if (prev && same_resource(*prev, r)) {
      groups[prev_group].second.push_back(&r);
      prev = &r;
      continue;
    }
    std::vector<Attr> attrs = resource_attrs(r);
    auto [it, fresh] = index.emplace(resource_key(attrs), groups.size());
    if (fresh) groups.push_back({std::move(attrs), {}});
    groups[it->second].second.push_back(&r);
    prev = &r;
    prev_group = it->second;
  }
  return groups;
}

// Prometheus/Loki label values must be valid UTF-8; records are, but keep a cap on length.
std::string label(const std::string &v) { return v.size() > 256 ? v.substr(0, 256) : v; }

}  // namespace

bool parse_rfc3339_ns(const std::string &s, int64_t &out) {
  // YYYY-MM-DDTHH:MM:SS[.fffffffff]Z
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
      s.back() != 'Z')
    return false;
  struct tm tm {};
  auto num = [&](size_t at, size_t n, int &v) {
    v = 0;
    for (size_t i = at; i < at + n; i++) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, se))
    return false;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  int64_t frac = 0;
  size_t i = 19;
  if (s[i] == '.') {
    int digits = 0;
    for (i++; i < s.size() - 1; i++, digits++) {
      if (s[i] < '0' || s[i] > '9' || digits >= 9) return false;
      frac = frac * 10 + (s[i] - '0');
    }
    for (; digits < 9; digits++) frac *= 10;
  }
  if (i != s.size() - 1) return false;
  out = static_cast<int64_t>(timegm(&tm)) * 1000000000LL + frac;
  return true;
}

namespace {

// The fields view_record() lifts out, by dotted path.
std::string *field_for(RecordView &r, std::string_view path) {
  static const std::pair<std::string_view, std::string RecordView::*> kFields[] = {
      {"event.action", &RecordView::action},
      {"event.outcome", &RecordView::outcome},
      {"event.category", &RecordView::category},
      {"ktrail.chain.hash", &RecordView::chain_hash},
      {"host.name", &RecordView::host_name},
      {"host.id", &RecordView::host_id},
      {"host.os.type", &RecordView::os_type},
      {"host.os.name", &RecordView::os_name},
      {"host.os.version", &RecordView::os_version},
      {"host.os.kernel", &RecordView::os_kernel},
      {"cloud.provider", &RecordView::cloud_provider},
      {"cloud.region", &RecordView::cloud_region},
      {"cloud.availability_zone", &RecordView::cloud_zone},
      {"cloud.account.id", &RecordView::cloud_account},
      {"cloud.instance.id", &RecordView::cloud_instance},
      {"cloud.machine.type", &RecordView::cloud_machine_type},
      {"container.id", &RecordView::container_id},
      {"container.runtime", &RecordView::container_runtime},
      {"container.name", &RecordView::container_name},
      {"orchestrator.resource.name", &RecordView::pod_name},
      {"orchestrator.namespace", &RecordView::pod_namespace},
      // OCSF 1.1.0 records (--schema ocsf): the same facts under their names.
      {"metadata.event_code", &RecordView::action},
      {"status", &RecordView::outcome},
      {"category_name", &RecordView::category},
      {"unmapped.chain.hash", &RecordView::chain_hash},
      {"device.hostname", &RecordView::host_name},
      {"device.uid", &RecordView::host_id},
      {"device.os.type", &RecordView::os_type},
      {"device.os.name", &RecordView::os_name},
      {"device.os.version", &RecordView::os_version},
      {"cloud.zone", &RecordView::cloud_zone},
      {"cloud.account.uid", &RecordView::cloud_account},
      {"container.uid", &RecordView::container_id},
  };
  for (const auto &[k, m] : kFields)
    if (k == path) return &(r.*m);
  return nullptr;
}

// A validating single-pass JSON walk that keeps only the fields above: the sender thread reads
// every record once per send, and a DOM per record was most of its CPU.
class Walker {
 public:
  Walker(const std::string &s, RecordView &out) : p_(s.data()), e_(s.data() + s.size()), out_(out) {}
  uint64_t ocsf_time_ms() const { return ocsf_time_ms_; }
  bool run(std::string &timestamp) {
    ts_ = &timestamp;
    skip_ws();
    if (p_ == e_ || *p_ != '{' || !value(0)) return false;
    skip_ws();
    return p_ == e_;
  }

 private:
  void skip_ws() {
    while (p_ < e_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) p_++;
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(uint32_t &v) {
    if (e_ - p_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; i++) {
      int h = hex(*p_++);
      if (h < 0) return false;
      v = v << 4 | static_cast<uint32_t>(h);
    }
    return true;
  }
  // At '"'; the unescaped text goes to dst when it is not null.
  bool string(std::string *dst) {
    p_++;
    for (;;) {
      const char *run = p_;
      while (p_ < e_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) p_++;
      if (dst) dst->append(run, static_cast<size_t>(p_ - run));
      if (p_ == e_ || static_cast<unsigned char>(*p_) < 0x20) return false;
      if (*p_++ == '"') return true;
      if (p_ == e_) return false;
      char c = *p_++;
      uint32_t cp = 0;
      switch (c) {
        case '"': case '\\': case '/': cp = static_cast<uint32_t>(c); break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
          if (!hex4(cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {
            uint32_t lo;
            if (e_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!hex4(lo) || lo < 0xdc00 || lo >= 0xe000) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return false;
          }
          break;
        }
        default: return false;
      }
      if (!dst) continue;
      if (cp < 0x80) {
        *dst += static_cast<char>(cp);
      } else if (cp < 0x800) {
        *dst += static_cast<char>(0xc0 | cp >> 6);
        *dst += static_cast<char>(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        *dst += static_cast<char>(0xe0 | cp >> 12);
        *dst += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        *dst += static_cast<char>(0x80 | (cp & 0x3f));
      } else {
        *dst += static_cast<char>(0xf0 | cp >> 18);
        *dst += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        *dst += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        *dst += static_cast<char>(0x80 | (cp & 0x3f));
      }
    }
  }
  bool number() {
    const char *start = p_;
    if (p_ < e_ && *p_ == '-') p_++;
    const char *digits = p_;
    while (p_ < e_ && *p_ >= '0' && *p_ <= '9') p_++;
    if (p_ == digits) return false;
    bool integer = true;
    if (p_ < e_ && *p_ == '.') {
      integer = false;
      const char *f = ++p_;
      while (p_ < e_ && *p_ >= '0' && *p_ <= '9') p_++;
      if (p_ == f) return false;
    }
    if (p_ < e_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      p_++;
      if (p_ < e_ && (*p_ == '+' || *p_ == '-')) p_++;
      const char *x = p_;
      while (p_ < e_ && *p_ >= '0' && *p_ <= '9') p_++;
      if (p_ == x) return false;
    }
    if (integer && *start != '-' && p_ - start <= 20) {
      uint64_t v = 0;
      for (const char *q = start; q < p_; q++) v = v * 10 + static_cast<uint64_t>(*q - '0');
      if (path_ == "event.sequence" || path_ == "metadata.sequence") out_.sequence = v;
      else if (path_ == "time") ocsf_time_ms_ = v;  // OCSF: epoch milliseconds
    }
    return true;
  }
  bool literal(std::string_view w) {
    if (static_cast<size_t>(e_ - p_) < w.size() || std::string_view(p_, w.size()) != w) return false;
    p_ += w.size();
    return true;
  }
  bool value(int depth) {
    if (depth > 64 || p_ == e_) return false;
    switch (*p_) {
      case '{': {
        p_++;
        skip_ws();
        if (p_ < e_ && *p_ == '}') return p_++, true;
        for (;;) {
          skip_ws();
          if (p_ == e_ || *p_ != '"') return false;
          key_.clear();
          if (!string(&key_)) return false;
          skip_ws();
          if (p_ == e_ || *p_++ != ':') return false;
          size_t keep = path_.size();
          if (keep) path_ += '.';
          path_ += key_;
          skip_ws();
          bool ok = value(depth + 1);
          path_.resize(keep);
          if (!ok) return false;
          skip_ws();
          if (p_ == e_) return false;
          if (*p_ == '}') return p_++, true;
          if (*p_++ != ',') return false;
        }
      }
      case '[': {
        p_++;
        skip_ws();
        if (p_ < e_ && *p_ == ']') return p_++, true;
        for (;;) {
          skip_ws();
          if (!value(depth + 1)) return false;
          skip_ws();
          if (p_ == e_) return false;
          if (*p_ == ']') return p_++, true;
          if (*p_++ != ',') return false;
        }
      }
      case '"': {
        std::string *dst = depth == 1 && path_ == "@timestamp" ? ts_ : field_for(out_, path_);
        // Arrays (event.category): the first element only.
        if (dst && !dst->empty()) dst = nullptr;
        return string(dst);
      }
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  const char *p_, *e_;
  RecordView &out_;
  std::string path_, key_;
  std::string *ts_ = nullptr;
  uint64_t ocsf_time_ms_ = 0;
};

std::string lowercase(std::string s) {
  for (char &c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool view_record(const std::string &line, RecordView &out, std::string &err) {
  out = RecordView{};
  std::string ts;
  Walker w(line, out);
  if (!w.run(ts)) {
    err = "not a JSON object";
    return false;
  }
  out.json = line;
  if (!parse_rfc3339_ns(ts, out.time_ns)) out.time_ns = static_cast<int64_t>(w.ocsf_time_ms()) * 1000000;
  // OCSF spells these "Success" and "Linux"; the outputs use ECS/OTel's lowercase values.
  out.outcome = lowercase(out.outcome);
  out.os_type = lowercase(out.os_type);
  return true;
}

std::string otlp_protobuf(const std::vector<RecordView> &recs, int64_t observed_ns) {
  std::string req;
  for (const auto &[attrs, group] : by_resource(recs)) {
    std::string resource, scope, scope_logs, resource_logs;
    for (const auto &a : attrs) pb_bytes(resource, 1, pb_keyvalue(a));
    pb_bytes(scope, 1, "ktrail");
    pb_bytes(scope, 2, KTRAIL_VERSION);
    pb_bytes(scope_logs, 1, scope);
    for (const RecordView *r : group) {
      std::string lr, body;
      pb_fixed64(lr, 1, static_cast<uint64_t>(r->time_ns));
      pb_varint(lr, 2, static_cast<uint64_t>(severity_number(*r)));
      pb_bytes(lr, 3, severity_text(*r));
      pb_bytes(body, 1, r->json);
      pb_bytes(lr, 5, body);
      for (const auto &a : record_attrs(*r)) pb_bytes(lr, 6, pb_keyvalue(a));
      pb_fixed64(lr, 11, static_cast<uint64_t>(observed_ns));
      pb_bytes(scope_logs, 2, lr);
    }
    pb_bytes(resource_logs, 1, resource);
    pb_bytes(resource_logs, 2, scope_logs);
    pb_bytes(req, 1, resource_logs);
  }
  return req;
}

std::string otlp_json(const std::vector<RecordView> &recs, int64_t observed_ns) {
  std::string out = "{\"resourceLogs\":[";
  bool first_group = true;
  for (const auto &[attrs, group] : by_resource(recs)) {
    if (!first_group) out += ',';
    first_group = false;
    out += "{\"resource\":{";
    json_attrs(out, attrs);
    out += "},\"scopeLogs\":[{\"scope\":{\"name\":\"ktrail\",\"version\":" + jstr(KTRAIL_VERSION) +
           "},\"logRecords\":[";
    for (size_t i = 0; i < group.size(); i++) {
      const RecordView &r = *group[i];
      if (i) out += ',';
      out += "{\"timeUnixNano\":\"" + std::to_string(r.time_ns) + "\",\"observedTimeUnixNano\":\"" +
             std::to_string(observed_ns) + "\",\"severityNumber\":" + std::to_string(severity_number(r)) +
             ",\"severityText\":\"" + severity_text(r) + "\",\"body\":{\"stringValue\":";
      append_record_string(out, r.json);
      out += "},";
      json_attrs(out, record_attrs(r));
      out += '}';
    }
    out += "]}]}";
  }
  out += "]}";
  return out;
}

bool otlp_response(const std::string &body, bool is_json, int64_t &rejected, std::string &message) {
  rejected = 0;
  message.clear();
  if (body.empty()) return true;
  if (is_json) {
    json j = json::parse(body, nullptr, false);
    if (!j.is_object()) return false;
    auto ps = j.find("partialSuccess");
    if (ps == j.end()) return true;
    if (!ps->is_object()) return false;
    if (auto r = ps->find("rejectedLogRecords"); r != ps->end()) {
      // int64 arrives as a string, but a number is accepted too (the mapping allows both).
      if (r->is_string()) rejected = std::strtoll(r->get<std::string>().c_str(), nullptr, 10);
      else if (r->is_number_integer()) rejected = r->get<int64_t>();
      else return false;
    }
    if (auto m = ps->find("errorMessage"); m != ps->end() && m->is_string()) message = m->get<std::string>();
    return true;
  }
  // Protobuf: ExportLogsServiceResponse{partial_success=1{rejected_log_records=1, error_message=2}}.
  auto read_varint = [](const std::string &b, size_t &p, uint64_t &v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= b.size()) return false;
      uint8_t c = static_cast<uint8_t>(b[p++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return true;
    }
    return false;
  };
  auto walk = [&](const std::string &b, auto &&on_field) {
    size_t p = 0;
    while (p < b.size()) {
      uint64_t key, v;
      if (!read_varint(b, p, key)) return false;
      uint32_t wire = key & 7, field = static_cast<uint32_t>(key >> 3);
      if (wire == 0) {
        if (!read_varint(b, p, v)) return false;
        on_field(field, v, std::string());
      } else if (wire == 2) {
        if (!read_varint(b, p, v) || v > b.size() - p) return false;
        on_field(field, 0, b.substr(p, v));
        p += v;
      } else if (wire == 1 || wire == 5) {
        size_t n = wire == 1 ? 8 : 4;
        if (b.size() - p < n) return false;
        p += n;
      } else {
        return false;
      }
    }
    return true;
  };
  std::string partial;
  if (!walk(body, [&](uint32_t f, uint64_t, const std::string &s) {
        if (f == 1) partial = s;
      }))
    return false;
  return walk(partial, [&](uint32_t f, uint64_t v, const std::string &s) {
    if (f == 1) rejected = static_cast<int64_t>(v);
    if (f == 2) message = s;
  });
}

std::string loki_push(const std::vector<RecordView> &recs) {
  std::vector<std::pair<std::string, std::vector<const RecordView *>>> streams;
  std::map<std::string, size_t> index;
  for (const auto &r : recs) {
    std::string labels = "{\"job\":\"ktrail\"";
    auto lab = [&](const char *k, const std::string &v) {
      if (v.empty()) return;
      labels += ",\"";
      labels += k;
      labels += "\":" + jstr(label(v));
    };
    lab("host", r.host_name);
    lab("event_category", r.category);
    lab("event_action", r.action);
    lab("container_runtime", r.container_runtime);
    lab("k8s_namespace", r.pod_namespace);
    labels += '}';
    auto [it, fresh] = index.emplace(labels, streams.size());
    if (fresh) streams.push_back({labels, {}});
    streams[it->second].second.push_back(&r);
  }
  std::string out = "{\"streams\":[";
  for (size_t s = 0; s < streams.size(); s++) {
    if (s) out += ',';
    out += "{\"stream\":" + streams[s].first + ",\"values\":[";
    for (size_t i = 0; i < streams[s].second.size(); i++) {
      const RecordView &r = *streams[s].second[i];
      if (i) out += ',';
      out += "[\"" + std::to_string(r.time_ns) + "\",";
      append_record_string(out, r.json);
      out += ']';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

std::string hec_events(const std::vector<RecordView> &recs, const HecOptions &opt) {
  std::string out;
  char t[32];
  for (const auto &r : recs) {
    // Epoch seconds with a microsecond fraction: HEC keeps sub-second time to this precision.
    snprintf(t, sizeof(t), "%lld.%06lld", static_cast<long long>(r.time_ns / 1000000000),
             static_cast<long long>((r.time_ns % 1000000000) / 1000));
    out += "{\"time\":";
    out += t;
    if (!r.host_name.empty()) out += ",\"host\":" + jstr(r.host_name);
    out += ",\"source\":" + jstr(opt.source) + ",\"sourcetype\":" + jstr(opt.sourcetype);
    if (!opt.index.empty()) out += ",\"index\":" + jstr(opt.index);
    out += ",\"event\":";
    out += r.json;  // the record itself, an object: Splunk extracts its fields
    out += '}';
  }
  return out;
}

bool hec_response(const std::string &body, int &code, std::string &text, int64_t &ack_id) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("code") || !j["code"].is_number_integer()) return false;
  code = j["code"].get<int>();
  text = j.value("text", "");
  ack_id = j.contains("ackId") && j["ackId"].is_number_integer() ? j["ackId"].get<int64_t>() : -1;
  return true;
}

bool hec_acks(const std::string &body, std::vector<int64_t> &acked) {
  acked.clear();
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("acks") || !j["acks"].is_object()) return false;
  for (const auto &[id, done] : j["acks"].items()) {
    if (!done.is_boolean() || id.empty() || id.find_first_not_of("0123456789") != std::string::npos) return false;
    if (done.get<bool>()) acked.push_back(std::stoll(id));
  }
  return true;
}

std::string es_bulk(const std::vector<RecordView> &recs, const std::string &index) {
  std::string out;
  for (const auto &r : recs) {
    std::string id = !r.chain_hash.empty() ? r.chain_hash : r.host_id + "-" + std::to_string(r.sequence);
    out += "{\"create\":{\"_index\":" + jstr(index) + ",\"_id\":" + jstr(id) + "}}\n";
    out += r.json;
    out += '\n';
  }
  return out;
}

bool es_bulk_response(const std::string &body, size_t expected, std::vector<BulkItem> &items,
                      std::string &first_error) {
  items.clear();
  first_error.clear();
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) return false;
  if (j["items"].size() != expected) return false;
  for (const auto &it : j["items"]) {
    if (!it.is_object() || it.size() != 1) return false;
    const json &res = it.begin().value();
    if (!res.is_object() || !res.contains("status") || !res["status"].is_number_integer()) return false;
    int st = res["status"].get<int>();
    if (st >= 200 && st < 300) items.push_back(BulkItem::Ok);
    else if (st == 409) items.push_back(BulkItem::Duplicate);  // create of an existing _id: resent
    else if (st == 429 || st >= 500) items.push_back(BulkItem::Retry);
    else {
      items.push_back(BulkItem::Rejected);
      if (first_error.empty() && res.contains("error")) {
        const json &e = res["error"];
        first_error = e.is_object() ? e.value("type", "") + ": " + e.value("reason", "") : e.dump();
      }
    }
  }
  return true;
}

bool gzip(const std::string &data, std::string &out) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer, not zlib's. Level 1: batches of JSON
  // compress ~10x even so, and the sender thread stays fast.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&z, data.size()) + 32);
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef *>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

}  // namespace ktrail::http_formats
