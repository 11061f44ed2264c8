#include "config/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <iostream>
#include <type_traits>

#include "loader/loader.h"
#include "sinks/http_output.h"
#include "sinks/syslog_sink.h"

extern char **environ;

namespace ktrail::config {
namespace {

enum class Kind { Scalar, List, Flag };

struct Key {
  std::string name;  // config key; environment variable KTRAIL_<NAME in upper case>
  std::string flag;  // the `ktrail run` option that validates and stores the value
  Kind kind = Kind::Scalar;
  std::string expected;  // "a non-negative integer", for type errors
  bool (*parses)(const std::string &) = nullptr;  // numbers: checked before the range validators
  std::function<void(RunOptions &)> clear;  // an empty list, or an empty string
  bool empty_is_unset = false;  // "" is the default: it means "not set", not a value to validate
  std::function<void(YAML::Emitter &, const RunOptions &)> emit;
};

template <class T>
struct Traits;
template <>
struct Traits<std::string> {
  static constexpr Kind kind = Kind::Scalar;
  static constexpr const char *expected = "a string";
};
template <>
struct Traits<std::vector<std::string>> {
  static constexpr Kind kind = Kind::List;
  static constexpr const char *expected = "a list of strings (or one comma-separated string)";
};
template <>
struct Traits<bool> {
  static constexpr Kind kind = Kind::Flag;
  static constexpr const char *expected = "true or false";
};
template <>
struct Traits<double> {
  static constexpr Kind kind = Kind::Scalar;
  static constexpr const char *expected = "a number";
};
template <>
struct Traits<int> {
  static constexpr Kind kind = Kind::Scalar;
  static constexpr const char *expected = "an integer";
};
template <>
struct Traits<uint32_t> {
  static constexpr Kind kind = Kind::Scalar;
  static constexpr const char *expected = "a non-negative integer";
};
template <>
struct Traits<uint64_t> {
  static constexpr Kind kind = Kind::Scalar;
  static constexpr const char *expected = "a non-negative integer";
};

void put(YAML::Emitter &e, const std::string &v) {
  if (v.empty()) e << YAML::DoubleQuoted;
  e << v;
}
void put(YAML::Emitter &e, const std::vector<std::string> &v) {
  e << YAML::Flow << YAML::BeginSeq;
  for (const auto &s : v) put(e, s);
  e << YAML::EndSeq;
}
template <class T>
void put(YAML::Emitter &e, const T &v) {
  e << v;
}

std::string dashes(std::string s) {
  std::replace(s.begin(), s.end(), '_', '-');
  return "--" + s;
}

template <class T>
bool parses_as(const std::string &s) {
  T v{};
  if constexpr (std::is_floating_point_v<T>) {
    char *end = nullptr;
    errno = 0;
    std::strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size() && errno == 0;
  } else {
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
  }
}

template <class T>
Key key(const char *name, T RunOptions::*m, const char *flag = nullptr) {
  Key k;
  k.name = name;
  k.flag = flag ? flag : dashes(name);
  k.kind = Traits<T>::kind;
  k.expected = Traits<T>::expected;
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) k.parses = parses_as<T>;
  k.clear = [m](RunOptions &o) {
    if constexpr (std::is_same_v<T, std::vector<std::string>> || std::is_same_v<T, std::string>) (o.*m).clear();
  };
  if constexpr (std::is_same_v<T, std::string>) {
    static const RunOptions defaults;
    k.empty_is_unset = (defaults.*m).empty();
  }
  k.emit = [m](YAML::Emitter &e, const RunOptions &o) { put(e, o.*m); };
  return k;
}

// One row per `ktrail run` option. To give a new RunOptions field its config key, append
//     key("name", &RunOptions::field),             // flag --name, environment KTRAIL_NAME
// or  key("name", &RunOptions::field, "--flag"),   // when the flag is spelled differently.
// That is all: the file, the environment and --print follow, and the value is validated and
// converted by that flag's own CLI11 option. `outputs` (with per-output settings) is apart.
const std::vector<Key> &keys() {
  static const std::vector<Key> k = {
      key("format", &RunOptions::format),
      key("schema", &RunOptions::schema),
      key("events", &RunOptions::events),
      key("duration", &RunOptions::duration),
      key("buffer", &RunOptions::buffer),
      key("hooks", &RunOptions::hooks),
      key("buffer_mb", &RunOptions::buffer_mb),
      key("wakeup_bytes", &RunOptions::wakeup_bytes),
      key("drain_ms", &RunOptions::drain_ms),
      key("btf", &RunOptions::btf),
      key("pin", &RunOptions::pin),
      key("log_level", &RunOptions::log_level),
      key("ssh_exe_names", &RunOptions::ssh_exe_names),
      key("chain_state", &RunOptions::chain_state),
      key("signing_key", &RunOptions::signing_key),
      key("checkpoint_records", &RunOptions::checkpoint_records),
      key("checkpoint_seconds", &RunOptions::checkpoint_seconds),
      key("file_max_bytes", &RunOptions::file_max_bytes),
      key("file_max_files", &RunOptions::file_max_files),
      key("file_fsync", &RunOptions::file_fsync),
      key("spool_dir", &RunOptions::spool_dir),
      key("spool_max_bytes", &RunOptions::spool_max_bytes),
      key("containers", &RunOptions::containers),
      key("docker_sockets", &RunOptions::docker_sockets, "--docker-socket"),
      key("k8s", &RunOptions::k8s),
      key("k8s_api", &RunOptions::k8s_api),
      key("k8s_token_file", &RunOptions::k8s_token_file),
      key("k8s_ca_file", &RunOptions::k8s_ca_file),
      key("node_name", &RunOptions::node_name),
      key("cloud", &RunOptions::cloud),
      key("cloud_endpoint", &RunOptions::cloud_endpoint),
      key("cloud_timeout_ms", &RunOptions::cloud_timeout_ms),
      key("max_processes", &RunOptions::max_processes),
      key("cap_policy", &RunOptions::cap_policy),
      key("cap_always", &RunOptions::cap_always),
      key("cap_hook", &RunOptions::cap_hook),
      key("cap_key", &RunOptions::cap_key),
      key("cap_interval", &RunOptions::cap_interval),
      key("watch", &RunOptions::watch),
      key("watch_file", &RunOptions::watch_file),
      key("no_default_watch", &RunOptions::no_default_watch),
      key("metrics_addr", &RunOptions::metrics_addr),
      key("rules", &RunOptions::rules),
      key("ia32", &RunOptions::ia32),
  };
  return k;
}

constexpr const char *kOutputsKey = "outputs";
constexpr const char *kOutputsFlag = "--output";

// Network output URL schemes (sinks/). A new network output adds its scheme here.
const std::vector<std::string> &schemes() {
  static const std::vector<std::string> s = {"syslog+tcp", "syslog+tls", "syslog+udp", "syslog+relp",
                                             "syslog+relp+tls", "otlp+https", "otlp+http", "loki+https",
                                             "loki+http", "splunk+https", "splunk+http",
                                             "elasticsearch+https", "elasticsearch+http"};
  return s;
}

// Keys of one output entry in the config file.
enum class OutKey { Url, Type, Path, MaxBytes, MaxFiles, Fsync, SpoolMaxBytes, SpoolFsync, Param };
struct OutputKey {
  const char *name;  // dotted below tls
  OutKey kind;
  const char *param = nullptr;  // Param: the URL query parameter the output reads
  bool file = false;            // Param: names a file that must exist (TLS material, secrets)
};
// Credentials are accepted only as a file or an environment variable name: the config (and
// the URL built from it, which outputs may log) then never holds a secret itself.
const std::vector<OutputKey> &output_keys() {
  static const std::vector<OutputKey> k = {
      {"url", OutKey::Url},
      {"type", OutKey::Type},
      {"path", OutKey::Path},
      {"max_bytes", OutKey::MaxBytes},
      {"max_files", OutKey::MaxFiles},
      {"fsync", OutKey::Fsync},
      {"spool_max_bytes", OutKey::SpoolMaxBytes},
      {"spool_fsync", OutKey::SpoolFsync},
      {"tls.ca_file", OutKey::Param, "ca", true},
      {"tls.cert_file", OutKey::Param, "cert", true},
      {"tls.key_file", OutKey::Param, "key", true},
      {"facility", OutKey::Param, "facility"},
      {"token_file", OutKey::Param, "token_file", true},
      {"token_env", OutKey::Param, "token_env"},
      {"username", OutKey::Param, "user"},
      {"password_file", OutKey::Param, "password_file", true},
      {"password_env", OutKey::Param, "password_env"},
      // HTTP outputs (sinks/http_output.h)
      {"gzip", OutKey::Param, "gzip"},
      {"timeout_ms", OutKey::Param, "timeout_ms"},
      {"encoding", OutKey::Param, "encoding"},
      {"tenant", OutKey::Param, "tenant"},
      {"index", OutKey::Param, "index"},
      {"source", OutKey::Param, "source"},
      {"sourcetype", OutKey::Param, "sourcetype"},
      {"ack", OutKey::Param, "ack"},
  };
  return k;
}

size_t edit_distance(const std::string &a, const std::string &b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) prev[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); j++)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string unknown_key(const std::string &k, const std::vector<std::string> &known) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto &c : known) {
    size_t d = edit_distance(k, c);
    if (d < best_d) best_d = d, best = c;
  }
  std::string m = "unknown key '" + k + "'";
  if (!best.empty() && best_d <= std::max<size_t>(2, k.size() / 3)) m += "; did you mean '" + best + "'?";
  return m;
}

