// Workload identity for events: container (cgroup id -> runtime + id, Engine API metadata,
// in-container user names), Kubernetes pod, cloud instance, and process leaders. Everything
// slow runs in background threads; enrich() reads caches and never waits on the network.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/identity.h"
#include "decode/event.h"
#include "enrich/cgroup_map.h"
#include "enrich/cgroup_path.h"
#include "enrich/cloud.h"
#include "enrich/docker.h"
#include "enrich/k8s.h"
#include "enrich/pid_map.h"
#include "enrich/proc_table.h"
#include "enrich/users.h"

namespace ktrail {

struct IdentityConfig {
  bool containers = true;
  std::vector<std::string> docker_sockets = DockerMetadata::default_sockets();
  KubeConfig kube;          // filled from the environment when in a cluster
  bool kube_auto = true;    // take in-cluster defaults (service account, NODE_NAME)
  CloudMode cloud = CloudMode::Auto;
  std::string cloud_endpoint;
  int cloud_timeout_ms = 300;
  std::string sys_fs_cgroup = "/sys/fs/cgroup";
  std::string proc_root = "/proc";
};

// A process's pid and mount namespaces (inode numbers, 0: unknown).
struct Namespaces {
  uint32_t pid = 0, mnt = 0;
  bool known() const { return pid && mnt; }
  bool operator==(const Namespaces &) const = default;
};

class IdentityEnricher {
 public:
  explicit IdentityEnricher(IdentityConfig cfg);
  ~IdentityEnricher();
  // Seeds the cgroup map and starts the background threads.
  void start();
  void stop();
  // A cgroup2 directory was created (kernel record).
  void observe_cgroup(uint64_t id, const std::string &path, uint64_t boot_ns);
  void enrich(Event &e);
  void forget_pid(uint32_t pid) { by_pid_.erase(pid); }
  // pid's exit record is queued behind the records being handled (Pipeline::look_ahead): until
  // that record comes, pid is known gone without asking the kernel.
  void exit_ahead(uint32_t pid);
  // Periodic: drop cgroups that are gone (after a grace period).
  void housekeeping(uint64_t now_boot_ns);
  // exec: the record is pid's exec (its cgroup membership is read afresh where it matters,
  // unless ns, the exec's namespaces, are its parent's).
  std::shared_ptr<const ContainerInfo> resolve(uint64_t cgroup_id, uint32_t pid, uint32_t ppid,
                                               bool exec = false, Namespaces ns = {});
  CgroupLayout layout() const { return layout_; }
  size_t cgroups_known() const { return cgroups_.size(); }
  PodStore &pods() { return pods_; }
  DockerMetadata &docker() { return docker_; }

 private:
  struct Entry {
    CgroupIdentity ident;
    std::shared_ptr<const ContainerInfo> snap;
    uint64_t docker_v = ~0ull, pods_v = ~0ull;
    Namespaces ns;  // per-pid entries: the process's, when known
  };
  struct ContainerUsers {
    NameDb passwd{""}, group{""};
  };
  Entry *entry_for_cgroup(uint64_t id, uint32_t pid);
  Entry *entry_for_pid(uint32_t pid, uint32_t ppid, bool exec, Namespaces ns = {});
  Entry *inherit(uint32_t pid, const Entry &parent, Namespaces ns);  // a copy of its parent's
  void refresh(Entry &e);
  void container_names(Event &e);
  bool gone(uint32_t pid) const;

  IdentityConfig cfg_;
  CgroupLayout layout_ = CgroupLayout::V2;
  CgroupMap cgroups_;
  DockerMetadata docker_;
  PodStore pods_;
  std::unique_ptr<KubeWatcher> kube_;
  CloudDetector cloud_;
  std::shared_ptr<const CloudInfo> cloud_info_;
  bool cloud_checked_ = false;
  std::unordered_map<uint64_t, Entry> by_cgroup_;
  PidMap<Entry> by_pid_;  // v1-only hosts: the cgroup id says nothing
  std::unordered_map<std::string, ContainerUsers> users_;  // root dir dev:ino -> names
  std::unordered_map<std::string, std::pair<std::string, std::string>> last_root_;  // container -> key
  uint64_t host_root_dev_ = 0, host_root_ino_ = 0;
  PidMap<bool> exiting_;  // exit_ahead(), until that exit record is enriched
};

// Fills process.entry_leader / session_leader from the process table (pure, unit tested).
// Entry leader: the nearest ancestor-or-self whose parent is init, a different pid namespace
// (a container's first process), or an entry service (sshd, login, container shims).
void fill_leaders(Event &e, const ProcTable &procs);

}  // namespace ktrail
