// The chain state that lets a restarted agent continue the chain.
//
// It is saved before every release of records to the outputs, so it must be cheap: a rename per
// save costs milliseconds on ext4 under write load. The file holds two copies of the state
// (2 KiB slots, each with its SHA-256); a save overwrites the older slot in place with one
// pwrite (page-cache speed, and a kill -9 cannot tear a one-page write), and fdatasync makes it
// durable when asked. A slot torn by a power loss fails its checksum and the other one is used.
// The file is flocked: two agents on one state would fork the chain.
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

class StateFile {
 public:
  static constexpr size_t kSlotSize = 2048;
  // Opens PATH (creating it, and a missing directory with mode 0700) and locks it.
  static Status open(const std::string &path, std::unique_ptr<StateFile> &out);
  ~StateFile();
  StateFile(const StateFile &) = delete;
  StateFile &operator=(const StateFile &) = delete;
  // The newest intact copy. found=false for a new (empty) file.
  Status load(ChainState &out, bool &found);
  Status save(const ChainState &s, bool durable);

 private:
  StateFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
  uint64_t generation_ = 0;
  Sha256 sha_;        // the slot's checksum
  std::string slot_;  // the slot being written, kept for the next save
};

}  // namespace ktrail
