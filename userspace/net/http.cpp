#include "net/http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace ktrail::net {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (char &c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// One connection: a socket, optionally wrapped in TLS, with bounded waits.
class Conn {
 public:
  Conn(const Options &opt) : opt_(opt) {}
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }

  bool open(const Endpoint &ep, std::string &err) {
    if (!ep.unix_path.empty()) {
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      if (ep.unix_path.size() >= sizeof(sa.sun_path)) {
        err = "unix socket path too long";
        return false;
      }
      memcpy(sa.sun_path, ep.unix_path.c_str(), ep.unix_path.size() + 1);
      fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd_ < 0 || !connect_wait(reinterpret_cast<sockaddr *>(&sa), sizeof(sa), err)) {
        err = ep.unix_path + ": " + err;
        return false;
      }
      return true;
    }
    // Numeric addresses only need no resolver; names go through getaddrinfo (may block
    // briefly: only background threads call this).
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    std::string port = std::to_string(ep.port);
    int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
      err = ep.host + ": " + gai_strerror(rc);
      return false;
    }
    bool ok = false;
    for (addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
      if (fd_ >= 0) close(fd_);
      fd_ = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd_ < 0) continue;
      ok = connect_wait(ai->ai_addr, ai->ai_addrlen, err);
    }
    freeaddrinfo(res);
    if (!ok) {
      err = ep.host + ":" + port + ": " + err;
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ep.tls) return start_tls(ep, err);
    return true;
  }

  bool write_all(std::string_view data, std::string &err) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n;
      if (ssl_) {
        n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
        if (n <= 0) {
          int e = SSL_get_error(ssl_, static_cast<int>(n));
          if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            if (!wait(e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, err)) return false;
            continue;
          }
          err = "TLS write: " + ssl_error();
          return false;
        }
      } else {
        n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) {
            if (!wait(POLLOUT, err)) return false;
            continue;
          }
          err = std::string("send: ") + strerror(errno);
          return false;
        }
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // >0 bytes, 0 at EOF, -1 on error/timeout (err set).
  ssize_t read_some(char *buf, size_t len, std::string &err) {
    for (;;) {
      if (ssl_) {
        ERR_clear_error();
        int n = SSL_read(ssl_, buf, static_cast<int>(len));
        if (n > 0) return n;
        int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          if (!wait(e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, err)) return -1;
          continue;
        }
        // A peer closing without close_notify is common for HTTP servers: treat as EOF.
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;
        err = "TLS read: " + ssl_error();
        return -1;
      }
      ssize_t n = recv(fd_, buf, len, 0);
      if (n >= 0) return n;
      if (errno == EAGAIN || errno == EINTR) {
        if (!wait(POLLIN, err)) return -1;
        continue;
      }
      err = std::string("recv: ") + strerror(errno);
      return -1;
    }
  }

  // An idle kept-alive connection is still usable: nothing to read (a server that closed it
  // shows EOF; TLS 1.3 session tickets are consumed by OpenSSL's next read, not treated as data).
  bool idle_alive() {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) == 0) return true;
    if (p.revents & (POLLRDHUP | POLLERR | POLLHUP)) return false;
    if (!ssl_) return false;  // unsolicited bytes on plain HTTP: the stream is out of step
    char b;
    ERR_clear_error();
    int n = SSL_peek(ssl_, &b, 1);
    if (n > 0) return false;
    int e = SSL_get_error(ssl_, n);
    return e == SSL_ERROR_WANT_READ;
  }

 private:
  bool connect_wait(const sockaddr *sa, socklen_t len, std::string &err) {
    if (::connect(fd_, sa, len) == 0) return true;
    if (errno != EINPROGRESS && errno != EAGAIN) {
      err = strerror(errno);
      return false;
    }
    if (!wait(POLLOUT, err, opt_.connect_timeout_ms)) return false;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
      err = strerror(soerr);
      return false;
    }
    return true;
  }

  bool wait(short events, std::string &err, int timeout_ms = -1) {
    if (timeout_ms < 0) timeout_ms = opt_.io_timeout_ms;
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (opt_.stop && opt_.stop->load()) {
        err = "stopped";
        return false;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
      if (left <= 0) {
        err = "timed out after " + std::to_string(timeout_ms) + " ms";
        return false;
      }
      pollfd p{fd_, events, 0};
      int rc = poll(&p, 1, static_cast<int>(left < 200 ? left : 200));
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) {
        err = std::string("poll: ") + strerror(errno);
        return false;
      }
    }
  }

  bool start_tls(const Endpoint &ep, std::string &err) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) {
      err = ssl_error();
      return false;
    }
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!ep.ca_file.empty() ? SSL_CTX_load_verify_locations(ctx_, ep.ca_file.c_str(), nullptr) != 1
                            : SSL_CTX_set_default_verify_paths(ctx_) != 1) {
      err = "loading CA " + (ep.ca_file.empty() ? std::string("store") : ep.ca_file) + ": " + ssl_error();
      return false;
    }
    if (!ep.cert_file.empty() || !ep.key_file.empty()) {
      // Paths only in errors: OpenSSL's messages never quote the key itself.
      if (ep.cert_file.empty() || ep.key_file.empty()) {
        err = "mutual TLS needs both a client certificate and a key";
        return false;
      }
      if (SSL_CTX_use_certificate_chain_file(ctx_, ep.cert_file.c_str()) != 1) {
        err = "cannot load client certificate " + ep.cert_file + ": " + ssl_error();
        return false;
      }
      if (SSL_CTX_use_PrivateKey_file(ctx_, ep.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(ctx_) != 1) {
        err = "cannot use client key " + ep.key_file + " with that certificate: " + ssl_error();
        return false;
      }
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    in6_addr a6;
    in_addr a4;
    bool is_ip = inet_pton(AF_INET, ep.host.c_str(), &a4) == 1 || inet_pton(AF_INET6, ep.host.c_str(), &a6) == 1;
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), ep.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, ep.host.c_str());
      SSL_set1_host(ssl_, ep.host.c_str());
    }
    for (;;) {
      ERR_clear_error();
      int rc = SSL_connect(ssl_);
      if (rc == 1) return true;
      int e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (!wait(e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, err)) return false;
        continue;
      }
      long vr = SSL_get_verify_result(ssl_);
      err = "TLS handshake: " + (vr != X509_V_OK ? std::string(X509_verify_cert_error_string(vr)) : ssl_error());
      return false;
    }
  }

  const Options &opt_;
  int fd_ = -1;
  SSL_CTX *ctx_ = nullptr;
  SSL *ssl_ = nullptr;
};

