#include "loader/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <bpf/btf.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <iterator>
#include <fstream>

#include "common/log.h"
#include "ktrail/abi/events.h"  // before the skeleton: its .rodata uses struct ktrail_watch
#include "ktrail.skel.h"
#include "loader/prog_probe.h"
#include "loader/ssh_probes.h"
#include "loader/watch_rows.h"

namespace ktrail {
namespace {

int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
  // libbpf's debug chatter is verifier logs; keep it behind --log-level debug.
  log::Level l = level == LIBBPF_WARN ? log::Level::Warn
                 : level == LIBBPF_INFO ? log::Level::Debug
                                        : log::Level::Debug;
  if (l < log::level()) return 0;
  static char buf[65536];  // verifier logs come in one piece
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  if (n > 0 && buf[std::min<size_t>(n, sizeof(buf) - 1) - 1] == '\n')
    buf[std::min<size_t>(n, sizeof(buf) - 1) - 1] = 0;
  log::write(l, "libbpf: %s", buf);
  return 0;
}

// What a pinned set was created with; a resuming agent must match it exactly.
struct PinMeta {
  uint64_t magic;
  uint64_t config;
  uint64_t reported[KTRAIL_HOOK_MAX];
  uint8_t variant[8];  // per kHookNames: 0 inactive, 1 tp_btf, 2 tracepoint
};
constexpr uint64_t kPinMagic = 0x6b747261696c5031ull;  // "ktrailP1"

uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

void unpin_dir(const std::string &dir) {
  std::error_code ec;
  for (const auto &e : std::filesystem::directory_iterator(dir, ec)) unlink(e.path().c_str());
}

struct HookDef {
  const char *hook;        // tracepoint name, also BTF name suffix
  bpf_program *tp_btf;
  bpf_program *tracepoint;
  bool wanted;
};

// A real probe, not a guess: load a two-instruction fexit program on cap_capable. Kernels
// (or lockdown/LSM setups) that refuse tracing programs answer EPERM/EINVAL here, not at
// skeleton load, where a failure would take every other hook down with it.
bool probe_fexit_cap_capable(const KernelFeatures &f) {
  if (!f.vmlinux_btf) return false;
  auto *btf = static_cast<struct btf *>(f.vmlinux_btf.get());
  int id = btf__find_by_name_kind(btf, "cap_capable", BTF_KIND_FUNC);
  if (id <= 0) return false;
  struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FEXIT,
              .attach_btf_id = static_cast<__u32>(id));
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ktrail_probe", "GPL", insns, 2, &opts);
  if (fd < 0) return false;
  close(fd);
  return true;
}

bool kprobe_target_exists(const char *fn) {
  std::ifstream f("/sys/kernel/tracing/available_filter_functions");
  std::string line;
  size_t n = strlen(fn);
  while (std::getline(f, line))
    if (line.compare(0, n, fn) == 0 && (line.size() == n || line[n] == ' ')) return true;
  return false;
}

}  // namespace

PlanRequest plan_request(const LoaderConfig &cfg) {
  PlanRequest r;
  r.trace_exec = cfg.trace_exec;
  r.trace_exit = cfg.trace_exit;
  r.trace_cred = cfg.trace_cred;
  r.trace_ssh = cfg.trace_ssh;
  r.trace_cgroup = cfg.trace_cgroup;
  r.trace_file = cfg.trace_file;
  r.buffer = cfg.buffer;
  r.hooks = cfg.hooks;
  r.trace_ia32 = cfg.trace_ia32;
  r.pin = !cfg.pin_dir.empty();
  return r;
}

PlanKernel plan_kernel(const KernelFeatures &f) {
  PlanKernel k;
  k.ringbuf = f.ringbuf;
  k.has_tp_btf = [&f](const std::string &hook) { return f.has_tp_btf(hook); };
  k.has_syscall_tp = [&f](const std::string &name) { return f.has_syscall_tp(name); };
  k.has_syscall = [&f](const std::string &name) { return f.has_syscall(name); };
  k.ia32 = f.ia32;
  k.ia32_off_at_boot = f.ia32_off_at_boot;
  k.task_pt_regs = f.task_pt_regs;
  k.perf_link = f.perf_link;
  return k;
}

