// The chain state that lets a restarted agent continue the chain: persisted atomically
// (temp file, fsync, rename, fsync of the directory) and locked against a second agent.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "integrity/crypto.h"

namespace ktrail {

struct ChainState {
  std::string host_id;
  uint64_t sequence = 0;             // last sealed record; 0 = nothing yet (genesis next)
  Digest hash{};                     // its hash; zeros at genesis
  uint64_t written = 0;              // last record known to have reached every output
  uint64_t checkpoint_sequence = 0;  // last checkpoint record; 0 = none yet
  std::string checkpoint_signature;  // its signature (hex); empty when unsigned or none
  bool operator==(const ChainState &) const = default;
};

// found=false (and ok) when the file does not exist.
Status load_chain_state(const std::string &path, ChainState &out, bool &found);
Status save_chain_state(const std::string &path, const ChainState &s);

// An exclusive flock on PATH.lock, held for the object's lifetime. Two agents sharing one
// state would fork the chain.
class StateLock {
 public:
  static Status acquire(const std::string &state_path, std::unique_ptr<StateLock> &out);
  ~StateLock();

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace ktrail