// Buffered reader over a Conn for the head and chunked framing.
class Reader {
 public:
  Reader(Conn &c) : c_(c) {}
  // A line without CRLF; false on EOF/error.
  bool line(std::string &out, std::string &err, size_t max = 64 * 1024) {
    for (;;) {
      size_t p = buf_.find("\r\n", pos_);
      if (p != std::string::npos) {
        out.assign(buf_, pos_, p - pos_);
        pos_ = p + 2;
        return true;
      }
      if (buf_.size() - pos_ > max) {
        err = "header line too long";
        return false;
      }
      if (fill(err) <= 0) {
        if (err.empty()) err = "connection closed";
        return false;
      }
    }
  }
  // Up to n buffered-or-fresh bytes; 0 at EOF, -1 on error.
  ssize_t some(size_t n, std::string_view &out, std::string &err) {
    if (pos_ == buf_.size()) {
      ssize_t r = fill(err);
      if (r <= 0) return r;
    }
    size_t k = std::min(n, buf_.size() - pos_);
    out = std::string_view(buf_).substr(pos_, k);
    pos_ += k;
    return static_cast<ssize_t>(k);
  }

 private:
  ssize_t fill(std::string &err) {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > 65536) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    char tmp[16384];
    ssize_t n = c_.read_some(tmp, sizeof(tmp), err);
    if (n > 0) buf_.append(tmp, static_cast<size_t>(n));
    return n;
  }
  Conn &c_;
  std::string buf_;
  size_t pos_ = 0;
};

