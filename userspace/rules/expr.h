// Rule conditions: a small expression language over event fields, compiled once at load.
//
//   expr    := or
//   or      := and ("or" and)*
//   and     := unary ("and" unary)*
//   unary   := "not" unary | primary
//   primary := "(" expr ")" | "exists" "(" FIELD ")" | FIELD "?"
//            | FIELD                                  (boolean fields only)
//            | FIELD ("=="|"!="|"<"|"<="|">"|">=") LITERAL
//            | FIELD ["not"] "in" "[" LITERAL ("," LITERAL)* "]"
//            | FIELD "matches" STRING                 (glob: * ? [..], * also crosses '/')
//            | FIELD "=~" STRING                      (ECMAScript regex, searched, compiled once)
//   LITERAL := STRING ("..." or '...', backslash escapes) | INTEGER | true | false
//
// A comparison with a field the event does not carry is false (so is `!=`); `not (f == x)` is
// true there. Field names are checked against rules/fields.h at compile time, and literal types
// against the field's type.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "decode/event.h"
#include "rules/fields.h"

namespace ktrail::rules {

struct ExprError {
  size_t offset = 0;  // byte offset of the offending token in the source text
  std::string message;
};

class Expr {
 public:
  // Compiles `src`; on failure returns false and fills `err` (first error only).
  bool compile(std::string_view src, ExprError &err);
  bool eval(const Event &e, std::string &scratch) const { return eval_node(root_, e, scratch); }
  // The event.action values this condition can match (from `event.action == ...`/`in [...]`
  // terms every match must satisfy); nullopt when it may match any action.
  const std::optional<std::set<std::string>> &actions() const { return actions_; }

  enum class Op : uint8_t { And, Or, Not, Exists, Truthy, Eq, Ne, Lt, Le, Gt, Ge, In, Glob, Regex };
  struct Node {
    Op op = Op::And;
    const FieldDef *field = nullptr;
    int a = -1, b = -1;  // children (And/Or: both, Not: a)
    int64_t num = 0;     // Int/Bool literal
    std::string str;     // String literal, glob pattern
    std::vector<std::string> strs;  // In (strings)
    std::vector<int64_t> nums;      // In (numbers, booleans)
    std::shared_ptr<const std::regex> re;
  };

 private:
  bool eval_node(int n, const Event &e, std::string &scratch) const;
  std::vector<Node> nodes_;
  int root_ = -1;
  std::optional<std::set<std::string>> actions_;
  friend class Parser;
};

// Upper bounds that keep a hostile rule file from exhausting the stack or memory.
constexpr size_t kMaxExprBytes = 16 * 1024;
constexpr int kMaxExprDepth = 64;

}  // namespace ktrail::rules
