#include "integrity/verify.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <nlohmann/json.hpp>

#include "integrity/chain.h"

namespace ktrail {
namespace {

using json = nlohmann::json;

std::string range_text(uint64_t a, uint64_t b) {
  return a == b ? std::to_string(a) : std::to_string(a) + ".." + std::to_string(b);
}

// One input: a file (gzip or plain: zlib reads plain files transparently), stdin, or a buffer.
// Lines are views into the buffer, valid until the next call.
class Input {
 public:
  Input(std::string name, gzFile gz) : name_(std::move(name)), gz_(gz) {
    gzbuffer(gz_, 1 << 17);
  }
  Input(std::string name, std::string data)
      : name_(std::move(name)), buf_(std::move(data)), end_(buf_.size()), eof_(true) {}
  ~Input() {
    if (gz_) gzclose(gz_);
  }
  const std::string &name() const { return name_; }
  uint64_t line_no() const { return line_; }
  const std::string &error() const { return error_; }

  // False at the end. terminated=false: a last line without its newline.
  bool next(std::string_view &line, bool &terminated) {
    for (;;) {
      const char *base = buf_.data();
      const void *nl = pos_ < end_ ? memchr(base + pos_, '\n', end_ - pos_) : nullptr;
      if (nl) {
        size_t at = static_cast<size_t>(static_cast<const char *>(nl) - base);
        line = std::string_view(base + pos_, at - pos_);
        pos_ = at + 1;
        terminated = true;
        line_++;
        return true;
      }
      if (eof_) {
        if (pos_ >= end_) return false;
        line = std::string_view(base + pos_, end_ - pos_);
        pos_ = end_;
        terminated = false;
        line_++;
        return true;
      }
      fill();
    }
  }

  // The sequence of the first record, to order the inputs; UINT64_MAX when there is none.
  uint64_t first_sequence() {
    size_t save_pos = pos_;
    uint64_t save_line = line_;
    std::string_view line;
    bool term;
    uint64_t seq = UINT64_MAX;
    if (next(line, term)) {
      chain::Split sp;
      if (!chain::split(line, sp) || !chain::find_sequence(sp.body, seq)) seq = UINT64_MAX;
    }
    // Nothing is consumed: fill() only compacts, and pos_ was at the front.
    pos_ = save_pos;
    line_ = save_line;
    return seq;
  }

 private:
  void fill() {
    if (pos_ > 0) {
      memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    if (end_ == buf_.size()) buf_.resize(std::max<size_t>(buf_.size() * 2, 1 << 20));
    int n = gzread(gz_, buf_.data() + end_, static_cast<unsigned>(std::min<size_t>(buf_.size() - end_, INT_MAX)));
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return;
    }
    eof_ = true;
    int err = Z_OK;
    const char *msg = gzerror(gz_, &err);
    if (n < 0 || err != Z_OK) error_ = err == Z_ERRNO ? strerror(errno) : msg;
  }