CapHook pick_cap_hook(CapHook forced, bool has_tp, bool has_fentry, bool has_kprobe) {
  if (forced != CapHook::Auto) return forced;
  if (has_tp) return CapHook::TpBtf;
  if (has_fentry) return CapHook::Fentry;
  if (has_kprobe) return CapHook::Kprobe;
  return CapHook::Auto;  // none: capability checks stay off
}

const char *cap_hook_name(CapHook h) {
  switch (h) {
    case CapHook::TpBtf: return "tp_btf";
    case CapHook::Fentry: return "fexit";
    case CapHook::Kprobe: return "kprobe";
    case CapHook::Auto: break;
  }
  return "none";
}

CapHook Loader::choose_cap_hook(const LoaderConfig &cfg) const {
  if (cfg.cap_policy == CapPolicy::Off) return CapHook::Auto;
  bool tp = features_->has_tp_btf("cap_capable");
  // Probes for the fallbacks run only when they could be chosen.
  bool fentry = !tp && cfg.cap_hook == CapHook::Auto && probe_fexit_cap_capable(*features_);
  bool kprobe = !tp && !fentry && cfg.cap_hook == CapHook::Auto && kprobe_target_exists("cap_capable");
  return pick_cap_hook(cfg.cap_hook, tp, fentry, kprobe);
}

void Loader::attach_capable(CapHook variant) {
  HookStatus st{"cap_capable", cap_hook_name(variant), false, ""};
  std::vector<bpf_program *> progs;
  if (variant == CapHook::TpBtf) progs = {skel_->progs.tp_btf__cap_capable};
  if (variant == CapHook::Fentry) progs = {skel_->progs.fexit__cap_capable};
  if (variant == CapHook::Kprobe) progs = {skel_->progs.kretprobe__cap_capable, skel_->progs.kprobe__cap_capable};
  for (bpf_program *p : progs) {
    bpf_link *link = bpf_program__attach(p);
    if (!link) {
      st.error = std::string(bpf_program__name(p)) + ": " + strerror(errno);
      break;
    }
    links_.push_back(link);
  }
  st.attached = st.error.empty() && !progs.empty();
  if (progs.empty()) st.error = "no cap_capable hook on this kernel (no tracepoint, fexit or kprobe)";
  if (!st.attached) KLOG_WARN("capability checks are not traced: %s", st.error.c_str());
  hooks_.push_back(st);
}

Status classify_load_error(int err, const std::string &lockdown) {
  if (err == -EPERM || err == -EACCES) {
    if (lockdown == "confidentiality")
      return Status::error(KTRAIL_EXIT_LOCKDOWN,
                           "kernel lockdown is in confidentiality mode, which forbids the BPF "
                           "programs ktrail needs (bpf_probe_read_kernel); boot with "
                           "lockdown=integrity or none");
    return Status::error(KTRAIL_EXIT_PRIVILEGE,
                         std::string("the kernel refused to load the BPF programs (") +
                             strerror(-err) +
                             "): run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE");
  }
  return Status::error(KTRAIL_EXIT_RUNTIME,
                       std::string("loading the BPF programs failed: ") + strerror(-err) +
                           " (rerun with --log-level debug for the verifier log)");
}

Loader::Loader() { libbpf_set_print(libbpf_print); }

Loader::~Loader() {
  source_.reset();
  for (void *l : links_) {
    // Pinned links outlive the agent: the programs keep writing into the pinned ring buffer.
    if (!pin_dir_.empty()) bpf_link__disconnect(static_cast<bpf_link *>(l));
    bpf_link__destroy(static_cast<bpf_link *>(l));
  }
  for (int fd : owned_fds_) close(fd);
  ktrail_bpf__destroy(skel_);
}

