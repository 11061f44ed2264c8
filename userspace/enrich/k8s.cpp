#include "enrich/k8s.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "net/http.h"

namespace ktrail {
namespace {

using json = nlohmann::json;

std::string str(const json &j, const char *k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string read_file(const std::string &path) {
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

bool pod_from_json(const json &j, PodMeta &p) {
  if (!j.is_object()) return false;
  auto md = j.find("metadata");
  if (md == j.end() || !md->is_object()) return false;
  p.uid = str(*md, "uid");
  p.name = str(*md, "name");
  p.ns = str(*md, "namespace");
  if (auto l = md->find("labels"); l != md->end() && l->is_object())
    for (auto it = l->begin(); it != l->end(); ++it)
      if (it.value().is_string()) p.labels.emplace_back(it.key(), it.value().get<std::string>());
  std::sort(p.labels.begin(), p.labels.end());
  if (auto st = j.find("status"); st != j.end() && st->is_object()) {
    for (const char *k : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
      auto cs = st->find(k);
      if (cs == st->end() || !cs->is_array()) continue;
      for (const auto &c : *cs) {
        if (!c.is_object()) continue;
        PodContainer pc;
        pc.name = str(c, "name");
        pc.image = str(c, "image");
        std::string cid = str(c, "containerID");  // "containerd://<64 hex>"
        if (auto s = cid.find("://"); s != std::string::npos) {
          pc.runtime = cid.substr(0, s);
          pc.id = cid.substr(s + 3);
        } else {
          pc.id = cid;
        }
        p.containers.push_back(std::move(pc));
      }
    }
  }
  return !p.uid.empty();
}

}  // namespace

void kube_config_defaults(KubeConfig &cfg, const std::string &sa_dir) {
  if (cfg.api_url.empty()) {
    const char *h = getenv("KUBERNETES_SERVICE_HOST"), *p = getenv("KUBERNETES_SERVICE_PORT");
    std::ifstream tok(sa_dir + "/token");
    if (h && *h && tok.good()) {
      std::string host = h;
      if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6 service IP
      cfg.api_url = "https://" + host + ":" + (p && *p ? p : "443");
    }
  }
  if (cfg.token_file.empty()) cfg.token_file = sa_dir + "/token";
  if (cfg.ca_file.empty()) cfg.ca_file = sa_dir + "/ca.crt";
  if (cfg.node_name.empty())
    if (const char *n = getenv("NODE_NAME")) cfg.node_name = n;
}

bool parse_pod(std::string_view text, PodMeta &out) {
  json j = json::parse(text, nullptr, false);
  out = PodMeta{};
  return pod_from_json(j, out);
}

size_t PodStore::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return pods_.size();
}

void PodStore::put(std::shared_ptr<const PodMeta> p) {
  auto old = pods_.find(p->uid);
  if (old != pods_.end())
    for (const auto &c : old->second->containers) by_container_.erase(c.id);
  for (const auto &c : p->containers)
    if (!c.id.empty()) by_container_[c.id] = p->uid;
  pods_[p->uid] = std::move(p);
}

void PodStore::erase(const std::string &uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end()) return;
  for (const auto &c : it->second->containers) by_container_.erase(c.id);
  pods_.erase(it);
}

bool PodStore::apply_list(std::string_view body, std::string &rv, std::string &err) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    err = "not a PodList";
    return false;
  }
  std::string new_rv;
  if (auto md = j.find("metadata"); md != j.end() && md->is_object()) new_rv = str(*md, "resourceVersion");
  std::vector<std::shared_ptr<const PodMeta>> pods;
  for (const auto &item : j["items"]) {
    auto p = std::make_shared<PodMeta>();
    if (pod_from_json(item, *p)) pods.push_back(std::move(p));
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    pods_.clear();
    by_container_.clear();
    for (auto &p : pods) put(std::move(p));
  }
  version_.fetch_add(1, std::memory_order_release);
  rv = new_rv;
  return true;
}

PodStore::WatchResult PodStore::apply_watch_line(std::string_view line, std::string &rv, std::string &err) {
  if (line.empty()) return WatchResult::Ignored;
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) {
    err = "watch line is not JSON";
    return WatchResult::Error;
  }
  std::string type = str(j, "type");
  auto obj = j.find("object");
  if (obj == j.end() || !obj->is_object()) {
    err = "watch event without object";
    return WatchResult::Error;
  }
  if (type == "ERROR") {
    // A metav1.Status: code 410 / reason Expired or Gone means the resourceVersion is too old.
    int code = obj->contains("code") && (*obj)["code"].is_number() ? (*obj)["code"].get<int>() : 0;
    std::string reason = str(*obj, "reason");
    if (code == 410 || reason == "Expired" || reason == "Gone") return WatchResult::Gone;
    err = "watch error: " + str(*obj, "message");
    return WatchResult::Error;
  }
  std::string obj_rv;
  if (auto md = obj->find("metadata"); md != obj->end() && md->is_object()) obj_rv = str(*md, "resourceVersion");
  if (type == "BOOKMARK") {
    if (!obj_rv.empty()) rv = obj_rv;
    return WatchResult::Bookmark;
  }
  auto p = std::make_shared<PodMeta>();
  if (!pod_from_json(*obj, *p)) {
    err = "watch event object is not a pod";
    return WatchResult::Error;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (type == "ADDED" || type == "MODIFIED") put(std::move(p));
    else if (type == "DELETED") erase(p->uid);
    else {
      err = "unknown watch event type " + type;
      return WatchResult::Error;
    }
  }
  version_.fetch_add(1, std::memory_order_release);
  if (!obj_rv.empty()) rv = obj_rv;
  return WatchResult::Applied;
}

