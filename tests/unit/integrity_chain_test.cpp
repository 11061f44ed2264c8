// The canonical form and its building blocks: what a third-party verifier re-implements.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "enrich/host.h"
#include "integrity/chain.h"
#include "integrity/crypto.h"
#include "integrity/state.h"
#include "integrity_helpers.h"
#include "sinks/format.h"

namespace ktrail {
namespace {

using namespace std::string_literals;

// Vectors computed independently (Python hashlib), from the README definition:
// hash = SHA-256(prev_hash_raw_32_bytes || canonical_record_bytes).
TEST(IntegrityChain, KnownAnswerVectors) {
  Sha256 h;
  std::string r1 = R"({"a":1,"ktrail":{"x":1}})";
  Digest d1 = chain::seal(h, Digest{}, r1);
  EXPECT_EQ(to_hex(d1), "94ef94858a11cfdcce06c9715f52a337e77521c7b77f5092077fd292b11580f0");
  EXPECT_EQ(r1, R"({"a":1,"ktrail":{"x":1,"chain":{"hash":"94ef94858a11cfdcce06c9715f52a337e77521c7b77f5092077fd292b11580f0"}}})");

  std::string r2 = R"({"b":2,"ktrail":{"y":"\\x5c"}})";
  Digest d2 = chain::seal(h, d1, r2);
  EXPECT_EQ(to_hex(d2), "44b963bf2fe131c54c09f6586003c9dc7cd5185a9240de86a802bc29bf2298c9");
}

TEST(IntegrityChain, SplitRecoversCanonicalBytesExactly) {
  Sha256 h;
  std::string rec = R"({"@timestamp":"t","event":{"action":"exec","sequence":18446744073709551615},"ktrail":{"cgroup":{"id":6148914691236517205}}})";
  const std::string canonical = rec;
  Digest d = chain::seal(h, Digest{}, rec);
  chain::Split sp;
  ASSERT_TRUE(chain::split(rec, sp));
  EXPECT_EQ(chain::canonical(sp.body), canonical);
  EXPECT_EQ(sp.hash, d);
  EXPECT_EQ(chain::link(h, Digest{}, sp.body), d);
  uint64_t seq = 0;
  ASSERT_TRUE(chain::find_sequence(sp.body, seq));
  EXPECT_EQ(seq, UINT64_MAX);
  EXPECT_EQ(chain::find_action(sp.body), "exec");
  // The record stays valid JSON, and the hash sits at ktrail.chain.hash.
  auto j = nlohmann::json::parse(rec);
  EXPECT_EQ(j["ktrail"]["chain"]["hash"], to_hex(d));
}

TEST(IntegrityChain, SplitIsStrict) {
  Sha256 h;
  std::string rec = R"({"a":1,"ktrail":{"x":1}})";
  chain::seal(h, Digest{}, rec);
  chain::Split sp;
  ASSERT_TRUE(chain::split(rec, sp));
  std::string upper = rec;
  size_t at = upper.find("\"hash\":\"") + 8;
  for (size_t i = at; i < at + 64; i++)
    if (upper[i] >= 'a' && upper[i] <= 'f') {
      upper[i] = static_cast<char>(upper[i] - 32);
      break;
    }
  EXPECT_FALSE(chain::split(upper, sp)) << "one spelling only: upper-case hex is refused";
  EXPECT_FALSE(chain::split(rec + " ", sp));
  EXPECT_FALSE(chain::split(rec + "\r", sp));
  EXPECT_FALSE(chain::split(rec.substr(0, rec.size() - 1), sp));
  EXPECT_FALSE(chain::split(R"({"a":1,"ktrail":{"x":1}})", sp));
  EXPECT_FALSE(chain::split("", sp));
  std::string shorter = rec;
  shorter.erase(at, 1);
  EXPECT_FALSE(chain::split(shorter, sp));
}

TEST(IntegrityChain, HexIsStrict) {
  std::array<uint8_t, 2> b{};
  EXPECT_TRUE(from_hex("0aff", b));
  EXPECT_EQ(b[0], 0x0a);
  EXPECT_EQ(b[1], 0xff);
  EXPECT_FALSE(from_hex("0AFF", b));
  EXPECT_FALSE(from_hex("0af", b));
  EXPECT_FALSE(from_hex("0afg", b));
  EXPECT_EQ(to_hex(b), "0aff");
}

// The canonical form relies on every record ending with its `ktrail` object. A new event
// kind or field that breaks this fails here, not in the field.
TEST(IntegrityChain, EveryEventKindEndsWithTheKtrailObject) {
  for (uint64_t n = 0; n < 8; n++) {
    Event e = test::synthetic_event(n);
    std::string out;
    format_json(e, HostInfo{"h", "id"}, out);
    auto j = nlohmann::ordered_json::parse(out);
    ASSERT_EQ(j.rbegin().key(), "ktrail") << out;
    EXPECT_FALSE(j["ktrail"].empty());
    EXPECT_EQ(out.substr(out.size() - 2), "}}");
  }
  Event lost;
  lost.kind = EventKind::Lost;
  lost.lost_hook = "exec";
  lost.lost_source = "kernel";
  lost.lost_count = 3;
  std::string out;
  format_json(lost, HostInfo{"h", "id"}, out);
  EXPECT_EQ(nlohmann::ordered_json::parse(out).rbegin().key(), "ktrail") << out;
}

TEST(IntegrityChain, CheckpointSignatureCoversTheRecordWithoutItself) {
  auto key = SigningKey::generate();
  std::string canon = R"({"event":{"action":"checkpoint","sequence":9},"ktrail":{"checkpoint":{"head":"ab","signed":true,"key_id":"k"}}})";
  const std::string unsigned_canon = canon;
  std::string msg = chain::signing_message(canon);
  EXPECT_EQ(msg, "ktrail-checkpoint-v1\n" + unsigned_canon);
  Signature sig = key->sign(msg);
  chain::insert_signature(canon, sig);
  EXPECT_EQ(canon, unsigned_canon.substr(0, unsigned_canon.size() - 3) + ",\"signature\":\"" +
                       to_hex(sig) + "\"}}}");
  std::string got;
  Signature gsig;
  ASSERT_TRUE(chain::signed_message(canon, got, gsig));
  EXPECT_EQ(got, msg);
  EXPECT_EQ(gsig, sig);
  std::unique_ptr<PublicKey> pub;
  ASSERT_TRUE(PublicKey::from_pem(key->public_pem(), pub));
  EXPECT_EQ(pub->key_id(), key->key_id());
  EXPECT_TRUE(pub->verify(got, gsig));
  got[30] ^= 1;
  EXPECT_FALSE(pub->verify(got, gsig));
}

TEST(IntegrityKeys, KeyIdIsSha256OfTheRawPublicKey) {
  auto key = SigningKey::generate();
  std::unique_ptr<PublicKey> pub;
  ASSERT_TRUE(PublicKey::from_pem(key->public_pem(), pub));
  // The raw key is the last 32 bytes of the DER SubjectPublicKeyInfo.
  std::string pem = key->public_pem();
  EVP_PKEY *k = nullptr;
  {
    BIO *b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    k = PEM_read_bio_PUBKEY(b, nullptr, nullptr, nullptr);
    BIO_free(b);
  }
  ASSERT_NE(k, nullptr);
  uint8_t raw[32];
  size_t n = 32;
  ASSERT_EQ(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
  EVP_PKEY_free(k);
  EXPECT_EQ(pub->key_id(), sha256(std::string_view(reinterpret_cast<char *>(raw), 32)));
}

TEST(IntegrityKeys, LoadErrorsNeverShowTheKey) {
  test::TempDir d;
  const std::string secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n";
  d.write("bad.pem", secret);
  std::unique_ptr<SigningKey> k;
  Status s = SigningKey::load(d / "bad.pem", k);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);
  EXPECT_EQ(s.message.find("TOPSECRET"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find(d / "bad.pem"), std::string::npos) << "names the file";

  // A key of another type is refused.
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO *b = BIO_new_file((d / "ec.pem").c_str(), "w");
  PEM_write_bio_PrivateKey(b, ec, nullptr, nullptr, 0, nullptr, nullptr);
  BIO_free(b);
  EVP_PKEY_free(ec);
  s = SigningKey::load(d / "ec.pem", k);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);
  EXPECT_NE(s.message.find("not an Ed25519"), std::string::npos);

  // A passphrase-protected key is refused, not prompted for.
  auto ed = SigningKey::generate();
  std::string pem = ed->private_pem();
  BIO *in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY *pk = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  b = BIO_new_file((d / "enc.pem").c_str(), "w");
  PEM_write_bio_PKCS8PrivateKey(b, pk, EVP_aes_256_cbc(), nullptr, 0, nullptr, const_cast<char *>("pw"));
  BIO_free(b);
  EVP_PKEY_free(pk);
  s = SigningKey::load(d / "enc.pem", k);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);