Status Loader::start(const LoaderConfig &cfg, EventSource::Callback cb) {
  std::string missing = missing_bpf_capabilities();
  if (!missing.empty())
    return Status::error(KTRAIL_EXIT_PRIVILEGE,
                         "missing capability " + missing + ": run ktrail as root");

  features_ = std::make_unique<KernelFeatures>(probe_kernel(cfg.btf_path));
  if (!features_->btf)
    return Status::error(KTRAIL_EXIT_NO_BTF,
                         "no kernel BTF at " + features_->btf_path +
                             ": ktrail needs CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE");

  // Only classic tracepoints need tracefs; bpffs is for pinning by later features.
  for (auto [fs, dir] : {std::pair{"tracefs", "/sys/kernel/tracing"}, {"bpf", "/sys/fs/bpf"}}) {
    std::string err = ensure_mounted(fs, dir);
    if (!err.empty()) KLOG_WARN("%s", err.c_str());
  }

  const AttachPlan plan = plan_attach(plan_request(cfg), plan_kernel(*features_));
  if (!plan.buffer_problem.empty()) return Status::error(KTRAIL_EXIT_USAGE, plan.buffer_problem);
  if (!plan.syscalls.ia32_gap.empty()) KLOG_WARN("%s", plan.syscalls.ia32_gap.c_str());
  for (const auto &a : plan.syscalls.absent) KLOG_DEBUG("syscall %s: not on this kernel, not traced", a.c_str());
  const bool use_perf = plan.use_perf;

  // The pinned set must come from the same object and the same configuration.
  size_t elf_size = 0;
  const void *elf = ktrail_bpf__elf_bytes(&elf_size);
  uint64_t config_hash = fnv1a(0xcbf29ce484222325ull, elf, elf_size);
  uint64_t knobs[] = {cfg.trace_exec, cfg.trace_exit, cfg.trace_cred, static_cast<uint64_t>(cfg.hooks),
                      cfg.buffer_mb, cfg.wakeup_bytes};
  config_hash = fnv1a(config_hash, knobs, sizeof(knobs));
  if (!cfg.pin_dir.empty()) {
    if (use_perf) {
      // A perf event array keeps pointing at the old agent's perf buffers, which nobody reads
      // after it exits: resuming it would lose records silently.
      KLOG_WARN("--pin needs the ring buffer; the perf buffer is not pinned (a restart leaves a gap)");
    } else {
      bool resumed = false;
      if (Status s = resume(cfg, config_hash, cb, resumed); !s) return s;
      if (resumed) return Status::ok();
    }
  }

  bpf_object_open_opts open_opts{};
  open_opts.sz = sizeof(open_opts);
  if (!cfg.btf_path.empty()) open_opts.btf_custom_path = cfg.btf_path.c_str();
  skel_ = ktrail_bpf__open_opts(&open_opts);
  if (!skel_) return Status::error(KTRAIL_EXIT_RUNTIME, std::string("opening the BPF object: ") + strerror(errno));

  skel_->rodata->ktrail_use_perf = use_perf;
  skel_->rodata->ktrail_wakeup_bytes = cfg.wakeup_bytes;
  skel_->rodata->ktrail_agent_tgid = static_cast<uint32_t>(getpid());
  skel_->rodata->ktrail_trace_cred = cfg.trace_cred;
  skel_->rodata->ktrail_trace_exec_failed = cfg.trace_exec;
  skel_->rodata->ktrail_trace_ssh = cfg.trace_ssh;
  skel_->rodata->ktrail_cap_policy = static_cast<uint32_t>(cfg.cap_policy);
  skel_->rodata->ktrail_cap_always = cfg.cap_always;
  skel_->rodata->ktrail_cap_by_process = cfg.cap_by_process;
  skel_->rodata->ktrail_trace_file = cfg.trace_file && !cfg.watches.empty();
  {
    uint32_t n = 0;
    for (const auto &w : cfg.watches) {
      if (n == KTRAIL_WATCH_MAX || w.path.size() > KTRAIL_WATCH_LEN)
        return Status::error(KTRAIL_EXIT_USAGE, "--watch: at most " + std::to_string(KTRAIL_WATCH_MAX) +
                                                    " entries of at most " + std::to_string(KTRAIL_WATCH_LEN) + " bytes");
      auto &dst = const_cast<ktrail_watch &>(skel_->rodata->ktrail_watches[n++]);
      memset(&dst, 0, sizeof(dst));
      memcpy(dst.w, w.path.data(), w.path.size());
      dst.len = static_cast<uint32_t>(w.path.size());
      dst.flags = w.flags;
    }
    skel_->rodata->ktrail_watch_n = cfg.trace_file ? n : 0;
    for (uint32_t i = 0; i < n; i++) {
      const auto &w = cfg.watches[i];
      if (!(w.flags & KTRAIL_WATCH_SUFFIX)) continue;
      // The entry's last (up to) 8 bytes, at the high end of the word like a path's tail.
      size_t k = std::min<size_t>(w.path.size(), 8);
      uint64_t tail = 0;
      memcpy(reinterpret_cast<char *>(&tail) + (8 - k), w.path.data() + w.path.size() - k, k);
      skel_->rodata->ktrail_watch_suffix = 1;
      const_cast<__u64 &>(skel_->rodata->ktrail_suffix_tail[i]) = tail;
      const_cast<__u64 &>(skel_->rodata->ktrail_suffix_mask[i]) = k >= 8 ? ~0ull : ~0ull << ((8 - k) * 8);
    }
    std::vector<ktrail_watch_rel> rows = cfg.trace_file ? relative_rows(cfg.watches) : std::vector<ktrail_watch_rel>{};
    if (rows.size() > KTRAIL_REL_MAX) {
      // Too many directories: every relative open is checked in full (the root is INSIDE).
      KLOG_WARN("--watch: more than %d directories on the way to watched paths; relative opens are all checked in full",
                KTRAIL_REL_MAX);
      rows.assign(1, ktrail_watch_rel{});
      struct stat st;
      if (stat("/", &st) == 0) rows[0].ino = st.st_ino;
      rows[0].flags = KTRAIL_REL_INSIDE;
    }
    // INSIDE rows first: above the opened file's directory the kernel scans only those.
    auto inside_end = std::stable_partition(rows.begin(), rows.end(),
                                            [](const ktrail_watch_rel &r) { return r.flags & KTRAIL_REL_INSIDE; });
    for (size_t i = 0; i < rows.size(); i++)
      const_cast<ktrail_watch_rel &>(skel_->rodata->ktrail_rel[i]) = rows[i];
    skel_->rodata->ktrail_rel_n = static_cast<uint32_t>(rows.size());
    skel_->rodata->ktrail_rel_inside_n = static_cast<uint32_t>(inside_end - rows.begin());
    std::vector<MissingDir> missing = cfg.trace_file ? missing_dirs(cfg.watches) : std::vector<MissingDir>{};
    std::vector<ktrail_watch_miss> miss = missing_rows(missing);
    uint32_t deepest = 0;
    for (size_t i = 0; i < miss.size(); i++) {
      const_cast<ktrail_watch_miss &>(skel_->rodata->ktrail_miss[i]) = miss[i];
      deepest = std::max<uint32_t>(deepest, (miss[i].flags & KTRAIL_MISS_AT_LEAST) ? KTRAIL_FILE_DEPTH - 1 : miss[i].lvl);
    }
    skel_->rodata->ktrail_miss_n = static_cast<uint32_t>(miss.size());
    skel_->rodata->ktrail_miss_deepest = deepest;
    for (const auto &m : missing) {
      if (m.coverable) {
        KLOG_INFO("--watch: %s does not exist yet; opens in it once created (found below %s) are matched by path string too",
                  m.dir.c_str(), m.ancestor.c_str());
      } else {
        // Beyond the kernel's walk from the file up to the ancestor: only the string can tell.
        skel_->rodata->ktrail_watch_missing = 1;
        KLOG_WARN("--watch: %s does not exist yet, %u levels below %s (more than the %d walked); every successful open is matched by path string too",
                  m.dir.c_str(), m.row.lvl, m.ancestor.c_str(), KTRAIL_FILE_DEPTH);
      }
    }
    struct stat ns;
    if (stat("/proc/self/ns/mnt", &ns) == 0) skel_->rodata->ktrail_agent_mntns = static_cast<uint32_t>(ns.st_ino);
    if (cfg.trace_file) {
      // 6.2+: the opened-file walk through bpf_rdonly_cast; older kernels keep the probe reads.
      ProgProbe rc = probe_rdonly_cast(features_->vmlinux_btf.get());
      skel_->rodata->ktrail_has_rdonly_cast = rc.ok;
      KLOG_DEBUG("--watch: bpf_rdonly_cast %s", rc.ok ? "used" : rc.detail.c_str());
    }
  }
  {
    uint32_t n = 0;
    for (const auto &name : cfg.ssh_exe_names) {
      if (n == KTRAIL_SSH_COMMS) {
        KLOG_WARN("--ssh-exe-names: only the first %d names are used", KTRAIL_SSH_COMMS);
        break;
      }
      // comm holds 15 bytes and a NUL: compare the name as the kernel will store it.
      char comm[16] = {};
      strncpy(comm, name.c_str(), sizeof(comm) - 1);
      memcpy((void *)skel_->rodata->ktrail_ssh_comms[n++], comm, sizeof(comm));
    }
    skel_->rodata->ktrail_ssh_ncomms = n;
  }
  uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  uint32_t rb_bytes = cfg.buffer_mb * 1024u * 1024u;
  // Unused transport keeps its minimum size; the ring must be a power-of-two page multiple.
  bpf_map__set_max_entries(skel_->maps.ktrail_rb, use_perf ? page : rb_bytes);

  HookDef defs[] = {
      {"sched_process_exec", skel_->progs.tp_btf__sched_process_exec,
       skel_->progs.tracepoint__sched__sched_process_exec, plan.hooks[0].wanted},
      {"sched_process_exit", skel_->progs.tp_btf__sched_process_exit,
       skel_->progs.tracepoint__sched__sched_process_exit, plan.hooks[1].wanted},
      {"sys_enter", skel_->progs.tp_btf__sys_enter, skel_->progs.tracepoint__raw_syscalls__sys_enter,
       plan.hooks[2].wanted},
      {"sys_exit", skel_->progs.tp_btf__sys_exit, skel_->progs.tracepoint__raw_syscalls__sys_exit,
       plan.hooks[3].wanted},
      {"cgroup_mkdir", skel_->progs.tp_btf__cgroup_mkdir, skel_->progs.tracepoint__cgroup__cgroup_mkdir,
       plan.hooks[4].wanted},
  };
  static_assert(std::size(kHookNames) == 6, "defs[] follows kHookNames; \"syscalls\" is last");
  const HookPlan &sc_plan = plan.hooks[5];
  // Per-syscall tracepoints: only those the plan names are loaded (a missing tracepoint's
  // program would fail at attach, a missing syscall's at nothing, but both waste a verifier run).
  std::vector<std::pair<std::string, bpf_program *>> sc_progs;
  {
    auto want = [&](const std::vector<std::string> &names, const std::string &n) {
      return std::find(names.begin(), names.end(), n) != names.end();
    };
    bpf_program *prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      const std::string name = bpf_program__name(prog);
      for (const char *dir : {"enter", "exit"}) {
        const std::string prefix = std::string("tracepoint__syscalls__sys_") + dir + "_";
        if (name.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string sc = name.substr(prefix.size());
        bool load = sc_plan.wanted && want(dir[1] == 'n' ? plan.syscalls.enter : plan.syscalls.exit, sc);
        bpf_program__set_autoload(prog, load);
        if (load) sc_progs.emplace_back(std::string("sys_") + dir + "_" + sc, prog);
      }
    }
  }
  skel_->bss->ktrail_raw_compat_only = plan.syscalls.raw_compat_only;
  const bool file_tail = sc_plan.wanted && cfg.trace_file;
  bpf_program__set_autoload(skel_->progs.tracepoint__ktrail_file_match, file_tail);
  const std::vector<PamProbe> pam_probes = {
      {skel_->progs.uprobe__pam_start, "pam_start", false},
      {skel_->progs.uretprobe__pam_authenticate, "pam_authenticate", true},
      {skel_->progs.uretprobe__pam_acct_mgmt, "pam_acct_mgmt", true},
      {skel_->progs.uretprobe__pam_open_session, "pam_open_session", true},
      {skel_->progs.uretprobe__pam_close_session, "pam_close_session", true},
  };
  for (const auto &p : pam_probes) bpf_program__set_autoload(p.prog, cfg.trace_ssh);
  // Exactly one cap_capable variant is loaded: a variant this kernel refuses (fexit where
  // tracing programs are not allowed, kprobes without CONFIG_KPROBES) would fail the object.
  const CapHook cap_variant = choose_cap_hook(cfg);
  bpf_program__set_autoload(skel_->progs.tp_btf__cap_capable, cap_variant == CapHook::TpBtf);
  bpf_program__set_autoload(skel_->progs.fexit__cap_capable, cap_variant == CapHook::Fentry);
  bpf_program__set_autoload(skel_->progs.kprobe__cap_capable, cap_variant == CapHook::Kprobe);
  bpf_program__set_autoload(skel_->progs.kretprobe__cap_capable, cap_variant == CapHook::Kprobe);
  // Attach plan (plan_attach, shared with `ktrail probe`): which variants to load per hook.
  for (size_t i = 0; i < std::size(defs); i++) {
    const HookPlan &hp = plan.hooks[i];
    bpf_program__set_autoload(defs[i].tp_btf, hp.wanted && hp.load_tp_btf);
    bpf_program__set_autoload(defs[i].tracepoint, hp.wanted && hp.load_tracepoint);
  }

  int err = ktrail_bpf__load(skel_);
  if (err) return classify_load_error(err, features_->lockdown);
  if (file_tail) {
    uint32_t zero = 0;
    int fd = bpf_program__fd(skel_->progs.tracepoint__ktrail_file_match);
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.ktrail_file_progs), &zero, &fd, BPF_ANY) != 0)
      return Status::error(KTRAIL_EXIT_RUNTIME, std::string("filling the file matcher's program array: ") +
                                                    strerror(errno));
  }

  bool any = false;
  // Per-syscall tracepoints first, all or none: a partial set would leave syscalls unseen,
  // since the raw programs stand back for 64-bit syscalls while ktrail_raw_compat_only is set.
  HookStatus sc_status{"syscalls", "tracepoint", false, ""};
  if (sc_plan.wanted) {
    HookStatus &st = sc_status;
    size_t first_link = links_.size();
    for (auto &[name, prog] : sc_progs) {
      bpf_link *link = bpf_program__attach(prog);
      if (!link) {
        st.error = name + ": " + strerror(errno);
        break;
      }
      links_.push_back(link);
    }
    if (st.error.empty()) {
      st.attached = true;
      KLOG_DEBUG("%zu per-syscall tracepoints attached", sc_progs.size());
    } else {
      for (size_t i = first_link; i < links_.size(); i++) bpf_link__destroy(static_cast<bpf_link *>(links_[i]));
      links_.resize(first_link);
      skel_->bss->ktrail_raw_compat_only = 0;
      for (size_t i : {2, 3}) defs[i].wanted = true;  // the raw hooks carry every syscall now
      KLOG_WARN("per-syscall tracepoints failed (%s): every syscall goes through sys_enter/sys_exit",
                st.error.c_str());
    }
    any |= st.attached;
  }
  for (auto &d : defs) {
    if (!d.wanted) continue;
    HookStatus st{d.hook, "", false, ""};
    for (bpf_program *p : {d.tp_btf, d.tracepoint}) {
      if (!bpf_program__autoload(p)) continue;
      bpf_link *link = bpf_program__attach(p);
      std::string variant = p == d.tp_btf ? "tp_btf" : "tracepoint";
      if (!link) {
        int e = errno;
        st.error += (st.error.empty() ? "" : "; ") + variant + ": " + strerror(e);
        KLOG_WARN("attaching %s via %s failed: %s%s", d.hook, variant.c_str(), strerror(e),
                  p == d.tp_btf ? ", trying the fallback" : "");
        continue;
      }
      links_.push_back(link);
      st.variant = variant;
      st.attached = true;
      break;
    }
    if (!st.attached) {
      if (st.error.empty()) st.error = "no variant available on this kernel";
      KLOG_WARN("hook %s is not active: %s", d.hook, st.error.c_str());
    }
    any |= st.attached;
    hooks_.push_back(st);
  }
  if (sc_plan.wanted) hooks_.push_back(sc_status);  // listed in kHookNames order, like the plan
  if (cfg.trace_ssh) attach_ssh(cfg, pam_probes);
  if (cfg.cap_policy != CapPolicy::Off) {
    attach_capable(cap_variant);
    any |= hooks_.back().attached;
  }
  if (!any) return Status::error(KTRAIL_EXIT_NO_HOOKS, "no hook could be attached");

  std::string terr;
  if (use_perf) {
    size_t pages = 1;
    long ncpu = libbpf_num_possible_cpus();
    size_t per_cpu = rb_bytes / (ncpu > 0 ? ncpu : 1) / page;
    while (pages * 2 <= per_cpu) pages *= 2;  // perf wants a power of two
    source_ = EventSource::perf_buffer(bpf_map__fd(skel_->maps.ktrail_perf), pages < 8 ? 8 : pages,
                                       cfg.wakeup_bytes / (ncpu > 0 ? ncpu : 1), std::move(cb), terr);
  } else {
    source_ = EventSource::ring_buffer(bpf_map__fd(skel_->maps.ktrail_rb), std::move(cb), terr);
  }
  if (!source_) return Status::error(KTRAIL_EXIT_RUNTIME, terr);
  stats_fd_ = bpf_map__fd(skel_->maps.ktrail_stats);
  if (!cfg.pin_dir.empty() && !use_perf) {
    pin_dir_ = cfg.pin_dir;
    pin_all(config_hash);
  }
  return Status::ok();
}

