// The attach plan as a pure function of the request and the probed kernel features. The loader
// executes it and `ktrail probe` prints it, so the two can never disagree.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace ktrail {

enum class BufferKind { Auto, Ring, Perf };
enum class HookMode { Auto, TpBtf, Tracepoint };

// Every hook ktrail attaches. Each has a tp_btf and a classic tracepoint variant, except
// "syscalls": the per-syscall classic tracepoints (syscalls/sys_{enter,exit}_<name>), attached
// first. When they carry the syscalls, sys_enter/sys_exit only serve ia32 syscalls.
inline constexpr const char *kHookNames[] = {"sched_process_exec", "sched_process_exit", "sys_enter",
                                             "sys_exit", "cgroup_mkdir", "syscalls"};

// The event classes a traced syscall belongs to (what --events must select for it).
enum class SyscallClass { Cred, Exec, Ssh, File };
struct SyscallHookDef {
  const char *name;  // syscalls/sys_enter_<name>; BPF programs tracepoint__syscalls__sys_*_<name>
  SyscallClass cls;
  // The exit reads the arguments from the registers where it can (task_pt_regs), so no enter
  // program runs: the open family, execve/execveat (only a failed exec is reported there), and
  // sshd's accept/write family (run for every write on the host: one program instead of two).
  bool exit_regs;
};
// The 64-bit syscalls ktrail traces (bpf/cred.bpf.c KTRAIL_SC has a program pair for each).
inline constexpr SyscallHookDef kSyscallHooks[] = {
    {"setuid", SyscallClass::Cred, false},     {"setgid", SyscallClass::Cred, false},
    {"setreuid", SyscallClass::Cred, false},   {"setregid", SyscallClass::Cred, false},
    {"setresuid", SyscallClass::Cred, false},  {"setresgid", SyscallClass::Cred, false},
    {"setfsuid", SyscallClass::Cred, false},   {"setfsgid", SyscallClass::Cred, false},
    {"setgroups", SyscallClass::Cred, false},  {"capset", SyscallClass::Cred, false},
    {"execve", SyscallClass::Exec, true},      {"execveat", SyscallClass::Exec, true},
    {"accept", SyscallClass::Ssh, true},       {"accept4", SyscallClass::Ssh, true},
    {"write", SyscallClass::Ssh, true},        {"writev", SyscallClass::Ssh, true},
    {"sendto", SyscallClass::Ssh, true},       {"sendmsg", SyscallClass::Ssh, true},
    {"open", SyscallClass::File, true},        {"openat", SyscallClass::File, true},
    {"openat2", SyscallClass::File, true},     {"creat", SyscallClass::File, true},
    {"chmod", SyscallClass::File, false},      {"fchmod", SyscallClass::File, false},
    {"fchmodat", SyscallClass::File, false},   {"fchmodat2", SyscallClass::File, false},
    {"chown", SyscallClass::File, false},      {"fchown", SyscallClass::File, false},
    {"lchown", SyscallClass::File, false},     {"fchownat", SyscallClass::File, false},
    {"rename", SyscallClass::File, false},     {"renameat", SyscallClass::File, false},
    {"renameat2", SyscallClass::File, false},  {"unlink", SyscallClass::File, false},
    {"unlinkat", SyscallClass::File, false},   {"truncate", SyscallClass::File, false},
    {"ftruncate", SyscallClass::File, false},  {"setxattr", SyscallClass::File, false},
    {"lsetxattr", SyscallClass::File, false},  {"fsetxattr", SyscallClass::File, false},
};

struct PlanRequest {
  bool trace_exec = true;
  bool trace_exit = true;
  bool trace_cred = true;
  bool trace_ssh = false;  // sshd accepts and log writes ride on sys_enter/sys_exit
  bool trace_cgroup = true;
  bool trace_file = false;  // watched-path syscalls ride on sys_enter/sys_exit
  BufferKind buffer = BufferKind::Auto;
  HookMode hooks = HookMode::Auto;
  // With per-syscall tracepoints, ia32 syscalls need the raw hooks too (--ia32 trace).
  bool trace_ia32 = true;
  bool pin = false;  // --pin: every link must be pinnable
};

struct PlanKernel {
  bool ringbuf = false;
  // btf_trace_<hook> exists in the kernel's BTF (tp_btf can load).
  std::function<bool(const std::string &hook)> has_tp_btf;
  // syscalls/sys_enter_<name> and sys_exit_<name> exist (tracefs, CONFIG_FTRACE_SYSCALLS).
  std::function<bool(const std::string &name)> has_syscall_tp;
  // The kernel implements the syscall (__x64_sys_<name> in its BTF).
  std::function<bool(const std::string &name)> has_syscall;
  bool ia32 = false;          // ia32 syscalls exist (CONFIG_IA32_EMULATION, not off at boot)
  bool ia32_off_at_boot = false;
  bool task_pt_regs = false;  // bpf_task_pt_regs (5.15): an exit program can read the arguments
  bool perf_link = false;     // BPF_LINK_TYPE_PERF_EVENT (5.15): tracepoint links can be pinned
};

// How the syscalls ktrail traces reach it.
struct SyscallPlan {
  bool per_syscall = false;      // per-syscall tracepoints carry the 64-bit syscalls
  bool raw_compat_only = false;  // sys_enter/sys_exit run for ia32 syscalls only
  std::vector<std::string> enter, exit;  // per-syscall tracepoints to attach, by syscall name
  std::vector<std::string> absent;       // selected syscalls this kernel does not have
  std::string reason;
  std::string ia32_gap;  // non-empty: ia32 syscalls would go unseen, and why
};

struct HookPlan {
  std::string hook;
  bool wanted = false;          // selected by --events
  bool load_tp_btf = false;     // load the tp_btf program
  bool load_tracepoint = false; // load the classic tracepoint program
  std::string first;            // variant attached first: "tp_btf", "tracepoint", "" (none)
  std::string fallback;         // variant tried if the first fails to attach, or ""
  std::string reason;           // why this choice, in words
};

struct AttachPlan {
  bool use_perf = false;
  std::string buffer_reason;
  std::string buffer_problem;  // non-empty: the request cannot work on this kernel
  std::vector<HookPlan> hooks;
  SyscallPlan syscalls;
};

AttachPlan plan_attach(const PlanRequest &req, const PlanKernel &kernel);

const char *hook_mode_name(HookMode m);
const char *buffer_kind_name(BufferKind b);

}  // namespace ktrail
