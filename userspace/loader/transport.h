// One class owns the kernel->agent transport: ring buffer, or perf buffer as the fallback.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ktrail {

class EventSource {
 public:
  using Callback = std::function<void(const void *data, size_t size)>;
  virtual ~EventSource() = default;
  // Waits up to timeout_ms for a wakeup, then drains everything pending (records submitted
  // without a wakeup included). Returns records consumed, or -errno.
  virtual int poll(int timeout_ms) = 0;
  // Records the kernel reported as lost by the transport itself (perf LOST records).
  virtual uint64_t transport_lost() const = 0;
  virtual const char *name() const = 0;
  // Bytes the kernel produced that the agent has not consumed yet, and the buffer's size.
  // Thread-safe. False when the transport cannot tell (the perf buffer, split per CPU).
  virtual bool fill(uint64_t & /*pending*/, uint64_t & /*size*/) const { return false; }
  // Sees every record of a drain before the callback gets the first of them, where the
  // transport can batch (the ring buffer); the perf buffer ignores it.
  virtual void set_look_ahead(Callback) {}

  static std::unique_ptr<EventSource> ring_buffer(int map_fd, Callback cb, std::string &err);
  // wakeup_bytes: per-CPU backlog that wakes the agent (perf watermark).
  static std::unique_ptr<EventSource> perf_buffer(int map_fd, size_t pages_per_cpu,
                                                  size_t wakeup_bytes, Callback cb,
                                                  std::string &err);
};

}  // namespace ktrail