// libpam uprobes: optional. Without them sshd's log still gives the SSH events; the events
// say which signals they came from.
void Loader::attach_ssh(const LoaderConfig &cfg, const std::vector<PamProbe> &probes) {
  HookStatus st{"libpam", "uprobe", false, ""};
  std::vector<std::string> libs = find_libpam_paths(cfg.proc_root, cfg.ssh_exe_names);
  std::vector<std::string> errors;
  std::vector<void *> links = attach_pam_probes(probes, libs, errors);
  for (const auto &e : errors) KLOG_WARN("libpam uprobe %s", e.c_str());
  if (libs.empty()) st.error = "no libpam found";
  st.attached = links.size() == probes.size() * libs.size() && !libs.empty();
  if (!st.attached && !links.empty()) st.variant = "uprobe(partial)";
  if (!st.attached && st.error.empty()) st.error = errors.empty() ? "" : errors.front();
  if (links.empty())
    KLOG_WARN("SSH: no libpam uprobe active (%s); SSH events come from sshd's log only",
              st.error.c_str());
  else
    for (const auto &l : libs) KLOG_DEBUG("libpam uprobes on %s", l.c_str());
  links_.insert(links_.end(), links.begin(), links.end());
  st.attached = !links.empty();
  hooks_.push_back(st);
}

