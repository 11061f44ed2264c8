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
  // syscalls/sys_enter_<name> and sys_exit_<name>: read from tracefs when it is mounted,
  // predicted from the BTF (perf_syscall_enter and __x64_sys_<name>) when it is not yet.
  bool has_syscall_tp(const std::string &name) const;
  bool has_syscall(const std::string &name) const;  // __x64_sys_<name> in vmlinux BTF
  // ia32 syscalls run here: CONFIG_IA32_EMULATION (__ia32_sys_setuid in vmlinux BTF) and not
  // disabled at boot (ia32_off_at_boot).
  bool ia32 = false;
  bool ia32_off_at_boot = false;  // built in, but int $0x80 faults (ia32_emulation=0, 6.7+)
  bool task_pt_regs = false;  // BPF_FUNC_task_pt_regs in the kernel's enum bpf_func_id
  bool perf_link = false;     // BPF_LINK_TYPE_PERF_EVENT in the kernel's enum bpf_link_type
  std::string tracefs = "/sys/kernel/tracing";
  std::shared_ptr<void> vmlinux_btf;  // struct btf *
};

// custom_btf: empty for the running kernel's BTF.
KernelFeatures probe_kernel(const std::string &custom_btf);

// Reads the active lockdown mode from securityfs ("[integrity]" -> "integrity").
std::string parse_lockdown(const std::string &contents);

// Mounts a pseudo filesystem if nothing is mounted there yet. Returns "" or an error text.
std::string ensure_mounted(const char *fstype, const char *target);
bool is_mounted(const char *target);

// True only when this kernel has ia32 emulation built in but switched off at boot (a child's
// int $0x80 takes SIGSEGV).
bool ia32_disabled_at_boot();

// Capability checks: the names of missing capabilities for loading BPF.
std::string missing_bpf_capabilities();

}  // namespace ktrail
