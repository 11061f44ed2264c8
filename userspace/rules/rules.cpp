#include "rules/rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "sinks/format.h"

namespace ktrail::rules {

std::string RuleError::str() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  return s + ": " + message;
}

namespace {

struct Severity {
  const char *name;
  int value;
};
// The Elastic detection-rule convention for ECS event.severity.
constexpr Severity kSeverities[] = {{"low", 21}, {"medium", 47}, {"high", 73}, {"critical", 99}};

// Where in the file a character of a scalar's value came from. yaml-cpp gives the scalar's
// start; quotes, escapes, folded line breaks and indentation sit between value characters, so
// each value character is matched to the next raw character that produced it.
size_t raw_offset(const std::string &raw, size_t start, const std::string &value, size_t k) {
  size_t p = start;
  for (size_t j = 0; j <= k && j < value.size(); j++) {
    char c = value[j];
    while (p < raw.size() && raw[p] != c && !(c == ' ' && raw[p] == '\n')) p++;
    if (j == k) return std::min(p, raw.size());
    p++;
  }
  return std::min(p, raw.size());
}

void line_col(const std::string &raw, size_t pos, int &line, int &col) {
  line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < pos && i < raw.size(); i++)
    if (raw[i] == '\n') line++, line_start = i + 1;
  col = static_cast<int>(pos - line_start) + 1;
}

class Loader {
 public:
  Loader(const std::string &text, const std::string &name, RuleSet &out, std::vector<RuleError> &errors)
      : text_(text), name_(name), out_(out), errors_(errors) {}

  bool run() {
    size_t before = errors_.size();
    YAML::Node doc;
    try {
      doc = YAML::Load(text_);
    } catch (const YAML::ParserException &ex) {
      error(ex.mark, ex.msg);
      return false;
    }
    if (!doc.IsMap() || !doc["rules"]) {
      error(doc.Mark(), "expected a mapping with a 'rules' list");
      return false;
    }
    for (auto it = doc.begin(); it != doc.end(); ++it)
      if (it->first.as<std::string>() != "rules") error(it->first.Mark(), "unknown top-level key '" + it->first.as<std::string>() + "' (expected 'rules')");
    YAML::Node list = doc["rules"];
    if (!list.IsSequence()) {
      error(list.Mark(), "'rules' must be a list of rules");
      return false;
    }
    std::vector<std::pair<size_t, YAML::Node>> afters;
    for (const auto &r : list) {
      try {
        rule(r, afters);
      } catch (const YAML::Exception &ex) {
        error(ex.mark, ex.msg);
      }
    }
    // `after` may name a rule defined later in the file, or in an earlier file.
    for (auto &[idx, node] : afters) {
      Rule &r = out_.rules[idx];
      for (size_t i = 0; i < out_.rules.size(); i++)
        if (out_.rules[i].id == r.after.rule) r.after.ref = static_cast<int>(i);
      if (r.after.ref < 0) error(node.Mark(), "after: no rule with id '" + r.after.rule + "'");
      else if (r.after.ref == static_cast<int>(idx)) error(node.Mark(), "after: a rule cannot follow itself");
    }
    return errors_.size() == before;
  }

 private:
  void error(const YAML::Mark &m, const std::string &msg) {
    RuleError e;
    e.file = name_;
    if (!m.is_null()) e.line = m.line + 1, e.column = m.column + 1;
    e.message = msg;
    errors_.push_back(std::move(e));
  }
  void error_at(size_t pos, const std::string &msg) {
    RuleError e;
    e.file = name_;
    line_col(text_, pos, e.line, e.column);
    e.message = msg;
    errors_.push_back(std::move(e));
  }

  std::string scalar(const YAML::Node &n, const char *what) {
    if (!n.IsScalar()) throw YAML::Exception(n.Mark(), std::string(what) + " must be a string");
    return n.Scalar();
  }