const char *node_kind(const YAML::Node &n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "an undefined value";
  }
}

std::vector<std::string> split_commas(const std::string &s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t c = s.find(',', start);
    out.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

std::string upper(std::string s) {
  for (char &c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

// Collects diagnostics for one source (a file, or one environment variable's YAML).
struct Ctx {
  std::string source;
  bool from_file = true;
  std::vector<Diagnostic> &errs;
  void error(const YAML::Mark &m, const std::string &path, const std::string &msg) {
    Diagnostic d;
    d.source = source;
    if (from_file && !m.is_null()) d.line = m.line + 1, d.column = m.column + 1;
    d.path = path;
    d.message = msg;
    errs.push_back(std::move(d));
  }
};

// Runs values through the flag's CLI11 option: it validates, converts and stores into the
// RunOptions field it is bound to. Returns the complaint, or "" when accepted.
std::string feed(CLI::App &run, const Key &k, const std::vector<std::string> &values, RunOptions &o) {
  if ((k.kind == Kind::List && values.empty()) || (k.empty_is_unset && values == std::vector<std::string>{""})) {
    k.clear(o);
    return "";
  }
  if (k.parses && (values.size() != 1 || !k.parses(values[0])))
    return "expected " + k.expected + ", got '" + (values.empty() ? "" : values[0]) + "'";
  CLI::Option *op = run.get_option(k.flag);
  op->clear();
  for (const auto &v : values) op->add_result(v);
  try {
    op->run_callback();
  } catch (const CLI::ValidationError &e) {
    std::string m = e.what();
    std::string prefix = k.flag + ": ";
    if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
    return "bad value: " + m;
  } catch (const CLI::Error &) {
    std::string got;
    for (const auto &v : values) got += (got.empty() ? "" : ",") + v;
    return "expected " + k.expected + ", got '" + got + "'";
  }
  return "";
}

bool parse_u64(const std::string &s, uint64_t &v) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

bool parse_bool(const std::string &s, bool &v) {
  if (s == "true" || s == "yes" || s == "on") return v = true, true;
  if (s == "false" || s == "no" || s == "off") return v = false, true;
  return false;
}

bool readable_file(const std::string &p, std::string &why) {
  if (access(p.c_str(), R_OK) != 0) {
    why = strerror(errno);
    return false;
  }
  return true;
}

// host[:port] of a network output URL: precise complaints before the output's own parser.
std::string check_url(const std::string &url) {
  size_t sep = url.find("://");
  std::string scheme = url.substr(0, sep);
  const auto &known = schemes();
  if (std::find(known.begin(), known.end(), scheme) == known.end()) {
    std::string list;
    for (const auto &s : known) list += (list.empty() ? "" : ", ") + s;
    return "unknown output scheme '" + scheme + "' (expected stdout, file:PATH or a URL with one of: " + list + ")";
  }
  std::string rest = url.substr(sep + 3);
  std::string authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != std::string::npos)
    return "credentials in the URL are not accepted: use token_file/password_file or token_env/password_env";
  std::string host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return "bad URL '" + url + "': unterminated [IPv6] host";
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "bad URL '" + url + "': expected ':' after ]";
      port = authority.substr(close + 2);
    }
  } else if (size_t c = authority.rfind(':'); c != std::string::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) return "bad URL '" + url + "': no host";
  uint64_t p = 0;
  if (authority.find(':') != std::string::npos && (!parse_u64(port, p) || p == 0 || p > 65535))
    return "bad URL '" + url + "': port '" + port + "' is not a number from 1 to 65535";
  if (scheme.rfind("syslog+", 0) == 0) {
    SyslogTarget t;
    std::string err;
    if (!parse_syslog_url(url, t, err)) return "bad URL '" + url + "': " + err;
  } else if (is_http_output(url)) {
    HttpTarget t;
    std::string err;
    if (!parse_http_output_url(url, t, err)) return "bad URL '" + url + "': " + err;
  }
  return "";
}