  std::string name_;
  gzFile gz_ = nullptr;
  std::string buf_;
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  uint64_t line_ = 0;
  std::string error_;
};

struct Line {
  std::string_view text;
  bool terminated = true;
  size_t input = 0;
  uint64_t line_no = 0;
  bool read_error = false;
};

// A record kept for classification.
struct Rec {
  bool ok = false;  // a chained record with a sequence
  bool terminated = true;
  uint64_t seq = 0;
  Digest hash{};
  std::string body;
  size_t input = 0;
  uint64_t line = 0;
};

struct Anchor {
  uint64_t seq = 0;
  Digest hash{};
};

struct CheckpointFields {
  std::string reason;
  uint64_t first = 0, last = 0;
  std::string head;
  std::optional<std::string> previous_signature;
  bool is_signed = false;
  std::string key_id;
};

bool parse_checkpoint(const json &j, CheckpointFields &c) {
  try {
    const json &k = chain::ktrail_object(j).at("checkpoint");
    c.reason = k.at("reason").get<std::string>();
    c.first = k.at("first_sequence").get<uint64_t>();
    c.last = k.at("last_sequence").get<uint64_t>();
    c.head = k.at("head").get<std::string>();
    if (k.contains("previous_signature")) c.previous_signature = k["previous_signature"].get<std::string>();
    c.is_signed = k.at("signed").get<bool>();
    if (c.is_signed) c.key_id = k.at("key_id").get<std::string>();
    return true;
  } catch (const json::exception &) {
    return false;
  }
}

}  // namespace

const char *damage_name(Damage d) {
  switch (d) {
    case Damage::Modified: return "modified";
    case Damage::Deleted: return "deleted";
    case Damage::Inserted: return "inserted";
    case Damage::Reordered: return "reordered";
    case Damage::Truncated: return "truncated";
    case Damage::BadSignature: return "bad_signature";
    case Damage::UnknownKey: return "unknown_key";
    case Damage::Unsigned: return "unsigned";
  }
  return "unknown";
}

int verify_exit_code(const VerifyReport &r) {
  switch (r.result) {
    case VerifyReport::Ok: return KTRAIL_EXIT_OK;
    case VerifyReport::Damaged: return KTRAIL_EXIT_TRAIL_DAMAGED;
    case VerifyReport::SignatureFailure: return KTRAIL_EXIT_TRAIL_SIGNATURE;
    case VerifyReport::Unauthenticated: return KTRAIL_EXIT_TRAIL_UNAUTHENTICATED;
  }
  return KTRAIL_EXIT_RUNTIME;
}

struct Verifier::Impl {
  VerifyOptions opt;
  std::vector<std::unique_ptr<PublicKey>> keys;
  std::vector<std::unique_ptr<Input>> inputs;
  Sha256 sha;
  VerifyReport rep;

  size_t cur = 0;
  bool started = false;
  Anchor P;                          // the record the next one must link to
  std::optional<uint64_t> last_good;  // last record verified in place
  uint64_t attested_next = 0;         // first sequence not yet covered by a passed checkpoint
  // The checkpoint chain: what the next checkpoint must say (nullopt: not known, not checked).
  std::optional<uint64_t> exp_first;
  std::optional<std::string> exp_prev_sig;
  std::optional<uint64_t> last_ckpt;
  std::string last_ckpt_sig;
  std::string last_reason;
  bool last_is_ckpt = false;

  bool next_line(Line &l) {
    while (cur < inputs.size()) {
      Input &in = *inputs[cur];
      if (in.next(l.text, l.terminated)) {
        l.input = cur;
        l.line_no = in.line_no();
        l.read_error = false;
        return true;
      }
      if (!in.error().empty()) {
        l = Line{};
        l.input = cur;
        l.line_no = in.line_no();
        l.read_error = true;
        cur++;
        return true;
      }
      cur++;
    }
    return false;
  }

  bool link_ok(const Digest &prev, std::string_view body, const Digest &hash) {
    return chain::link(sha, prev, body) == hash;
  }

  VerifyFailure failure(Damage kind, uint64_t seq, size_t input, uint64_t line, std::string detail) {
    VerifyFailure f;
    f.kind = kind;
    f.sequence = seq;
    f.last_good = last_good;
    f.file = input < inputs.size() ? inputs[input]->name() : "";
    f.line = line;
    f.detail = std::move(detail);
    return f;
  }

  std::string where(const Rec &r) const {
    return inputs[r.input]->name() + ":" + std::to_string(r.line);
  }

