#include "enrich/identity.h"

#include "common/fs.h"

#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fstream>
#include <sstream>

#include "common/log.h"
#include "enrich/cache_stats.h"

namespace ktrail {
namespace {

constexpr size_t kMaxEntries = 16384;

std::string read_all(const std::string &path) { return read_file(path); }

// Under an exec storm most processes have exited by the time their records are read. A failed
// open of /proc/PID/cgroup costs ~2.5 us here, kill(pid, 0) ~0.3 us. Only for the agent's own
// /proc: a different proc root may show another pid namespace.
bool known_gone(const std::string &proc_root, uint32_t pid) {
  return proc_root == "/proc" && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// The inode of a namespace link ("mnt:[4026531841]"), 0 if unreadable.
uint32_t ns_inode(const std::string &link) {
  char buf[64];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *open = strchr(buf, '[');
  return open ? static_cast<uint32_t>(strtoul(open + 1, nullptr, 10)) : 0;
}

// The cgroup2 ("0::") path of a process, "" if none.
std::string unified_path(const std::string &content) {
  std::istringstream in(content);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

// Assigned member by member: the event's strings keep their buffers from record to record.
void set_leader(LeaderInfo &l, uint32_t pid, const ProcInfo &p) {
  l.pid = pid;
  l.name = p.comm;
  l.executable = p.executable;
  l.start_boot_ns = p.start_boot_ns;
}

bool is_entry_service(const ProcInfo &p) {
  const std::string &c = p.comm;
  return c == "sshd" || c == "login" || c == "conmon" || c == "runc" || c == "crun" ||
         c.rfind("containerd-shim", 0) == 0 || c == "agetty" || c == "in.telnetd" || c == "telnetd";
}

}  // namespace

void fill_leaders(Event &e, const ProcTable &procs) {
  uint32_t pid = e.proc.pid;
  const ProcInfo *self = procs.find(pid);
  if (!self) return;
  // Session leader: the process whose pid is the session id.
  if (self->sid) {
    if (self->sid == pid) set_leader(e.session_leader, pid, *self);
    else if (const ProcInfo *s = procs.find(self->sid)) set_leader(e.session_leader, self->sid, *s);
  }
  uint32_t cur = pid;
  const ProcInfo *p = self;
  for (int depth = 0; depth < 64 && p; depth++) {
    if (cur <= 1) break;
    uint32_t ppid = p->ppid;
    const ProcInfo *pp = procs.find(ppid);
    bool entry = ppid <= 1 || (pp && is_entry_service(*pp)) ||
                 (pp && p->pid_ns && pp->pid_ns && p->pid_ns != pp->pid_ns);
    if (entry) {
      set_leader(e.entry_leader, cur, *p);
      return;
    }
    if (!pp) return;  // ancestry unknown past here: no guess
    cur = ppid;
    p = pp;
  }
}

IdentityEnricher::IdentityEnricher(IdentityConfig cfg)
    : cfg_(std::move(cfg)),
      docker_(cfg_.containers ? cfg_.docker_sockets : std::vector<std::string>{}),
      cloud_(cfg_.cloud, cfg_.cloud_endpoint, cfg_.cloud_timeout_ms) {
  cgroups_ = CgroupMap(CgroupMap::find_cgroup2_root(cfg_.sys_fs_cgroup, layout_));
  struct stat st;
  if (stat((cfg_.proc_root + "/1/root").c_str(), &st) == 0 || stat("/", &st) == 0) {
    host_root_dev_ = st.st_dev;
    host_root_ino_ = st.st_ino;
  }
  if (cfg_.kube_auto) kube_config_defaults(cfg_.kube);
  if (cfg_.containers && cfg_.kube.enabled()) kube_ = std::make_unique<KubeWatcher>(cfg_.kube, pods_);
}

IdentityEnricher::~IdentityEnricher() { stop(); }

void IdentityEnricher::start() {
  if (cfg_.containers) {
    size_t n = cgroups_.seed();
    KLOG_DEBUG("cgroups: %s layout, %zu cgroup2 directories under %s",
               layout_ == CgroupLayout::V2 ? "v2" : layout_ == CgroupLayout::Hybrid ? "hybrid" : "v1",
               n, cgroups_.root().empty() ? "(none)" : cgroups_.root().c_str());
    docker_.start();
    if (kube_) {
      KLOG_INFO("kubernetes: watching pods on node %s via %s", cfg_.kube.node_name.c_str(),
                cfg_.kube.api_url.c_str());
      kube_->start();
    }
  }
  cloud_.start();
}

void IdentityEnricher::stop() {
  if (kube_) kube_->stop();
  docker_.stop();
  cloud_.stop();
}

void IdentityEnricher::observe_cgroup(uint64_t id, const std::string &path, uint64_t boot_ns) {
  if (!cfg_.containers) return;
  cgroups_.add(id, path, boot_ns);
  by_cgroup_.erase(id);  // ids are not reused while a cgroup lives, but be safe
  CgroupIdentity ci = parse_cgroup_path(path);
  // Ask the Engine API now: it usually answers before the container's first exec.
  if (ci.is_container() && (ci.runtime == "docker" || ci.runtime == "podman")) docker_.prefetch(ci.container_id);
}

void IdentityEnricher::housekeeping(uint64_t now) {
  size_t n = cgroups_.reap(now, 60ull * 1000000000ull);
  if (n) by_cgroup_.clear();
}

IdentityEnricher::Entry *IdentityEnricher::entry_for_cgroup(uint64_t id, uint32_t pid) {
  auto it = by_cgroup_.find(id);
  g_container_cache.count(it != by_cgroup_.end());
  if (it != by_cgroup_.end()) return &it->second;
  const std::string *path = cgroups_.find(id);
  std::string fresh;
  if (!path && pid && !gone(pid)) {
    // Created before we attached and after the seed walk, or missed: ask the process.
    fresh = unified_path(read_all(cfg_.proc_root + "/" + std::to_string(pid) + "/cgroup"));
    if (!fresh.empty()) {
      cgroups_.add(id, fresh, 0);
      path = &fresh;
    }
  }
  if (!path) return nullptr;
  if (by_cgroup_.size() >= kMaxEntries) by_cgroup_.clear();
  Entry &e = by_cgroup_[id];
  e.ident = parse_cgroup_path(*path);
  return &e;
}

IdentityEnricher::Entry *IdentityEnricher::entry_for_pid(uint32_t pid, uint32_t ppid, bool exec,
                                                         Namespaces ns) {
  if (!pid) return nullptr;
  Entry *known = by_pid_.find(pid);
  // An exec is where a process starts to run what its cgroup was set up for (a runtime moves
  // its init into the container's cgroups before it execs): read again if it is still there.
  if (known && !exec) return known;
  // Except for a new process that execs in its parent's pid and mount namespaces: runtimes
  // start a container's processes in namespaces of their own (or setns into the container's),
  // so this one has the cgroups it was forked with, its parent's. Under an exec storm that
  // saves a /proc/PID/cgroup read (~9 us) for each process still alive when its exec is handled.
  if (exec && !known && ppid && ns.known())
    if (Entry *p = entry_for_pid(ppid, 0, false); p && p->ns == ns) return inherit(pid, *p, ns);
  std::string content;
  const std::string base = cfg_.proc_root + "/" + std::to_string(pid);
  if (!gone(pid)) content = read_all(base + "/cgroup");
  if (content.empty()) {
    if (known) return known;
    // Gone already: it ran in its parent's cgroup unless it moved. The parent (a shell, a
    // worker) usually outlives it and has more short-lived children: read and keep its cgroup
    // once instead of failing a read for every child.
    Entry *p = ppid ? entry_for_pid(ppid, 0, false) : nullptr;
    return p ? inherit(pid, *p, ns) : nullptr;
  }
  if (by_pid_.size() >= kMaxEntries) by_pid_.clear();
  Entry &e = by_pid_.put(pid);
  e = Entry{};
  e.ident = parse_cgroup_path(pick_cgroup_path(content));
  // Read once per process that is read at all: its children compare their exec's with these.
  e.ns = {ns_inode(base + "/ns/pid"), ns_inode(base + "/ns/mnt")};
  return &e;
}

IdentityEnricher::Entry *IdentityEnricher::inherit(uint32_t pid, const Entry &parent, Namespaces ns) {
  Entry *e;
  if (by_pid_.size() >= kMaxEntries) {
    Entry copy = parent;  // clear() recycles the parent's slot
    by_pid_.clear();
    e = &(by_pid_.put(pid) = std::move(copy));
  } else {
    // Copied into a recycled slot (the parent's stays put): no allocation for the child.
    e = &(by_pid_.put(pid) = parent);
  }
  // A fork shares its parent's namespaces until it changes them; an exec's record says.
  if (ns.known()) e->ns = ns;
  return e;
}

void IdentityEnricher::refresh(Entry &e) {
  if (!e.ident.is_container()) return;
  const CgroupIdentity &ci = e.ident;
  bool want_docker = ci.runtime == "docker" || ci.runtime == "podman";
  uint64_t dv = want_docker ? docker_.version() : 0, pv = kube_ ? pods_.version() : 0;
  if (e.snap && dv == e.docker_v && pv == e.pods_v && (!want_docker || !e.snap->name.empty())) return;
  auto info = std::make_shared<ContainerInfo>();
  info->id = ci.container_id;
  info->runtime = ci.runtime;
  info->pod_uid = ci.pod_uid;
  info->qos_class = ci.qos_class;
  if (want_docker) {
    if (auto m = docker_.get(ci.container_id)) {
      info->name = m->name;
      info->image = m->image;
      info->labels = m->labels;
    }
  }
  if (kube_) {
    const PodContainer *pc = nullptr;
    auto pod = pods_.by_container(ci.container_id, &pc);
    if (!pod && !ci.pod_uid.empty()) pod = pods_.by_uid(ci.pod_uid);
    if (pod) {
      info->pod_uid = pod->uid;
      info->pod_name = pod->name;
      info->pod_namespace = pod->ns;
      info->pod_labels = pod->labels;
      if (pc) {
        info->name = pc->name;
        info->image = pc->image;
        if (!pc->runtime.empty() && info->runtime == "cri") info->runtime = pc->runtime;
      }
    }
  }
  e.docker_v = dv;
  e.pods_v = pv;
  e.snap = std::move(info);
}

std::shared_ptr<const ContainerInfo> IdentityEnricher::resolve(uint64_t cgroup_id, uint32_t pid, uint32_t ppid,
                                                               bool exec, Namespaces ns) {
  if (!cfg_.containers) return nullptr;
  Entry *e = nullptr;
  if (layout_ != CgroupLayout::V1) e = entry_for_cgroup(cgroup_id, pid);
  // v1-only hosts (and processes whose cgroup2 path names no container on hybrid ones).
  bool in_root = false;
  if (layout_ == CgroupLayout::Hybrid) {
    const std::string *p = cgroups_.find(cgroup_id);
    in_root = p && *p == "/";
  }
  if (layout_ == CgroupLayout::V1 || in_root) e = entry_for_pid(pid, ppid, exec, ns);
  if (!e) return nullptr;
  refresh(*e);
  return e->snap;
}

void IdentityEnricher::container_names(Event &e) {
  const ContainerInfo &c = *e.container;
  std::string ckey = c.runtime + "/" + c.id;
  // The root directory identifies the filesystem whose /etc names the ids. The runtime's
  // setup process runs in the container's cgroup before pivot_root: on the host's root, its
  // ids are the host's, so the host names already set stay.
  std::string pid_root = cfg_.proc_root + "/" + std::to_string(e.proc.pid) + "/root";
  struct stat st;
  std::string key;
  bool alive = stat(pid_root.c_str(), &st) == 0;
  if (alive) {
    if (st.st_dev == host_root_dev_ && st.st_ino == host_root_ino_) return;
    key = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    if (last_root_.size() > 4096) last_root_.clear();
    last_root_[ckey] = {key, pid_root};
  } else {
    // Gone already: the names this container's files gave last time.
    auto it = last_root_.find(ckey);
    if (it == last_root_.end()) {
      e.user_name.clear(), e.real_user_name.clear(), e.group_name.clear(), e.real_group_name.clear();
      return;
    }
    key = it->second.first;
  }
  if (users_.size() > 4096) users_.clear();
  auto &u = users_[key];
  if (alive) {
    u.passwd.set_path(pid_root + "/etc/passwd");
    u.group.set_path(pid_root + "/etc/group");
  }
  const Creds &cr = e.proc.creds;
  e.user_name = u.passwd.lookup(cr.euid);
  e.real_user_name = u.passwd.lookup(cr.uid);
  e.group_name = u.group.lookup(cr.egid);
  e.real_group_name = u.group.lookup(cr.gid);
  // loginuid is the host login that started it all: its name stays the host's.
}

void IdentityEnricher::exit_ahead(uint32_t pid) {
  // Bounded in case exit records announced here never reach enrich (an emit that failed).
  if (exiting_.size() >= kMaxEntries) exiting_.clear();
  exiting_.put(pid) = true;
}

// Most of an exec storm's processes have exited by the time their exec record is read: the
// drain usually holds their exit record too, which saves a kill(pid, 0) per exec.
bool IdentityEnricher::gone(uint32_t pid) const {
  return exiting_.contains(pid) || known_gone(cfg_.proc_root, pid);
}

void IdentityEnricher::enrich(Event &e) {
  if (e.kind == EventKind::Lost) return;
  e.container = resolve(e.proc.cgroup_id, e.proc.pid, e.proc.ppid, e.kind == EventKind::Exec,
                        {e.proc.pid_ns, e.proc.mnt_ns});
  // Records after this one with the same pid are a new process's.
  if (e.kind == EventKind::Exit) exiting_.erase(e.proc.pid);
  if (e.container) container_names(e);
  if (!cloud_checked_ && cloud_.done()) {
    cloud_info_ = cloud_.get();
    cloud_checked_ = true;
  }
  e.cloud = cloud_info_;
}

}  // namespace ktrail