// Checks an output spec (stdout, file:PATH or a URL) as -o takes it; "" when fine.
std::string check_spec(const std::string &spec) {
  if (spec == "stdout" || spec == "-") return "";
  if (spec.rfind("file:", 0) == 0) return spec.size() > 5 ? "" : "output 'file:' needs a path";
  if (spec.find("://") == std::string::npos)
    return "unknown output '" + spec + "' (expected stdout, file:PATH or a network URL such as syslog+tls://HOST:PORT)";
  return check_url(spec);
}

// Flattens an output mapping into dotted keys (tls.ca_file) with their nodes.
void flatten(const YAML::Node &map, const std::string &prefix, Ctx &ctx, const std::string &path,
             std::vector<std::pair<std::string, std::pair<YAML::Node, YAML::Node>>> &out) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string k = prefix + it->first.Scalar();
    if (k == "tls" && it->second.IsMap()) {
      flatten(it->second, "tls.", ctx, path, out);
      continue;
    }
    out.push_back({k, {it->first, it->second}});
  }
}

bool parse_output(const YAML::Node &n, const std::string &path, Ctx &ctx, std::string &spec, OutputSettings &s) {
  const size_t before = ctx.errs.size();
  if (n.IsScalar()) {
    spec = n.Scalar();
    if (std::string e = check_spec(spec); !e.empty()) ctx.error(n.Mark(), path, e);
    return ctx.errs.size() == before;
  }
  if (!n.IsMap()) {
    ctx.error(n.Mark(), path, std::string("expected an output (a string such as stdout, or a mapping with url:), got ") + node_kind(n));
    return false;
  }
  std::vector<std::pair<std::string, std::pair<YAML::Node, YAML::Node>>> kv;
  flatten(n, "", ctx, path, kv);
  std::vector<std::string> names;
  for (const auto &k : output_keys()) names.push_back(k.name);
  std::string url, type, file_path;
  YAML::Mark where = n.Mark();
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> file_only, network_only;
  for (auto &[k, nodes] : kv) {
    const YAML::Node &kn = nodes.first, &v = nodes.second;
    const std::string kp = path + "." + k;
    if (k == "tls") {
      ctx.error(v.Mark(), kp, std::string("expected a mapping (ca_file, cert_file, key_file), got ") + node_kind(v));
      continue;
    }
    if (k == "token" || k == "password" || k == "tls.key") {
      ctx.error(kn.Mark(), kp, "secrets are not accepted inline: put it in a file (" + k +
                                   "_file) or an environment variable (" + (k == "tls.key" ? "tls.key_file" : k + "_env") + ")");
      continue;
    }
    auto it = std::find_if(output_keys().begin(), output_keys().end(), [&](const OutputKey &o) { return k == o.name; });
    if (it == output_keys().end()) {
      ctx.error(kn.Mark(), kp, unknown_key(k, names));
      continue;
    }
    if (!v.IsScalar()) {
      ctx.error(v.Mark(), kp, std::string("expected a string, got ") + node_kind(v));
      continue;
    }
    const std::string val = v.Scalar();
    uint64_t u = 0;
    bool b = false;
    switch (it->kind) {
      case OutKey::Url: url = val, where = v.Mark(); break;
      case OutKey::Type:
        if (val != "stdout" && val != "file")
          ctx.error(v.Mark(), kp, "bad value '" + val + "': expected stdout or file (network outputs are given by url:)");
        type = val;
        break;
      case OutKey::Path: file_path = val; break;
      case OutKey::MaxBytes:
        if (!parse_u64(val, u)) ctx.error(v.Mark(), kp, "expected a non-negative integer, got '" + val + "'");
        s.file_max_bytes = u;
        file_only.push_back(k);
        break;
      case OutKey::MaxFiles:
        if (!parse_u64(val, u) || u > 1000) ctx.error(v.Mark(), kp, "expected an integer from 0 to 1000, got '" + val + "'");
        s.file_max_files = static_cast<unsigned>(u);
        file_only.push_back(k);
        break;
      case OutKey::Fsync:
        if (val != "never" && val != "rotate" && val != "always")
          ctx.error(v.Mark(), kp, "bad value '" + val + "': expected one of never, rotate, always");
        s.file_fsync = val;
        file_only.push_back(k);
        break;
      case OutKey::SpoolMaxBytes:
        if (!parse_u64(val, u) || u < 4096) ctx.error(v.Mark(), kp, "expected an integer of at least 4096, got '" + val + "'");
        s.spool_max_bytes = u;
        network_only.push_back(k);
        break;
      case OutKey::SpoolFsync:
        if (!parse_bool(val, b)) ctx.error(v.Mark(), kp, "expected true or false, got '" + val + "'");
        s.spool_fsync = b;
        network_only.push_back(k);
        break;
      case OutKey::Param: {
        std::string why;
        if (val.empty() || val.find_first_of("&?#") != std::string::npos)
          ctx.error(v.Mark(), kp, "expected a value without &, ? or #, got '" + val + "'");
        else if (it->file && !readable_file(val, why))
          ctx.error(v.Mark(), kp, "cannot read " + val + ": " + why);
        params.push_back({it->param, val});
        network_only.push_back(k);
        break;
      }
    }
  }
  if (!url.empty() && (!type.empty() || !file_path.empty())) {
    ctx.error(n.Mark(), path, "give either url: or type:/path:, not both");
  } else if (url.empty() && type.empty()) {
    ctx.error(n.Mark(), path, "missing url: (or type: stdout / type: file with path:)");
  } else if (type == "file" && file_path.empty()) {
    ctx.error(n.Mark(), path + ".path", "missing path: for a file output");
  } else if (type == "stdout" && !file_path.empty()) {
    ctx.error(n.Mark(), path + ".path", "path: applies to file outputs only");
  }
  if (ctx.errs.size() != before) return false;
  spec = !url.empty() ? url : type == "file" ? "file:" + file_path : "stdout";
  const bool network = spec.find("://") != std::string::npos, file = spec.rfind("file:", 0) == 0;
  if (!file && !file_only.empty())
    ctx.error(n.Mark(), path + "." + file_only[0], file_only[0] + " applies to file outputs only");
  if (!network && !network_only.empty())
    ctx.error(n.Mark(), path + "." + network_only[0], network_only[0] + " applies to network outputs only");
  if (ctx.errs.size() != before) return false;
  for (const auto &[p, v] : params) spec += (spec.find('?') == std::string::npos ? "?" : "&") + p + "=" + v;
  if (std::string e = check_spec(spec); !e.empty()) ctx.error(where, path, e);
  return ctx.errs.size() == before;
}

