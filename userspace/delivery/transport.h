// Connections to collectors: TCP, TLS over TCP (OpenSSL, verified by default) and UDP.
// Blocking sockets with timeouts: only sender threads use them, never the pipeline thread.
// Error texts name files and peers, never key material.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ktrail::delivery {

struct TlsConfig {
  std::string ca_file;    // "": the system store
  std::string cert_file;  // client certificate (mutual TLS), with key_file
  std::string key_file;
  bool verify = true;     // false only with an explicit insecure option
};

enum class Proto { Tcp, Tls, Udp };

struct Peer {
  Proto proto = Proto::Tcp;
  std::string host;
  uint16_t port = 0;
  TlsConfig tls;
  int timeout_ms = 5000;
};

class Connection {
 public:
  virtual ~Connection() = default;
  // Whole buffer or an error.
  virtual Status send(std::string_view data) = 0;
  // Reads what the peer sent, if any, without waiting (RELP acks use their own library).
  // False when the peer closed or the connection failed.
  virtual bool healthy() = 0;
  // Bytes written but not yet acknowledged by the peer's TCP stack (0 for UDP).
  virtual uint64_t unacknowledged_bytes() = 0;
};

Status connect_peer(const Peer &peer, std::unique_ptr<Connection> &out);

}  // namespace ktrail::delivery
