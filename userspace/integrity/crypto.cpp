#include "integrity/crypto.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ktrail {
namespace {

const char kHexDigits[] = "0123456789abcdef";

const EVP_MD *sha256_md() {
  static EVP_MD *md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!md) throw std::runtime_error("OpenSSL has no SHA-256");
  return md;
}

// Encrypted keys are refused rather than prompting for a passphrase on the agent's terminal.
int no_passphrase(char *, int, int, void *) { return 0; }

Digest raw_key_id(EVP_PKEY *k) {
  uint8_t raw[32];
  size_t n = sizeof(raw);
  if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != sizeof(raw))
    throw std::runtime_error("Ed25519 key without a raw public key");
  return sha256(std::string_view(reinterpret_cast<const char *>(raw), n));
}

std::string bio_string(BIO *b) {
  char *p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<size_t>(n));
  BIO_free(b);
  return s;
}

}  // namespace

void hex_into(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    *out++ = kHexDigits[p[i] >> 4];
    *out++ = kHexDigits[p[i] & 0xf];
  }
}

std::string to_hex(const uint8_t *p, size_t n) {
  std::string s(2 * n, '0');
  hex_into(p, n, s.data());
  return s;
}

bool from_hex(std::string_view hex, uint8_t *out, size_t n) {
  if (hex.size() != 2 * n) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < n; i++) {
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr) != 1)
    throw std::runtime_error("SHA-256 init failed");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Sha256 &Sha256::update(const void *p, size_t n) {
  EVP_DigestUpdate(ctx_, p, n);
  return *this;
}

Digest Sha256::finish() {
  Digest d;
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_, d.data(), &n);
  EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr);
  return d;
}

Digest sha256(std::string_view data) {
  Digest d;
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &n, sha256_md(), nullptr);
  return d;
}

// ---- signing ------------------------------------------------------------------------------

SigningKey::SigningKey(EVP_PKEY *k) : key_(k), key_id_(raw_key_id(k)) {}
SigningKey::~SigningKey() { EVP_PKEY_free(key_); }

Status SigningKey::load(const std::string &path, std::unique_ptr<SigningKey> &out) {
  // The key file's bytes go straight from the BIO into OpenSSL; none of it is logged.
  BIO *b = BIO_new_file(path.c_str(), "r");
  if (!b) {
    int err = errno;
    ERR_clear_error();
    return Status::error(KTRAIL_EXIT_USAGE, "cannot read signing key " + path + ": " + strerror(err));
  }
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, nullptr, no_passphrase, nullptr);
  BIO_free(b);
  ERR_clear_error();
  if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(k);
    return Status::error(KTRAIL_EXIT_USAGE,
                         "signing key " + path + " is not an Ed25519 private key in PEM form");
  }
  out.reset(new SigningKey(k));
  return Status::ok();
}

std::unique_ptr<SigningKey> SigningKey::generate() {
  EVP_PKEY *k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!k) throw std::runtime_error("Ed25519 key generation failed");
  return std::unique_ptr<SigningKey>(new SigningKey(k));
}

Signature SigningKey::sign(std::string_view msg) const {
  Signature sig{};
  size_t n = sig.size();
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  // Ed25519 is "pure": no digest is named, the whole message is signed in one call.
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
            EVP_DigestSign(ctx, sig.data(), &n, reinterpret_cast<const unsigned char *>(msg.data()),
                           msg.size()) == 1 &&
            n == sig.size();
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("Ed25519 signing failed");
  return sig;
}

std::string SigningKey::public_pem() const {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, key_);
  return bio_string(b);
}

std::string SigningKey::private_pem() const {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key_, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(b);
}

// ---- verifying ----------------------------------------------------------------------------

PublicKey::PublicKey(EVP_PKEY *k) : key_(k), key_id_(raw_key_id(k)) {}
PublicKey::~PublicKey() { EVP_PKEY_free(key_); }

Status PublicKey::from_pem(std::string_view pem, std::unique_ptr<PublicKey> &out) {
  BIO *b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY *k = PEM_read_bio_PUBKEY(b, nullptr, no_passphrase, nullptr);
  if (!k) {
    BIO_free(b);
    b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    k = PEM_read_bio_PrivateKey(b, nullptr, no_passphrase, nullptr);
  }
  BIO_free(b);
  ERR_clear_error();
  if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(k);
    return Status::error(KTRAIL_EXIT_USAGE, "not an Ed25519 public key in PEM form");
  }
  out.reset(new PublicKey(k));
  return Status::ok();
}

Status PublicKey::load(const std::string &path, std::unique_ptr<PublicKey> &out) {
  BIO *b = BIO_new_file(path.c_str(), "r");
  if (!b) {
    int err = errno;
    ERR_clear_error();
    return Status::error(KTRAIL_EXIT_USAGE, "cannot read public key " + path + ": " + strerror(err));
  }
  std::string pem;
  char buf[4096];
  int n;
  while ((n = BIO_read(b, buf, sizeof(buf))) > 0 && pem.size() < (1 << 20)) pem.append(buf, n);
  BIO_free(b);
  Status s = from_pem(pem, out);
  if (!s) s.message = "public key " + path + ": " + s.message;
  return s;
}

bool PublicKey::verify(std::string_view msg, const Signature &sig) const {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
            EVP_DigestVerify(ctx, sig.data(), sig.size(),
                             reinterpret_cast<const unsigned char *>(msg.data()), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

}  // namespace ktrail