bool parse_outputs(const YAML::Node &n, Ctx &ctx, RunOptions &o) {
  std::vector<std::string> specs;
  std::vector<OutputSettings> settings;
  bool ok = true;
  if (n.IsScalar()) {
    for (const auto &s : split_commas(n.Scalar())) {
      specs.push_back(s);
      settings.emplace_back();
      if (std::string e = check_spec(s); !e.empty()) ctx.error(n.Mark(), kOutputsKey, e), ok = false;
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); i++) {
      std::string spec;
      OutputSettings s;
      if (!parse_output(n[i], std::string(kOutputsKey) + "[" + std::to_string(i) + "]", ctx, spec, s)) {
        ok = false;
        continue;
      }
      specs.push_back(spec);
      settings.push_back(s);
    }
  } else {
    ctx.error(n.Mark(), kOutputsKey, std::string("expected a list of outputs, got ") + node_kind(n));
    return false;
  }
  if (!ok) return false;
  o.outputs = std::move(specs);
  o.output_settings = std::move(settings);
  return true;
}

// One value for one key, from a YAML node.
void apply_node(CLI::App &run, const Key &k, const YAML::Node &v, Ctx &ctx, RunOptions &o) {
  std::vector<std::string> values;
  if (v.IsNull() || (!v.IsScalar() && !(k.kind == Kind::List && v.IsSequence()))) {
    ctx.error(v.Mark(), k.name, "expected " + k.expected + ", got " + node_kind(v));
    return;
  }
  if (v.IsSequence()) {
    for (const auto &item : v) {
      if (!item.IsScalar()) {
        ctx.error(item.Mark(), k.name, std::string("expected a string, got ") + node_kind(item));
        return;
      }
      values.push_back(item.Scalar());
    }
  } else if (k.kind == Kind::List) {
    values = split_commas(v.Scalar());
  } else {
    values.push_back(v.Scalar());
  }
  if (std::string e = feed(run, k, values, o); !e.empty()) ctx.error(v.Mark(), k.name, e);
}

