// Cloud instance identity from the provider's metadata service: AWS IMDSv2, GCE metadata,
// Azure IMDS. Detected once in the background with short timeouts; events never wait for it.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/identity.h"

namespace ktrail {

enum class CloudMode { Off, Auto, Aws, Gcp, Azure };
bool parse_cloud_mode(const std::string &s, CloudMode &out);

// Pure document parsing (unit tested).
bool parse_aws_identity(const std::string &body, CloudInfo &out);
// GCE answers one value per path; zone and machine-type are "projects/N/zones/us-central1-a".
CloudInfo gcp_info(const std::string &id, const std::string &zone, const std::string &machine_type,
                   const std::string &project_id);
bool parse_azure_instance(const std::string &body, CloudInfo &out);

class CloudDetector {
 public:
  // endpoint: "" = the link-local services (http://169.254.169.254); tests point it at a local
  // server. timeout_ms bounds every connect and read.
  CloudDetector(CloudMode mode, std::string endpoint = "", int timeout_ms = 300)
      : mode_(mode), endpoint_(std::move(endpoint)), timeout_ms_(timeout_ms) {}
  ~CloudDetector() { stop(); }
  void start();
  void stop();
  // Null until detection finished with a result.
  std::shared_ptr<const CloudInfo> get() const;
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Runs detection in the calling thread (what start() does in its thread).
  std::shared_ptr<const CloudInfo> detect(std::string &why_not);

 private:
  bool try_aws(CloudInfo &out, std::string &err);
  bool try_gcp(CloudInfo &out, std::string &err);
  bool try_azure(CloudInfo &out, std::string &err);
  CloudMode mode_;
  std::string endpoint_;
  int timeout_ms_;
  std::atomic<bool> stop_{false}, done_{false};
  mutable std::mutex mu_;
  std::shared_ptr<const CloudInfo> info_;
  std::thread thread_;
};

}  // namespace ktrail
