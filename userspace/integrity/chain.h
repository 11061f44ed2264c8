// The trail's canonical form, shared by the agent (sealing) and `ktrail verify` (checking).
// README "Tamper-evident trail" is the normative text; this is its implementation.
//
// The canonical form of a record is the JSON object exactly as the writer emits it, without the
// chain member. The writer always ends a record with its `ktrail` object, so the canonical
// record ends with the two bytes "}}". The emitted line inserts, before those two bytes,
//     ,"chain":{"hash":"<64 lowercase hex>"}
// which makes it `ktrail.chain.hash`, and
//     hash(n) = SHA-256( hash(n-1) as 32 raw bytes || canonical(n) ),  hash(0) = 32 zero bytes.
// A verifier strips the fixed-size member byte-exactly: no JSON re-serialization is involved,
// so 64-bit integers and the \xHH escapes of non-UTF-8 bytes cannot change meaning on the way.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "integrity/crypto.h"

namespace ktrail::chain {

inline constexpr std::string_view kMemberOpen = ",\"chain\":{\"hash\":\"";
inline constexpr size_t kMemberSize = kMemberOpen.size() + 64 + 2;  // + hex + "\"}"

// A chained line cut into the canonical record's body (canonical = body + "}}") and its hash.
struct Split {
  std::string_view body;
  Digest hash{};
};
// False when the line does not end with a well-formed chain member.
bool split(std::string_view line, Split &out);
inline std::string canonical(std::string_view body) { return std::string(body) + "}}"; }

// SHA-256(prev || body || "}}").
Digest link(Sha256 &h, const Digest &prev, std::string_view body);
// Turns a canonical record into its chained line in place; returns the record's hash.
Digest seal(Sha256 &h, const Digest &prev, std::string &record);

// ---- checkpoint signatures ----------------------------------------------------------------
// A signed checkpoint's canonical record ends with the member
//     ,"signature":"<128 lowercase hex>"
// closing `ktrail.checkpoint`, `ktrail` and the record ("}}}"). The Ed25519 signature is over
//     "ktrail-checkpoint-v1\n" || canonical record without that member.
inline constexpr std::string_view kSignatureOpen = ",\"signature\":\"";
inline constexpr std::string_view kSignedPrefix = "ktrail-checkpoint-v1\n";
inline constexpr size_t kSignatureMemberSize = kSignatureOpen.size() + 128 + 1;

// The message to sign for an unsigned canonical checkpoint (ending "}}}").
std::string signing_message(std::string_view unsigned_canonical);
// Inserts the signature member into an unsigned canonical checkpoint.
void insert_signature(std::string &unsigned_canonical, const Signature &sig);
// From a signed canonical checkpoint: the signed message and the signature. False if the record
// does not end with a well-formed signature member.
bool signed_message(std::string_view canonical, std::string &msg, Signature &sig);

// ---- hot-path field lookups ----------------------------------------------------------------
// event.sequence and event.action from a record our writer produced. Only used to order and
// classify records: every byte is covered by the hash whatever these return.
// ECS records carry them as event.sequence/event.action, OCSF records (which start with
// {"time":) as metadata.sequence/metadata.event_code.
bool find_sequence(std::string_view record, uint64_t &seq);
std::string_view find_action(std::string_view record);

// The ktrail object of a parsed record: ECS `ktrail`, OCSF `unmapped` (throws if absent).
const nlohmann::json &ktrail_object(const nlohmann::json &record);
// host.id (ECS) or device.uid (OCSF); "" when absent.
std::string record_host_id(const nlohmann::json &record);

}  // namespace ktrail::chain
