#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace ktrail::log {
namespace {
std::atomic<Level> g_level{Level::Info};
std::mutex g_mu;
const char *name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warning";
    case Level::Error: return "error";
  }
  return "?";
}
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

void vwrite(Level l, const char *fmt, va_list ap) {
  if (l < g_level) return;
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "ktrail: %s: ", name(l));
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
}

void write(Level l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwrite(l, fmt, ap);
  va_end(ap);
}

}  // namespace ktrail::log
