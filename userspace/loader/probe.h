// What this kernel offers, probed once and cached. Used by the loader's attach plan and by
// `ktrail probe` later.
#pragma once
#include <memory>
#include <optional>
#include <string>

namespace ktrail {

struct KernelFeatures {
  std::string release;
  bool btf = false;              // /sys/kernel/btf/vmlinux (or --btf) parses
  std::string btf_path;
  std::string lockdown;          // "none", "integrity", "confidentiality", "" if unknown
  bool ringbuf = false;
  bool has_tp_btf(const std::string &tracepoint) const;  // btf_trace_<tp> in vmlinux BTF
  std::shared_ptr<void> vmlinux_btf;  // struct btf *
};

// custom_btf: empty for the running kernel's BTF.
KernelFeatures probe_kernel(const std::string &custom_btf);

// Reads the active lockdown mode from securityfs ("[integrity]" -> "integrity").
std::string parse_lockdown(const std::string &contents);

// Mounts a pseudo filesystem if nothing is mounted there yet. Returns "" or an error text.
std::string ensure_mounted(const char *fstype, const char *target);
bool is_mounted(const char *target);

// Capability checks: the names of missing capabilities for loading BPF.
std::string missing_bpf_capabilities();

}  // namespace ktrail
