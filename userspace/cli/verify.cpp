// `ktrail verify [--pubkey FILE]... [--json] [--live] [FILE|-]...`
#include "cli/verify.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "integrity/verify.h"

namespace ktrail {
namespace {

std::string range(uint64_t a, uint64_t b) {
  return a == b ? std::to_string(a) : std::to_string(a) + ".." + std::to_string(b);
}

const char *result_name(VerifyReport::Result r) {
  switch (r) {
    case VerifyReport::Ok: return "ok";
    case VerifyReport::Damaged: return "damaged";
    case VerifyReport::SignatureFailure: return "signature_failure";
    case VerifyReport::Unauthenticated: return "unauthenticated";
  }
  return "unknown";
}

std::string size_text(uint64_t bytes) {
  char b[32];
  if (bytes >= (1u << 20)) snprintf(b, sizeof(b), "%.1f MiB", bytes / 1048576.0);
  else if (bytes >= 1024) snprintf(b, sizeof(b), "%.1f KiB", bytes / 1024.0);
  else snprintf(b, sizeof(b), "%llu bytes", static_cast<unsigned long long>(bytes));
  return b;
}

void print_json(const VerifyReport &r) {
  nlohmann::ordered_json j;
  j["result"] = result_name(r.result);
  j["exit_code"] = verify_exit_code(r);
  j["files"] = r.files;
  j["records"] = r.records;
  j["bytes"] = r.bytes;
  j["first_sequence"] = r.first_sequence ? nlohmann::ordered_json(*r.first_sequence) : nullptr;
  j["last_sequence"] = r.last_sequence ? nlohmann::ordered_json(*r.last_sequence) : nullptr;
  j["start"] = r.start.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.start);
  if (r.verified_first && r.verified_last)
    j["verified"] = {{"first", *r.verified_first}, {"last", *r.verified_last}};
  else
    j["verified"] = nullptr;
  if (r.unattested_first)
    j["unattested"] = {{"first", *r.unattested_first}, {"last", *r.unattested_last}};
  j["final_checkpoint"] = r.final_checkpoint;
  j["checkpoints"] = {{"total", r.checkpoints},
                      {"signed", r.signed_checkpoints},
                      {"unsigned", r.unsigned_checkpoints},
                      {"key_ids", r.key_ids},
                      {"signatures_checked", r.signatures_checked}};
  j["restarts"] = r.restarts;
  nlohmann::ordered_json gaps = nlohmann::ordered_json::array();
  for (auto [a, b] : r.declared_gaps) gaps.push_back({{"first", a}, {"last", b}});
  j["declared"] = {{"lost_events", r.lost_events}, {"lost_records", r.lost_records}, {"unwritten", gaps}};
  if (!r.note.empty()) j["note"] = r.note;
  if (r.failure) {
    const VerifyFailure &f = *r.failure;
    nlohmann::ordered_json fj;
    fj["kind"] = damage_name(f.kind);
    fj["sequence"] = f.sequence;
    if (f.last_sequence) fj["last_sequence"] = f.last_sequence;
    fj["last_good_sequence"] = f.last_good ? nlohmann::ordered_json(*f.last_good) : nullptr;
    fj["file"] = f.file;
    fj["line"] = f.line;
    fj["detail"] = f.detail;
    j["failure"] = fj;
  }
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::printf("%s\n", s.c_str());
}

void print_human(const VerifyReport &r) {
  if (r.failure) {
    const VerifyFailure &f = *r.failure;
    std::printf("ktrail verify: FAILED: %s at sequence %llu\n", damage_name(f.kind),
                static_cast<unsigned long long>(f.sequence));
    std::printf("  %s\n", f.detail.c_str());
    if (f.last_good)
      std::printf("  in place up to sequence %llu", static_cast<unsigned long long>(*f.last_good));
    else
      std::printf("  nothing verified in place");
    if (r.verified_last)
      std::printf("; attested by checkpoints: %s\n", range(*r.verified_first, *r.verified_last).c_str());
    else
      std::printf("; no checkpoint passed\n");
  } else if (r.result == VerifyReport::Ok) {
    std::printf("ktrail verify: OK\n");
  } else {
    std::printf("ktrail verify: INTACT, NOT AUTHENTICATED: %s\n", r.note.c_str());
  }
  std::string files;
  for (const auto &f : r.files) files += (files.empty() ? "" : ", ") + f;
  std::printf("  read:        %s (%zu file%s, %llu records, %s)\n", files.c_str(), r.files.size(),
              r.files.size() == 1 ? "" : "s", static_cast<unsigned long long>(r.records),
              size_text(r.bytes).c_str());
  if (!r.failure && r.verified_first) {
    std::printf("  verified:    sequences %s, from %s to %s\n",
                range(*r.verified_first, *r.verified_last).c_str(), r.start.c_str(),
                r.final_checkpoint ? "the final (shutdown) checkpoint" : "the last checkpoint");
    if (r.unattested_first)
      std::printf("  unattested:  sequences %s follow the last checkpoint (--live)\n",
                  range(*r.unattested_first, *r.unattested_last).c_str());
  }
  std::string keys;
  for (const auto &k : r.key_ids) keys += (keys.empty() ? "" : ", ") + k.substr(0, 16);
  std::printf("  checkpoints: %llu (%llu signed%s%s, %llu unsigned)%s\n",
              static_cast<unsigned long long>(r.checkpoints),
              static_cast<unsigned long long>(r.signed_checkpoints), keys.empty() ? "" : " by ",
              keys.c_str(), static_cast<unsigned long long>(r.unsigned_checkpoints),
              r.signatures_checked ? "" : "; signatures not checked");
  if (r.restarts) std::printf("  restarts:    %llu\n", static_cast<unsigned long long>(r.restarts));
  std::printf("  declared:    %llu lost events (%llu records)", static_cast<unsigned long long>(r.lost_events),
              static_cast<unsigned long long>(r.lost_records));
  for (auto [a, b] : r.declared_gaps)
    std::printf("; %s not written before a crash", range(a, b).c_str());
  std::printf("\n");
}

}  // namespace

