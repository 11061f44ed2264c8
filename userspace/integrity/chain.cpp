#include "integrity/chain.h"

#include <cstring>

namespace ktrail::chain {
namespace {

constexpr std::string_view kClose = "}}";
constexpr std::string_view kSequenceKey = "\"sequence\":";
constexpr std::string_view kActionKey = "\"action\":\"";
constexpr std::string_view kEventCodeKey = "\"event_code\":\"";
constexpr std::string_view kOcsfStart = "{\"time\":";
// The event object comes second, right after @timestamp; look there first.
constexpr size_t kEventWindow = 512;

size_t find_in(std::string_view hay, std::string_view needle) {
  size_t pos = hay.substr(0, kEventWindow).find(needle);
  if (pos == std::string_view::npos && hay.size() > kEventWindow) pos = hay.find(needle);
  return pos;
}

}  // namespace

bool split(std::string_view line, Split &out) {
  // ... ,"chain":{"hash":"<64 hex>"}}}
  if (line.size() < kMemberSize + kClose.size() + 1) return false;
  const size_t at = line.size() - kClose.size() - kMemberSize;
  if (line.substr(at, kMemberOpen.size()) != kMemberOpen) return false;
  if (line.substr(line.size() - 4) != "\"}}}") return false;
  if (!from_hex(line.substr(at + kMemberOpen.size(), 64), out.hash)) return false;
  out.body = line.substr(0, at);
  return true;
}

Digest link(Sha256 &h, const Digest &prev, std::string_view body) {
  return h.update(prev.data(), prev.size()).update(body).update(kClose).finish();
}

Digest seal(Sha256 &h, const Digest &prev, std::string &record) {
  const size_t body = record.size() - kClose.size();
  Digest d = link(h, prev, std::string_view(record).substr(0, body));
  // Built on the stack: every record is sealed, and two heap strings per record add up.
  char member[kMemberSize];
  std::memcpy(member, kMemberOpen.data(), kMemberOpen.size());
  char *p = member + kMemberOpen.size();
  hex_into(d, p);
  p += 2 * d.size();
  *p++ = '"';
  *p++ = '}';
  record.insert(body, member, kMemberSize);
  return d;
}

std::string signing_message(std::string_view unsigned_canonical) {
  std::string msg;
  msg.reserve(kSignedPrefix.size() + unsigned_canonical.size());
  msg.append(kSignedPrefix).append(unsigned_canonical);
  return msg;
}

void insert_signature(std::string &unsigned_canonical, const Signature &sig) {
  std::string member;
  member.append(kSignatureOpen).append(to_hex(sig)).append("\"");
  unsigned_canonical.insert(unsigned_canonical.size() - 3, member);
}

bool signed_message(std::string_view canonical, std::string &msg, Signature &sig) {
  constexpr std::string_view kEnd = "}}}";
  if (canonical.size() < kSignatureMemberSize + kEnd.size()) return false;
  if (canonical.substr(canonical.size() - kEnd.size()) != kEnd) return false;
  const size_t at = canonical.size() - kEnd.size() - kSignatureMemberSize;
  if (canonical.substr(at, kSignatureOpen.size()) != kSignatureOpen) return false;
  if (canonical[canonical.size() - kEnd.size() - 1] != '"') return false;
  if (!from_hex(canonical.substr(at + kSignatureOpen.size(), 128), sig)) return false;
  msg.clear();
  msg.reserve(kSignedPrefix.size() + at + kEnd.size());
  msg.append(kSignedPrefix).append(canonical.substr(0, at)).append(kEnd);
  return true;
}

bool find_sequence(std::string_view record, uint64_t &seq) {
  size_t pos = find_in(record, kSequenceKey);
  if (pos == std::string_view::npos) return false;
  pos += kSequenceKey.size();
  uint64_t v = 0;
  size_t digits = 0;
  for (; pos < record.size() && record[pos] >= '0' && record[pos] <= '9'; pos++, digits++) {
    const uint64_t d = static_cast<uint64_t>(record[pos] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (digits == 0 || digits > 20) return false;
  seq = v;
  return true;
}

std::string_view find_action(std::string_view record) {
  const std::string_view key = record.substr(0, kOcsfStart.size()) == kOcsfStart ? kEventCodeKey : kActionKey;
  size_t pos = find_in(record, key);
  if (pos == std::string_view::npos) return {};
  pos += key.size();
  size_t end = record.find('"', pos);
  if (end == std::string_view::npos || end - pos > 64) return {};
  return record.substr(pos, end - pos);
}

const nlohmann::json &ktrail_object(const nlohmann::json &record) {
  return record.contains("ktrail") ? record.at("ktrail") : record.at("unmapped");
}

std::string record_host_id(const nlohmann::json &record) {
  for (const char *o : {"host", "device"}) {
    auto it = record.find(o);
    if (it == record.end() || !it->is_object()) continue;
    auto id = it->find(o == std::string_view("host") ? "id" : "uid");
    if (id != it->end() && id->is_string()) return id->get<std::string>();
  }
  return "";
}

}  // namespace ktrail::chain
