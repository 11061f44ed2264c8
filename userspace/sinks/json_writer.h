// A small streaming JSON writer for the hot path (one event per line). nlohmann_json is used
// where documents are parsed or built rarely; here every event pays, so no DOM is built.
#pragma once
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ktrail {

// Appends s as a JSON string. Valid UTF-8 is copied as is; each byte that is not part of a
// valid UTF-8 sequence becomes the text "\\xHH" (a literal
// backslash, 'x', two hex digits), and a literal backslash in such a string becomes "\\x5c",
// so the original bytes can be recovered. Returns false if any byte needed that escape.
bool append_json_string(std::string &out, std::string_view s);

// True if s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string &out) : out_(out) {}
  JsonWriter &begin_object() { sep(); out_ += '{'; first_ = true; return *this; }
  JsonWriter &end_object() { out_ += '}'; first_ = false; return *this; }
  JsonWriter &begin_array() { sep(); out_ += '['; first_ = true; return *this; }
  JsonWriter &end_array() { out_ += ']'; first_ = false; return *this; }
  JsonWriter &key(std::string_view k) {
    // One append per key instead of four: every event writes ~70 of them.
    char buf[64];
    if (k.size() > sizeof(buf) - 4) {
      sep();
      out_ += '"';
      out_.append(k);
      out_ += "\":";
    } else {
      size_t n = 0;
      if (!first_) buf[n++] = ',';
      buf[n++] = '"';
      memcpy(buf + n, k.data(), k.size());
      n += k.size();
      buf[n++] = '"';
      buf[n++] = ':';
      out_.append(buf, n);
    }
    first_ = true;  // the value follows without a comma
    return *this;
  }
  // A key from outside data (labels): escaped like a value.
  JsonWriter &key_escaped(std::string_view k) {
    sep();
    invalid_ |= !append_json_string(out_, k);
    out_ += ':';
    first_ = true;
    return *this;
  }
  JsonWriter &value(std::string_view s) { sep(); invalid_ |= !append_json_string(out_, s); first_ = false; return *this; }
  JsonWriter &value(const char *s) { return value(std::string_view(s)); }
  JsonWriter &value(uint64_t v) { sep(); append_number(v); first_ = false; return *this; }
  JsonWriter &value(int64_t v) { sep(); append_number(v); first_ = false; return *this; }
  JsonWriter &value(uint32_t v) { return value(static_cast<uint64_t>(v)); }
  JsonWriter &value(int32_t v) { return value(static_cast<int64_t>(v)); }
  JsonWriter &value(bool b) { sep(); out_ += b ? "true" : "false"; first_ = false; return *this; }
  template <typename T>
  JsonWriter &field(std::string_view k, const T &v) { key(k); return value(v); }
  // A value already encoded by another JsonWriter (invalid: what that writer's
  // saw_invalid_utf8() said), e.g. a fragment that is the same in every record.
  JsonWriter &encoded(std::string_view json, bool invalid) {
    sep();
    out_.append(json);
    invalid_ |= invalid;
    first_ = false;
    return *this;
  }
  bool saw_invalid_utf8() const { return invalid_; }

 private:
  template <typename T>
  void append_number(T v) {
    char buf[24];  // no allocation, unlike std::to_string
    out_.append(buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof(buf), v).ptr - buf));
  }
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string &out_;
  bool first_ = true;
  bool invalid_ = false;
};

}  // namespace ktrail
