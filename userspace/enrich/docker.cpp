#include "enrich/docker.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "net/http.h"

namespace ktrail {
namespace {

using json = nlohmann::json;
constexpr size_t kMaxCached = 4096;
constexpr size_t kMaxQueue = 1024;
constexpr uint64_t kRetryMissMs = 2000;

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

Labels labels_of(const json &j) {
  Labels out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.value().is_string()) out.emplace_back(it.key(), it.value().get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

std::string str(const json &j, const char *k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool exists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

}  // namespace

bool parse_docker_inspect(const std::string &body, DockerMeta &m) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("Id")) return false;
  m.id = str(j, "Id");
  m.name = str(j, "Name");
  if (!m.name.empty() && m.name[0] == '/') m.name.erase(0, 1);
  if (auto c = j.find("Config"); c != j.end() && c->is_object()) {
    m.image = str(*c, "Image");
    if (auto l = c->find("Labels"); l != c->end()) m.labels = labels_of(*l);
  }
  if (m.image.empty()) m.image = str(j, "ImageName");
  return !m.id.empty();
}

std::vector<DockerMeta> parse_docker_list(const std::string &body) {
  std::vector<DockerMeta> out;
  json j = json::parse(body, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto &c : j) {
    if (!c.is_object()) continue;
    DockerMeta m;
    m.id = str(c, "Id");
    if (auto n = c.find("Names"); n != c.end() && n->is_array() && !n->empty() && (*n)[0].is_string())
      m.name = (*n)[0].get<std::string>();
    if (!m.name.empty() && m.name[0] == '/') m.name.erase(0, 1);
    m.image = str(c, "Image");
    if (auto l = c.find("Labels"); l != c.end()) m.labels = labels_of(*l);
    if (!m.id.empty()) out.push_back(std::move(m));
  }
  return out;
}

std::string docker_event_container(const std::string &line) {
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) return "";
  std::string type = str(j, "Type");
  if (!type.empty() && type != "container") return "";
  std::string action = str(j, "Action");
  if (action.empty()) action = str(j, "status");
  static const char *interesting[] = {"create", "start", "rename", "update", "init"};
  if (std::none_of(std::begin(interesting), std::end(interesting),
                   [&](const char *a) { return action == a; }))
    return "";
  std::string id;
  if (auto a = j.find("Actor"); a != j.end() && a->is_object()) id = str(*a, "ID");
  if (id.empty()) id = str(j, "id");
  return id;
}

std::vector<std::string> DockerMetadata::default_sockets() {
  return {"/run/docker.sock", "/run/podman/podman.sock"};
}

DockerMetadata::DockerMetadata(std::vector<std::string> sockets) : sockets_(std::move(sockets)) {}

void DockerMetadata::start() {
  if (sockets_.empty() || !threads_.empty()) return;
  threads_.emplace_back([this] { fetch_loop(); });
  for (const auto &s : sockets_) threads_.emplace_back([this, s] { events_loop(s); });
}

void DockerMetadata::stop() {
  {
    // Under the lock: a waiter that has just found stop_ false is then already waiting and
    // gets the notify, instead of missing it and sleeping until its timeout or the next fetch.
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  stop_cv_.notify_all();
  for (auto &t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

size_t DockerMetadata::cached() const {
  std::lock_guard<std::mutex> l(mu_);
  return cache_.size();
}

void DockerMetadata::enqueue(const std::string &id, bool force) {
  if (sockets_.empty()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queued_.count(id) || queue_.size() >= kMaxQueue) return;
    if (!force) {
      if (cache_.count(id)) return;
      auto m = missing_.find(id);
      if (m != missing_.end() && now_ms() - m->second < kRetryMissMs) return;
    }
    queue_.push_back(id);
    queued_.insert(id);
  }
  cv_.notify_one();
}

std::shared_ptr<const DockerMeta> DockerMetadata::get(const std::string &id) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache_.find(id);
    if (it != cache_.end()) return it->second;
  }
  enqueue(id, false);
  return nullptr;
}

void DockerMetadata::prefetch(const std::string &id) { enqueue(id, false); }