  // ---- classification of the first record that does not fit -----------------------------
  VerifyFailure classify(const Line &first) {
    std::vector<Rec> w;
    size_t bytes = 0;
    auto add = [&](const Line &l) {
      Rec r;
      r.input = l.input;
      r.line = l.line_no;
      r.terminated = l.terminated && !l.read_error;
      chain::Split sp;
      if (!l.read_error && chain::split(l.text, sp) && chain::find_sequence(sp.body, r.seq)) {
        r.ok = true;
        r.hash = sp.hash;
        r.body = std::string(sp.body);
      }
      bytes += l.text.size();
      w.push_back(std::move(r));
    };
    add(first);
    Line l;
    while (w.size() < opt.max_lookahead_records && bytes < opt.max_lookahead_bytes && next_line(l))
      add(l);

    const Rec &R = w[0];
    const uint64_t p = P.seq;
    auto links = [&](const Digest &prev, const Rec &x) { return x.ok && link_ok(prev, x.body, x.hash); };
    auto find = [&](uint64_t s) -> size_t {
      for (size_t i = 1; i < w.size(); i++)
        if (w[i].ok && w[i].seq == s) return i;
      return 0;
    };
    const Rec *N = w.size() > 1 ? &w[1] : nullptr;
    auto fail = [&](Damage k, uint64_t seq, std::string d) { return failure(k, seq, R.input, R.line, std::move(d)); };

    if (!R.terminated) {
      if (first.read_error)
        return fail(Damage::Truncated, p + 1,
                    inputs[R.input]->name() + ": the compressed data is corrupt or cut short (" +
                        inputs[R.input]->error() + ")");
      return fail(Damage::Truncated, p + 1,
                  where(R) + ": the last line has no newline: the file was cut mid-record");
    }
    if (!R.ok) {
      if (N && N->ok && N->seq == p + 1 && links(P.hash, *N))
        return fail(Damage::Inserted, p + 1, where(R) + " is not a chained ktrail record and sits between " +
                                                 std::to_string(p) + " and " + std::to_string(p + 1));
      return fail(Damage::Modified, p + 1,
                  where(R) + " is not a well-formed chained record where sequence " +
                      std::to_string(p + 1) + " belongs");
    }
    const uint64_t s = R.seq;
    if (s == p + 1) {
      if (N && N->ok && N->seq == s && links(P.hash, *N))
        return fail(Damage::Inserted, s, where(R) + " claims sequence " + std::to_string(s) +
                                             " but is not part of the chain; the real record follows it");
      if (N && N->ok && N->seq == s + 1 && links(R.hash, *N))
        return fail(Damage::Modified, s, "record " + std::to_string(s) + " (" + where(R) +
                                             ") was changed: its content no longer matches its chain hash");
      return fail(Damage::Modified, s, "record " + std::to_string(s) + " (" + where(R) +
                                           ") does not link to record " + std::to_string(p) +
                                           ": it, or its predecessor, was changed and rehashed");
    }
    if (s > p + 1) {
      if (N && N->ok && N->seq == p + 2 && links(R.hash, *N))
        return fail(Damage::Modified, p + 1, "record " + std::to_string(p + 1) + " (" + where(R) +
                                                 ") was changed: it now claims sequence " + std::to_string(s));
      if (size_t i = find(s))
        return fail(Damage::Inserted, p + 1, where(R) + " is a copy of record " + std::to_string(s) +
                                                 " (also at " + where(w[i]) + ")");
      if (size_t i = find(s - 1); i && links(w[i].hash, R))
        return fail(Damage::Reordered, p + 1, "record " + std::to_string(s) + " (" + where(R) +
                                                  ") belongs after record " + std::to_string(s - 1) +
                                                  " (" + where(w[i]) + ")");
      if (N && N->ok && N->seq == p + 1 && links(P.hash, *N))
        return fail(Damage::Inserted, p + 1, where(R) + " claims sequence " + std::to_string(s) +
                                                 " but is not part of the chain");
      if (size_t i = find(p + 1))
        return fail(Damage::Reordered, p + 1, "record " + std::to_string(p + 1) + " is out of place, at " +
                                                  where(w[i]));
      VerifyFailure f = fail(Damage::Deleted, p + 1,
                             (s - 1 == p + 1 ? "record " + std::to_string(p + 1) + " is"
                                             : "records " + range_text(p + 1, s - 1) + " are") +
                                 " missing before " + where(R));
      f.last_sequence = s - 1;
      return f;
    }
    return fail(Damage::Inserted, p + 1, where(R) + " claims sequence " + std::to_string(s) +
                                             ", already passed: it is not part of the chain here");
  }

