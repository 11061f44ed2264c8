#include "enrich/enricher.h"

#include <algorithm>

#include "enrich/cache_stats.h"
#include "ktrail/abi/events.h"

namespace ktrail {

Enricher::Enricher(const std::string &proc_root, const std::string &etc)
    : proc_root_(proc_root), users_(etc), sessions_(procs_, users_, proc_root) {}

void Enricher::configure(const EnrichOptions &o) {
  opts_ = o;
  SessionTrackerConfig sc;
  sc.exe_names = o.ssh_exe_names;
  sessions_.set_config(sc);
  if (o.out_file && !o.watch_entries.empty()) file_attrs_.seed(o.watch_entries);
  file_candidates_.configure(o.watch_entries, proc_root_);
}

void Enricher::tick(uint64_t now_boot_ns, std::vector<Event> &out) {
  if (!opts_.ssh) return;
  size_t n = out.size();
  sessions_.tick(now_boot_ns, out);
  if (!opts_.out_ssh) out.resize(n);
}

void resolve_executable(const std::string &filename, const std::string &cwd, std::string &out) {
  if (filename.empty() || filename[0] == '/' || cwd.empty() || cwd[0] != '/') {
    out = filename;
    return;
  }
  std::string_view f = filename;
  if (f.substr(0, 2) == "./") f.remove_prefix(2);
  out.assign(cwd == "/" ? std::string_view() : std::string_view(cwd));
  out.append(1, '/').append(f);
}

std::string resolve_executable(const std::string &filename, const std::string &cwd) {
  std::string out;
  resolve_executable(filename, cwd, out);
  return out;
}

void Enricher::enrich(Event &e) {
  e.realtime_ns = clock_.to_realtime(e.boot_ns);
  if (e.proc.start_boot_ns) e.start_realtime_ns = clock_.to_realtime(e.proc.start_boot_ns);
  const Creds &c = e.proc.creds;
  e.user_name = users_.user(c.euid);
  e.real_user_name = users_.user(c.uid);
  e.group_name = users_.group(c.egid);
  e.real_group_name = users_.group(c.gid);
  if (e.proc.loginuid != UINT32_MAX) e.audit_user_name = users_.user(e.proc.loginuid);

  if (e.kind == EventKind::Exec) {
    uint32_t sid = e.sid;
    uint64_t st;
    if (!sid && !ProcTable::read_stat(proc_root_, e.proc.pid, st, sid)) {
      // Gone already: exec keeps the session, and a fork inherits its parent's.
      const ProcInfo *prev = procs_.find(e.proc.pid);
      if (!prev) prev = procs_.find(e.proc.ppid);
      sid = prev ? prev->sid : 0;
    }
    // Assigned into the table's slot: its strings and vectors reuse their buffers.
    ProcInfo &info = procs_.put(e.proc.pid);
    info.ppid = e.proc.ppid;
    info.comm = e.proc.comm;
    info.cwd = e.cwd;
    resolve_executable(e.filename, e.cwd, info.executable);
    info.args = e.args;
    info.argc = std::max<uint32_t>(e.argc, static_cast<uint32_t>(e.args.size()));
    info.start_boot_ns = e.proc.start_boot_ns;
    info.pid_ns = e.proc.pid_ns;
    info.sid = sid;
    e.executable = info.executable;
  } else if (e.proc.pid) {
    const ProcInfo *p = procs_.find(e.proc.pid);
    g_process_cache.count(p != nullptr);
    ProcInfo fresh;
    if (!p && ProcTable::read_proc(proc_root_, e.proc.pid, fresh)) {
      procs_.upsert(e.proc.pid, std::move(fresh));
      p = procs_.find(e.proc.pid);
    }
    // Gone already (fork, fail, exit): until it execs, a child runs its parent's image.
    if (!p && e.proc.ppid) {
      if (const ProcInfo *pp = procs_.find(e.proc.ppid)) {
        ProcInfo child = *pp;
        child.ppid = e.proc.ppid;
        child.comm = e.proc.comm;
        procs_.upsert(e.proc.pid, std::move(child));
        p = procs_.find(e.proc.pid);
      }
    }
    if (p) {
      e.executable = p->executable;
      if (e.args.empty()) {
        e.args = p->args;
        e.argc = std::max<uint32_t>(p->argc, static_cast<uint32_t>(p->args.size()));
        e.args_from_table = true;
      }
      if (e.cwd.empty()) e.cwd = p->cwd;
    }
  }
  if (const ProcInfo *pp = procs_.find(e.proc.ppid)) {
    e.parent_name = pp->comm;
    e.parent_executable = pp->executable;
  }
  fill_leaders(e, procs_);
  if (identity_) identity_->enrich(e);
  if (opts_.ssh) {
    sessions_.process(e, before_, after_);
    if (!opts_.out_ssh) {
      before_.clear();
      after_.clear();
    }
  }
  switch (e.kind) {
    case EventKind::Exec:
    case EventKind::ExecFailed: e.suppress |= !opts_.out_exec; break;
    case EventKind::Exit: e.suppress |= !opts_.out_exit; break;
    case EventKind::Cred: e.suppress |= !opts_.out_cred; break;
    case EventKind::SshAccept: e.suppress |= !opts_.out_ssh; break;
    case EventKind::Capable:
      e.suppress |= !opts_.out_capable;
      e.cap.by_process = opts_.cap_by_process;
      e.cap.first_realtime_ns = clock_.to_realtime(e.cap.first_boot_ns);
      break;
    case EventKind::File:
      e.suppress |= !opts_.out_file;
      // Unmatched in the kernel: reported only if the agent resolves it to a watched path.
      if ((e.file.flags & KTRAIL_FILE_CANDIDATE) && !file_candidates_.resolve(e)) {
        e.suppress = true;
        break;
      }
      if (e.file.watch < opts_.watch_entries.size()) e.file.watch_entry = opts_.watch_entries[e.file.watch];
      file_attrs_.apply(e.file, e.ret);
      break;
    default: break;
  }
}

void Enricher::after_emit(const Event &e) {
  if (e.kind == EventKind::Exit) {
    procs_.remove(e.proc.pid);
    if (identity_) identity_->forget_pid(e.proc.pid);
  }
}

void Enricher::enable_identity(IdentityConfig cfg) {
  cfg.proc_root = proc_root_;
  identity_ = std::make_unique<IdentityEnricher>(std::move(cfg));
  identity_->start();
}

void Enricher::housekeeping() {
  uint64_t now = Clock::boot_now();
  // Exit events remove processes; a lost exit would leak one, so sweep now and then.
  if (now - last_reap_ns_ >= 30ull * 1000000000ull) {
    procs_.reap(proc_root_);
    last_reap_ns_ = now;
  }
  if (identity_) identity_->housekeeping(now);
}

}  // namespace ktrail