  s = SigningKey::load(d / "missing.pem", k);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);

  d.write("good.pem", ed->private_pem());
  ASSERT_TRUE(SigningKey::load(d / "good.pem", k));
  EXPECT_EQ(k->key_id(), ed->key_id());
}

TEST(IntegrityState, SaveLoadRoundTripAndLock) {
  test::TempDir d;
  const std::string path = d / "sub/dir/chain.state";
  std::unique_ptr<StateFile> f;
  ASSERT_TRUE(StateFile::open(path, f));
  struct stat st;
  ASSERT_EQ(stat((d / "sub/dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "a directory ktrail creates is its own";
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  std::unique_ptr<StateFile> second;
  Status s = StateFile::open(path, second);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE) << "two agents on one state would fork the chain";
  EXPECT_NE(s.message.find("--chain-state"), std::string::npos);

  ChainState cs;
  bool found = true;
  ASSERT_TRUE(f->load(cs, found));
  EXPECT_FALSE(found);
  cs.host_id = "abc";
  cs.hash = sha256("x");
  cs.checkpoint_signature = std::string(128, 'a');
  for (uint64_t i = 1; i <= 5; i++) {
    cs.sequence = 40 + i;
    cs.written = 38 + i;
    cs.checkpoint_sequence = 30;
    ASSERT_TRUE(f->save(cs, i == 5));
  }
  EXPECT_EQ(std::filesystem::file_size(path), 2 * StateFile::kSlotSize);
  f.reset();
  ASSERT_TRUE(StateFile::open(path, f)) << "released with its holder";
  ChainState back;
  ASSERT_TRUE(f->load(back, found));
  EXPECT_TRUE(found);
  EXPECT_EQ(back, cs);

  // A torn copy (the newest: generation 5 sits in slot 1) falls back to the other one.
  f.reset();
  std::string raw = test::read_file(path);
  raw[StateFile::kSlotSize + 100] ^= 1;
  test::write_file(path, raw);
  ASSERT_TRUE(StateFile::open(path, f));
  ASSERT_TRUE(f->load(back, found));
  EXPECT_EQ(back.sequence, 44u) << "the previous save";
  // Saving again continues from the copy it loaded and overwrites the torn one.
  cs.sequence = 50;
  ASSERT_TRUE(f->save(cs, true));
  f.reset();
  ASSERT_TRUE(StateFile::open(path, f));
  ASSERT_TRUE(f->load(back, found));
  EXPECT_EQ(back.sequence, 50u);

  // Both copies unreadable: refused, not guessed at.
  f.reset();
  test::write_file(path, std::string(4096, 'x'));
  ASSERT_TRUE(StateFile::open(path, f));
  s = f->load(back, found);
  EXPECT_EQ(s.code, KTRAIL_EXIT_USAGE);
}

// The slot's bytes, as every version wrote them (a state file outlives the agent that saved it).
TEST(IntegrityState, SlotFormat) {
  test::TempDir d;
  const std::string path = d / "chain.state";
  std::unique_ptr<StateFile> f;
  ASSERT_TRUE(StateFile::open(path, f));
  ChainState cs;
  cs.host_id = "h\"1";
  cs.sequence = 41;
  cs.hash = sha256("x");
  cs.written = 39;
  cs.checkpoint_sequence = 30;
  cs.checkpoint_signature = "ab";
  ASSERT_TRUE(f->save(cs, false));
  const std::string body = "{\"format\":\"ktrail-chain-state/1\",\"generation\":1,\"host_id\":\"h\\\"1\","
                           "\"sequence\":41,\"hash\":\"" + to_hex(cs.hash) + "\",\"written\":39,"
                           "\"checkpoint\":{\"sequence\":30,\"signature\":\"ab\"}}";
  std::string want = to_hex(sha256(body)) + " " + body + "\n";
  want.resize(StateFile::kSlotSize, ' ');
  const std::string raw = test::read_file(path);
  ASSERT_EQ(raw.size(), 2 * StateFile::kSlotSize) << "generation 1 goes to the second slot";
  EXPECT_EQ(raw.substr(StateFile::kSlotSize), want);
  // The next save reuses the buffer: nothing of the longer previous slot may remain.
  cs.checkpoint_signature.clear();
  ASSERT_TRUE(f->save(cs, false));
  ChainState back;
  bool found = false;
  f.reset();
  ASSERT_TRUE(StateFile::open(path, f));
  ASSERT_TRUE(f->load(back, found));
  EXPECT_EQ(back, cs);
}

}  // namespace
}  // namespace ktrail