Status Loader::resume(const LoaderConfig &cfg, uint64_t config_hash, EventSource::Callback &cb, bool &resumed) {
  const std::string &dir = cfg.pin_dir;
  int meta = bpf_obj_get((dir + "/meta").c_str());
  if (meta < 0) return Status::ok();  // nothing pinned yet
  PinMeta m{};
  uint32_t zero = 0;
  int rb = bpf_obj_get((dir + "/ktrail_rb").c_str());
  int stats = bpf_obj_get((dir + "/ktrail_stats").c_str());
  bool ok = bpf_map_lookup_elem(meta, &zero, &m) == 0 && m.magic == kPinMagic && rb >= 0 && stats >= 0;
  if (!ok || m.config != config_hash) {
    KLOG_WARN("discarding the pinned state in %s: %s", dir.c_str(),
              ok ? "made by another ktrail build or configuration" : "incomplete");
    for (int fd : {meta, rb, stats})
      if (fd >= 0) close(fd);
    unpin_dir(dir);
    return Status::ok();
  }
  std::string terr;
  source_ = EventSource::ring_buffer(rb, std::move(cb), terr);
  if (!source_) {
    for (int fd : {meta, rb, stats}) close(fd);
    return Status::error(KTRAIL_EXIT_RUNTIME, terr);
  }
  owned_fds_ = {meta, rb, stats};
  meta_fd_ = meta;
  stats_fd_ = stats;
  for (size_t i = 0; i < std::size(kHookNames); i++) {
    if (!m.variant[i]) continue;
    hooks_.push_back({kHookNames[i], m.variant[i] == 1 ? "tp_btf" : "tracepoint", true, ""});
  }
  pin_dir_ = dir;
  resumed_ = resumed = true;
  KLOG_INFO("resumed the pinned programs and ring buffer in %s", dir.c_str());
  return Status::ok();
}

