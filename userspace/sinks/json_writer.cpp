#include "sinks/json_writer.h"

namespace ktrail {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if the byte there does not start one.
size_t utf8_seq_len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; k++) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return n;
}

const char kHex[] = "0123456789abcdef";

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_seq_len(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

namespace {

// Bytes copied as they are in a valid UTF-8 string: everything but '"', '\\', the C0 controls
// and DEL. Bytes >= 0x80 of a valid string all belong to valid sequences.
struct PlainTable {
  bool plain[256];
  constexpr PlainTable() : plain() {
    for (int c = 0; c < 256; c++) plain[c] = c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
  }
};
constexpr PlainTable kPlain;

void append_escaped_ascii(std::string &out, unsigned char c) {
  switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    default: {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(esc, sizeof(esc));
    }
  }
}

}  // namespace

bool append_json_string(std::string &out, std::string_view s) {
  // Nearly every string is ASCII: that is valid UTF-8 without decoding a sequence.
  bool valid = true;
  for (char ch : s)
    if (static_cast<unsigned char>(ch) >= 0x80) {
      valid = is_valid_utf8(s);
      break;
    }
  out += '"';
  if (valid) {
    // Runs of plain bytes are copied in one append; only the escapes go byte by byte.
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
      size_t j = i;
      while (j < n && kPlain.plain[static_cast<unsigned char>(s[j])]) j++;
      out.append(s.data() + i, j - i);
      if (j == n) break;
      append_escaped_ascii(out, static_cast<unsigned char>(s[j]));
      i = j + 1;
    }
    out += '"';
    return true;
  }
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_seq_len(s, i);
    if (n == 0 || c == '\\') {
      out += "\\\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      i++;
      continue;
    }
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (kPlain.plain[c]) out += static_cast<char>(c);
    else append_escaped_ascii(out, c);
    i++;
  }
  out += '"';
  return false;
}

namespace {

// True if none of the 8 bytes in v needs more than a copy: no control byte, '"', '\\', DEL or
// byte >= 0x80 (those go through UTF-8 validation). Exact "any byte" tests (hasless/haszero).
inline bool plain8(uint64_t v) {
  constexpr uint64_t k01 = 0x0101010101010101ull, k80 = 0x8080808080808080ull;
  auto has_zero = [](uint64_t x) { return (x - k01) & ~x & k80; };
  const uint64_t bad = (v & k80) | ((v - k01 * 0x20) & ~v & k80) | has_zero(v ^ (k01 * '"')) |
                       has_zero(v ^ (k01 * '\\')) | has_zero(v ^ (k01 * 0x7f));
  return bad == 0;
}

}  // namespace

void JsonWriter::string(std::string_view s) {
  // Short plain ASCII (nearly every string) is copied into the buffer; anything else, or a
  // long string, goes through append_json_string.
  if (s.size() <= kSmall) {
    room(s.size() + 2);
    char *p = buf_ + n_;
    *p++ = '"';
    size_t i = 0;
    for (uint64_t v; i + 8 <= s.size(); i += 8) {
      memcpy(&v, s.data() + i, 8);
      if (!plain8(v)) break;
      memcpy(p + i, &v, 8);
    }
    for (; i < s.size(); i++) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c >= 0x80 || !kPlain.plain[c]) break;
      p[i] = static_cast<char>(c);
    }
    if (i == s.size()) {
      p[i] = '"';
      n_ += s.size() + 2;
      return;
    }
  }
  flush();
  invalid_ |= !append_json_string(out_, s);
}

}  // namespace ktrail
