// Trails for the integrity tests, generated through the real Pipeline, Notary and file sink,
// and the tampering tools an attacker would use on them.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "enrich/enricher.h"
#include "integrity/chain.h"
#include "integrity/crypto.h"
#include "integrity/notary.h"
#include "integrity/verify.h"
#include "ktrail/abi/events.h"
#include "pipeline/pipeline.h"
#include "sinks/sink.h"
#include "temp_dir.h"

namespace ktrail::test {

inline std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::string &path, const std::string &data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::vector<std::string> split_lines(const std::string &text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

inline std::string join_lines(const std::vector<std::string> &lines) {
  std::string s;
  for (const auto &l : lines) s += l + "\n";
  return s;
}

inline uint64_t seq_of(const std::string &line) {
  chain::Split sp;
  uint64_t s = 0;
  if (!chain::split(line, sp) || !chain::find_sequence(sp.body, s)) return 0;
  return s;
}

inline std::string action_of(const std::string &line) {
  return std::string(chain::find_action(line));
}

// Changes one digit of the record's timestamp: a one-byte edit any record allows.
inline void tweak(std::string &line) {
  size_t at = line.find("\"@timestamp\":\"") + 14 + 20;
  line[at] = line[at] == '7' ? '3' : '7';
}

// A synthetic event of each kind, varied by n.
inline Event synthetic_event(uint64_t n) {
  Event e;
  e.boot_ns = 1000000000ull + n * 1000;
  e.realtime_ns = 1790000000000000000ll + static_cast<int64_t>(n) * 1000;
  e.proc.pid = 1000 + static_cast<uint32_t>(n % 50);
  e.proc.tid = e.proc.pid;
  e.proc.ppid = 1;
  e.proc.comm = n % 3 ? "bash" : "sshd";
  e.proc.creds = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
  e.proc.cgroup_id = 0x5555666677778888ull;  // > 2^53: must survive byte-exact
  switch (n % 4) {
    case 0:
      e.kind = EventKind::Exec;
      e.filename = "/usr/bin/id";
      e.args = {"id", "-u", "arg-" + std::to_string(n), std::string("bad\xff\\byte")};
      e.argc = 4;
      e.cwd = "/home/u";
      e.executable = "/usr/bin/id";
      break;
    case 1:
      e.kind = EventKind::Exit;
      e.exit_code = (n % 7) << 8;
      break;
    case 2:
      e.kind = EventKind::Cred;
      e.syscall = KTRAIL_SYS_SETUID;
      e.req[0] = 0;
      e.ret = -1;
      e.old_creds = e.proc.creds;
      break;
    default:
      e.kind = EventKind::ExecFailed;
      e.filename = "/nonexistent";
      e.ret = -2;
      e.syscall = KTRAIL_SYS_EXECVE;
      e.dirfd = -100;
      break;
  }
  return e;
}

struct AgentRun {
  std::string state;                 // "" = in memory
  std::string key;                   // signing key path, "" = unsigned
  std::vector<std::string> outputs;  // file paths
  FileRotation rotation;
  uint64_t checkpoint_records = 10;
  int events = 30;
  uint64_t event_base = 0;  // varies the synthetic events between runs
  bool finish = true;       // false: the pipeline is dropped without a final checkpoint
  HostInfo host{"testhost", "0123456789abcdef0123456789abcdef"};
  std::string scratch;  // directory for the enricher's fake /proc and /etc ("" = a temp dir)
  std::vector<std::unique_ptr<Sink>> extra_sinks;  // placed before the file outputs
  Schema schema = Schema::Ecs;
};

// One agent run through the real Pipeline: agent_start, events (with a lost event now and
// then), and the final checkpoint.
inline void run_agent(AgentRun &r) {
  std::unique_ptr<TempDir> tmp;
  if (r.scratch.empty()) {
    tmp = std::make_unique<TempDir>();
    r.scratch = tmp->path();
  }
  Enricher en(r.scratch + "/proc", r.scratch + "/etc");
  std::vector<std::unique_ptr<Sink>> sinks = std::move(r.extra_sinks);
  for (const auto &o : r.outputs) {
    std::unique_ptr<Sink> s;
    ASSERT_TRUE(make_sink("file:" + o, Format::Json, s, r.rotation)) << o;
    sinks.push_back(std::move(s));
  }
  Pipeline p(r.host, en, std::move(sinks));
  NotaryConfig nc;
  nc.state_path = r.state;
  nc.signing_key_path = r.key;
  nc.checkpoint_records = r.checkpoint_records;
  nc.checkpoint_seconds = 0;
  nc.schema = r.schema;
  p.set_schema(r.schema);
  std::unique_ptr<Notary> notary;
  Status st = Notary::open(nc, r.host, notary);
  ASSERT_TRUE(st) << st.message;
  p.set_notary(std::move(notary));
  p.begin();
  std::vector<uint64_t> drops(4, 0);
  for (int i = 0; i < r.events; i++) {
    Event e = synthetic_event(r.event_base + static_cast<uint64_t>(i));
    p.emit(e);
    if (i % 13 == 12) {
      drops[static_cast<size_t>(i) % 4] += 3;
      p.account_drops(drops, "kernel");
    }
    if (i % 5 == 4) p.flush();
  }
  if (r.finish) p.finish();
}

struct Keys {
  std::unique_ptr<SigningKey> key;
  std::string key_path, pub_path;
  std::unique_ptr<PublicKey> pub() const {
    std::unique_ptr<PublicKey> k;
    EXPECT_TRUE(PublicKey::from_pem(key->public_pem(), k));
    return k;
  }
};

inline Keys make_keys(const TempDir &d, const std::string &name) {
  Keys k;
  k.key = SigningKey::generate();
  k.key_path = d / (name + ".pem");
  k.pub_path = d / (name + ".pub.pem");
  write_file(k.key_path, k.key->private_pem());
  chmod(k.key_path.c_str(), 0600);
  write_file(k.pub_path, k.key->public_pem());
  return k;
}

inline VerifyReport verify_text(const std::string &text, const std::vector<const Keys *> &keys,
                                bool live = false) {
  VerifyOptions o;
  o.live = live;
  Verifier v(o);
  for (const Keys *k : keys) v.add_key(k->pub());
  v.add_buffer("trail", text);
  return v.run();
}

inline std::string describe(const VerifyReport &r) {
  if (!r.failure) return r.result == VerifyReport::Ok ? "ok" : "unauthenticated: " + r.note;
  return std::string(damage_name(r.failure->kind)) + " at " + std::to_string(r.failure->sequence) +
         ": " + r.failure->detail;
}

// ---- attacker tools ---------------------------------------------------------------------

// Recomputes the chain from line `from` on, as someone without the key can. With
// update_heads, checkpoints get the new head (breaking their signature); with resign_key, they
// are also re-signed with that key (and carry its key id).
inline void rechain(std::vector<std::string> &lines, size_t from, bool update_heads,
                    const SigningKey *resign_key = nullptr) {
  Sha256 h;
  Digest prev{};
  std::string new_sig;  // the attacker's last signature, for the next previous_signature
  if (from > 0) {
    chain::Split sp;
    if (!chain::split(lines[from - 1], sp)) return;
    prev = sp.hash;
  }
  for (size_t i = from; i < lines.size(); i++) {
    chain::Split sp;
    if (!chain::split(lines[i], sp)) return;
    std::string canon = chain::canonical(sp.body);
    if ((update_heads || resign_key) && action_of(lines[i]) == "checkpoint") {
      size_t at = canon.find("\"head\":\"");
      canon.replace(at + 8, 64, to_hex(prev));
      if (resign_key) {
        std::string msg;
        Signature old;
        size_t ps = canon.find("\"previous_signature\":\"");
        if (ps != std::string::npos && !new_sig.empty()) canon.replace(ps + 22, 128, new_sig);
        if (chain::signed_message(canon, msg, old)) {
          // Strip the old signature, set the attacker's key id, sign.
          canon.erase(canon.size() - 3 - chain::kSignatureMemberSize, chain::kSignatureMemberSize);
          size_t k = canon.find("\"key_id\":\"");
          canon.replace(k + 10, 64, to_hex(resign_key->key_id()));
          Signature sig = resign_key->sign(chain::signing_message(canon));
          chain::insert_signature(canon, sig);
          new_sig = to_hex(sig);
        }
      }
    }
    prev = chain::seal(h, prev, canon);
    lines[i] = canon;
  }
}

}  // namespace ktrail::test
