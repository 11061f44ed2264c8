#include "metrics/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/log.h"

namespace ktrail::metrics {

bool parse_listen_address(const std::string &spec, std::string &host, uint16_t &port, std::string &err) {
  std::string p;
  if (!spec.empty() && spec[0] == '[') {
    size_t close = spec.find(']');
    if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
      err = "expected [IPV6]:PORT, got '" + spec + "'";
      return false;
    }
    host = spec.substr(1, close - 1);
    p = spec.substr(close + 2);
  } else {
    size_t colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      err = "expected HOST:PORT, got '" + spec + "'";
      return false;
    }
    host = spec.substr(0, colon);
    p = spec.substr(colon + 1);
  }
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(p) > 65535) {
    err = "bad port '" + p + "' in '" + spec + "'";
    return false;
  }
  port = static_cast<uint16_t>(std::stoul(p));
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, host.c_str(), &a4) != 1 && inet_pton(AF_INET6, host.c_str(), &a6) != 1) {
    err = "'" + host + "' is not a numeric IPv4 or IPv6 address";
    return false;
  }
  return true;
}

Status Server::listen(const std::string &spec, std::unique_ptr<Server> &out) {
  std::string host, err;
  uint16_t port = 0;
  if (!parse_listen_address(spec, host, port, err))
    return Status::error(KTRAIL_EXIT_USAGE, "--metrics-addr: " + err);
  sockaddr_storage ss{};
  socklen_t len;
  bool v6 = host.find(':') != std::string::npos;
  if (v6) {
    auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr);
    len = sizeof *s6;
  } else {
    auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &s4->sin_addr);
    len = sizeof *s4;
  }
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(KTRAIL_EXIT_RUNTIME, std::string("metrics socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0 || ::listen(fd, 64) != 0) {
    std::string e = strerror(errno);
    close(fd);
    return Status::error(KTRAIL_EXIT_USAGE, "--metrics-addr " + spec + ": cannot listen: " + e);
  }
  getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len);
  std::unique_ptr<Server> s(new Server());
  s->fd_ = fd;
  s->port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port : reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
  s->address_ = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(s->port_);
  if (pipe2(s->wake_, O_CLOEXEC | O_NONBLOCK) != 0)
    return Status::error(KTRAIL_EXIT_RUNTIME, std::string("metrics pipe: ") + strerror(errno));
  out = std::move(s);
  return Status::ok();
}

Server::~Server() {
  stop();
  if (fd_ >= 0) close(fd_);
  for (int f : wake_)
    if (f >= 0) close(f);
}

void Server::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void Server::stop() {
  stop_ = true;
  if (wake_[1] >= 0) (void)!write(wake_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
}

namespace {

const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
  }
  return "Error";
}

Response plain(int status, const std::string &msg) { return {status, "text/plain; charset=utf-8", msg + "\n"}; }

struct Conn {
  int fd;
  std::string in, out;
  size_t sent = 0;
  bool writing = false;
  std::chrono::steady_clock::time_point deadline;
};

}  // namespace

Response Server::respond(const std::string &head, bool &head_only) const {
  size_t eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1 || line.compare(sp2 + 1, 7, "HTTP/1.") != 0)
    return plain(400, "bad request line");
  std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string path = target.substr(0, target.find('?'));
  auto it = routes_.find(path);
  if (it == routes_.end()) return plain(404, "not found; try /metrics or /healthz");
  head_only = method == "HEAD";
  if (method != "GET" && method != "HEAD") return plain(405, "only GET and HEAD");
  try {
    return it->second();
  } catch (const std::exception &e) {
    KLOG_WARN("metrics: %s failed: %s", path.c_str(), e.what());
    return plain(500, "internal error");
  }
}

void Server::run() {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  std::vector<Conn> conns;
  std::vector<pollfd> pfds;
  while (!stop_) {
    pfds.clear();
    pfds.push_back({wake_[0], POLLIN, 0});
    pfds.push_back({fd_, static_cast<short>(conns.size() < kMaxConnections ? POLLIN : 0), 0});
    for (auto &c : conns) pfds.push_back({c.fd, static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
    int n = poll(pfds.data(), pfds.size(), 500);
    if (n < 0 && errno != EINTR) {
      KLOG_ERROR("metrics: poll: %s", strerror(errno));
      return;
    }
    auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < conns.size(); i++) {
      Conn &c = conns[i];
      short re = pfds[i + 2].revents;
      bool done = false;
      if (!c.writing && (re & (POLLIN | POLLHUP | POLLERR))) {
        char buf[4096];
        ssize_t r = recv(c.fd, buf, sizeof buf, 0);
        if (r <= 0) {
          done = r == 0 || (errno != EAGAIN && errno != EINTR);
        } else {
          c.in.append(buf, static_cast<size_t>(r));
          size_t end = c.in.find("\r\n\r\n");
          if (end != std::string::npos || c.in.size() > kMaxRequestBytes) {
            bool head_only = false;
            Response rsp = end == std::string::npos || end + 4 > kMaxRequestBytes
                               ? plain(431, "request head larger than 8 KiB")
                               : respond(c.in.substr(0, end), head_only);
            c.out = "HTTP/1.1 " + std::to_string(rsp.status) + " " + reason(rsp.status) +
                    "\r\nContent-Type: " + rsp.content_type +
                    "\r\nContent-Length: " + std::to_string(rsp.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
            if (rsp.status == 405) c.out += "Allow: GET, HEAD\r\n";
            c.out += "\r\n";
            if (!head_only) c.out += rsp.body;
            c.writing = true;
          }
        }
      } else if (c.writing && (re & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t w = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (w < 0) done = errno != EAGAIN && errno != EINTR;
        else c.sent += static_cast<size_t>(w);
        if (c.sent == c.out.size()) {
          shutdown(c.fd, SHUT_WR);
          done = true;
        }
      }
      if (done || now >= c.deadline) {
        close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(conns, [](const Conn &c) { return c.fd < 0; });
    if (pfds[1].revents & POLLIN) {
      while (conns.size() < kMaxConnections) {
        int cfd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) break;
        conns.push_back({cfd, {}, {}, 0, false, now + std::chrono::milliseconds(kConnectionTimeoutMs)});
      }
    }
  }
  for (auto &c : conns) close(c.fd);
}

}  // namespace ktrail::metrics
