// SHA-256 and Ed25519 through OpenSSL 3 EVP, and the lowercase hex every integrity field uses.
// Key material never leaves these classes: errors name the file, never its contents.
#pragma once
#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ktrail {

using Digest = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

std::string to_hex(const uint8_t *p, size_t n);
// The same 2n lowercase hex digits written to out, for callers that build a record in place
// (a chain hash per record, the state slot per release) and want no string of their own.
void hex_into(const uint8_t *p, size_t n, char *out);
template <size_t N>
void hex_into(const std::array<uint8_t, N> &a, char *out) { hex_into(a.data(), N, out); }
template <size_t N>
std::string to_hex(const std::array<uint8_t, N> &a) { return to_hex(a.data(), N); }
// Strict: exactly 2*n lowercase hex digits. Upper case is refused so a record has one spelling.
bool from_hex(std::string_view hex, uint8_t *out, size_t n);
template <size_t N>
bool from_hex(std::string_view hex, std::array<uint8_t, N> &out) { return from_hex(hex, out.data(), N); }

// Reusable SHA-256 context; the algorithm is fetched once (an implicit fetch per digest costs
// more than hashing a short record).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256 &) = delete;
  Sha256 &operator=(const Sha256 &) = delete;
  Sha256 &update(const void *p, size_t n);
  Sha256 &update(std::string_view s) { return update(s.data(), s.size()); }
  Digest finish();  // and resets for the next digest

 private:
  EVP_MD_CTX *ctx_;
};

Digest sha256(std::string_view data);

class SigningKey {
 public:
  // An Ed25519 private key in PEM (PKCS#8, as `openssl genpkey -algorithm ed25519` writes).
  static Status load(const std::string &path, std::unique_ptr<SigningKey> &out);
  static std::unique_ptr<SigningKey> generate();
  ~SigningKey();
  Signature sign(std::string_view msg) const;
  // SHA-256 of the raw 32-byte public key.
  const Digest &key_id() const { return key_id_; }
  std::string public_pem() const;
  std::string private_pem() const;  // tests only: writing a key for the agent to load

 private:
  explicit SigningKey(EVP_PKEY *k);
  EVP_PKEY *key_;
  Digest key_id_{};
};

class PublicKey {
 public:
  // PEM SubjectPublicKeyInfo (`openssl pkey -pubout`); a private key PEM is accepted too and
  // only its public half is kept.
  static Status load(const std::string &path, std::unique_ptr<PublicKey> &out);
  static Status from_pem(std::string_view pem, std::unique_ptr<PublicKey> &out);
  ~PublicKey();
  bool verify(std::string_view msg, const Signature &sig) const;
  const Digest &key_id() const { return key_id_; }

 private:
  explicit PublicKey(EVP_PKEY *k);
  EVP_PKEY *key_;
  Digest key_id_{};
};

}  // namespace ktrail