  uint64_t duration(const YAML::Node &n, const char *what) {
    std::string s = scalar(n, what);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    std::string_view unit(p, s.data() + s.size() - p);
    uint64_t mult = unit.empty() || unit == "s" ? 1000000000ull : unit == "ms" ? 1000000ull
                  : unit == "m" ? 60000000000ull : unit == "h" ? 3600000000000ull : 0;
    if (ec != std::errc() || p == s.data() || mult == 0 || v == 0 || v > 7 * 24 * 3600000ull)
      throw YAML::Exception(n.Mark(), std::string(what) + ": expected a positive duration like 500ms, 60s, 10m or 1h, got '" + s + "'");
    return v * mult;
  }

  std::vector<const FieldDef *> fields(const YAML::Node &n, const char *what) {
    if (!n.IsSequence() || n.size() == 0) throw YAML::Exception(n.Mark(), std::string(what) + " must be a non-empty list of field names");
    std::vector<const FieldDef *> out;
    for (const auto &f : n) {
      std::string name = scalar(f, what);
      const FieldDef *d = find_field(name);
      if (!d) {
        std::string hint = suggest_field(name);
        throw YAML::Exception(f.Mark(), std::string(what) + ": unknown field '" + name + "'" +
                                            (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      out.push_back(d);
    }
    return out;
  }

  static std::string names(const std::vector<const FieldDef *> &fs) {
    std::string s;
    for (auto *f : fs) s += std::string(f->name) + ",";
    return s;
  }

  void rule(const YAML::Node &n, std::vector<std::pair<size_t, YAML::Node>> &afters) {
    if (!n.IsMap()) throw YAML::Exception(n.Mark(), "a rule must be a mapping (id, name, severity, condition, ...)");
    static const std::set<std::string> known = {"id", "name", "description", "severity", "condition", "threshold",
                                                "first_seen", "after", "false_positives", "max_keys", "enabled"};
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (!known.count(k)) throw YAML::Exception(it->first.Mark(), "unknown rule key '" + k + "'");
    }
    for (const char *req : {"id", "name", "severity", "condition"})
      if (!n[req]) throw YAML::Exception(n.Mark(), std::string("rule is missing '") + req + "'");
    Rule r;
    r.id = scalar(n["id"], "id");
    for (char c : r.id)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        throw YAML::Exception(n["id"].Mark(), "id: only letters, digits, '-', '_' and '.' are allowed");
    for (const auto &o : out_.rules)
      if (o.id == r.id) throw YAML::Exception(n["id"].Mark(), "duplicate rule id '" + r.id + "' (first defined at " + o.origin + ")");
    r.origin = name_ + ":" + std::to_string(n.Mark().line + 1);
    r.name = scalar(n["name"], "name");
    if (n["description"]) r.description = scalar(n["description"], "description");
    if (n["false_positives"]) r.false_positives = scalar(n["false_positives"], "false_positives");
    if (n["enabled"]) {
      bool on = true;
      if (!YAML::convert<bool>::decode(n["enabled"], on)) throw YAML::Exception(n["enabled"].Mark(), "enabled must be true or false");
      if (!on) return;
    }
    r.severity_text = scalar(n["severity"], "severity");
    for (const auto &s : kSeverities)
      if (r.severity_text == s.name) r.severity = s.value;
    if (!r.severity) throw YAML::Exception(n["severity"].Mark(), "severity must be low, medium, high or critical");

    const YAML::Node &c = n["condition"];
    r.condition_text = scalar(c, "condition");
    ExprError ee;
    if (!r.condition.compile(r.condition_text, ee)) {
      error_at(raw_offset(text_, c.Mark().pos, r.condition_text, ee.offset), ee.message);
      return;
    }
    int stateful = 0;
    if (const YAML::Node &t = n["threshold"]) {
      stateful++;
      if (!t.IsMap()) throw YAML::Exception(t.Mark(), "threshold must be a mapping {count, within, group_by}");
      for (auto it = t.begin(); it != t.end(); ++it) {
        std::string k = it->first.as<std::string>();
        if (k != "count" && k != "within" && k != "group_by") throw YAML::Exception(it->first.Mark(), "unknown threshold key '" + k + "'");
      }
      if (!t["count"] || !t["within"]) throw YAML::Exception(t.Mark(), "threshold needs count and within");
      int64_t count = 0;
      if (!YAML::convert<int64_t>::decode(t["count"], count) || count < 2 || count > 100000)
        throw YAML::Exception(t["count"].Mark(), "threshold count must be a number from 2 to 100000");
      r.has_threshold = true;
      r.threshold.count = static_cast<uint32_t>(count);
      r.threshold.within_ns = duration(t["within"], "threshold within");
      if (t["group_by"]) r.threshold.group_by = fields(t["group_by"], "group_by");
    }
    if (const YAML::Node &f = n["first_seen"]) {
      stateful++;
      r.first_seen = fields(f, "first_seen");
    }
    if (const YAML::Node &a = n["after"]) {
      stateful++;
      if (!a.IsMap() || !a["rule"] || !a["within"])
        throw YAML::Exception(a.Mark(), "after must be a mapping {rule, within, same}");
      for (auto it = a.begin(); it != a.end(); ++it) {
        std::string k = it->first.as<std::string>();
        if (k != "rule" && k != "within" && k != "same") throw YAML::Exception(it->first.Mark(), "unknown after key '" + k + "'");
      }
      r.has_after = true;
      r.after.rule = scalar(a["rule"], "after rule");
      r.after.within_ns = duration(a["within"], "after within");
      if (a["same"]) r.after.same = fields(a["same"], "same");
      afters.emplace_back(out_.rules.size(), a["rule"]);
    }
    if (stateful > 1) throw YAML::Exception(n.Mark(), "threshold, first_seen and after cannot be combined in one rule");
    if (n["max_keys"]) {
      int64_t m = 0;
      if (!YAML::convert<int64_t>::decode(n["max_keys"], m) || m < 1 || m > static_cast<int64_t>(kMaxMaxKeys))
        throw YAML::Exception(n["max_keys"].Mark(), "max_keys must be a number from 1 to " + std::to_string(kMaxMaxKeys));
      r.max_keys = static_cast<size_t>(m);
    }
    std::ostringstream fp;
    fp << r.id << '\n' << r.condition_text << '\n' << r.has_threshold << ' ' << r.threshold.count << ' '
       << r.threshold.within_ns << ' ' << names(r.threshold.group_by) << '\n' << names(r.first_seen) << '\n'
       << r.has_after << ' ' << r.after.rule << ' ' << r.after.within_ns << ' ' << names(r.after.same) << '\n'
       << r.max_keys;
    r.fingerprint = fp.str();
    out_.rules.push_back(std::move(r));
  }

  const std::string &text_;
  const std::string &name_;
  RuleSet &out_;
  std::vector<RuleError> &errors_;
};

}  // namespace

bool parse_rules(const std::string &text, const std::string &name, RuleSet &out, std::vector<RuleError> &errors) {
  return Loader(text, name, out, errors).run();
}

bool load_rules(const std::vector<std::string> &specs_in, RuleSet &out, std::vector<RuleError> &errors) {
  std::vector<std::string> specs = specs_in.empty() ? std::vector<std::string>{"default"} : specs_in;
  bool ok = true;
  if (std::find(specs.begin(), specs.end(), "none") != specs.end()) {
    if (specs.size() > 1) {
      errors.push_back({"--rules", 0, 0, "'none' cannot be combined with other rule files"});
      return false;
    }
    return true;
  }
  for (const auto &s : specs) {
    out.sources.push_back(s);
    if (s == "default") {
      ok &= parse_rules(default_rules_yaml(), "default.yaml (embedded)", out, errors);
      continue;
    }
    std::ifstream f(s, std::ios::binary);
    if (!f) {
      errors.push_back({s, 0, 0, "cannot read the rule file"});
      ok = false;
      continue;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    ok &= parse_rules(ss.str(), s, out, errors);
  }
  return ok;
}

// ---- engine --------------------------------------------------------------------------

namespace {

// event.action is a function of the kind, and for credential and file events of the syscall:
// one small integer per action, so the pre-filter is an array index.
constexpr size_t kKindSlots = 32, kSyscallSlots = 64;
constexpr size_t kSlots = kKindSlots + 2 * kSyscallSlots;

size_t action_slot(const Event &e) {
  switch (e.kind) {
    case EventKind::Cred: return kKindSlots + std::min<size_t>(e.syscall, kSyscallSlots - 1);
    case EventKind::File: return kKindSlots + kSyscallSlots + std::min<size_t>(e.file.syscall, kSyscallSlots - 1);
    default: return std::min<size_t>(static_cast<size_t>(e.kind), kKindSlots - 1);
  }
}

// The action name every slot stands for ("" for slots no event maps to).
std::string slot_action(size_t slot) {
  Event e;
  if (slot < kKindSlots) {
    if (slot > static_cast<size_t>(EventKind::Alert) || slot == static_cast<size_t>(EventKind::Cred) ||
        slot == static_cast<size_t>(EventKind::File))
      return "";
    e.kind = static_cast<EventKind>(slot);
  } else if (slot < kKindSlots + kSyscallSlots) {
    e.kind = EventKind::Cred;
    e.syscall = static_cast<uint32_t>(slot - kKindSlots);
  } else {
    e.kind = EventKind::File;
    e.file.syscall = static_cast<uint32_t>(slot - kKindSlots - kSyscallSlots);
  }
  return event_action(e);
}

}  // namespace

void RuleEngine::install(std::shared_ptr<const RuleSet> set) {
  std::vector<std::unique_ptr<RuleState>> state(set ? set->rules.size() : 0);
  for (size_t i = 0; i < state.size(); i++) {
    const Rule &r = set->rules[i];
    if (set_)
      for (size_t j = 0; j < set_->rules.size(); j++)
        if (state_[j] && set_->rules[j].id == r.id && set_->rules[j].fingerprint == r.fingerprint)
          state[i] = std::move(state_[j]);
    if (!state[i]) state[i] = std::make_unique<RuleState>(r.max_keys);
  }
  static const std::vector<std::string> slot_names = [] {
    std::vector<std::string> v(kSlots);
    for (size_t s = 0; s < kSlots; s++) v[s] = slot_action(s);
    return v;
  }();
  by_slot_.assign(kSlots, {});
  any_.clear();
  watchers_.assign(state.size(), {});
  for (size_t i = 0; i < state.size(); i++) {
    const Rule &r = set->rules[i];
    if (const auto &acts = r.condition.actions()) {
      for (size_t s = 0; s < kSlots; s++)
        if (!slot_names[s].empty() && acts->count(slot_names[s])) by_slot_[s].push_back(i);
    } else {
      any_.push_back(i);
    }
    if (r.has_after && r.after.ref >= 0) watchers_[r.after.ref].push_back(i);
  }
  state_ = std::move(state);
  set_ = std::move(set);
}

std::vector<std::pair<std::string, uint64_t>> RuleEngine::hits() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  if (!set_) return out;
  for (size_t i = 0; i < set_->rules.size(); i++) out.emplace_back(set_->rules[i].id, state_[i]->hits);
  return out;
}

std::string RuleEngine::key_of(const std::vector<const FieldDef *> &fields, const Event &e, std::string &scratch) {
  std::string key;
  for (const FieldDef *f : fields) {
    Value v;
    if (!f->get(e, v, scratch)) key += '\x1e';  // absent: a key of its own, never equal to ""
    else if (f->type == FieldType::String) key.append(v.s);
    else key += std::to_string(v.i);
    key += '\x1f';
  }
  return key;
}

void RuleEngine::observe(const Event &e, std::vector<Event> &derived) {
  // Never derive from derived records: an alert matching a rule would loop.
  if (e.kind == EventKind::Alert || !set_ || set_->rules.empty()) return;
  const uint64_t t = e.boot_ns;
  auto check = [&](size_t i) {
    const Rule &r = set_->rules[i];
    evaluations_++;
    if (!r.condition.eval(e, scratch_)) return;
    RuleState &st = *state_[i];
    if (r.has_after) {
      std::string key = key_of(r.after.same, e, key_scratch_);
      RuleState::Armed *a = st.armed.find(key);
      if (!a) return;
      bool fresh = t >= a->t ? t - a->t <= r.after.within_ns : true;
      std::vector<uint64_t> seqs = std::move(a->seqs);
      st.armed.erase(key);  // one alert per arming
      if (!fresh) return;
      seqs.push_back(e.sequence);
      fire(i, e, t, std::move(seqs), derived);
    } else if (r.has_threshold) {
      std::string key = key_of(r.threshold.group_by, e, key_scratch_);
      auto &w = st.windows.get_or_add(key);
      w.push_back({t, e.sequence});
      while (!w.empty() && t > w.front().t && t - w.front().t > r.threshold.within_ns) w.pop_front();
      if (w.size() > r.threshold.count) w.pop_front();
      if (w.size() < r.threshold.count) return;
      std::vector<uint64_t> seqs;
      for (const auto &h : w) seqs.push_back(h.seq);
      st.windows.erase(key);  // one alert per burst: the next needs `count` new matches
      fire(i, e, t, std::move(seqs), derived);
    } else if (!r.first_seen.empty()) {
      std::string key = key_of(r.first_seen, e, key_scratch_);
      if (st.seen.find(key)) return;
      st.seen.get_or_add(key);
      fire(i, e, t, {e.sequence}, derived);
    } else {
      fire(i, e, t, {e.sequence}, derived);
    }
  };
  for (size_t i : by_slot_[action_slot(e)]) check(i);
  for (size_t i : any_) check(i);
}

void RuleEngine::fire(size_t idx, const Event &e, uint64_t t, std::vector<uint64_t> seqs, std::vector<Event> &derived) {
  const Rule &r = set_->rules[idx];
  state_[idx]->hits++;
  for (size_t w : watchers_[idx]) {
    const Rule &wr = set_->rules[w];
    auto &armed = state_[w]->armed.get_or_add(key_of(wr.after.same, e, key_scratch_));
    armed.t = t;
    armed.seqs = seqs;
  }
  auto a = std::make_shared<AlertFields>();
  a->rule_id = r.id;
  a->rule_name = r.name;
  a->description = r.description;
  a->severity = r.severity;
  a->severity_text = r.severity_text;
  a->trigger_sequences = std::move(seqs);
  a->trigger = std::make_shared<const Event>(e);
  Event alert;
  alert.kind = EventKind::Alert;
  alert.boot_ns = e.boot_ns;
  alert.realtime_ns = e.realtime_ns;
  alert.proc = e.proc;  // the table view's pid/user/comm columns
  alert.user_name = e.user_name;
  alert.alert = std::move(a);
  derived.push_back(std::move(alert));
}

Event reload_failed_notice(const std::vector<RuleError> &errors, uint64_t boot_ns, int64_t realtime_ns) {
  auto a = std::make_shared<AlertFields>();
  a->rule_id = "ktrail.rules.reload_failed";
  a->rule_name = "Rule reload failed; the previous rules stay active";
  for (const auto &err : errors) a->description += (a->description.empty() ? "" : "; ") + err.str();
  a->severity = kSeverities[0].value;
  a->severity_text = kSeverities[0].name;
  Event e;
  e.kind = EventKind::Alert;
  e.boot_ns = boot_ns;
  e.realtime_ns = realtime_ns;
  e.alert = std::move(a);
  return e;
}

}  // namespace ktrail::rules