void load_file(CLI::App &run, RunOptions &o, const std::string &file, std::vector<Diagnostic> &errs) {
  Ctx ctx{file, true, errs};
  YAML::Node root;
  if (access(file.c_str(), R_OK) != 0) {
    ctx.error(YAML::Mark::null_mark(), "", std::string("cannot read the config file: ") + strerror(errno));
    return;
  }
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::ParserException &e) {
    ctx.error(e.mark, "", "not valid YAML or JSON: " + e.msg);
    return;
  } catch (const YAML::Exception &e) {
    ctx.error(YAML::Mark::null_mark(), "", std::string("cannot read the config file: ") + e.what());
    return;
  }
  if (root.IsNull()) return;  // an empty file: all defaults
  if (!root.IsMap()) {
    ctx.error(root.Mark(), "", std::string("expected a mapping of keys (format: json, ...), got ") + node_kind(root));
    return;
  }
  std::vector<std::string> names{kOutputsKey};
  for (const auto &k : keys()) names.push_back(k.name);
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
    if (name == kOutputsKey) {
      parse_outputs(it->second, ctx, o);
      continue;
    }
    auto k = std::find_if(keys().begin(), keys().end(), [&](const Key &x) { return x.name == name; });
    if (k == keys().end()) {
      ctx.error(it->first.Mark(), name, name == "config" ? "a config file cannot name another one" : unknown_key(name, names));
      continue;
    }
    apply_node(run, *k, it->second, ctx, o);
  }
}