  // ---- records that say something about the chain ---------------------------------------
  std::optional<VerifyFailure> check_checkpoint(const Line &l, std::string_view body, uint64_t seq,
                                                const Anchor &pred) {
    std::string canon = chain::canonical(body);
    json j = json::parse(canon, nullptr, false);
    CheckpointFields c;
    auto fail = [&](Damage k, uint64_t s, std::string d) {
      return failure(k, s, l.input, l.line_no, "checkpoint " + std::to_string(seq) + ": " + std::move(d));
    };
    if (j.is_discarded() || !parse_checkpoint(j, c)) return fail(Damage::Modified, seq, "unreadable");
    rep.checkpoints++;
    std::string signature;
    if (c.is_signed) {
      rep.signed_checkpoints++;
      rep.key_ids.insert(c.key_id);
      std::string msg;
      Signature sig;
      if (!chain::signed_message(canon, msg, sig)) return fail(Damage::BadSignature, seq, "no well-formed signature");
      signature = to_hex(sig);
      if (!keys.empty()) {
        const PublicKey *key = nullptr;
        for (const auto &k : keys)
          if (to_hex(k->key_id()) == c.key_id) key = k.get();
        if (!key) return fail(Damage::UnknownKey, seq, "signed by key " + c.key_id + ", which is not one of the given public keys");
        if (!key->verify(msg, sig)) return fail(Damage::BadSignature, seq, "the signature does not verify with key " + c.key_id);
      }
    } else {
      rep.unsigned_checkpoints++;
      if (!keys.empty()) return fail(Damage::Unsigned, seq, "unsigned, but signatures are required (--pubkey)");
    }
    if (c.last != seq - 1 || c.head != to_hex(pred.hash))
      return fail(Damage::Modified, attested_next,
                  "it signs head " + c.head.substr(0, 16) + "... for sequence " + std::to_string(c.last) +
                      " but the chain reaches " + to_hex(pred.hash).substr(0, 16) + "... at " +
                      std::to_string(seq - 1) + ": records " + range_text(attested_next, seq - 1) +
                      " were rewritten");
    if (exp_first && c.first != *exp_first)
      return fail(Damage::Modified, seq, "its range starts at " + std::to_string(c.first) +
                                             ", not at the previous checkpoint " + std::to_string(*exp_first));
    if (exp_prev_sig && c.previous_signature.value_or("") != *exp_prev_sig)
      return fail(Damage::Modified, seq, "previous_signature does not match the preceding checkpoint");
    last_ckpt = seq;
    last_ckpt_sig = signature;
    last_reason = c.reason;
    exp_first = seq;
    exp_prev_sig = signature;
    rep.verified_last = seq;
    attested_next = seq + 1;
    return std::nullopt;
  }

  std::optional<VerifyFailure> check_agent_start(const Line &l, std::string_view body, uint64_t seq,
                                                 const Anchor &pred) {
    json j = json::parse(chain::canonical(body), nullptr, false);
    auto fail = [&](std::string d) {
      return failure(Damage::Modified, seq, l.input, l.line_no, "agent_start " + std::to_string(seq) + ": " + std::move(d));
    };
    try {
      const json &k = chain::ktrail_object(j);
      if (!k.contains("resume")) {
        if (seq != 1) return fail("claims a new chain in the middle of one");
        exp_first = 1;
        exp_prev_sig = "";
        return std::nullopt;
      }
      const json &r = k.at("resume");
      if (r.at("sequence").get<uint64_t>() != seq - 1 || r.at("hash").get<std::string>() != to_hex(pred.hash))
        return fail("its resume point is not the record before it");
      rep.restarts++;
      if (r.contains("checkpoint")) {
        uint64_t cs = r["checkpoint"].at("sequence").get<uint64_t>();
        std::string csig = r["checkpoint"].value("signature", "");
        if (last_ckpt && (*last_ckpt > cs || (*last_ckpt == cs && last_ckpt_sig != csig)))
          return fail("it names a different last checkpoint than the trail holds");
        exp_first = cs ? cs : 1;
        exp_prev_sig = csig;
      } else {
        exp_first = seq;
        exp_prev_sig = "";
      }
    } catch (const json::exception &) {
      return fail("unreadable");
    }
    return std::nullopt;
  }

