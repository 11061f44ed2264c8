// `ktrail verify`: checks a trail (one or more NDJSON files, rotated sets, .gz, or stdin) against
// the chain and the signed checkpoints, and names the first damage.
//
// The common case streams: one SHA-256 per record, nothing kept but the previous hash. Only
// when a record does not fit does the verifier read ahead (bounded) to tell a changed record
// from a deleted, inserted or moved one.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "integrity/crypto.h"

namespace ktrail {

enum class Damage {
  Modified,      // a record's content (or its chain hash) differs from what was chained
  Deleted,       // sequence numbers missing
  Inserted,      // a record that is not part of the chain (foreign, or a duplicate)
  Reordered,     // chained records out of order
  Truncated,     // cut short: head or tail missing, records after the last checkpoint
  BadSignature,  // a checkpoint signature that does not verify with its key
  UnknownKey,    // a checkpoint signed by a key not given with --pubkey
  Unsigned,      // an unsigned checkpoint where signatures are required (--pubkey given)
};
const char *damage_name(Damage d);

struct VerifyFailure {
  Damage kind = Damage::Modified;
  uint64_t sequence = 0;  // first sequence not verified in place
  uint64_t last_sequence = 0;  // deleted/truncated: end of the missing or unattested range
  std::optional<uint64_t> last_good;  // last record verified in place before the damage
  std::string file;
  uint64_t line = 0;
  std::string detail;
};

struct VerifyReport {
  enum Result { Ok, Damaged, SignatureFailure, Unauthenticated } result = Ok;
  std::vector<std::string> files;  // in the order read (sorted by first sequence)
  uint64_t records = 0;
  uint64_t bytes = 0;
  std::optional<uint64_t> first_sequence, last_sequence;  // as read
  std::string start;  // "genesis", "rotation checkpoint", "agent restart"
  // Attested: covered by the chain up to a checkpoint that passed.
  std::optional<uint64_t> verified_first, verified_last;
  std::optional<uint64_t> unattested_first, unattested_last;  // --live: after the last checkpoint
  bool final_checkpoint = false;  // ends with the shutdown checkpoint
  uint64_t checkpoints = 0, signed_checkpoints = 0, unsigned_checkpoints = 0;
  std::set<std::string> key_ids;  // of signed checkpoints
  bool signatures_checked = false;
  uint64_t restarts = 0;
  uint64_t lost_events = 0, lost_records = 0;  // declared by the host through `lost` events
  std::vector<std::pair<uint64_t, uint64_t>> declared_gaps;  // declared at a restart after a crash
  std::string note;  // why the result is Unauthenticated
  std::optional<VerifyFailure> failure;
};

// 0 ok, 10 damaged, 11 signature failure, 12 intact but not authenticated (README exit codes).
int verify_exit_code(const VerifyReport &r);

struct VerifyOptions {
  // Accept a trail still being written: records after the last checkpoint are reported as
  // unattested instead of truncated, and no final checkpoint is required.
  bool live = false;
  // Read-ahead bound when classifying damage.
  size_t max_lookahead_records = 1000000;
  size_t max_lookahead_bytes = 256u << 20;
};

class Verifier {
 public:
  explicit Verifier(VerifyOptions o = {});
  ~Verifier();
  void add_key(std::unique_ptr<PublicKey> key);
  // A file (plain or gzip, detected by content) or "-" for stdin.
  Status add_file(const std::string &path);
  // In-memory input (tests).
  void add_buffer(const std::string &name, std::string data);
  VerifyReport run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ktrail
