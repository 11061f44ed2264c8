#include "sinks/identity_format.h"
#include "integrity/notary.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "integrity/chain.h"
#include "sinks/format.h"
#include "sinks/json_writer.h"
#include "sinks/ocsf.h"

namespace ktrail {
namespace {

// The record up to its last member, the ktrail object (ECS `ktrail`, OCSF `unmapped`), whose
// key this writes.
void begin_record(Schema schema, JsonWriter &w, int64_t realtime_ns, const char *type, const char *action,
                  uint64_t seq, const HostInfo &host) {
  if (schema == Schema::Ocsf) {
    ocsf_begin_agent_record(w, realtime_ns, seq, action, host);
    w.key("unmapped");
    return;
  }
  w.begin_object();
  write_time_field(w, "@timestamp", realtime_ns);
  w.key("event").begin_object();
  w.field("kind", "event");
  w.key("category").begin_array().value("host").end_array();
  w.key("type").begin_array().value(type).end_array();
  w.field("action", action);
  w.field("outcome", "success");
  w.field("sequence", seq);
  w.end_object();
  // The same host object as every other record, so consumers never see two shapes.
  w.key("host").begin_object().field("name", host.name).field("id", host.id);
  write_host_identity(w, host);
  w.end_object();
  w.key("ktrail");
}

// A group- or world-readable key is a leaked key on a shared host; say so (never its contents).
void warn_if_exposed(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077))
    KLOG_WARN("signing key %s is readable by group or others (mode %03o); chmod 600 it",
              path.c_str(), st.st_mode & 0777);
}

}  // namespace

Notary::Notary(const NotaryConfig &c, const HostInfo &host) : cfg_(c), host_(host) {}

Status Notary::open(const NotaryConfig &c, const HostInfo &host, std::unique_ptr<Notary> &out) {
  std::unique_ptr<Notary> n(new Notary(c, host));
  if (!c.signing_key_path.empty()) {
    if (Status s = SigningKey::load(c.signing_key_path, n->key_); !s) return s;
    warn_if_exposed(c.signing_key_path);
  }
  if (!c.state_path.empty()) {
    if (Status s = StateFile::open(c.state_path, n->state_file_); !s) return s;
    ChainState loaded;
    bool found = false;
    if (Status s = n->state_file_->load(loaded, found); !s) return s;
    if (found && loaded.host_id != host.id) {
      // A state copied with a disk image belongs to another host's chain.
      KLOG_WARN("chain state %s belongs to host id %s, not this host (%s): starting a new chain",
                c.state_path.c_str(), loaded.host_id.c_str(), host.id.c_str());
    } else if (found && loaded.sequence > 0) {
      n->st_ = loaded;
      n->saved_ = loaded;
      n->saved_valid_ = true;
      Resume &r = n->resume_;
      r.active = true;
      r.source = "state";
      r.sequence = loaded.sequence;
      r.hash = loaded.hash;
      if (loaded.written < loaded.sequence) r.unwritten_first = loaded.written + 1;
    }
  }
  n->st_.host_id = host.id;
  // Not the sequence: a range still undeclared stays so until the agent_start that declares it
  // has itself reached the outputs (a second crash before that must declare it again).
  n->written_ = n->st_.written;
  n->last_checkpoint_ns_ = Clock::boot_now();
  out = std::move(n);
  return Status::ok();
}

void Notary::consider_output_tail(std::string_view line, const std::string &output) {
  chain::Split sp;
  uint64_t seq = 0;
  if (!chain::split(line, sp) || !chain::find_sequence(sp.body, seq)) {
    KLOG_DEBUG("%s does not end with a chained record", output.c_str());
    return;
  }
  if (seq <= st_.sequence) {
    if (resume_.active && seq + 1 < resume_.unwritten_first)
      KLOG_WARN("%s ends at sequence %llu, before the chain head %llu: records are missing there",
                output.c_str(), static_cast<unsigned long long>(seq),
                static_cast<unsigned long long>(st_.sequence));
    return;
  }
  std::string canon = chain::canonical(sp.body);
  nlohmann::json j = nlohmann::json::parse(canon, nullptr, false);
  if (j.is_discarded() || chain::record_host_id(j) != host_.id) {
    KLOG_WARN("%s ends with a record of another host or an unreadable one: not resuming from it",
              output.c_str());
    return;
  }
  KLOG_WARN("%s holds records up to sequence %llu, past the chain state (%llu): resuming after it",
            output.c_str(), static_cast<unsigned long long>(seq),
            static_cast<unsigned long long>(st_.sequence));
  st_.sequence = seq;
  st_.hash = sp.hash;
  resume_ = Resume{};
  resume_.active = true;
  resume_.source = "output";
  resume_.sequence = seq;
  resume_.hash = sp.hash;
  if (chain::find_action(sp.body) == "checkpoint") {
    st_.checkpoint_sequence = seq;
    std::string msg;
    Signature sig;
    st_.checkpoint_signature = chain::signed_message(canon, msg, sig) ? to_hex(sig) : "";
  } else {
    // Where the last checkpoint was is not known: the next one starts its range at this run.
    resume_.checkpoint_known = false;
    st_.checkpoint_sequence = 0;
    st_.checkpoint_signature.clear();
  }
  written_ = seq;
}

std::string Notary::key_id_hex() const { return key_ ? to_hex(key_->key_id()) : std::string(); }