  // After a crash the previous run's last records may never have reached this output; the
  // restart record declares that range (signed by the next checkpoint).
  bool declared_gap(std::string_view body, uint64_t seq, const Digest &hash, Anchor &virt) {
    json j = json::parse(chain::canonical(body), nullptr, false);
    try {
      const json &r = chain::ktrail_object(j).at("resume");
      if (!r.contains("unwritten")) return false;
      uint64_t first = r["unwritten"].at("first").get<uint64_t>();
      uint64_t last = r["unwritten"].at("last").get<uint64_t>();
      if (r.at("sequence").get<uint64_t>() != seq - 1 || last != seq - 1 || first > P.seq + 1 || P.seq >= seq - 1)
        return false;
      Anchor a{seq - 1, {}};
      if (!from_hex(r.at("hash").get<std::string>(), a.hash) || !link_ok(a.hash, body, hash)) return false;
      virt = a;
      return true;
    } catch (const json::exception &) {
      return false;
    }
  }

  // The first record: genesis, or a segment start that carries its own anchor.
  std::optional<VerifyFailure> start(const Line &l, std::string_view body, uint64_t seq, std::string_view action) {
    started = true;
    auto fail = [&](std::string d) { return failure(Damage::Truncated, seq, l.input, l.line_no, std::move(d)); };
    if (seq == 1) {
      P = Anchor{};
      rep.start = "genesis";
      exp_first = 1;
      exp_prev_sig = "";
    } else if (action == "checkpoint") {
      json j = json::parse(chain::canonical(body), nullptr, false);
      CheckpointFields c;
      if (j.is_discarded() || !parse_checkpoint(j, c) || !from_hex(c.head, P.hash))
        return failure(Damage::Modified, seq, l.input, l.line_no, "the first record is an unreadable checkpoint");
      if (c.reason != "rotation")
        return fail("the trail starts at a " + c.reason + " checkpoint (" + std::to_string(seq) +
                    "), not at the start of the chain or of a file: records before it are missing");
      P.seq = seq - 1;
      rep.start = "rotation checkpoint";
    } else if (action == "agent_start") {
      json j = json::parse(chain::canonical(body), nullptr, false);
      try {
        const json &r = chain::ktrail_object(j).at("resume");
        if (!from_hex(r.at("hash").get<std::string>(), P.hash)) throw std::runtime_error("hash");
        P.seq = seq - 1;
        rep.start = "agent restart";
      } catch (const std::exception &) {
        return failure(Damage::Modified, seq, l.input, l.line_no, "the first record is an unreadable agent_start");
      }
    } else {
      return fail("the trail starts at sequence " + std::to_string(seq) +
                  ", which is not the start of the chain, of a file or of a run: records before it are missing");
    }
    rep.verified_first = seq;
    attested_next = seq;
    return std::nullopt;
  }

  VerifyReport run() {
    std::vector<std::pair<uint64_t, size_t>> order;
    for (size_t i = 0; i < inputs.size(); i++) order.emplace_back(inputs[i]->first_sequence(), i);
    std::stable_sort(order.begin(), order.end(),
                     [](const auto &a, const auto &b) { return a.first < b.first; });
    std::vector<std::unique_ptr<Input>> sorted;
    for (auto &[seq, i] : order) sorted.push_back(std::move(inputs[i]));
    inputs = std::move(sorted);
    for (auto &in : inputs) rep.files.push_back(in->name());

    Line l;
    std::optional<VerifyFailure> f;
    while (!f && next_line(l)) {
      if (l.read_error || !l.terminated) {
        f = classify(l);
        break;
      }
      rep.records++;
      rep.bytes += l.text.size() + 1;
      chain::Split sp;
      uint64_t seq = 0;
      if (!chain::split(l.text, sp) || !chain::find_sequence(sp.body, seq)) {
        if (!started) {
          f = failure(Damage::Modified, 0, l.input, l.line_no, "the first line is not a chained ktrail record");
          break;
        }
        f = classify(l);
        break;
      }
      if (!rep.first_sequence) rep.first_sequence = seq;
      rep.last_sequence = seq;
      std::string_view action = chain::find_action(sp.body);
      if (!started && (f = start(l, sp.body, seq, action))) break;

      Anchor pred = P;
      if (seq == P.seq + 1 && link_ok(P.hash, sp.body, sp.hash)) {
        // in place
      } else if (action == "agent_start" && declared_gap(sp.body, seq, sp.hash, pred)) {
        rep.declared_gaps.emplace_back(P.seq + 1, seq - 1);
      } else {
        f = classify(l);
        break;
      }
      if (action == "checkpoint") f = check_checkpoint(l, sp.body, seq, pred);
      else if (action == "agent_start") f = check_agent_start(l, sp.body, seq, pred);
      else if (action == "lost") count_lost(sp.body);
      if (f) break;
      last_is_ckpt = action == "checkpoint";
      P = Anchor{seq, sp.hash};
      last_good = seq;
    }
    if (!f) f = check_end();
    finish(f);
    return std::move(rep);
  }

