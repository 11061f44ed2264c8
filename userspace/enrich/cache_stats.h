// Hit/miss counts of the enrichment caches, for /metrics (metrics/agent_metrics.cpp). The
// pipeline thread counts, the metrics server reads: relaxed atomics, no lock on the event path.
// One writer, so a count is a load and a store, not a locked read-modify-write (several per
// record).
#pragma once
#include <atomic>
#include <cstdint>

namespace ktrail {

struct CacheCounters {
  std::atomic<uint64_t> hits{0}, misses{0};
  void count(bool hit) {
    auto &c = hit ? hits : misses;
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

// process: the process table (a miss reads /proc); users: uid/gid -> name (a miss is an id
// the passwd/group file does not name); container: cgroup id -> container identity (a miss
// parses a cgroup path, or finds none).
inline CacheCounters g_process_cache, g_user_cache, g_container_cache;

}  // namespace ktrail