// Sends req on an open connection and reads the response. keep_alive asks the server to keep
// the connection; reusable says whether it may carry another request afterwards (the body was
// delimited and read to its end, and the server did not say close).
bool exchange(Conn &c, Reader &r, const Endpoint &ep, const Request &req, const Options &opt,
              bool keep_alive, bool &reusable, const std::function<bool(const Response &)> &on_head,
              const std::function<bool(std::string_view)> &on_data, std::string &err) {
  reusable = false;
  std::string host = ep.unix_path.empty() ? ep.host : "localhost";
  if (ep.unix_path.empty() && ep.port != (ep.tls ? 443 : 80)) host += ":" + std::to_string(ep.port);
  std::string head = req.method + " " + ep.base_path + req.target + " HTTP/1.1\r\nHost: " + host +
                     "\r\nUser-Agent: ktrail\r\nConnection: " + (keep_alive ? "keep-alive" : "close") + "\r\n";
  for (const auto &[k, v] : req.headers) head += k + ": " + v + "\r\n";
  if (!req.body.empty() || req.method == "PUT" || req.method == "POST")
    head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  head += "\r\n";
  // Large bodies go in their own write: no copy of a megabyte batch into the head.
  if (req.body.size() > 16384) {
    if (!c.write_all(head, err) || !c.write_all(req.body, err)) return false;
  } else {
    head += req.body;
    if (!c.write_all(head, err)) return false;
  }

  Response resp;
  std::string line;
  bool http11 = false;
  // 1xx interim responses precede the real one.
  do {
    if (!r.line(line, err)) return false;
    if (line.compare(0, 5, "HTTP/") != 0 || line.size() < 12) {
      err = "not an HTTP response: " + line.substr(0, 64);
      return false;
    }
    http11 = line.compare(0, 8, "HTTP/1.1") == 0;
    resp.status = atoi(line.c_str() + 9);
    resp.headers.clear();
    for (;;) {
      if (!r.line(line, err)) return false;
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
      resp.headers[lower(line.substr(0, colon))] = v;
    }
  } while (resp.status >= 100 && resp.status < 200);
  auto conn_hdr = resp.headers.find("connection");
  bool may_reuse = keep_alive && http11 &&
                   (conn_hdr == resp.headers.end() || lower(conn_hdr->second).find("close") == std::string::npos);
  if (!on_head(resp)) return true;
  if (req.method == "HEAD" || resp.status == 204 || resp.status == 304) {
    reusable = may_reuse;
    return true;
  }

  auto te = resp.headers.find("transfer-encoding");
  bool chunked = te != resp.headers.end() && lower(te->second).find("chunked") != std::string::npos;
  auto cl = resp.headers.find("content-length");
  std::string_view piece;
  if (chunked) {
    for (;;) {
      if (!r.line(line, err)) return false;
      char *end;
      unsigned long long size = strtoull(line.c_str(), &end, 16);
      if (end == line.c_str()) {
        err = "bad chunk size";
        return false;
      }
      if (size == 0) {
        // Trailers only matter when the connection carries another response after this one.
        if (may_reuse) {
          do {
            if (!r.line(line, err)) return false;
          } while (!line.empty());
          reusable = true;
        }
        return true;
      }
      if (size > opt.max_body) {
        err = "chunk too large";
        return false;
      }
      while (size > 0) {
        ssize_t n = r.some(size, piece, err);
        if (n <= 0) {
          if (err.empty()) err = "connection closed inside a chunk";
          return false;
        }
        size -= static_cast<size_t>(n);
        if (!on_data(piece)) return true;
      }
      if (!r.line(line, err)) return false;  // CRLF after the chunk
    }
  }
  if (cl != resp.headers.end()) {
    unsigned long long left = strtoull(cl->second.c_str(), nullptr, 10);
    if (left > opt.max_body) {
      err = "body too large";
      return false;
    }
    while (left > 0) {
      ssize_t n = r.some(left, piece, err);
      if (n <= 0) {
        if (err.empty()) err = "connection closed before the end of the body";
        return false;
      }
      left -= static_cast<size_t>(n);
      if (!on_data(piece)) return true;
    }
    reusable = may_reuse;
    return true;
  }
  for (;;) {  // until close
    ssize_t n = r.some(65536, piece, err);
    if (n == 0) return true;
    if (n < 0) return false;
    if (!on_data(piece)) return true;
  }
}

bool run(const Endpoint &ep, const Request &req, const Options &opt,
         const std::function<bool(const Response &)> &on_head,
         const std::function<bool(std::string_view)> &on_data, std::string &err) {
  Conn c(opt);
  if (!c.open(ep, err)) return false;
  Reader r(c);
  bool reusable = false;
  return exchange(c, r, ep, req, opt, false, reusable, on_head, on_data, err);
}

