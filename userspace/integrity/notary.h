// The agent side of the tamper-evident trail: chains every record the pipeline emits, writes
// the agent_start and checkpoint records, signs checkpoints, and persists the chain state so
// the next run continues the same chain.
//
// Crash consistency: the pipeline saves the state (commit) BEFORE it releases the records the
// state describes to the outputs, and marks them written (released) after. After a kill -9 the
// state can therefore be ahead of the outputs, never behind: a restart never reuses a sequence
// number (no fork), and the records that may not have reached the outputs are declared in the
// agent_start record (`ktrail.resume.unwritten`). The state is made durable at most once a
// second; after a power loss a file output whose last line is past the state is resumed from
// (consider_output_tail), so only a non-file consumer can see up to ~1 s of sequence reused.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "enrich/host.h"
#include "integrity/crypto.h"
#include "integrity/state.h"
#include "sinks/format.h"

namespace ktrail {

struct NotaryConfig {
  std::string state_path;        // empty: the chain lives in memory only (starts at genesis)
  std::string signing_key_path;  // empty: checkpoints are written unsigned
  uint64_t checkpoint_records = 10000;  // 0: no count trigger
  double checkpoint_seconds = 60;       // 0: no time trigger
  Schema schema = Schema::Ecs;          // of agent_start and checkpoint records
};

class Notary {
 public:
  static Status open(const NotaryConfig &c, const HostInfo &host, std::unique_ptr<Notary> &out);
  // The last complete line an output already holds (a file from an earlier run). When the state
  // is missing or behind it, the chain resumes after that line rather than forking.
  void consider_output_tail(std::string_view line, const std::string &output);

  uint64_t sequence() const { return st_.sequence; }
  bool signing() const { return key_ != nullptr; }
  std::string key_id_hex() const;

  // Canonical record -> chained line, in place. seq must be sequence() + 1.
  void seal(uint64_t seq, std::string &json);
  // The first record of a run (genesis, or a resume that links to the previous run).
  void start_record(uint64_t seq, int64_t realtime_ns, std::string &json, std::string &table);
  // A checkpoint record over everything since the previous one. reason: records, interval,
  // rotation, shutdown.
  void checkpoint_record(uint64_t seq, int64_t realtime_ns, const char *reason, std::string &json,
                         std::string &table);
  bool checkpoint_due_by_records() const;
  bool checkpoint_due_by_time(uint64_t boot_ns) const;

  // Persist the state for everything sealed so far (before releasing it to the outputs).
  // Every commit is atomic; it is also durable (fsync) at most once a second, or when asked
  // (shutdown): an fsync per release stalls the agent behind the journal under write load.
  Status commit(bool durable = false);
  // Everything sealed so far has been handed to the outputs.
  void released() { written_ = st_.sequence; }

 private:
  Notary(const NotaryConfig &c, const HostInfo &host);
  void table_line(int64_t realtime_ns, const char *action, const std::string &details,
                  std::string &table) const;

  struct Resume {
    bool active = false;
    std::string source;  // "state" or "output"
    uint64_t sequence = 0;
    Digest hash{};
    bool checkpoint_known = true;
    uint64_t unwritten_first = 0;  // 0: nothing possibly unwritten
  };

  NotaryConfig cfg_;
  HostInfo host_;
  std::unique_ptr<SigningKey> key_;
  std::unique_ptr<StateFile> state_file_;
  Sha256 sha_;
  ChainState st_;     // in memory: the chain head
  ChainState saved_;  // as last persisted
  bool saved_valid_ = false;
  bool saved_durable_ = false;
  uint64_t last_durable_ns_ = 0;
  uint64_t written_ = 0;
  Resume resume_;
  uint64_t run_first_ = 0;  // sequence of this run's agent_start
  uint64_t since_checkpoint_ = 0;
  uint64_t last_checkpoint_ns_ = 0;
  uint64_t pending_checkpoint_ = 0;  // sequence of the checkpoint record being built
  std::string pending_signature_;
};

}  // namespace ktrail