void Notary::seal(uint64_t seq, std::string &json) {
  if (seq != st_.sequence + 1)
    KLOG_ERROR("chain: sealing sequence %llu after %llu", static_cast<unsigned long long>(seq),
               static_cast<unsigned long long>(st_.sequence));
  st_.hash = chain::seal(sha_, st_.hash, json);
  st_.sequence = seq;
  if (seq == pending_checkpoint_) {
    st_.checkpoint_sequence = seq;
    st_.checkpoint_signature = pending_signature_;
    since_checkpoint_ = 0;
    last_checkpoint_ns_ = Clock::boot_now();
    resume_.checkpoint_known = true;
    pending_checkpoint_ = 0;
  } else {
    since_checkpoint_++;
  }
}

void Notary::start_record(uint64_t seq, int64_t realtime_ns, std::string &json,
                          std::string &table) {
  run_first_ = seq;
  JsonWriter w(json);
  begin_record(cfg_.schema, w, realtime_ns, "start", "agent_start", seq, host_);
  w.begin_object();
  w.key("agent").begin_object().field("version", KTRAIL_VERSION).field("pid", static_cast<int64_t>(getpid())).end_object();
  std::string details;
  if (!resume_.active) {
    w.field("genesis", true);
    details = "new chain (genesis)";
  } else {
    w.key("resume").begin_object();
    w.field("source", resume_.source);
    w.field("sequence", resume_.sequence);
    w.field("hash", to_hex(resume_.hash));
    if (resume_.checkpoint_known) {
      w.key("checkpoint").begin_object().field("sequence", st_.checkpoint_sequence);
      if (!st_.checkpoint_signature.empty()) w.field("signature", st_.checkpoint_signature);
      w.end_object();
    }
    if (resume_.unwritten_first)
      w.key("unwritten").begin_object()
          .field("first", resume_.unwritten_first).field("last", resume_.sequence)
          .end_object();
    w.end_object();
    details = "chain resumed after sequence " + std::to_string(resume_.sequence);
    if (resume_.unwritten_first)
      details += " (" + std::to_string(resume_.unwritten_first) + ".." +
                 std::to_string(resume_.sequence) + " may not have been written before a crash)";
  }
  w.end_object();
  w.end_object();
  if (resume_.unwritten_first)
    KLOG_WARN("the previous run stopped without a clean shutdown: records %llu..%llu may be missing "
              "from its outputs; this is declared in the trail",
              static_cast<unsigned long long>(resume_.unwritten_first),
              static_cast<unsigned long long>(resume_.sequence));
  table_line(realtime_ns, "agent_start", details, table);
}

void Notary::checkpoint_record(uint64_t seq, int64_t realtime_ns, const char *reason,
                               std::string &json, std::string &table) {
  uint64_t first = 1;
  if (!resume_.checkpoint_known) first = run_first_;
  else if (st_.checkpoint_sequence) first = st_.checkpoint_sequence;
  const bool has_prev = resume_.checkpoint_known && !st_.checkpoint_signature.empty();

  JsonWriter w(json);
  begin_record(cfg_.schema, w, realtime_ns, "info", "checkpoint", seq, host_);
  w.begin_object();
  w.key("checkpoint").begin_object();
  w.field("reason", reason);
  w.field("first_sequence", first);
  w.field("last_sequence", seq - 1);
  w.field("head", to_hex(st_.hash));
  if (has_prev) w.field("previous_signature", st_.checkpoint_signature);
  w.field("signed", key_ != nullptr);
  if (key_) w.field("key_id", to_hex(key_->key_id()));
  w.end_object();
  w.end_object();
  w.end_object();
  pending_signature_.clear();
  if (key_) {
    Signature sig = key_->sign(chain::signing_message(json));
    chain::insert_signature(json, sig);
    pending_signature_ = to_hex(sig);
  }
  pending_checkpoint_ = seq;
  std::string details = std::string(reason) + ": " + std::to_string(first) + ".." +
                        std::to_string(seq - 1) + " head " + to_hex(st_.hash).substr(0, 16) +
                        (key_ ? " signed by " + to_hex(key_->key_id()).substr(0, 16) : " unsigned");
  table_line(realtime_ns, "checkpoint", details, table);
}

bool Notary::checkpoint_due_by_records() const {
  return cfg_.checkpoint_records && since_checkpoint_ >= cfg_.checkpoint_records;
}

bool Notary::checkpoint_due_by_time(uint64_t boot_ns) const {
  return cfg_.checkpoint_seconds > 0 && since_checkpoint_ > 0 &&
         boot_ns - last_checkpoint_ns_ >= static_cast<uint64_t>(cfg_.checkpoint_seconds * 1e9);
}

Status Notary::commit(bool durable) {
  if (cfg_.state_path.empty()) return Status::ok();
  ChainState s = st_;
  s.written = written_;
  const uint64_t now = Clock::boot_now();
  durable = durable || now - last_durable_ns_ >= 1000000000ull;
  if (saved_valid_ && s == saved_ && (saved_durable_ || !durable)) return Status::ok();
  if (Status r = state_file_->save(s, durable); !r) return r;
  saved_ = s;
  saved_valid_ = true;
  saved_durable_ = durable;
  if (durable) last_durable_ns_ = now;
  return Status::ok();
}

void Notary::table_line(int64_t realtime_ns, const char *action, const std::string &details,
                        std::string &table) const {
  time_t sec = static_cast<time_t>(realtime_ns / 1000000000ll);
  struct tm tm;
  localtime_r(&sec, &tm);
  char line[160];
  snprintf(line, sizeof(line), "%02d:%02d:%02d.%03d %-10s %7d %7d %-10s %-16s %-7s ", tm.tm_hour,
           tm.tm_min, tm.tm_sec, static_cast<int>((realtime_ns / 1000000) % 1000), action,
           static_cast<int>(getpid()), static_cast<int>(getppid()), "-", "ktrail", "ok");
  table += line;
  table += details;
}

}  // namespace ktrail
