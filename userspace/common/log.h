// Diagnostics go to stderr, never to the event stream on stdout.
#pragma once
#include <cstdarg>

namespace ktrail::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_level(Level level);
Level level();
void write(Level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vwrite(Level level, const char *fmt, va_list ap);

}  // namespace ktrail::log

#define KLOG_DEBUG(...) ::ktrail::log::write(::ktrail::log::Level::Debug, __VA_ARGS__)
#define KLOG_INFO(...) ::ktrail::log::write(::ktrail::log::Level::Info, __VA_ARGS__)
#define KLOG_WARN(...) ::ktrail::log::write(::ktrail::log::Level::Warn, __VA_ARGS__)
#define KLOG_ERROR(...) ::ktrail::log::write(::ktrail::log::Level::Error, __VA_ARGS__)