void Loader::pin_all(uint64_t config_hash) {
  const std::string dir = pin_dir_;
  mkdir(dir.c_str(), 0700);
  unpin_dir(dir);
  PinMeta m{};
  m.magic = kPinMagic;
  m.config = config_hash;
  for (const auto &h : hooks_)
    for (size_t i = 0; i < std::size(kHookNames); i++)
      if (h.attached && h.hook == kHookNames[i]) m.variant[i] = h.variant == "tp_btf" ? 1 : 2;
  std::string err;
  size_t li = 0;
  for (void *l : links_) {
    std::string p = dir + "/link_" + std::to_string(li++);
    if (bpf_link__pin(static_cast<bpf_link *>(l), p.c_str()) != 0) err = "link " + p + ": " + strerror(errno);
  }
  if (err.empty() && bpf_map__pin(skel_->maps.ktrail_rb, (dir + "/ktrail_rb").c_str()) != 0)
    err = std::string("ring buffer: ") + strerror(errno);
  if (err.empty() && bpf_map__pin(skel_->maps.ktrail_stats, (dir + "/ktrail_stats").c_str()) != 0)
    err = std::string("counters: ") + strerror(errno);
  if (err.empty()) {
    meta_fd_ = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ktrail_meta", sizeof(uint32_t), sizeof(PinMeta), 1, nullptr);
    uint32_t zero = 0;
    if (meta_fd_ < 0 || bpf_map_update_elem(meta_fd_, &zero, &m, BPF_ANY) != 0 ||
        bpf_obj_pin(meta_fd_, (dir + "/meta").c_str()) != 0)
      err = std::string("metadata: ") + strerror(errno);
    if (meta_fd_ >= 0) owned_fds_.push_back(meta_fd_);
  }
  if (!err.empty()) {
    // Unpinned, the programs detach when this agent exits: a restart leaves a gap.
    KLOG_WARN("cannot pin to %s (%s): a restart will not resume", dir.c_str(), err.c_str());
    unpin_dir(dir);
    pin_dir_.clear();
    return;
  }
  KLOG_INFO("pinned the programs and ring buffer in %s", dir.c_str());
}

