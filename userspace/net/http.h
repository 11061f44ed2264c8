// A small HTTP/1.1 client for the agent's background lookups: unix sockets (Docker/podman
// Engine API), plain TCP (cloud metadata) and verified TLS (kube-apiserver). One request per
// connection, every wait bounded by a timeout, streaming bodies for watches. Never used on
// the event path.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ktrail::net {

struct Endpoint {
  std::string unix_path;  // set: connect to this unix socket (host is only the Host header)
  std::string host = "localhost";
  uint16_t port = 80;
  bool tls = false;
  std::string ca_file;    // "" = system store
  std::string base_path;  // prefix of every target ("/api" in "https://h/api")
  std::string cert_file;  // client certificate for mutual TLS, with key_file
  std::string key_file;
};

// http://h[:p][/base], https://h[:p][/base], unix:///path/to.sock. False on anything else.
bool parse_url(const std::string &url, Endpoint &out, std::string &err);

struct Request {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct Options {
  int connect_timeout_ms = 1000;
  int io_timeout_ms = 5000;         // no byte for this long fails the request
  size_t max_body = 64 << 20;       // bodies beyond this fail (a runaway server must not OOM us)
  const std::atomic<bool> *stop = nullptr;  // checked between waits (at most every 200 ms)
};

// Whole response. False with err on connect/TLS/protocol failure or timeout.
bool fetch(const Endpoint &ep, const Request &req, const Options &opt, Response &out, std::string &err);

// Streams the decoded body (chunked or not) to on_data as it arrives; on_data returns false to
// stop. on_head sees the status and headers first; returning false skips the body.
bool stream(const Endpoint &ep, const Request &req, const Options &opt,
            const std::function<bool(const Response &head)> &on_head,
            const std::function<bool(std::string_view data)> &on_data, std::string &err);

// Keep-alive: one connection reused across requests (network outputs send batch after batch).
// Opens on first use; reopens after the server closed it or any failure. Not thread-safe.
class Client {
 public:
  Client(Endpoint ep, Options opt);
  ~Client();
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;
  // Whole response. False with err on connect/TLS/protocol failure or timeout; the connection
  // is then closed, and the next request opens a new one.
  bool request(const Request &req, Response &out, std::string &err);
  // Opens the connection now (TCP and the TLS handshake), so a refused peer or certificate
  // shows before any request. True if it is open.
  bool connect(std::string &err);
  void close();
  const Endpoint &endpoint() const { return ep_; }

 private:
  struct State;
  Endpoint ep_;
  Options opt_;
  std::unique_ptr<State> st_;
};

// Percent-encodes a query value (RFC 3986 unreserved characters pass).
std::string url_encode(std::string_view s);

// Splits a byte stream into lines ('\n'), keeping a partial tail between calls.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line = 16 << 20) : max_(max_line) {}
  // Calls on_line for every complete line; false if a line exceeded max_line.
  bool feed(std::string_view data, const std::function<bool(std::string_view)> &on_line);

 private:
  std::string buf_;
  size_t max_;
};

}  // namespace ktrail::net
