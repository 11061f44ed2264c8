#include "enrich/cloud.h"

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

std::string last_segment(const std::string &s) {
  auto p = s.rfind('/');
  return p == std::string::npos ? s : s.substr(p + 1);
}

}  // namespace

bool parse_cloud_mode(const std::string &s, CloudMode &m) {
  if (s == "off") m = CloudMode::Off;
  else if (s == "auto") m = CloudMode::Auto;
  else if (s == "aws") m = CloudMode::Aws;
  else if (s == "gcp") m = CloudMode::Gcp;
  else if (s == "azure") m = CloudMode::Azure;
  else return false;
  return true;
}

bool parse_aws_identity(const std::string &body, CloudInfo &c) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || str(j, "instanceId").empty()) return false;
  c = CloudInfo{};
  c.provider = "aws";
  c.instance_id = str(j, "instanceId");
  c.region = str(j, "region");
  c.availability_zone = str(j, "availabilityZone");
  c.account_id = str(j, "accountId");
  c.machine_type = str(j, "instanceType");
  return true;
}

CloudInfo gcp_info(const std::string &id, const std::string &zone, const std::string &machine_type,
                   const std::string &project_id) {
  CloudInfo c;
  c.provider = "gcp";
  c.instance_id = id;
  c.availability_zone = last_segment(zone);
  // Zones are <region>-<letter>: us-central1-a is in us-central1.
  auto dash = c.availability_zone.rfind('-');
  if (dash != std::string::npos) c.region = c.availability_zone.substr(0, dash);
  c.machine_type = last_segment(machine_type);
  c.account_id = project_id;
  return c;
}

bool parse_azure_instance(const std::string &body, CloudInfo &c) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("compute") || !j["compute"].is_object()) return false;
  const json &k = j["compute"];
  if (str(k, "vmId").empty()) return false;
  c = CloudInfo{};
  c.provider = "azure";
  c.instance_id = str(k, "vmId");
  c.region = str(k, "location");
  c.availability_zone = str(k, "zone");
  c.account_id = str(k, "subscriptionId");
  c.machine_type = str(k, "vmSize");
  return true;
}

namespace {
struct Probe {
  net::Endpoint ep;
  net::Options opt;
  bool ok = false;
  std::string err;
};
Probe probe(const std::string &endpoint, int timeout_ms, const std::atomic<bool> *stop) {
  Probe p;
  std::string url = endpoint.empty() ? "http://169.254.169.254" : endpoint;
  p.ok = net::parse_url(url, p.ep, p.err);
  p.opt.connect_timeout_ms = timeout_ms;
  p.opt.io_timeout_ms = timeout_ms;
  p.opt.max_body = 1 << 20;
  p.opt.stop = stop;
  return p;
}
}  // namespace

bool CloudDetector::try_aws(CloudInfo &out, std::string &err) {
  Probe p = probe(endpoint_, timeout_ms_, &stop_);
  if (!p.ok) return err = p.err, false;
  // IMDSv2: a session token first (PUT), then the document with the token. The PUT's response
  // has IP TTL 1 by default: from a container one hop away it never arrives (timeout).
  net::Request put;
  put.method = "PUT";
  put.target = "/latest/api/token";
  put.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", "60");
  net::Response r;
  if (!net::fetch(p.ep, put, p.opt, r, err)) return false;
  if (r.status != 200 || r.body.empty()) return err = "IMDSv2 token: HTTP " + std::to_string(r.status), false;
  net::Request get;
  get.target = "/latest/dynamic/instance-identity/document";
  get.headers.emplace_back("X-aws-ec2-metadata-token", r.body);
  if (!net::fetch(p.ep, get, p.opt, r, err)) return false;
  if (r.status != 200) return err = "instance identity: HTTP " + std::to_string(r.status), false;
  if (!parse_aws_identity(r.body, out)) return err = "instance identity document not understood", false;
  return true;
}

bool CloudDetector::try_gcp(CloudInfo &out, std::string &err) {
  Probe p = probe(endpoint_, timeout_ms_, &stop_);
  if (!p.ok) return err = p.err, false;
  std::string v[4];
  const char *paths[4] = {"/computeMetadata/v1/instance/id", "/computeMetadata/v1/instance/zone",
                          "/computeMetadata/v1/instance/machine-type", "/computeMetadata/v1/project/project-id"};
  for (int i = 0; i < 4; i++) {
    net::Request req;
    req.target = paths[i];
    req.headers.emplace_back("Metadata-Flavor", "Google");
    net::Response r;
    if (!net::fetch(p.ep, req, p.opt, r, err)) return false;
    // A real GCE server answers with this header; anything else is not GCE.
    auto f = r.headers.find("metadata-flavor");
    if (r.status != 200 || f == r.headers.end() || f->second != "Google")
      return err = std::string(paths[i]) + ": HTTP " + std::to_string(r.status), false;
    v[i] = r.body;
  }
  out = gcp_info(v[0], v[1], v[2], v[3]);
  return !out.instance_id.empty();
}

bool CloudDetector::try_azure(CloudInfo &out, std::string &err) {
  Probe p = probe(endpoint_, timeout_ms_, &stop_);
  if (!p.ok) return err = p.err, false;
  net::Request req;
  req.target = "/metadata/instance?api-version=2021-02-01";
  req.headers.emplace_back("Metadata", "true");
  net::Response r;
  if (!net::fetch(p.ep, req, p.opt, r, err)) return false;
  if (r.status != 200) return err = "HTTP " + std::to_string(r.status), false;
  if (!parse_azure_instance(r.body, out)) return err = "instance document not understood", false;
  return true;
}

std::shared_ptr<const CloudInfo> CloudDetector::detect(std::string &why) {
  struct Try {
    CloudMode mode;
    const char *name;
    bool (CloudDetector::*fn)(CloudInfo &, std::string &);
  } tries[] = {{CloudMode::Aws, "aws", &CloudDetector::try_aws},
               {CloudMode::Gcp, "gcp", &CloudDetector::try_gcp},
               {CloudMode::Azure, "azure", &CloudDetector::try_azure}};
  for (const auto &t : tries) {
    if (mode_ != CloudMode::Auto && mode_ != t.mode) continue;
    if (stop_) break;
    CloudInfo c;
    std::string err;
    if ((this->*t.fn)(c, err)) return std::make_shared<const CloudInfo>(std::move(c));
    why += (why.empty() ? "" : "; ") + std::string(t.name) + ": " + err;
  }
  return nullptr;
}

void CloudDetector::start() {
  if (mode_ == CloudMode::Off || thread_.joinable()) {
    done_ = true;
    return;
  }
  thread_ = std::thread([this] {
    std::string why;
    auto info = detect(why);
    {
      std::lock_guard<std::mutex> l(mu_);
      info_ = info;
    }
    done_.store(true, std::memory_order_release);
    if (info) {
      KLOG_INFO("cloud: %s instance %s in %s", info->provider.c_str(), info->instance_id.c_str(),
                info->availability_zone.c_str());
    } else if (mode_ == CloudMode::Auto && endpoint_.empty()) {
      KLOG_INFO("cloud: no metadata service answered; cloud.* fields are omitted (%s)", why.c_str());
    } else {
      KLOG_WARN("cloud metadata unavailable (%s); cloud.* fields are omitted", why.c_str());
    }
  });
}

void CloudDetector::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const CloudInfo> CloudDetector::get() const {
  std::lock_guard<std::mutex> l(mu_);
  return info_;
}

}  // namespace ktrail
