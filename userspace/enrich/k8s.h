// Kubernetes pod metadata for the pods on this node: list + watch of /api/v1/pods with
// fieldSelector=spec.nodeName=<node>, resumed by resourceVersion, re-listed on 410 Gone.
// Bearer token, TLS verified against the cluster CA. Background thread; the event path only
// reads the store.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/identity.h"

namespace ktrail {

struct KubeConfig {
  std::string api_url;     // https://host:port
  std::string token_file;  // re-read on every request: projected tokens rotate
  std::string ca_file;
  std::string node_name;
  bool enabled() const { return !api_url.empty() && !node_name.empty(); }
};

// In-cluster defaults (KUBERNETES_SERVICE_HOST/PORT, the service-account dir, NODE_NAME),
// without overriding what is already set in cfg.
void kube_config_defaults(KubeConfig &cfg, const std::string &sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

struct PodContainer {
  std::string name;
  std::string image;
  std::string id;       // without the "containerd://" scheme
  std::string runtime;  // the scheme: containerd, cri-o, docker
};

struct PodMeta {
  std::string uid;
  std::string name;
  std::string ns;
  Labels labels;  // sorted
  std::vector<PodContainer> containers;  // status.{initContainerStatuses,containerStatuses,ephemeral...}
};

// Pure JSON handling (unit tested without a server).
bool parse_pod(std::string_view json_text, PodMeta &out);

class PodStore {
 public:
  enum class WatchResult { Applied, Bookmark, Gone, Error, Ignored };
  // A PodList body: replaces everything. Sets rv to the list's metadata.resourceVersion.
  bool apply_list(std::string_view body, std::string &rv, std::string &err);
  // One line of a watch stream: {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}.
  // Gone: an ERROR with code 410 (the resourceVersion is too old, re-list).
  WatchResult apply_watch_line(std::string_view line, std::string &rv, std::string &err);
  std::shared_ptr<const PodMeta> by_uid(const std::string &uid) const;
  // The pod that runs this container id, and which of its containers it is.
  std::shared_ptr<const PodMeta> by_container(const std::string &container_id, const PodContainer **c) const;
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  size_t size() const;

 private:
  void put(std::shared_ptr<const PodMeta> p);
  void erase(const std::string &uid);
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const PodMeta>> pods_;
  std::unordered_map<std::string, std::string> by_container_;  // container id -> pod uid
  std::atomic<uint64_t> version_{0};
};

class KubeWatcher {
 public:
  KubeWatcher(KubeConfig cfg, PodStore &store) : cfg_(std::move(cfg)), store_(store) {}
  ~KubeWatcher() { stop(); }
  void start();
  void stop();
  // Counters for tests and stats.
  std::atomic<uint64_t> lists{0}, watches{0}, relists_on_gone{0};

 private:
  void loop();
  bool list(std::string &rv, std::string &err, int &status);
  // Returns when the stream ends; gone=true on 410.
  bool watch(std::string &rv, bool &gone, std::string &err, int &status);
  void failure(const std::string &what);
  KubeConfig cfg_;
  PodStore &store_;
  std::atomic<bool> stop_{false};
  bool warned_ = false;
  std::thread thread_;
};

}  // namespace ktrail
