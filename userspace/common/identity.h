// Workload identity attached to events: container, Kubernetes pod, cloud instance, process
// leaders. Immutable snapshots shared by pointer, so an event costs a refcount, not a copy.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ktrail {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct ContainerInfo {
  std::string id;
  std::string runtime;  // docker, podman, containerd, cri-o, cri
  std::string name;     // from the Engine API or the pod spec ("" until known)
  std::string image;
  Labels labels;
  // Kubernetes: uid and QoS from the cgroup path, the rest from the API server when watched.
  std::string pod_uid;
  std::string qos_class;
  std::string pod_name;
  std::string pod_namespace;
  Labels pod_labels;
};

struct CloudInfo {
  std::string provider;  // aws, gcp, azure
  std::string instance_id;
  std::string region;
  std::string availability_zone;
  std::string account_id;
  std::string machine_type;
};

// A process that leads others, in the spirit of ECS process.entry_leader / session_leader.
struct LeaderInfo {
  uint32_t pid = 0;  // 0 = unknown
  std::string name;
  std::string executable;
  uint64_t start_boot_ns = 0;
};

}  // namespace ktrail
