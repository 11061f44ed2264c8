// Alert rules (README "Rules"): YAML files of conditions over event fields, optionally with
// state (threshold, first_seen, after), evaluated on every emitted record through the
// pipeline's observer seam. A match emits an `alert` record right after its trigger.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "decode/event.h"
#include "pipeline/pipeline.h"
#include "rules/expr.h"
#include "rules/lru.h"

namespace ktrail::rules {

// Default cap on the keys one rule keeps state for (max_keys: in a rule changes it).
constexpr size_t kDefaultMaxKeys = 10000;
constexpr size_t kMaxMaxKeys = 1000000;

struct Threshold {
  uint32_t count = 0;
  uint64_t within_ns = 0;
  std::vector<const FieldDef *> group_by;
};

struct After {
  std::string rule;  // id of the rule that must have fired first
  int ref = -1;      // its index in the set
  std::vector<const FieldDef *> same;
  uint64_t within_ns = 0;
};

struct Rule {
  std::string id, name, description, false_positives;
  std::string severity_text;
  int severity = 0;
  Expr condition;
  std::string condition_text;
  bool has_threshold = false, has_after = false;
  Threshold threshold;
  std::vector<const FieldDef *> first_seen;
  After after;
  size_t max_keys = kDefaultMaxKeys;
  std::string fingerprint;  // the rule's definition: state survives a reload only if unchanged
  std::string origin;       // FILE:LINE
};

struct RuleSet {
  std::vector<Rule> rules;
  std::vector<std::string> sources;  // what was loaded ("default", paths)
};

struct RuleError {
  std::string file;
  int line = 0, column = 0;  // 1-based; 0 when the error has no position
  std::string message;
  std::string str() const;  // "FILE:LINE:COL: message"
};

// Parses one YAML document of rules; `name` is the file name used in errors and origins.
// Appends to `out` (ids must be unique across everything appended). Returns false on any
// error; every error found is appended to `errors`.
bool parse_rules(const std::string &text, const std::string &name, RuleSet &out, std::vector<RuleError> &errors);
// Loads `--rules` specs in order: "default" (the embedded pack), "none" (nothing; alone), or
// a file path. An empty list means "default".
bool load_rules(const std::vector<std::string> &specs, RuleSet &out, std::vector<RuleError> &errors);
// The embedded default pack (userspace/rules/default.yaml).
const std::string &default_rules_yaml();

// State of one rule (bounded by the rule's max_keys).
struct RuleState {
  struct Hit {
    uint64_t t;
    uint64_t seq;
  };
  struct Armed {
    uint64_t t = 0;
    std::vector<uint64_t> seqs;
  };
  explicit RuleState(size_t cap) : windows(cap), seen(cap), armed(cap) {}
  LruMap<std::deque<Hit>> windows;  // threshold: recent matches per group
  LruMap<char> seen;                // first_seen: keys seen
  LruMap<Armed> armed;              // after: the referenced rule fired for this key
  uint64_t hits = 0;                // alerts emitted
};

class RuleEngine : public EventObserver {
 public:
  RuleEngine() = default;
  // Installs a new rule set between two records. State of rules whose id and definition are
  // unchanged carries over; the rest start empty.
  void install(std::shared_ptr<const RuleSet> set);
  void observe(const Event &e, std::vector<Event> &derived) override;

  size_t rule_count() const { return set_ ? set_->rules.size() : 0; }
  // Alerts per rule id since start (kept across reloads for unchanged rules).
  std::vector<std::pair<std::string, uint64_t>> hits() const;
  uint64_t evaluations() const { return evaluations_; }

 private:
  void fire(size_t idx, const Event &e, uint64_t t, std::vector<uint64_t> seqs, std::vector<Event> &derived);
  static std::string key_of(const std::vector<const FieldDef *> &fields, const Event &e, std::string &scratch);

  std::shared_ptr<const RuleSet> set_;
  std::vector<std::unique_ptr<RuleState>> state_;
  // Rules by the event.action they can match, indexed by action_slot() (kind, or kind and
  // syscall: one array index per event instead of a string lookup); rules that can match any
  // action are in `any_`.
  std::vector<std::vector<size_t>> by_slot_;
  std::vector<size_t> any_;
  std::vector<std::vector<size_t>> watchers_;  // rule -> rules whose `after` names it
  std::string scratch_, key_scratch_;
  uint64_t evaluations_ = 0;
};

// An in-band record that says the rules were not reloaded (kind Alert, rule id
// "ktrail.rules.reload_failed", severity low), so a broken rule file is seen where alerts are.
Event reload_failed_notice(const std::vector<RuleError> &errors, uint64_t boot_ns, int64_t realtime_ns);

}  // namespace ktrail::rules
