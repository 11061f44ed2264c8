// A small HTTP/1.1 server for /metrics and /healthz, on one thread of its own.
//
// One poll() loop serves every connection, non-blocking, so a slow or stuck client never
// holds up another scrape or the event path. Bounds: request head at most 8 KiB (431
// otherwise), 5 s per connection from accept to the last byte written, 32 connections at
// once (more wait in the listen backlog). Every response closes the connection.
// GET and HEAD only (405 with Allow otherwise); unknown paths get 404.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"

namespace ktrail::metrics {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// "HOST:PORT", "[V6]:PORT" or an unbracketed IPv6 literal followed by ":PORT" (what
// "$(POD_IP):9464" gives on an IPv6 pod network). HOST is a numeric address; "off" is handled
// by the caller. Port 0 picks a free port.
bool parse_listen_address(const std::string &spec, std::string &host, uint16_t &port, std::string &err);

class Server {
 public:
  using Handler = std::function<Response()>;
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr int kConnectionTimeoutMs = 5000;
  static constexpr size_t kMaxConnections = 32;

  // Binds and listens at once (a taken port is a configuration error, reported before the
  // agent loads anything); serving starts with start().
  static Status listen(const std::string &spec, std::unique_ptr<Server> &out);
  ~Server();
  void route(const std::string &path, Handler h) { routes_[path] = std::move(h); }
  void start();
  void stop();
  // "127.0.0.1:9464", "[::1]:9464": the bound address, with the port the kernel chose.
  const std::string &address() const { return address_; }
  uint16_t port() const { return port_; }

 private:
  Server() = default;
  void run();
  Response respond(const std::string &head, bool &head_only) const;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::string address_;
  uint16_t port_ = 0;
  std::map<std::string, Handler> routes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ktrail::metrics