std::vector<uint64_t> Loader::reported_drops() const {
  std::vector<uint64_t> out(KTRAIL_HOOK_MAX, 0);
  PinMeta m{};
  uint32_t zero = 0;
  if (resumed_ && meta_fd_ >= 0 && bpf_map_lookup_elem(meta_fd_, &zero, &m) == 0)
    out.assign(m.reported, m.reported + KTRAIL_HOOK_MAX);
  return out;
}

void Loader::save_reported_drops(const std::vector<uint64_t> &reported) {
  if (pin_dir_.empty() || meta_fd_ < 0) return;
  PinMeta m{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(meta_fd_, &zero, &m) != 0) return;
  for (size_t i = 0; i < KTRAIL_HOOK_MAX && i < reported.size(); i++) m.reported[i] = reported[i];
  bpf_map_update_elem(meta_fd_, &zero, &m, BPF_ANY);
}

std::vector<CapAggEntry> Loader::read_cap_agg() const {
  std::vector<CapAggEntry> out;
  if (!skel_) return out;
  int fd = bpf_map__fd(skel_->maps.ktrail_cap_agg_map);
  std::vector<uint8_t> key(sizeof(ktrail_cap_key)), next(sizeof(ktrail_cap_key));
  const void *prev = nullptr;
  // Bounded by the map size: a key deleted under us restarts get_next_key from the start.
  for (uint32_t i = 0; i <= bpf_map__max_entries(skel_->maps.ktrail_cap_agg_map); i++) {
    if (bpf_map_get_next_key(fd, prev, next.data()) != 0) break;
    CapAggEntry e{next, std::vector<uint8_t>(sizeof(ktrail_cap_agg))};
    if (bpf_map_lookup_elem(fd, next.data(), e.value.data()) == 0) out.push_back(std::move(e));
    key = next;
    prev = key.data();
  }
  return out;
}

