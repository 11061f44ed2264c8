#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace ktrail::metrics {

bool valid_metric_name(const std::string &n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); i++) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(const std::string &n) {
  return valid_metric_name(n) && n.find(':') == std::string::npos && n.rfind("__", 0) != 0;
}

std::string escape_label_value(const std::string &v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(const std::string &v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Counters above 2^53 lose precision as doubles anyway; below, print them as integers.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0)
    return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

void append_labels(const Labels &labels, std::string &out) {
  if (labels.empty()) return;
  out += '{';
  for (size_t i = 0; i < labels.size(); i++) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    out += escape_label_value(labels[i].second);
    out += '"';
  }
  out += '}';
}

void check_labels(const Labels &labels) {
  for (auto &l : labels)
    if (!valid_label_name(l.first)) throw std::invalid_argument("invalid metric label name '" + l.first + "'");
}

}  // namespace

void render_family(const Family &f, std::string &out) {
  out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
  out += "# TYPE " + f.name + (f.type == Type::Counter ? " counter\n" : " gauge\n");
  for (auto &s : f.samples) {
    out += f.name;
    append_labels(s.labels, out);
    out += ' ';
    out += format_value(s.value);
    out += '\n';
  }
}

void Registry::describe(const std::string &name, const std::string &help, Type type) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name '" + name + "'");
  std::lock_guard<std::mutex> g(mu_);
  auto &f = families_[name];
  if (f.described) return;
  f.help = help;
  f.type = type;
  f.described = true;
}

Counter *Registry::counter(const std::string &name, const Labels &labels) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name '" + name + "'");
  check_labels(labels);
  std::lock_guard<std::mutex> g(mu_);
  auto &slot = families_[name].series[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

void Registry::add_collector(std::function<void(std::vector<Family> &)> fn) {
  std::lock_guard<std::mutex> g(mu_);
  collectors_.push_back(std::move(fn));
}

std::string Registry::render() const {
  std::vector<Family> fams;
  std::vector<std::function<void(std::vector<Family> &)>> collectors;
  {
    // Counters are copied under the lock; collectors run outside it, so a slow one (a /proc
    // read, a spool lock) never holds up a counter() lookup on the event path.
    std::lock_guard<std::mutex> g(mu_);
    for (auto &[name, cf] : families_) {
      Family f{name, cf.help, cf.type, {}};
      for (auto &[labels, c] : cf.series) f.samples.push_back({labels, static_cast<double>(c->value())});
      fams.push_back(std::move(f));
    }
    collectors = collectors_;
  }
  for (auto &fn : collectors) fn(fams);
  // One HELP/TYPE block per name: merge what several sources reported under one name.
  std::stable_sort(fams.begin(), fams.end(), [](const Family &a, const Family &b) { return a.name < b.name; });
  std::string out;
  for (size_t i = 0; i < fams.size();) {
    Family merged = fams[i];
    size_t j = i + 1;
    for (; j < fams.size() && fams[j].name == merged.name; j++) {
      if (merged.help.empty()) merged.help = fams[j].help, merged.type = fams[j].type;
      for (auto &s : fams[j].samples) merged.samples.push_back(s);
    }
    if (!merged.samples.empty() || !merged.help.empty()) render_family(merged, out);
    i = j;
  }
  return out;
}

}  // namespace ktrail::metrics
