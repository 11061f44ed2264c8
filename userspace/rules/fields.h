// The event fields a rule condition can name: the ECS names of the NDJSON output (README
// "Event reference"), each resolved by a function on the typed Event. A condition is compiled
// against this table once, so evaluating it never parses or formats anything.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "decode/event.h"

namespace ktrail::rules {

enum class FieldType : uint8_t { String, Int, Bool };

// A field's value on one event. `s` may point into the event or into the caller's scratch
// string, so it is valid until the next lookup with the same scratch.
struct Value {
  int64_t i = 0;  // Int, Bool (0/1)
  std::string_view s;
};

// Returns false when the event does not carry the field (the NDJSON line would not have it).
using Getter = bool (*)(const Event &e, Value &v, std::string &scratch);

struct FieldDef {
  const char *name;
  FieldType type;
  Getter get;
};

const FieldDef *find_field(std::string_view name);
// The known field nearest to `name` (edit distance), for "did you mean" messages; "" if none
// is close.
std::string suggest_field(std::string_view name);
const std::vector<FieldDef> &all_fields();
const char *type_name(FieldType t);

}  // namespace ktrail::rules