bool Loader::take_cap_agg(const std::vector<uint8_t> &key, std::vector<uint8_t> &value) const {
  if (!skel_) return false;
  value.assign(sizeof(ktrail_cap_agg), 0);
  int fd = bpf_map__fd(skel_->maps.ktrail_cap_agg_map);
  return bpf_map_lookup_and_delete_elem(fd, key.data(), value.data()) == 0;
}

std::vector<uint64_t> Loader::read_cap_counters() const {
  std::vector<uint64_t> out(KTRAIL_CAPC_MAX, 0);
  if (!skel_) return out;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> vals(ncpu);
  int fd = bpf_map__fd(skel_->maps.ktrail_cap_counters);
  for (uint32_t k = 0; k < KTRAIL_CAPC_MAX; k++) {
    if (bpf_map_lookup_elem(fd, &k, vals.data()) != 0) continue;
    for (uint64_t v : vals) out[k] += v;
  }
  return out;
}

std::vector<HookCounters> Loader::read_counters() const {
  std::vector<HookCounters> out(KTRAIL_HOOK_MAX);
  if (stats_fd_ < 0) return out;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  struct Stats {
    uint64_t emitted, dropped;
  };
  std::vector<Stats> vals(ncpu);
  int fd = stats_fd_;
  for (uint32_t k = 0; k < KTRAIL_HOOK_MAX; k++) {
    if (bpf_map_lookup_elem(fd, &k, vals.data()) != 0) continue;
    for (auto &v : vals) {
      out[k].emitted += v.emitted;
      out[k].dropped += v.dropped;
    }
  }
  return out;
}

}  // namespace ktrail