CLI::App *add_verify_command(CLI::App &app, VerifyArgs &a) {
  auto *v = app.add_subcommand("verify", "Check a trail's hash chain and signed checkpoints");
  v->add_option("--pubkey", a.pubkeys, "Ed25519 public key (PEM) that signs checkpoints (repeatable)")
      ->allow_extra_args(false)  // one key per --pubkey: what follows are the files
      ->check(CLI::ExistingFile);
  v->add_flag("--json", a.json, "One JSON object on stdout instead of text");
  v->add_flag("--live", a.live,
              "The trail is still being written: accept records after the last checkpoint");
  v->add_option("files", a.files, "NDJSON files (any order; .gz too), or - for stdin");
  return v;
}

int verify_command(const VerifyArgs &a) {
  VerifyOptions o;
  o.live = a.live;
  Verifier v(o);
  for (const auto &path : a.pubkeys) {
    std::unique_ptr<PublicKey> k;
    if (Status s = PublicKey::load(path, k); !s) {
      std::fprintf(stderr, "ktrail verify: %s\n", s.message.c_str());
      return s.code;
    }
    v.add_key(std::move(k));
  }
  std::vector<std::string> files = a.files.empty() ? std::vector<std::string>{"-"} : a.files;
  for (const auto &f : files) {
    if (Status s = v.add_file(f); !s) {
      std::fprintf(stderr, "ktrail verify: %s\n", s.message.c_str());
      return s.code;
    }
  }
  VerifyReport r = v.run();
  if (a.json) print_json(r);
  else print_human(r);
  return verify_exit_code(r);
}

}  // namespace ktrail
