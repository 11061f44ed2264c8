// Container name, image and labels from the Docker-compatible Engine API (dockerd, or podman's
// `podman system service`) on a unix socket. Fetched and cached by background threads; the
// event path only reads the cache and queues lookups.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/identity.h"

namespace ktrail {

struct DockerMeta {
  std::string id;
  std::string name;   // without the leading '/'
  std::string image;  // Config.Image as the user gave it
  Labels labels;      // sorted by key
};

// /containers/<id>/json body -> meta. False if it is not an inspect document.
bool parse_docker_inspect(const std::string &body, DockerMeta &out);
// /containers/json body -> metas (the list carries Names, Image and Labels too).
std::vector<DockerMeta> parse_docker_list(const std::string &body);
// One /events JSON line -> the container id worth (re)fetching, "" otherwise.
std::string docker_event_container(const std::string &line);

class DockerMetadata {
 public:
  static std::vector<std::string> default_sockets();
  explicit DockerMetadata(std::vector<std::string> sockets);
  ~DockerMetadata() { stop(); }
  void start();
  void stop();
  // Cached metadata or null; a miss queues a background fetch (bounded queue). Never blocks
  // beyond a short lock.
  std::shared_ptr<const DockerMeta> get(const std::string &id);
  // Learned of a container early (cgroup created): fetch it before its first exec if we can.
  void prefetch(const std::string &id);
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  size_t cached() const;

 private:
  void fetch_loop();
  void events_loop(std::string socket);
  bool fetch_one(const std::string &id);
  void list_all(const std::string &socket);
  void enqueue(const std::string &id, bool force);
  void store(std::shared_ptr<const DockerMeta> m);
  void warn(const std::string &socket, const std::string &what);
  void wait_unless_stopped(std::chrono::milliseconds d);

  std::vector<std::string> sockets_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> version_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;       // the fetch queue
  std::condition_variable stop_cv_;  // the events loops' waits: its own, so that enqueue's
                                     // notify_one always reaches the fetch loop
  std::unordered_map<std::string, std::shared_ptr<const DockerMeta>> cache_;
  std::unordered_map<std::string, uint64_t> missing_;  // id -> last miss (steady ms)
  std::deque<std::string> queue_;
  std::unordered_set<std::string> queued_;
  std::unordered_set<std::string> warned_;
  std::vector<std::thread> threads_;
};

}  // namespace ktrail
