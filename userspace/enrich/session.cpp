#include "enrich/session.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "enrich/proc_table.h"
#include "enrich/users.h"
#include "ktrail/abi/events.h"

namespace ktrail {
namespace {

constexpr uint32_t kUnset = UINT32_MAX;
constexpr int kEPERM = 1;

std::string basename_of(const std::string &p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string read_first_line(const std::string &path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

uint32_t read_u32(const std::string &path) {
  std::string s = read_first_line(path);
  char *end;
  unsigned long v = strtoul(s.c_str(), &end, 10);
  return s.empty() ? kUnset : static_cast<uint32_t>(v);
}

// One fixed order, whichever signal arrived first.
void sort_signals(std::vector<std::string> &v) {
  static const char *const order[] = {"pam", "log", "cred", "sessionid", "proc", "exit"};
  auto rank = [](const std::string &x) {
    size_t i = 0;
    for (; i < sizeof(order) / sizeof(order[0]); i++)
      if (x == order[i]) break;
    return i;
  };
  std::stable_sort(v.begin(), v.end(), [&](const std::string &x, const std::string &y) { return rank(x) < rank(y); });
}

std::string endpoint_key(const Endpoint &e) { return e.ip + " " + std::to_string(e.port); }

// A fresh event that keeps the subject (process, enrichment) of `base`.
Event derived_from(const Event &base, EventKind kind) {
  Event e;
  e.kind = kind;
  e.boot_ns = base.boot_ns;
  e.realtime_ns = base.realtime_ns;
  e.proc = base.proc;
  e.start_realtime_ns = base.start_realtime_ns;
  e.executable = base.executable;
  e.args = base.args;
  e.args_from_table = base.args_from_table;
  e.cwd = base.cwd;
  e.parent_name = base.parent_name;
  e.parent_executable = base.parent_executable;
  e.user_name = base.user_name;
  e.real_user_name = base.real_user_name;
  e.group_name = base.group_name;
  e.real_group_name = base.real_group_name;
  e.audit_user_name = base.audit_user_name;
  return e;
}

}  // namespace

SessionTracker::SessionTracker(ProcTable &procs, Users &users, std::string proc_root,
                               SessionTrackerConfig cfg)
    : procs_(procs), users_(users), proc_root_(std::move(proc_root)), cfg_(std::move(cfg)) {}

bool SessionTracker::is_ssh_exe(const std::string &name) const {
  for (const auto &n : cfg_.exe_names)
    if (name == n || (name.size() == 15 && n.compare(0, 15, name) == 0)) return true;
  return false;
}

// The kernel already checked comm and CAP_SETUID; a known executable must agree too, so a
// privileged process merely renamed "sshd" is not believed either.
bool SessionTracker::trusted(const Event &e) const {
  if (!is_ssh_exe(e.proc.comm)) return false;
  return e.executable.empty() || is_ssh_exe(basename_of(e.executable));
}

size_t SessionTracker::pending_auths() const {
  size_t n = 0;
  for (auto &[pid, c] : conns_) n += c.pending.active;
  return n;
}

uint64_t SessionTracker::failures_from(const std::string &ip) const {
  auto it = failures_.find(ip);
  return it == failures_.end() ? 0 : it->second.first;
}

const SshSession *SessionTracker::session(uint32_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

void SessionTracker::add_signal(std::vector<std::string> &v, const std::string &s) const {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

SessionTracker::Conn *SessionTracker::find_conn(uint32_t pid) {
  auto it = conns_.find(pid);
  return it == conns_.end() ? nullptr : &it->second;
}

// The connection a signal belongs to: its own pid (the monitor), or its parent's (PAM's
// keyboard-interactive child).
SessionTracker::Conn &SessionTracker::conn_for(const Event &e) {
  if (Conn *c = find_conn(e.proc.pid)) return *c;
  if (Conn *c = find_conn(e.proc.ppid); c && e.kind == EventKind::SshPam) return *c;
  if (conns_.size() >= cfg_.max_connections) {
    // The oldest idle connection goes; its process is most likely gone unseen.
    auto oldest = std::min_element(conns_.begin(), conns_.end(), [](const auto &a, const auto &b) {
      return a.second.last_ns < b.second.last_ns;
    });
    conns_.erase(oldest);
  }
  Conn &c = conns_[e.proc.pid];
  c.pid = e.proc.pid;
  c.preauth_sessionid = e.proc.sessionid;
  c.last_ns = e.boot_ns;
  return c;
}

int8_t SessionTracker::user_exists_in(uint32_t pid, const std::string &user) const {
  // The passwd sshd sees: through its root, so a containerised sshd's users are checked.
  for (std::string path : {proc_root_ + "/" + std::to_string(pid) + "/root/etc/passwd",
                           std::string("/etc/passwd")}) {
    std::ifstream f(path);
    if (!f) continue;
    std::string line;
    while (std::getline(f, line))
      if (line.size() > user.size() && line.compare(0, user.size(), user) == 0 && line[user.size()] == ':')
        return 1;
    return 0;
  }
  return -1;
}

// ---- events --------------------------------------------------------------------------

void SessionTracker::process(Event &e, std::vector<Event> &before, std::vector<Event> &after) {
  switch (e.kind) {
    case EventKind::SshAccept:
      if (!trusted(e)) {
        e.suppress = true;
        return;
      }
      on_accept(e);
      break;
    case EventKind::SshLog:
      e.suppress = true;
      if (!trusted(e)) return;
      for (const auto &m : parse_sshd_log_write(e.ssh.log_line)) on_log(e, m, before);
      return;
    case EventKind::SshPam:
      e.suppress = true;
      if (!trusted(e)) return;
      on_pam(e, before);
      return;
    case EventKind::Cred:
      on_cred(e);
      break;
    case EventKind::Exec:
      on_exec(e, before);
      break;
    case EventKind::Exit:
      on_exit(e, after);
      break;
    default:
      break;
  }
  annotate(e);
}

void SessionTracker::on_accept(Event &e) {
  if (!e.ssh.source.known()) return;
  std::string key = endpoint_key(e.ssh.source);
  if (accepts_.emplace(key, e.ssh.destination).second) {
    accept_order_.push_back(key);
    while (accept_order_.size() > cfg_.max_connections) {
      accepts_.erase(accept_order_.front());
      accept_order_.pop_front();
    }
  }
}

Event SessionTracker::make_auth(const Event &base, Conn &c, bool success) const {
  Event a = derived_from(base, EventKind::SshAuth);
  a.ssh.source = c.source;
  a.ssh.destination = c.destination;
  a.ssh.user = c.user;
  a.ssh.user_exists = c.user_exists;
  a.ret = success ? 0 : -1;
  return a;
}

void SessionTracker::emit_auth(Event a, Conn &c, std::vector<Event> &out) {
  const bool success = a.ret == 0;
  if (a.ssh.user.empty()) a.ssh.user = c.user;
  if (a.ssh.user_exists < 0) a.ssh.user_exists = c.user_exists;
  if (a.ssh.user_exists < 0 && !a.ssh.user.empty()) {
    // A successful login proves the account; otherwise ask the passwd sshd sees.
    a.ssh.user_exists = success ? 1 : user_exists_in(c.pid, a.ssh.user);
  }
  if (!a.ssh.source.known()) a.ssh.source = c.source;
  if (!a.ssh.destination.known()) a.ssh.destination = c.destination;
  if (a.ssh.source.known()) {
    auto &f = failures_[a.ssh.source.ip];
    if (!success) f.first++;
    f.second = ++failure_tick_;
    a.ssh.failures_from_source = f.first;
    if (failures_.size() > cfg_.max_sources) {
      // Forget the source idle longest: an attacker cannot grow the table without bound.
      auto oldest = std::min_element(failures_.begin(), failures_.end(), [](const auto &x, const auto &y) {
        return x.second.second < y.second.second;
      });
      failures_.erase(oldest);
    }
  }
  if (success && !a.ssh.partial) c.authenticated = true;
  if (!success) c.failure_reported = true;
  sort_signals(a.ssh.signals);
  out.push_back(std::move(a));
}

void SessionTracker::flush_pending(Conn &c, std::vector<Event> &out) {
  if (!c.pending.active) return;
  c.pending.active = false;
  emit_auth(std::move(c.pending.ev), c, out);
}

void SessionTracker::on_log(Event &e, const SshdLogMsg &m, std::vector<Event> &before) {
  Conn &c = conn_for(e);
  c.last_ns = e.boot_ns;
  if (!c.source.known() && !m.ip.empty()) {
    c.source = Endpoint{m.ip, m.port};
    if (auto it = accepts_.find(endpoint_key(c.source)); it != accepts_.end())
      c.destination = it->second;
  }
  if (!m.user.empty()) c.user = m.user;
  if (m.invalid_user) c.user_exists = 0;
  switch (m.kind) {
    case SshdLogMsg::Kind::InvalidUser:
      return;
    case SshdLogMsg::Kind::Accepted:
    case SshdLogMsg::Kind::Partial:
    case SshdLogMsg::Kind::Failed: {
      const bool success = m.kind != SshdLogMsg::Kind::Failed;
      // "none" is the client asking which methods exist, not a credential.
      if (m.method == "none" && !success) return;
      const bool pam_method = m.method == "password" || m.method == "keyboard-interactive";
      Event a;
      bool merged = false;
      if (c.pending.active && c.pending.have_pam && !c.pending.have_log &&
          (c.pending.ev.ret == 0) == success && pam_method) {
        a = std::move(c.pending.ev);  // PAM said it first: add what only the log knows
        c.pending.active = false;
        merged = true;
      } else {
        flush_pending(c, before);
        a = make_auth(e, c, success);
      }
      a.ssh.method = m.method;
      a.ssh.partial = m.kind == SshdLogMsg::Kind::Partial;
      a.ssh.user = m.user;
      a.ssh.user_exists = m.invalid_user ? 0 : (success ? 1 : c.user_exists);
      a.ssh.key_type = m.key_type;
      a.ssh.key_fingerprint = m.fingerprint;
      a.ssh.log_message = m.message;
      a.ssh.source = Endpoint{m.ip, m.port};
      add_signal(a.ssh.signals, "log");
      if (m.method == "publickey" && c.key_lookup) add_signal(a.ssh.signals, "cred");
      if (!merged && c.pam && pam_method) {
        // PAM's answer may still be in flight on another CPU (perf buffer): wait briefly.
        c.pending = Pending{true, false, true, e.boot_ns + cfg_.merge_window_ns, std::move(a)};
        return;
      }
      emit_auth(std::move(a), c, before);
      // Without PAM there is no session id: the session is the monitor and its descendants.
      if (success && m.kind == SshdLogMsg::Kind::Accepted && !c.pam)
        open_session(e, &c, kUnset, "log");
      return;
    }
    case SshdLogMsg::Kind::ClosedPreauth: {
      flush_pending(c, before);
      if (c.authenticated || c.failure_reported) return;
      // The client gave up without a logged failure: at sshd's default LogLevel INFO a
      // rejected key leaves only this line (and the monitor's authorized_keys lookup).
      Event a = make_auth(e, c, false);
      a.ssh.method = c.key_lookup ? "publickey" : "none";
      a.ssh.log_message = m.message;
      a.ssh.source = Endpoint{m.ip, m.port};
      add_signal(a.ssh.signals, "log");
      if (c.key_lookup) add_signal(a.ssh.signals, "cred");
      emit_auth(std::move(a), c, before);
      return;
    }
  }
}

void SessionTracker::on_pam(Event &e, std::vector<Event> &before) {
  Conn &c = conn_for(e);
  c.last_ns = e.boot_ns;
  if (!c.source.known() && e.ssh.source.known()) {
    c.source = e.ssh.source;
    c.destination = e.ssh.destination;
  }
  switch (e.ssh.pam_op) {
    case KTRAIL_PAM_START:
      c.pam = true;
      if (!e.ssh.pam_user.empty()) c.user = e.ssh.pam_user;
      return;
    case KTRAIL_PAM_AUTHENTICATE: {
      const bool success = e.ret == 0;
      // sshd calls pam_authenticate itself for "password"; keyboard-interactive runs PAM in
      // a child process.
      const char *method = e.proc.pid == c.pid ? "password" : "keyboard-interactive";
      if (c.pending.active && c.pending.have_log && !c.pending.have_pam &&
          (c.pending.ev.ret == 0) == success) {
        c.pending.active = false;
        Event a = std::move(c.pending.ev);
        add_signal(a.ssh.signals, "pam");
        emit_auth(std::move(a), c, before);
        return;
      }
      flush_pending(c, before);
      Event a = make_auth(e, c, success);
      a.ssh.method = method;
      add_signal(a.ssh.signals, "pam");
      c.pending = Pending{true, true, false, e.boot_ns + cfg_.merge_window_ns, std::move(a)};
      return;
    }
    case KTRAIL_PAM_OPEN_SESSION: {
      if (e.ret != 0) return;
      flush_pending(c, before);
      c.authenticated = true;
      Conn *conn = find_conn(c.pid);
      uint32_t sid = e.proc.sessionid != c.preauth_sessionid ? e.proc.sessionid : kUnset;
      SshSession &s = open_session(e, conn, sid, "pam");
      // The PAM call is the monitor itself: the best process to report the start with.
      if (!s.started) {
        s.base = e;
        s.monitor_pid = c.pid;
      }
      return;
    }
    default:
      return;
  }
}

// sshd's own credential calls: the privsep self-test, and the authorized_keys lookup.
void SessionTracker::on_cred(Event &e) {
  if (!is_ssh_exe(e.proc.comm)) return;
  const Creds &b = e.old_creds, &a = e.proc.creds;
  if (e.ret == 0) {
    if (a.uid == a.euid && a.euid == a.suid && b.uid != a.uid) drops_[e.proc.pid].uid_from = b.uid;
    if (a.gid == a.egid && a.egid == a.sgid && b.gid != a.gid) drops_[e.proc.pid].gid_from = b.gid;
    // seteuid(user) by the root monitor before the login succeeded: reading authorized_keys.
    if (e.syscall == KTRAIL_SYS_SETRESUID && static_cast<uint32_t>(e.req[0]) == kUnset &&
        b.euid == 0 && a.euid != 0 && a.uid == 0) {
      Conn *c = find_conn(e.proc.pid);
      if (!c || !c->authenticated) {
        Conn &cc = c ? *c : conn_for(e);
        cc.key_lookup = true;
        e.ssh.key_lookup = true;
      }
    }
    if (drops_.size() > cfg_.max_connections) drops_.erase(drops_.begin());
    return;
  }
  // permanently_set_uid() drops ids, then checks that setuid/seteuid/setgid/setegid back
  // to the old ids fail. Those EPERMs are sshd proving its own sandbox, not an attack.
  if (e.ret != -kEPERM) return;
  auto it = drops_.find(e.proc.pid);
  if (it == drops_.end()) return;
  const uint32_t r0 = static_cast<uint32_t>(e.req[0]), r1 = static_cast<uint32_t>(e.req[1]);
  switch (e.syscall) {
    case KTRAIL_SYS_SETUID: e.ssh.self_check = r0 == it->second.uid_from; break;
    case KTRAIL_SYS_SETRESUID: e.ssh.self_check = r0 == kUnset && r1 == it->second.uid_from; break;
    case KTRAIL_SYS_SETGID: e.ssh.self_check = r0 == it->second.gid_from; break;
    case KTRAIL_SYS_SETRESGID: e.ssh.self_check = r0 == kUnset && r1 == it->second.gid_from; break;
    default: break;
  }
}

SshSession *SessionTracker::session_of(const Event &e) {
  if (e.proc.sessionid != kUnset) {
    auto it = sessions_.find(e.proc.sessionid);
    if (it != sessions_.end()) return &it->second;
  }
  if (pid_sessions_.empty()) return nullptr;
  // Without an audit session id: the nearest sshd monitor among the ancestors.
  uint32_t pid = e.proc.pid;
  for (int depth = 0; depth < 32 && pid > 1; depth++) {
    auto it = pid_sessions_.find(pid);
    if (it != pid_sessions_.end()) return &it->second;
    if (depth == 0 && e.proc.ppid) {
      pid = e.proc.ppid;
      continue;
    }
    const ProcInfo *p = procs_.find(pid);
    if (!p) break;
    pid = p->ppid;
  }
  return nullptr;
}

SshSession &SessionTracker::open_session(const Event &base, Conn *c, uint32_t sid, const char *signal) {
  SshSession *s = nullptr;
  if (sid != kUnset) {
    s = &sessions_[sid];
  } else {
    uint32_t mpid = c ? c->pid : base.proc.pid;
    s = &pid_sessions_[mpid];
  }
  if (s->start_boot_ns == 0) {
    s->id = sid;
    s->monitor_pid = c ? c->pid : base.proc.pid;
    s->start_boot_ns = base.boot_ns;
    s->start_deadline_ns = base.boot_ns + cfg_.start_wait_ns;
    s->base = base;
    if (base.proc.loginuid != kUnset) s->uid = base.proc.loginuid;
    if (c) {
      s->user = c->user;
      s->source = c->source;
      s->destination = c->destination;
    }
    if (s->user.empty() && s->uid != kUnset) s->user = users_.user(s->uid);
    if (sid != kUnset) monitor_sid_[s->monitor_pid] = sid;
  }
  add_signal(s->signals, signal);
  return *s;
}

void SessionTracker::fill_ref(const SshSession &s, Event &e) const {
  e.session.present = true;
  e.session.kind = "ssh";
  e.session.user = s.user;
  e.session.source = s.source;
  e.session.id = s.id;
  e.session.tty = s.tty;
}

Event SessionTracker::session_event(const SshSession &s, const Event &base, EventKind kind) const {
  Event ev = derived_from(base, kind);
  ev.ssh.user = s.user;
  ev.ssh.uid = s.uid;
  ev.ssh.session_id = s.id;
  ev.ssh.source = s.source;
  ev.ssh.destination = s.destination;
  ev.ssh.tty = s.tty;
  ev.ssh.seeded = s.seeded;
  ev.ssh.signals = s.signals;
  sort_signals(ev.ssh.signals);
  fill_ref(s, ev);
  return ev;
}

void SessionTracker::emit_start(SshSession &s, std::vector<Event> &out) {
  if (s.started) return;
  s.started = true;
  out.push_back(session_event(s, s.base, EventKind::SshSessionStart));
}

void SessionTracker::emit_end(SshSession &s, const Event &exit_ev, std::vector<Event> &out) {
  if (s.ended) return;
  if (!s.seeded) emit_start(s, out);
  s.ended = true;
  Event ev = session_event(s, exit_ev, EventKind::SshSessionEnd);
  ev.ssh.duration_ns = exit_ev.boot_ns > s.start_boot_ns ? exit_ev.boot_ns - s.start_boot_ns : 0;
  ev.exit_code = exit_ev.exit_code;
  out.push_back(std::move(ev));
  if (s.id != kUnset) ended_order_.push_back(s.id);
  forget_ended();
}

void SessionTracker::forget_ended() {
  // Ended sessions stay so their leftovers (nohup, daemons) are still attributed; bounded.
  while (sessions_.size() > cfg_.max_sessions && !ended_order_.empty()) {
    sessions_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
}

void SessionTracker::on_exec(Event &e, std::vector<Event> &before) {
  SshSession *s = session_of(e);
  if (!s || s->started || s->seeded) return;
  // The first program the session runs for the user (its parent is sshd's per-user child,
  // not the monitor: PAM modules such as pam_motd run children of the monitor). It holds
  // the session's controlling tty when a PTY was requested.
  if (e.proc.ppid == s->monitor_pid || !is_ssh_exe(e.parent_name)) return;
  s->tty = e.tty;
  emit_start(*s, before);
}

void SessionTracker::on_exit(Event &e, std::vector<Event> &after) {
  const uint32_t pid = e.proc.pid;
  drops_.erase(pid);
  if (Conn *c = find_conn(pid)) {
    flush_pending(*c, after);
    // Neither a logged outcome nor a session: report the attempt that the monitor saw.
    if (!c->authenticated && !c->failure_reported && (c->pam || c->key_lookup) && !c->user.empty()) {
      Event a = make_auth(e, *c, false);
      a.ssh.method = c->key_lookup ? "publickey" : "none";
      if (c->pam) add_signal(a.ssh.signals, "pam");
      if (c->key_lookup) add_signal(a.ssh.signals, "cred");
      add_signal(a.ssh.signals, "exit");
      emit_auth(std::move(a), *c, after);
    }
    conns_.erase(pid);
  }
  if (auto it = monitor_sid_.find(pid); it != monitor_sid_.end()) {
    auto s = sessions_.find(it->second);
    monitor_sid_.erase(it);
    if (s != sessions_.end() && s->second.monitor_pid == pid) emit_end(s->second, e, after);
  } else if (auto ps = pid_sessions_.find(pid); ps != pid_sessions_.end()) {
    emit_end(ps->second, e, after);
    pid_sessions_.erase(ps);
  }
}

void SessionTracker::annotate(Event &e) {
  const uint32_t sid = e.proc.sessionid;
  SshSession *s = nullptr;
  if (sid != kUnset) {
    auto it = sessions_.find(sid);
    if (it != sessions_.end()) s = &it->second;
  }
  if (!s && sid != kUnset && !conns_.empty()) {
    // The kernel's session id changed under an authenticated monitor: the login set it
    // (pam_loginuid), so this is the session, even when no PAM uprobe reported it.
    Conn *c = find_conn(e.proc.pid);
    if (!c) c = find_conn(e.proc.ppid);
    if (c && c->authenticated && sid != c->preauth_sessionid) {
      auto ps = pid_sessions_.find(c->pid);
      if (ps != pid_sessions_.end()) {
        // Opened from the log line without PAM signals: now keyed by its session id.
        SshSession moved = std::move(ps->second);
        pid_sessions_.erase(ps);
        moved.id = sid;
        if (moved.uid == kUnset && e.proc.loginuid != kUnset) moved.uid = e.proc.loginuid;
        add_signal(moved.signals, "sessionid");
        monitor_sid_[moved.monitor_pid] = sid;
        s = &(sessions_[sid] = std::move(moved));
      } else {
        s = &open_session(e, c, sid, "sessionid");
      }
    }
  }
  if (!s) s = session_of(e);
  if (s) fill_ref(*s, e);
}

void SessionTracker::tick(uint64_t now, std::vector<Event> &out) {
  for (auto &[pid, c] : conns_)
    if (c.pending.active && c.pending.deadline_ns <= now) flush_pending(c, out);
  for (auto *m : {&sessions_, &pid_sessions_})
    for (auto &[id, s] : *m)
      if (!s.started && !s.seeded && !s.ended && s.start_deadline_ns <= now) emit_start(s, out);
}

// ---- seeding from /proc ----------------------------------------------------------------

Endpoint parse_proc_net_addr(const std::string &hex) {
  Endpoint out;
  auto colon = hex.find(':');
  if (colon == std::string::npos) return out;
  std::string a = hex.substr(0, colon);
  out.port = static_cast<uint16_t>(strtoul(hex.substr(colon + 1).c_str(), nullptr, 16));
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.size() == 8) {
    uint32_t v = static_cast<uint32_t>(strtoul(a.c_str(), nullptr, 16));  // host-order dump
    inet_ntop(AF_INET, &v, buf, sizeof(buf));
  } else if (a.size() == 32) {
    uint32_t w[4];
    for (int i = 0; i < 4; i++) w[i] = static_cast<uint32_t>(strtoul(a.substr(i * 8, 8).c_str(), nullptr, 16));
    static const uint32_t v4mapped[3] = {0, 0, 0xffff0000u};
    if (w[0] == v4mapped[0] && w[1] == v4mapped[1] && w[2] == v4mapped[2])
      inet_ntop(AF_INET, &w[3], buf, sizeof(buf));
    else
      inet_ntop(AF_INET6, w, buf, sizeof(buf));
  } else {
    return out;
  }
  out.ip = buf;
  return out;
}

Endpoint proc_tcp_peer(const std::string &proc_root, uint32_t pid, Endpoint *local) {
  std::string base = proc_root + "/" + std::to_string(pid);
  std::set<std::string> inodes;
  if (DIR *d = opendir((base + "/fd").c_str())) {
    while (dirent *de = readdir(d)) {
      char buf[64];
      ssize_t n = readlink((base + "/fd/" + de->d_name).c_str(), buf, sizeof(buf) - 1);
      if (n <= 0) continue;
      std::string t(buf, n);
      if (t.rfind("socket:[", 0) == 0) inodes.insert(t.substr(8, t.size() - 9));
    }
    closedir(d);
  }
  // The process's own network namespace: <proc>/PID/net.
  for (const char *table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream f(base + table);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string sl, loc, rem, st, queues, tr, retr, uid, timeout, inode;
      in >> sl >> loc >> rem >> st >> queues >> tr >> retr >> uid >> timeout >> inode;
      if (st == "0A" || !inodes.count(inode)) continue;  // 0A = LISTEN
      if (local) *local = parse_proc_net_addr(loc);
      return parse_proc_net_addr(rem);
    }
  }
  return {};
}

std::string tty_name_from_nr(uint64_t nr) {
  unsigned major = (nr >> 8) & 0xfff, minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return "pts/" + std::to_string((major - 136) * 256 + minor);
  if (major == 4 && minor < 64) return "tty" + std::to_string(minor);
  return "";
}

size_t SessionTracker::seed() {
  struct P {
    uint32_t ppid = 0, sid = kUnset, loginuid = kUnset;
    std::string comm;
    uint64_t tty_nr = 0, start_ticks = 0;
  };
  std::unordered_map<uint32_t, P> all;
  DIR *d = opendir(proc_root_.c_str());
  if (!d) return 0;
  while (dirent *de = readdir(d)) {
    char *end;
    unsigned long pid = strtoul(de->d_name, &end, 10);
    if (*end || pid == 0) continue;
    std::string base = proc_root_ + "/" + de->d_name;
    std::string stat = read_first_line(base + "/stat");
    auto l = stat.find('('), r = stat.rfind(')');
    if (l == std::string::npos || r == std::string::npos) continue;
    P p;
    p.comm = stat.substr(l + 1, r - l - 1);
    std::istringstream rest(stat.substr(r + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(rest)), std::istream_iterator<std::string>());
    // Fields after comm: state(3) ppid(4) ... tty_nr(7) ... starttime(22).
    if (f.size() < 20) continue;
    p.ppid = static_cast<uint32_t>(strtoul(f[1].c_str(), nullptr, 10));
    p.tty_nr = strtoull(f[4].c_str(), nullptr, 10);
    p.start_ticks = strtoull(f[19].c_str(), nullptr, 10);
    p.sid = read_u32(base + "/sessionid");
    p.loginuid = read_u32(base + "/loginuid");
    all[static_cast<uint32_t>(pid)] = std::move(p);
  }
  closedir(d);
  const long hz = sysconf(_SC_CLK_TCK);
  size_t n = 0;
  for (const auto &[pid, p] : all) {
    if (p.sid == kUnset || !is_ssh_exe(p.comm) || sessions_.count(p.sid)) continue;
    auto parent = all.find(p.ppid);
    // The monitor: the topmost sshd of the session (its parent, the listener, is outside).
    if (parent != all.end() && parent->second.sid == p.sid) continue;
    SshSession s;
    s.id = p.sid;
    s.monitor_pid = pid;
    s.uid = p.loginuid;
    s.user = p.loginuid != kUnset ? users_.user(p.loginuid) : "";
    s.source = proc_tcp_peer(proc_root_, pid, &s.destination);
    s.start_boot_ns = hz > 0 ? p.start_ticks * (1000000000ull / hz) : 0;
    s.seeded = true;
    s.started = true;
    s.signals = {"proc"};
    for (const auto &[qpid, q] : all)
      if (q.sid == p.sid && q.tty_nr) {
        s.tty = tty_name_from_nr(q.tty_nr);
        if (!s.tty.empty()) break;
      }
    monitor_sid_[pid] = p.sid;
    sessions_[p.sid] = std::move(s);
    n++;
  }
  return n;
}

}  // namespace ktrail