void DockerMetadata::store(std::shared_ptr<const DockerMeta> m) {
  std::lock_guard<std::mutex> l(mu_);
  // Bounded: dropping everything is crude but rare (4096 live containers on one host) and the
  // entries are refetched on demand.
  if (cache_.size() >= kMaxCached && !cache_.count(m->id)) cache_.clear();
  missing_.erase(m->id);
  cache_[m->id] = std::move(m);
  version_.fetch_add(1, std::memory_order_release);
}

void DockerMetadata::warn(const std::string &socket, const std::string &what) {
  bool first;
  {
    std::lock_guard<std::mutex> l(mu_);
    first = warned_.insert(socket).second;
  }
  if (first)
    KLOG_WARN("container metadata from %s unavailable (%s); events keep container.id and "
              "container.runtime, further errors are logged at debug level",
              socket.c_str(), what.c_str());
  else
    KLOG_DEBUG("container metadata from %s: %s", socket.c_str(), what.c_str());
}

bool DockerMetadata::fetch_one(const std::string &id) {
  net::Options opt;
  opt.connect_timeout_ms = 500;
  opt.io_timeout_ms = 3000;
  opt.stop = &stop_;
  for (const auto &s : sockets_) {
    if (!exists(s)) continue;
    net::Endpoint ep;
    ep.unix_path = s;
    net::Request req;
    req.target = "/v1.41/containers/" + id + "/json";
    net::Response resp;
    std::string err;
    if (!net::fetch(ep, req, opt, resp, err)) {
      warn(s, err);
      continue;
    }
    if (resp.status == 404) continue;
    if (resp.status != 200) {
      warn(s, "HTTP " + std::to_string(resp.status));
      continue;
    }
    auto m = std::make_shared<DockerMeta>();
    if (parse_docker_inspect(resp.body, *m)) {
      store(std::move(m));
      return true;
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  if (missing_.size() > kMaxCached) missing_.clear();
  missing_[id] = now_ms();
  return false;
}

void DockerMetadata::fetch_loop() {
  while (!stop_) {
    std::string id;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      id = queue_.front();
      queue_.pop_front();
    }
    fetch_one(id);
    std::lock_guard<std::mutex> l(mu_);
    queued_.erase(id);
  }
}

void DockerMetadata::list_all(const std::string &socket) {
  net::Endpoint ep;
  ep.unix_path = socket;
  net::Request req;
  req.target = "/v1.41/containers/json";
  net::Options opt;
  opt.connect_timeout_ms = 500;
  opt.stop = &stop_;
  net::Response resp;
  std::string err;
  if (!net::fetch(ep, req, opt, resp, err) || resp.status != 200) return;
  for (auto &m : parse_docker_list(resp.body)) store(std::make_shared<DockerMeta>(std::move(m)));
}

// Sleeps up to d or until stop(): a blocking wait, not a polling loop, so an idle agent on a
// host without the engine's socket is not woken several times a second per socket.
void DockerMetadata::wait_unless_stopped(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> l(mu_);
  stop_cv_.wait_for(l, d, [&] { return stop_.load(); });
}

// Follows /events so a new container's metadata is usually cached before its first exec.
void DockerMetadata::events_loop(std::string socket) {
  int backoff_ms = 500;
  while (!stop_) {
    if (!exists(socket)) {
      wait_unless_stopped(std::chrono::seconds(5));
      continue;
    }
    net::Endpoint ep;
    ep.unix_path = socket;
    net::Request req;
    req.target = "/v1.41/events?filters=" + net::url_encode(R"({"type":["container"]})");
    net::Options opt;
    opt.connect_timeout_ms = 500;
    opt.io_timeout_ms = 24 * 3600 * 1000;  // an idle host sends nothing for a long time
    opt.stop = &stop_;
    net::LineSplitter lines;
    std::string err;
    int status = 0;
    bool ok = net::stream(
        ep, req, opt,
        [&](const net::Response &h) {
          status = h.status;
          if (status != 200) return false;
          backoff_ms = 500;
          list_all(socket);  // whatever started before we subscribed
          return true;
        },
        [&](std::string_view d) {
          return lines.feed(d, [&](std::string_view line) {
            std::string id = docker_event_container(std::string(line));
            if (!id.empty()) enqueue(id, true);
            return true;
          });
        },
        err);
    if (stop_) return;
    if (!ok) warn(socket, err);
    else if (status != 200) warn(socket, "events: HTTP " + std::to_string(status));
    wait_unless_stopped(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min(backoff_ms * 2, 30000);
  }
}

}  // namespace ktrail
