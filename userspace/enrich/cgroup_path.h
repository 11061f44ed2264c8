// Cgroup path -> container runtime, container id, Kubernetes pod UID and QoS class. Pure string
// work (unit tested for every runtime, cgroupfs and systemd drivers, v1 and v2).
#pragma once
#include <string>
#include <string_view>

namespace ktrail {

struct CgroupIdentity {
  std::string runtime;       // "docker", "podman", "containerd", "cri-o", "cri"; "" = not a container
  std::string container_id;  // 64 hex for docker/podman/CRI; the container name for plain containerd
  std::string pod_uid;       // Kubernetes pod UID with dashes (systemd's '_' undone)
  std::string qos_class;     // "guaranteed", "burstable", "besteffort" (kubepods paths only)
  std::string ctr_namespace; // plain containerd: the namespace ("default", "k8s.io", ...)
  bool is_container() const { return !container_id.empty(); }
};

// The container a cgroup belongs to: the deepest path component that names one wins, so
// sub-cgroups a container creates inside its own (".../libpod-<id>.scope/container") still map.
CgroupIdentity parse_cgroup_path(std::string_view path);

// /proc/PID/cgroup content -> the path to identify the process by: the cgroup2 path ("0::")
// when it names a container, else the first v1 path that does (v1-only and hybrid hosts), else
// the cgroup2 path.
std::string pick_cgroup_path(std::string_view proc_pid_cgroup);

// True for exactly 64 lower-case hex digits.
bool is_hex64(std::string_view s);

}  // namespace ktrail