// Collects a whole body, bounded by max_body.
bool collect(const Options &opt, Response &out, std::string &err,
             const std::function<bool(const std::function<bool(const Response &)> &,
                                      const std::function<bool(std::string_view)> &)> &go) {
  out = Response{};
  bool too_big = false;
  bool ok = go(
      [&](const Response &h) {
        out.status = h.status;
        out.headers = h.headers;
        return true;
      },
      [&](std::string_view d) {
        if (out.body.size() + d.size() > opt.max_body) {
          too_big = true;
          return false;
        }
        out.body.append(d);
        return true;
      });
  if (too_big) {
    err = "body larger than " + std::to_string(opt.max_body) + " bytes";
    return false;
  }
  return ok;
}

}  // namespace

bool parse_url(const std::string &url, Endpoint &ep, std::string &err) {
  ep = Endpoint{};
  std::string rest;
  if (url.rfind("unix://", 0) == 0) {
    ep.unix_path = url.substr(7);
    if (ep.unix_path.empty() || ep.unix_path[0] != '/') {
      err = "unix:// needs an absolute path: " + url;
      return false;
    }
    return true;
  }
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
    ep.port = 80;
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    ep.tls = true;
    ep.port = 443;
  } else {
    err = "unsupported URL (want http://, https:// or unix://): " + url;
    return false;
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) ep.base_path = rest.substr(slash);
  while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
  std::string host = hostport;
  if (!hostport.empty() && hostport[0] == '[') {  // [v6]:port
    auto close = hostport.find(']');
    if (close == std::string::npos) {
      err = "bad IPv6 literal in " + url;
      return false;
    }
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':')
      ep.port = static_cast<uint16_t>(atoi(hostport.c_str() + close + 2));
  } else if (auto colon = hostport.rfind(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    int p = atoi(hostport.c_str() + colon + 1);
    if (p <= 0 || p > 65535) {
      err = "bad port in " + url;
      return false;
    }
    ep.port = static_cast<uint16_t>(p);
  }
  if (host.empty()) {
    err = "no host in " + url;
    return false;
  }
  ep.host = host;
  return true;
}

bool fetch(const Endpoint &ep, const Request &req, const Options &opt, Response &out, std::string &err) {
  return collect(opt, out, err, [&](const auto &on_head, const auto &on_data) {
    return run(ep, req, opt, on_head, on_data, err);
  });
}

struct Client::State {
  explicit State(const Options &opt) : conn(opt), reader(conn) {}
  Conn conn;
  Reader reader;
};

Client::Client(Endpoint ep, Options opt) : ep_(std::move(ep)), opt_(opt) {}
Client::~Client() = default;

void Client::close() { st_.reset(); }

bool Client::connect(std::string &err) {
  if (st_) return true;
  st_ = std::make_unique<State>(opt_);
  if (st_->conn.open(ep_, err)) return true;
  st_.reset();
  return false;
}

bool Client::request(const Request &req, Response &out, std::string &err) {
  // A kept connection the server closed in the meantime fails at once: retry once on a new
  // one. Only then, so a request is never sent twice on a connection that took it.
  for (int attempt = 0; attempt < 2; attempt++) {
    bool fresh = !st_;
    if (fresh) {
      st_ = std::make_unique<State>(opt_);
      if (!st_->conn.open(ep_, err)) {
        st_.reset();
        return false;
      }
    } else if (!st_->conn.idle_alive()) {
      st_.reset();
      continue;
    }
    bool reusable = false;
    bool ok = collect(opt_, out, err, [&](const auto &on_head, const auto &on_data) {
      return exchange(st_->conn, st_->reader, ep_, req, opt_, true, reusable, on_head, on_data, err);
    });
    if (!ok || !reusable) st_.reset();
    return ok;
  }
  return false;
}

bool stream(const Endpoint &ep, const Request &req, const Options &opt,
            const std::function<bool(const Response &)> &on_head,
            const std::function<bool(std::string_view)> &on_data, std::string &err) {
  return run(ep, req, opt, on_head, on_data, err);
}

std::string url_encode(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool LineSplitter::feed(std::string_view data, const std::function<bool(std::string_view)> &on_line) {
  size_t start = 0;
  for (size_t i = 0; i < data.size(); i++) {
    if (data[i] != '\n') continue;
    std::string_view piece = data.substr(start, i - start);
    start = i + 1;
    if (!buf_.empty()) {
      buf_.append(piece);
      std::string line = std::move(buf_);
      buf_.clear();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!on_line(line)) return true;
    } else {
      if (!piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
      if (!on_line(piece)) return true;
    }
  }
  buf_.append(data.substr(start));
  if (buf_.size() > max_) {
    buf_.clear();
    return false;
  }
  return true;
}

}  // namespace ktrail::net
