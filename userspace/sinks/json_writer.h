// A small streaming JSON writer for the hot path (one event per line). nlohmann_json is used
// where documents are parsed or built rarely; here every event pays, so no DOM is built.
#pragma once
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ktrail {

// The writer's small members are inlined at every call site: most keys are literals, so the
// copy becomes a few moves of known size instead of a call and a memcpy of unknown length.
#define KTRAIL_JSON_INLINE [[gnu::always_inline]] inline

// Appends s as a JSON string. Valid UTF-8 is copied as is; each byte that is not part of a
// valid UTF-8 sequence becomes the text "\\xHH" (a literal
// backslash, 'x', two hex digits), and a literal backslash in such a string becomes "\\x5c",
// so the original bytes can be recovered. Returns false if any byte needed that escape.
bool append_json_string(std::string &out, std::string_view s);

// True if s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Small pieces (keys, numbers, punctuation, short plain strings) collect in a buffer on the
// stack and reach `out` in a few large appends: a record is ~150 of them, and one out-of-line
// std::string append each was a third of the formatting cost. `out` is complete whenever the
// top-level value is closed, and when the writer goes out of scope; until then it must not be
// read or appended to by anyone else.
class JsonWriter {
 public:
  explicit JsonWriter(std::string &out) : out_(out) {}
  ~JsonWriter() { flush(); }
  JsonWriter(const JsonWriter &) = delete;
  JsonWriter &operator=(const JsonWriter &) = delete;
  KTRAIL_JSON_INLINE JsonWriter &begin_object() { sep(); put('{'); first_ = true; depth_++; return *this; }
  KTRAIL_JSON_INLINE JsonWriter &end_object() { put('}'); first_ = false; closed(); return *this; }
  KTRAIL_JSON_INLINE JsonWriter &begin_array() { sep(); put('['); first_ = true; depth_++; return *this; }
  KTRAIL_JSON_INLINE JsonWriter &end_array() { put(']'); first_ = false; closed(); return *this; }
  KTRAIL_JSON_INLINE JsonWriter &key(std::string_view k) {
    if (k.size() > kSmall) {
      sep();
      put('"');
      raw(k);
      raw("\":");
    } else {
      room(k.size() + 4);
      if (!first_) buf_[n_++] = ',';
      buf_[n_++] = '"';
      memcpy(buf_ + n_, k.data(), k.size());
      n_ += k.size();
      buf_[n_++] = '"';
      buf_[n_++] = ':';
    }
    first_ = true;  // the value follows without a comma
    return *this;
  }
  // A key from outside data (labels): escaped like a value.
  JsonWriter &key_escaped(std::string_view k) {
    sep();
    string(k);
    put(':');
    first_ = true;
    return *this;
  }
  JsonWriter &value(std::string_view s) { sep(); string(s); first_ = false; return done(); }
  JsonWriter &value(const char *s) { return value(std::string_view(s)); }
  KTRAIL_JSON_INLINE JsonWriter &value(uint64_t v) { sep(); append_number(v); first_ = false; return done(); }
  KTRAIL_JSON_INLINE JsonWriter &value(int64_t v) { sep(); append_number(v); first_ = false; return done(); }
  JsonWriter &value(uint32_t v) { return value(static_cast<uint64_t>(v)); }
  JsonWriter &value(int32_t v) { return value(static_cast<int64_t>(v)); }
  JsonWriter &value(bool b) { sep(); raw(b ? std::string_view("true") : std::string_view("false")); first_ = false; return done(); }
  template <typename T>
  JsonWriter &field(std::string_view k, const T &v) { key(k); return value(v); }
  // A value already encoded by another JsonWriter (invalid: what that writer's
  // saw_invalid_utf8() said), e.g. a fragment that is the same in every record.
  JsonWriter &encoded(std::string_view json, bool invalid) {
    sep();
    raw(json);
    invalid_ |= invalid;
    first_ = false;
    return done();
  }
  bool saw_invalid_utf8() const { return invalid_; }

 private:
  static constexpr size_t kCap = 1024;   // bytes collected before an append to out_
  static constexpr size_t kSmall = 128;  // longer pieces go to out_ directly
  void flush() {
    if (n_) out_.append(buf_, n_);
    n_ = 0;
  }
  // Makes room for n more bytes (n <= kCap).
  KTRAIL_JSON_INLINE void room(size_t n) {
    if (n_ + n > kCap) flush();
  }
  KTRAIL_JSON_INLINE void put(char c) {
    room(1);
    buf_[n_++] = c;
  }
  void raw(std::string_view s) {
    if (s.size() > kSmall) {
      flush();
      out_.append(s);
      return;
    }
    room(s.size());
    memcpy(buf_ + n_, s.data(), s.size());
    n_ += s.size();
  }
  // A JSON string (see append_json_string).
  void string(std::string_view s);
  template <typename T>
  void append_number(T v) {
    room(24);  // no allocation, unlike std::to_string
    n_ = static_cast<size_t>(std::to_chars(buf_ + n_, buf_ + kCap, v).ptr - buf_);
  }
  KTRAIL_JSON_INLINE void sep() {
    if (!first_) put(',');
    first_ = false;
  }
  KTRAIL_JSON_INLINE void closed() {
    if (--depth_ == 0) flush();
  }
  KTRAIL_JSON_INLINE JsonWriter &done() {
    if (depth_ == 0) flush();  // a bare top-level value is complete too
    return *this;
  }
  std::string &out_;
  bool first_ = true;
  bool invalid_ = false;
  int depth_ = 0;
  size_t n_ = 0;
  char buf_[kCap];
};

}  // namespace ktrail
