#include "loader/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "common/log.h"
#include "ktrail.skel.h"
#include "ktrail/abi/events.h"

namespace ktrail {
namespace {

int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
  // libbpf's debug chatter is verifier logs; keep it behind --log-level debug.
  log::Level l = level == LIBBPF_WARN ? log::Level::Warn
                 : level == LIBBPF_INFO ? log::Level::Debug
                                        : log::Level::Debug;
  if (l < log::level()) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  if (n > 0 && buf[std::min<size_t>(n, sizeof(buf) - 1) - 1] == '\n')
    buf[std::min<size_t>(n, sizeof(buf) - 1) - 1] = 0;
  log::write(l, "libbpf: %s", buf);
  return 0;
}

struct HookDef {
  const char *hook;        // tracepoint name, also BTF name suffix
  bpf_program *tp_btf;
  bpf_program *tracepoint;
  bool wanted;
};

}  // namespace

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
  for (void *l : links_) bpf_link__destroy(static_cast<bpf_link *>(l));
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

  bpf_object_open_opts open_opts{};
  open_opts.sz = sizeof(open_opts);
  if (!cfg.btf_path.empty()) open_opts.btf_custom_path = cfg.btf_path.c_str();
  skel_ = ktrail_bpf__open_opts(&open_opts);
  if (!skel_) return Status::error(KTRAIL_EXIT_RUNTIME, std::string("opening the BPF object: ") + strerror(errno));

  bool use_perf = cfg.buffer == BufferKind::Perf || (cfg.buffer == BufferKind::Auto && !features_->ringbuf);
  skel_->rodata->ktrail_use_perf = use_perf;
  skel_->rodata->ktrail_wakeup_bytes = cfg.wakeup_bytes;
  skel_->rodata->ktrail_agent_tgid = static_cast<uint32_t>(getpid());
  skel_->rodata->ktrail_trace_cred = cfg.trace_cred;
  skel_->rodata->ktrail_trace_exec_failed = cfg.trace_exec;
  uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  uint32_t rb_bytes = cfg.buffer_mb * 1024u * 1024u;
  // Unused transport keeps its minimum size; the ring must be a power-of-two page multiple.
  bpf_map__set_max_entries(skel_->maps.ktrail_rb, use_perf ? page : rb_bytes);

  HookDef defs[] = {
      {"sched_process_exec", skel_->progs.tp_btf__sched_process_exec,
       skel_->progs.tracepoint__sched__sched_process_exec, cfg.trace_exec},
      {"sched_process_exit", skel_->progs.tp_btf__sched_process_exit,
       skel_->progs.tracepoint__sched__sched_process_exit, cfg.trace_exit},
      {"sys_enter", skel_->progs.tp_btf__sys_enter, skel_->progs.tracepoint__raw_syscalls__sys_enter,
       cfg.trace_cred || cfg.trace_exec},
      {"sys_exit", skel_->progs.tp_btf__sys_exit, skel_->progs.tracepoint__raw_syscalls__sys_exit,
       cfg.trace_cred || cfg.trace_exec},
      {"cgroup_mkdir", skel_->progs.tp_btf__cgroup_mkdir, skel_->progs.tracepoint__cgroup__cgroup_mkdir,
       cfg.trace_cgroup},
  };
  // Attach plan. Both variants are loaded where both can be, so a failed tp_btf attach can
  // still fall back at runtime; a variant the kernel lacks is never loaded (it would fail the
  // whole object).
  for (auto &d : defs) {
    bool btf_ok = features_->has_tp_btf(d.hook) && cfg.hooks != HookMode::Tracepoint;
    bool tp_ok = cfg.hooks != HookMode::TpBtf;
    bpf_program__set_autoload(d.tp_btf, d.wanted && btf_ok);
    bpf_program__set_autoload(d.tracepoint, d.wanted && tp_ok);
  }

  int err = ktrail_bpf__load(skel_);
  if (err) return classify_load_error(err, features_->lockdown);

  bool any = false;
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
  return Status::ok();
}

std::vector<HookCounters> Loader::read_counters() const {
  std::vector<HookCounters> out(KTRAIL_HOOK_MAX);
  if (!skel_) return out;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  struct Stats {
    uint64_t emitted, dropped;
  };
  std::vector<Stats> vals(ncpu);
  int fd = bpf_map__fd(skel_->maps.ktrail_stats);
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