void load_env(CLI::App &run, RunOptions &o, const Env &env, std::vector<Diagnostic> &errs,
              std::vector<std::string> &warnings) {
  std::vector<std::string> names{"KTRAIL_CONFIG", "KTRAIL_OUTPUTS"};
  for (const auto &k : keys()) names.push_back("KTRAIL_" + upper(k.name));
  for (const auto &[var, value] : env) {
    Ctx ctx{"environment " + var, false, errs};
    if (var == "KTRAIL_CONFIG") continue;  // the --config default, read by CLI11
    if (var == "KTRAIL_OUTPUTS") {
      // A YAML flow list for per-output settings ([{url: ..., spool_max_bytes: ...}]), or
      // comma-separated -o specs.
      YAML::Node n;
      try {
        n = YAML::Load(value);
      } catch (const YAML::Exception &e) {
        ctx.error(YAML::Mark::null_mark(), var, "not valid YAML: " + std::string(e.what()));
        continue;
      }
      parse_outputs(n.IsNull() ? YAML::Node(value) : n, ctx, o);
      continue;
    }
    auto k = std::find_if(keys().begin(), keys().end(), [&](const Key &x) { return "KTRAIL_" + upper(x.name) == var; });
    if (k == keys().end()) {
      warnings.push_back("environment variable " + var + " is not a ktrail setting: " + unknown_key(var, names));
      continue;
    }
    std::vector<std::string> values = k->kind == Kind::List ? split_commas(value) : std::vector<std::string>{value};
    if (k->kind == Kind::List && value.empty()) values.clear();
    if (std::string e = feed(run, *k, values, o); !e.empty()) ctx.error(YAML::Mark::null_mark(), var, e);
  }
}

// userinfo and secret-looking query parameters of a URL.
std::string redact(const std::string &spec) {
  std::string s = spec;
  size_t sep = s.find("://");
  if (sep != std::string::npos) {
    size_t end = s.find_first_of("/?", sep + 3);
    size_t at = s.find('@', sep + 3);
    if (at != std::string::npos && (end == std::string::npos || at < end)) s.replace(sep + 3, at - sep - 3, "<redacted>");
  }
  size_t q = s.find('?');
  if (q == std::string::npos) return s;
  std::string out = s.substr(0, q + 1);
  for (const auto &p : split_commas([&] {
         std::string r = s.substr(q + 1);
         std::replace(r.begin(), r.end(), '&', ',');
         return r;
       }())) {
    std::string name = p.substr(0, p.find('='));
    bool secret = name == "token" || name == "password" || name == "secret" || name == "api_key";
    out += (out.back() == '?' ? "" : "&") + (secret ? name + "=<redacted>" : p);
  }
  return out;
}

}  // namespace