std::shared_ptr<const PodMeta> PodStore::by_uid(const std::string &uid) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : it->second;
}

std::shared_ptr<const PodMeta> PodStore::by_container(const std::string &cid, const PodContainer **c) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_container_.find(cid);
  if (it == by_container_.end()) return nullptr;
  auto p = pods_.find(it->second);
  if (p == pods_.end()) return nullptr;
  if (c)
    for (const auto &pc : p->second->containers)
      if (pc.id == cid) *c = &pc;
  return p->second;
}

void KubeWatcher::start() {
  if (!cfg_.enabled() || thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void KubeWatcher::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void KubeWatcher::failure(const std::string &what) {
  if (!warned_) {
    warned_ = true;
    KLOG_WARN("kubernetes metadata unavailable (%s); events keep container and pod uid from the "
              "cgroup, retrying in the background (further errors at debug level)",
              what.c_str());
  } else {
    KLOG_DEBUG("kubernetes: %s", what.c_str());
  }
}

namespace {
bool endpoint_for(const KubeConfig &cfg, net::Endpoint &ep, std::string &err) {
  if (!net::parse_url(cfg.api_url, ep, err)) return false;
  ep.ca_file = cfg.ca_file;
  return true;
}
net::Request pods_request(const KubeConfig &cfg, const std::string &query) {
  net::Request r;
  r.target = "/api/v1/pods?fieldSelector=" + net::url_encode("spec.nodeName=" + cfg.node_name) + query;
  std::string token = read_file(cfg.token_file);
  if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
  r.headers.emplace_back("Accept", "application/json");
  return r;
}
}  // namespace

bool KubeWatcher::list(std::string &rv, std::string &err, int &status) {
  net::Endpoint ep;
  if (!endpoint_for(cfg_, ep, err)) return false;
  net::Options opt;
  opt.connect_timeout_ms = 2000;
  opt.io_timeout_ms = 30000;
  opt.stop = &stop_;
  net::Response resp;
  lists++;
  if (!net::fetch(ep, pods_request(cfg_, ""), opt, resp, err)) return false;
  status = resp.status;
  if (resp.status != 200) {
    err = "list pods: HTTP " + std::to_string(resp.status);
    return false;
  }
  return store_.apply_list(resp.body, rv, err);
}

bool KubeWatcher::watch(std::string &rv, bool &gone, std::string &err, int &status) {
  net::Endpoint ep;
  if (!endpoint_for(cfg_, ep, err)) return false;
  net::Options opt;
  opt.connect_timeout_ms = 2000;
  // The server ends a watch after its timeout (minutes); bookmarks keep it alive meanwhile.
  opt.io_timeout_ms = 15 * 60 * 1000;
  opt.stop = &stop_;
  watches++;
  net::LineSplitter lines;
  bool bad = false;
  bool ok = net::stream(
      ep, pods_request(cfg_, "&watch=1&allowWatchBookmarks=true&resourceVersion=" + net::url_encode(rv)), opt,
      [&](const net::Response &h) {
        status = h.status;
        if (h.status == 410) gone = true;
        return h.status == 200;
      },
      [&](std::string_view d) {
        return lines.feed(d, [&](std::string_view line) {
          std::string e;
          switch (store_.apply_watch_line(line, rv, e)) {
            case PodStore::WatchResult::Gone: gone = true; return false;
            case PodStore::WatchResult::Error: KLOG_DEBUG("kubernetes watch: %s", e.c_str()); bad = true; return false;
            default: return true;
          }
        });
      },
      err);
  if (ok && status != 200 && !gone) {
    err = "watch pods: HTTP " + std::to_string(status);
    return false;
  }
  if (bad && err.empty()) err = "watch stream error";
  return ok && !bad;
}

void KubeWatcher::loop() {
  std::string rv;
  int backoff_ms = 200;
  auto sleep = [&](int ms) {
    for (int w = 0; w < ms && !stop_; w += 50) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  while (!stop_) {
    std::string err;
    int status = 0;
    if (rv.empty()) {
      if (!list(rv, err, status)) {
        if (stop_) return;
        failure(err);
        sleep(backoff_ms);
        backoff_ms = std::min(backoff_ms * 2, 30000);
        continue;
      }
      if (warned_) KLOG_INFO("kubernetes metadata available again (%zu pods on %s)", store_.size(), cfg_.node_name.c_str());
      warned_ = false;
      backoff_ms = 200;
    }
    bool gone = false;
    bool ok = watch(rv, gone, err, status);
    if (stop_) return;
    if (gone) {
      // Our resourceVersion fell out of the server's window: list again, then watch from there.
      relists_on_gone++;
      KLOG_DEBUG("kubernetes watch: resourceVersion %s expired (410), re-listing", rv.c_str());
      rv.clear();
      continue;
    }
    if (!ok) {
      failure(err);
      if (status == 401 || status == 403) rv.clear();
      sleep(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, 30000);
    }
    // A clean end (server-side watch timeout) resumes from rv; the pause keeps a server that
    // closes at once from turning this into a request loop.
    if (ok) sleep(100);
  }
}

}  // namespace ktrail