  void count_lost(std::string_view body) {
    json j = json::parse(chain::canonical(body), nullptr, false);
    rep.lost_events++;
    try {
      rep.lost_records += chain::ktrail_object(j).at("lost").at("count").get<uint64_t>();
    } catch (const json::exception &) {
      // Chained as it is; the count just is not known.
    }
  }

  std::optional<VerifyFailure> check_end() {
    const size_t in = inputs.empty() ? 0 : inputs.size() - 1;
    const uint64_t line = in < inputs.size() ? inputs[in]->line_no() : 0;
    if (!started) return failure(Damage::Truncated, 0, in, line, "no records");
    if (!last_ckpt) {
      VerifyFailure v = failure(Damage::Truncated, *rep.verified_first, in, line,
                                "no checkpoint: records " + range_text(*rep.verified_first, P.seq) + " are not attested");
      v.last_sequence = P.seq;
      return v;
    }
    if (!last_is_ckpt) {
      if (opt.live) {
        rep.unattested_first = *last_ckpt + 1;
        rep.unattested_last = P.seq;
        return std::nullopt;
      }
      VerifyFailure v = failure(Damage::Truncated, *last_ckpt + 1, in, line,
                                "records " + range_text(*last_ckpt + 1, P.seq) +
                                    " follow the last checkpoint (" + std::to_string(*last_ckpt) +
                                    ") and are not attested: the trail was cut, or is still being written (--live)");
      v.last_sequence = P.seq;
      return v;
    }
    rep.final_checkpoint = last_reason == "shutdown";
    if (!rep.final_checkpoint && !opt.live)
      return failure(Damage::Truncated, P.seq + 1, in, line,
                     "the trail ends at a " + last_reason + " checkpoint (" + std::to_string(P.seq) +
                         ") without the final shutdown checkpoint: the agent is still running (--live), "
                         "was killed, or the tail was cut");
    return std::nullopt;
  }

  void finish(std::optional<VerifyFailure> &f) {
    rep.signatures_checked = !keys.empty();
    if (f) {
      switch (f->kind) {
        case Damage::BadSignature:
        case Damage::UnknownKey:
        case Damage::Unsigned: rep.result = VerifyReport::SignatureFailure; break;
        default: rep.result = VerifyReport::Damaged;
      }
      rep.failure = std::move(f);
      return;
    }
    if (rep.signed_checkpoints == 0) {
      rep.result = VerifyReport::Unauthenticated;
      rep.note = "the checkpoints are unsigned: the chain is intact, but anyone could have rewritten it whole";
    } else if (keys.empty()) {
      rep.result = VerifyReport::Unauthenticated;
      rep.note = "signatures not checked: give the public key with --pubkey";
    } else {
      rep.result = VerifyReport::Ok;
    }
  }
};

Verifier::Verifier(VerifyOptions o) : impl_(std::make_unique<Impl>()) { impl_->opt = o; }
Verifier::~Verifier() = default;

void Verifier::add_key(std::unique_ptr<PublicKey> key) { impl_->keys.push_back(std::move(key)); }

Status Verifier::add_file(const std::string &path) {
  int fd = path == "-" ? dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(KTRAIL_EXIT_USAGE, "cannot open " + path + ": " + strerror(errno));
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    ::close(fd);
    return Status::error(KTRAIL_EXIT_RUNTIME, "cannot read " + path);
  }
  impl_->inputs.push_back(std::make_unique<Input>(path == "-" ? "<stdin>" : path, gz));
  return Status::ok();
}

void Verifier::add_buffer(const std::string &name, std::string data) {
  impl_->inputs.push_back(std::make_unique<Input>(name, std::move(data)));
}

VerifyReport Verifier::run() { return impl_->run(); }

}  // namespace ktrail