std::string Diagnostic::text() const {
  std::string t = source;
  if (line) t += ":" + std::to_string(line) + ":" + std::to_string(column);
  if (!path.empty() && source.rfind("environment ", 0) != 0) t += ": " + path;
  return t + ": " + message;
}

Env process_env() {
  Env e;
  for (char **p = environ; p && *p; p++) {
    std::string kv = *p;
    size_t eq = kv.find('=');
    if (kv.rfind("KTRAIL_", 0) == 0 && eq != std::string::npos) e[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return e;
}

bool apply_layers(CLI::App &run, RunOptions &o, const std::string &file, const Env &env,
                  std::vector<Diagnostic> &errs, std::vector<std::string> &warnings) {
  // What argv said, to lay it over the file and the environment at the end.
  std::vector<std::pair<const Key *, std::vector<std::string>>> from_argv;
  for (const auto &k : keys())
    if (CLI::Option *op = run.get_option(k.flag); op->count() > 0) from_argv.push_back({&k, op->results()});
  const bool argv_outputs = run.get_option(kOutputsFlag)->count() > 0;
  const std::vector<std::string> outputs = o.outputs;
  const std::string config_file = file.empty() ? o.config : file;

  o = RunOptions{};
  o.config = config_file;
  const size_t before = errs.size();
  if (!config_file.empty()) load_file(run, o, config_file, errs);
  load_env(run, o, env, errs, warnings);
  for (const auto &[k, values] : from_argv) feed(run, *k, values, o);
  if (argv_outputs) {
    o.outputs = outputs;
    o.output_settings.clear();
  }
  return errs.size() == before;
}

std::string effective_yaml(const RunOptions &o) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  for (const auto &k : keys()) {
    e << YAML::Key << k.name << YAML::Value;
    k.emit(e, o);
  }
  e << YAML::Key << kOutputsKey << YAML::Value << YAML::BeginSeq;
  const std::vector<std::string> outs = o.outputs.empty() ? std::vector<std::string>{"stdout"} : o.outputs;
  for (size_t i = 0; i < outs.size(); i++) {
    const OutputSettings s = i < o.output_settings.size() ? o.output_settings[i] : OutputSettings{};
    if (!s.file_max_bytes && !s.file_max_files && !s.file_fsync && !s.spool_max_bytes && !s.spool_fsync) {
      e << redact(outs[i]);
      continue;
    }
    e << YAML::BeginMap << YAML::Key << "url" << YAML::Value << redact(outs[i]);
    if (s.file_max_bytes) e << YAML::Key << "max_bytes" << YAML::Value << *s.file_max_bytes;
    if (s.file_max_files) e << YAML::Key << "max_files" << YAML::Value << *s.file_max_files;
    if (s.file_fsync) e << YAML::Key << "fsync" << YAML::Value << *s.file_fsync;
    if (s.spool_max_bytes) e << YAML::Key << "spool_max_bytes" << YAML::Value << *s.spool_max_bytes;
    if (s.spool_fsync) e << YAML::Key << "spool_fsync" << YAML::Value << *s.spool_fsync;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

int check_command(CLI::App &run, RunOptions &o, const std::string &file, bool print) {
  std::vector<Diagnostic> errs;
  std::vector<std::string> warnings;
  bool ok = apply_layers(run, o, file, process_env(), errs, warnings);
  for (const auto &w : warnings) std::cerr << "ktrail: warning: " << w << "\n";
  if (ok) {
    // What only makes sense as a whole (power-of-two buffer, watch list, SSH names).
    LoaderConfig lc;
    if (Status s = to_loader_config(o, lc); !s) errs.push_back(Diagnostic{file, 0, 0, "", s.message});
  }
  if (!errs.empty()) {
    for (const auto &d : errs) std::cerr << d.text() << "\n";
    std::cerr << file << ": " << errs.size() << (errs.size() == 1 ? " error" : " errors") << "\n";
    return KTRAIL_EXIT_USAGE;
  }
  std::cout << file << ": OK\n";
  if (print) std::cout << effective_yaml(o);
  return KTRAIL_EXIT_OK;
}

}  // namespace ktrail::config
