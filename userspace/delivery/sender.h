// One sender thread per network output: reads its spool in order, hands batches to the
// output's protocol, and advances the spool's acknowledged cursor only once the protocol says
// the collector has them. Failures reconnect with exponential backoff and full jitter, and
// resend from the cursor (duplicates, never gaps; receivers dedupe by event.sequence).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "delivery/spool.h"

namespace ktrail::delivery {

class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual Status connect() = 0;
  virtual void disconnect() = 0;
  virtual Status send(const std::vector<SpoolRecord> &batch) = 0;
  // Offset up to which the collector has confirmed what was sent (unchanged: nothing new).
  // An error means the connection is gone: the sender reconnects and resends.
  virtual Status confirmed(uint64_t &upto) = 0;
  virtual std::string describe() const = 0;
};

struct SenderOptions {
  int backoff_min_ms = 200;
  int backoff_max_ms = 30000;
  size_t batch_records = 512;
  size_t batch_bytes = 1 << 20;
};

// Full jitter: uniform in [0, min(max, min_ms * 2^attempt)].
int backoff_delay_ms(int attempt, int min_ms, int max_ms, uint64_t random);

struct SenderStats {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> connects{0};
  // Records sent again after a failure (a reconnect resends from the acknowledged cursor):
  // the collector may already hold them, so this bounds the duplicates it can see.
  std::atomic<uint64_t> resent{0};
  std::atomic<bool> connected{false};
  std::atomic<bool> running{false};    // the sender thread is in its loop
};

class Sender {
 public:
  Sender(Spool &spool, std::unique_ptr<Protocol> proto, SenderOptions opt = {});
  ~Sender();
  void start();
  // Stops after at most one network timeout; what was not confirmed stays in the spool.
  void stop();
  // Waits until everything appended so far is acknowledged (tests, shutdown); false on timeout.
  bool drain(int timeout_ms);
  const SenderStats &stats() const { return stats_; }

 private:
  void run();
  bool sleep_ms(int ms);
  Spool &spool_;
  std::unique_ptr<Protocol> proto_;
  SenderOptions opt_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  SenderStats stats_;
};

}  // namespace ktrail::delivery
