// Host identity and the kernel-clock -> wall-clock conversion.
#pragma once
#include <cstdint>
#include <string>

namespace ktrail {

struct HostInfo {
  std::string name;  // uname nodename
  std::string id;    // /etc/machine-id
  std::string boot_id;     // /proc/sys/kernel/random/boot_id: changes at every boot
  std::string os_kernel;   // uname release
  std::string os_name;     // /etc/os-release NAME
  std::string os_version;  // /etc/os-release VERSION_ID
  std::string os_family;   // /etc/os-release ID ("debian")
  static HostInfo detect(const std::string &root = "");
};

// /etc/os-release value for key ("" if absent); quotes and escapes removed.
std::string os_release_value(const std::string &content, const std::string &key);

// Converts CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns) to Unix-epoch nanoseconds.
class Clock {
 public:
  Clock() { resync(); }
  void resync();  // NTP may step the wall clock: call periodically
  int64_t to_realtime(uint64_t boot_ns) const { return static_cast<int64_t>(boot_ns) + offset_; }
  static uint64_t boot_now();

 private:
  int64_t offset_ = 0;
};

// RFC 3339 UTC with nanoseconds: 2026-11-26T16:40:00.123456789Z
std::string format_rfc3339(int64_t unix_ns);

}  // namespace ktrail
