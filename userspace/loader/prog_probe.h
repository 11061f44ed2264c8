// Cheap probes of program types ktrail's hooks may use (fentry, LSM, kprobes) and of the
// active LSM list. Each tries what the kernel will be asked to do, on a harmless target.
#pragma once
#include <string>
#include <vector>

namespace ktrail {

struct ProgProbe {
  bool ok = false;
  std::string detail;  // "loads and attaches", or the stage and errno that failed
};

// A two-instruction program of the given kind, loaded against the kernel BTF (btf is a
// struct btf * of vmlinux) and attached for an instant, then detached.
ProgProbe probe_fentry(const void *vmlinux_btf);
ProgProbe probe_lsm(const void *vmlinux_btf);
// kprobes: the kprobe PMU (perf_event_open type) exists only with CONFIG_KPROBES.
ProgProbe probe_kprobes();

// The kfunc bpf_rdonly_cast (6.2+) called from a tracepoint program: a four-instruction
// program that casts NULL to struct file, loaded and closed.
ProgProbe probe_rdonly_cast(const void *vmlinux_btf);

// "lockdown,capability,yama,bpf" -> {"lockdown", "capability", "yama", "bpf"}.
std::vector<std::string> parse_lsm_list(const std::string &contents);

}  // namespace ktrail
