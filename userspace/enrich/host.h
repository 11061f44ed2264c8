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
  // root "": this host. In a container that shares the host's PID namespace (a DaemonSet pod
  // with hostPID) the files describe the image and uname the pod, so the host's own files are
  // read through /proc/2/root (kthreadd's) and the name comes from $NODE_NAME or the host's /etc/hostname.
  static HostInfo detect(const std::string &root = "");
  bool operator==(const HostInfo &) const = default;
};

// The host's name, by precedence: our own UTS namespace is the host's -> uname; else the node
// name Kubernetes gave us; else the host's /etc/hostname; else uname (a pod name: better than
// nothing, and the agent warns).
std::string choose_host_name(bool host_uts, const std::string &node_name_env,
                             const std::string &host_etc_hostname, const std::string &uname_nodename);

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
// The same into buf (at least kRfc3339Max bytes, not NUL-terminated); returns the length.
// For the per-event path, which would otherwise allocate a string per timestamp.
constexpr size_t kRfc3339Max = 48;
size_t format_rfc3339(int64_t unix_ns, char *buf);

}  // namespace ktrail
