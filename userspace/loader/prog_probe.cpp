#include "loader/prog_probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace ktrail {
namespace {

// r0 = 0; exit. A valid fentry body, and an LSM hook that allows everything.
const struct bpf_insn kReturnZero[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
};

std::string errtext(const char *stage, int err) {
  return std::string(stage) + " failed: " + strerror(err < 0 ? -err : err);
}

ProgProbe try_load_attach(const void *vmlinux_btf, bpf_prog_type type, bpf_attach_type attach,
                          const char *const *targets) {
  ProgProbe r;
  auto *btf = static_cast<const struct btf *>(vmlinux_btf);
  if (!btf) {
    r.detail = "no kernel BTF";
    return r;
  }
  int id = -1;
  const char *target = nullptr;
  for (const char *const *t = targets; *t && id <= 0; t++) {
    id = btf__find_by_name_kind(btf, *t, BTF_KIND_FUNC);
    target = *t;
  }
  if (id <= 0) {
    r.detail = std::string("no BTF function to attach to (") + targets[0] + ")";
    return r;
  }
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach,
              .attach_btf_id = static_cast<__u32>(id));
  int fd = bpf_prog_load(type, "ktrail_probe", "GPL", kReturnZero, 2, &opts);
  if (fd < 0) {
    r.detail = errtext("load", errno);
    return r;
  }
  // Attached for an instant: an fentry that does nothing, an LSM hook that allows all.
  int link = bpf_raw_tracepoint_open(nullptr, fd);
  if (link < 0) {
    r.detail = errtext("attach", errno);
  } else {
    r.ok = true;
    r.detail = std::string("loads and attaches (") + target + ")";
    close(link);
  }
  close(fd);
  return r;
}

}  // namespace

ProgProbe probe_rdonly_cast(const void *vmlinux_btf) {
  ProgProbe r;
  auto *btf = static_cast<const struct btf *>(vmlinux_btf);
  int fn = btf ? btf__find_by_name_kind(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) : -1;
  int file = btf ? btf__find_by_name_kind(btf, "file", BTF_KIND_STRUCT) : -1;
  if (fn <= 0 || file <= 0) {
    r.detail = "no bpf_rdonly_cast in the kernel BTF";
    return r;
  }
  const struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 0},
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, file},
      {BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, fn},
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "ktrail_probe", "GPL", insns, 5, nullptr);
  if (fd < 0) {
    r.detail = errtext("load", errno);
    return r;
  }
  close(fd);
  r.ok = true;
  r.detail = "loads";
  return r;
}

ProgProbe probe_fentry(const void *vmlinux_btf) {
  static const char *const targets[] = {"do_exit", "do_group_exit", nullptr};
  return try_load_attach(vmlinux_btf, BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, targets);
}

ProgProbe probe_lsm(const void *vmlinux_btf) {
  static const char *const targets[] = {"bpf_lsm_bprm_check_security", nullptr};
  ProgProbe r = try_load_attach(vmlinux_btf, BPF_PROG_TYPE_LSM, BPF_LSM_MAC, targets);
  if (!r.ok && r.detail.rfind("no BTF function", 0) == 0)
    r.detail = "the kernel has no BPF LSM (CONFIG_BPF_LSM off)";
  return r;
}

ProgProbe probe_kprobes() {
  ProgProbe r;
  struct stat st;
  r.ok = stat("/sys/bus/event_source/devices/kprobe/type", &st) == 0;
  r.detail = r.ok ? "kprobe PMU present" : "no kprobe PMU (kernel built without CONFIG_KPROBES)";
  return r;
}

std::vector<std::string> parse_lsm_list(const std::string &contents) {
  std::vector<std::string> out;
  std::stringstream ss(contents);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && (item.back() == '\n' || item.back() == ' ')) item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace ktrail
