#include "delivery/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ktrail::delivery {
namespace {

std::string peer_name(const Peer &p) { return p.host + ":" + std::to_string(p.port); }

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

Status fail(const std::string &msg) { return Status::error(KTRAIL_EXIT_OUTPUT, msg); }

Status open_socket(const Peer &p, int &fd_out) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = p.proto == Proto::Udp ? SOCK_DGRAM : SOCK_STREAM;
  std::string port = std::to_string(p.port);
  if (int rc = getaddrinfo(p.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return fail("cannot resolve " + p.host + ": " + gai_strerror(rc));
  std::string err = "no address";
  int fd = -1;
  for (addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      int soerr = 0;
      socklen_t len = sizeof(soerr);
      if (poll(&pfd, 1, p.timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0) {
        rc = soerr ? -1 : 0;
        errno = soerr;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) break;
    err = std::strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return fail("cannot connect to " + peer_name(p) + ": " + err);
  // Blocking from here on, with timeouts: a stalled collector fails the send, it never hangs.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{p.timeout_ms / 1000, (p.timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (p.proto != Proto::Udp) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  }
  fd_out = fd;
  return Status::ok();
}

class SocketConnection : public Connection {
 public:
  SocketConnection(int fd, bool stream) : fd_(fd), stream_(stream) {}
  ~SocketConnection() override { close(fd_); }
  Status send(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(std::string("send failed: ") + std::strerror(errno));
      if (!stream_) return Status::ok();  // a datagram goes whole or not at all
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::ok();
  }
  bool healthy() override {
    if (!stream_) return true;
    pollfd pfd{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) == 0) return true;
    if (pfd.revents & (POLLRDHUP | POLLERR | POLLHUP)) return false;
    char buf[512];  // syslog collectors do not talk back; drain anything they do say
    ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }
  uint64_t unacknowledged_bytes() override {
    int pending = 0;
    if (!stream_ || ioctl(fd_, SIOCOUTQ, &pending) != 0) return 0;
    return static_cast<uint64_t>(pending);
  }

 protected:
  int fd_;
  bool stream_;
};

class TlsConnection : public SocketConnection {
 public:
  TlsConnection(int fd, SSL_CTX *ctx, SSL *ssl) : SocketConnection(fd, true), ctx_(ctx), ssl_(ssl) {}
  ~TlsConnection() override {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  Status send(std::string_view data) override {
    while (!data.empty()) {
      size_t written = 0;
      if (SSL_write_ex(ssl_, data.data(), data.size(), &written) != 1)
        return fail("TLS send failed: " + openssl_errors());
      data.remove_prefix(written);
    }
    return Status::ok();
  }
  bool healthy() override {
    pollfd pfd{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) == 0) return true;
    if (pfd.revents & (POLLRDHUP | POLLERR | POLLHUP)) return false;
    // Post-handshake messages (TLS 1.3 tickets) or an alert: let OpenSSL consume them.
    char buf[512];
    size_t n = 0;
    int rc = SSL_read_ex(ssl_, buf, sizeof(buf), &n);
    if (rc == 1) return true;
    int e = SSL_get_error(ssl_, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }

 private:
  SSL_CTX *ctx_;
  SSL *ssl_;
};

bool is_ip_literal(const std::string &host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

Status tls_handshake(const Peer &p, int fd, std::unique_ptr<Connection> &out) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail("TLS setup failed: " + openssl_errors());
  auto give_up = [&](const std::string &msg) {
    SSL_CTX_free(ctx);
    close(fd);
    return fail(msg);
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (p.tls.verify) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!p.tls.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, p.tls.ca_file.c_str(), nullptr) != 1)
      return give_up("cannot load CA file " + p.tls.ca_file + ": " + openssl_errors());
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return give_up("cannot load the system CA store: " + openssl_errors());
  }
  if (!p.tls.cert_file.empty() || !p.tls.key_file.empty()) {
    if (p.tls.cert_file.empty() || p.tls.key_file.empty())
      return give_up("mutual TLS needs both a client certificate and a key");
    if (SSL_CTX_use_certificate_chain_file(ctx, p.tls.cert_file.c_str()) != 1)
      return give_up("cannot load client certificate " + p.tls.cert_file + ": " + openssl_errors());
    // The key file's path is named, never its contents (OpenSSL's errors do not quote it).
    if (SSL_CTX_use_PrivateKey_file(ctx, p.tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
      return give_up("cannot use client key " + p.tls.key_file + " with that certificate: " + openssl_errors());
  }
  SSL *ssl = SSL_new(ctx);
  if (!ssl) return give_up("TLS setup failed: " + openssl_errors());
  if (is_ip_literal(p.host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, p.host.c_str());
    SSL_set1_host(ssl, p.host.c_str());
  }
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    long vr = SSL_get_verify_result(ssl);
    std::string why = vr != X509_V_OK ? std::string("certificate verification failed: ") +
                                            X509_verify_cert_error_string(vr)
                                      : openssl_errors();
    if (why.empty()) why = "handshake failed (the peer closed the connection)";
    SSL_free(ssl);
    return give_up("TLS handshake with " + peer_name(p) + " failed: " + why);
  }
  out = std::make_unique<TlsConnection>(fd, ctx, ssl);
  return Status::ok();
}

}  // namespace

Status connect_peer(const Peer &peer, std::unique_ptr<Connection> &out) {
  int fd = -1;
  if (Status st = open_socket(peer, fd); !st) return st;
  if (peer.proto == Proto::Tls) return tls_handshake(peer, fd, out);
  out = std::make_unique<SocketConnection>(fd, peer.proto == Proto::Tcp);
  return Status::ok();
}

}  // namespace ktrail::delivery
