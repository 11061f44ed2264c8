#include "delivery/relp.h"

extern "C" {  // librelp.h has no C++ guards
#include <librelp.h>
}

#include <chrono>
#include <deque>
#include <string>
#include <utility>

namespace ktrail::delivery {
namespace {

using Clock = std::chrono::steady_clock;

// The close handshake (to confirm the last, partly filled window) runs once the output has
// been idle this long, or once the oldest unconfirmed message has waited kMaxUnconfirmed: a
// trickle that never fills the window still moves the cursor.
constexpr auto kIdleBeforeClose = std::chrono::milliseconds(200);
constexpr auto kMaxUnconfirmed = std::chrono::seconds(2);

std::string relp_error(relpRetVal rc) {
  switch (rc) {
    case RELP_RET_SESSION_BROKEN: return "the RELP session broke (collector gone or connection reset)";
    case RELP_RET_TIMED_OUT: return "the collector did not answer in time";
    case RELP_RET_RSP_STATE_ERR: return "the collector answered with an error response";
    case RELP_RET_IO_ERR: return "I/O error";
    case RELP_RET_INVALID_PORT: return "invalid port";
    case RELP_RET_RQD_FEAT_MISSING: return "the collector does not offer the RELP syslog command";
    case RELP_RET_INCOMPAT_OFFERS: return "the collector's RELP offers are incompatible";
    case RELP_RET_ERR_TLS_SETUP: return "TLS setup failed";
    case RELP_RET_ERR_TLS_HANDS: return "TLS handshake failed";
    case RELP_RET_AUTH_ERR_NAME: return "the server certificate does not carry the permitted name";
    case RELP_RET_AUTH_CERT_INVL: return "the server certificate failed verification";
    case RELP_RET_AUTH_NO_CERT: return "the server presented no certificate";
    case RELP_RET_ERR_NO_TLS: return "librelp was built without TLS";
    default: return "librelp error " + std::to_string(rc);
  }
}

class RelpProtocol : public Protocol {
 public:
  explicit RelpProtocol(RelpTarget t) : t_(std::move(t)) {}
  ~RelpProtocol() override {
    drop_session();
    if (engine_) relpEngineDestruct(&engine_);
  }

  Status init() {
    if (relpRetVal rc = relpEngineConstruct(&engine_); rc != RELP_RET_OK)
      return fail("cannot create the RELP engine: " + relp_error(rc));
    // librelp calls its debug hook unconditionally and has no default for it.
    relpEngineSetDbgprint(engine_, &RelpProtocol::no_debug);
    relpEngineSetOnErr(engine_, &RelpProtocol::on_err);
    relpEngineSetOnAuthErr(engine_, &RelpProtocol::on_auth_err);
    char syslog_cmd[] = "syslog";
    relpEngineSetEnableCmd(engine_, reinterpret_cast<unsigned char *>(syslog_cmd), eRelpCmdState_Required);
    // GnuTLS keeps credentials per connection; librelp's OpenSSL backend shares one process-wide
    // context, which two outputs with different CAs would fight over.
    if (t_.tls && relpEngineSetTLSLib(engine_, RELP_USE_GNUTLS) != RELP_RET_OK)
      return fail("librelp has no GnuTLS support");
    return Status::ok();
  }

  Status connect() override {
    drop_session();
    errors_.clear();
    if (relpRetVal rc = relpEngineCltConstruct(engine_, &clt_); rc != RELP_RET_OK) {
      clt_ = nullptr;
      return fail("cannot create a RELP client: " + relp_error(rc));
    }
    relpCltSetUsrPtr(clt_, this);
    int secs = std::max(1, (t_.timeout_ms + 999) / 1000);
    relpCltSetTimeout(clt_, static_cast<unsigned>(secs));
    relpCltSetConnTimeout(clt_, secs);
    relpCltSetWindowSize(clt_, t_.window);
    if (t_.tls) {
      std::string peer = t_.peer_name.empty() ? t_.host : t_.peer_name;
      char name_mode[] = "name";
      relpRetVal rc = relpCltEnableTLS(clt_);
      if (rc == RELP_RET_OK) rc = relpCltSetCACert(clt_, const_cast<char *>(t_.tls_files.ca_file.c_str()));
      if (rc == RELP_RET_OK) rc = relpCltSetOwnCert(clt_, const_cast<char *>(t_.tls_files.cert_file.c_str()));
      if (rc == RELP_RET_OK) rc = relpCltSetPrivKey(clt_, const_cast<char *>(t_.tls_files.key_file.c_str()));
      if (rc == RELP_RET_OK) rc = relpCltSetAuthMode(clt_, name_mode);
      if (rc == RELP_RET_OK) rc = relpCltAddPermittedPeer(clt_, const_cast<char *>(peer.c_str()));
      if (rc != RELP_RET_OK) {
        drop_session();
        return fail("TLS setup failed: " + relp_error(rc));
      }
    }
    std::string port = std::to_string(t_.port);
    relpRetVal rc = relpCltConnect(clt_, 0, reinterpret_cast<unsigned char *>(port.data()),
                                   reinterpret_cast<unsigned char *>(t_.host.data()));
    if (rc != RELP_RET_OK) {
      Status st = fail("cannot open a RELP session with " + t_.host + ":" + port + ": " + why(rc));
      relpEngineCltDestruct(engine_, &clt_);
      clt_ = nullptr;
      return st;
    }
    return Status::ok();
  }

  void disconnect() override { drop_session(); }

  Status send(const std::vector<SpoolRecord> &batch) override {
    if (!clt_)  // the last idle close ended the session; open the next one
      if (Status st = connect(); !st) return st;
    auto now = Clock::now();
    for (const SpoolRecord &r : batch) {
      errors_.clear();
      relpRetVal rc = relpCltSendSyslog(clt_, reinterpret_cast<unsigned char *>(const_cast<char *>(r.payload.data())),
                                        r.payload.size());
      if (rc != RELP_RET_OK) return fail("RELP send failed: " + why(rc));
      // It went out with fewer than `window` unanswered before it: with in-order answers,
      // everything more than `window` messages back is acknowledged.
      inflight_.push_back({r.next, now});
      if (inflight_.size() > static_cast<size_t>(t_.window)) {
        confirmed_ = inflight_.front().first;
        inflight_.pop_front();
      }
    }
    last_send_ = now;
    return Status::ok();
  }

  Status confirmed(uint64_t &upto) override {
    if (confirmed_) upto = confirmed_;
    if (inflight_.empty()) return Status::ok();
    auto now = Clock::now();
    if (now - last_send_ < kIdleBeforeClose && now - inflight_.front().second < kMaxUnconfirmed)
      return Status::ok();
    // Close the session: its answer comes after every earlier message's. librelp reports a
    // failed close only through the error callback, so a clean close is one that raised none.
    errors_.clear();
    relpEngineCltDestruct(engine_, &clt_);
    clt_ = nullptr;
    if (!errors_.empty()) {
      inflight_.clear();
      return fail("the RELP session did not close cleanly, resending what it did not confirm: " + errors_);
    }
    upto = confirmed_ = inflight_.back().first;
    inflight_.clear();
    return Status::ok();
  }

  std::string describe() const override { return t_.name; }

 private:
  static void no_debug(char *, ...) {}
  static void on_err(void *usr, char *objinfo, char *errmsg, relpRetVal code) {
    if (usr) static_cast<RelpProtocol *>(usr)->note(objinfo, errmsg, code);
  }
  static void on_auth_err(void *usr, char *authinfo, char *errmsg, relpRetVal code) {
    if (usr) static_cast<RelpProtocol *>(usr)->note(authinfo, errmsg, code, true);
  }
  void note(const char *info, const char *msg, relpRetVal code, bool auth = false) {
    // Auth errors name what the certificate carried (names or fingerprint), which says why.
    std::string m = msg ? std::string(msg) : relp_error(code);
    if (auth && info && *info) m += " (certificate: " + std::string(info) + ")";
    if (errors_.find(m) != std::string::npos) return;
    if (!errors_.empty()) errors_ += "; ";
    errors_ += m;
  }
  std::string why(relpRetVal rc) const { return errors_.empty() ? relp_error(rc) : relp_error(rc) + ": " + errors_; }
  Status fail(const std::string &msg) const { return Status::error(KTRAIL_EXIT_OUTPUT, msg); }

  void drop_session() {
    if (clt_) relpEngineCltDestruct(engine_, &clt_);
    clt_ = nullptr;
    inflight_.clear();
    confirmed_ = 0;
  }

  RelpTarget t_;
  relpEngine_t *engine_ = nullptr;
  relpClt_t *clt_ = nullptr;
  std::deque<std::pair<uint64_t, Clock::time_point>> inflight_;  // spool `next` of each unconfirmed message
  uint64_t confirmed_ = 0;
  Clock::time_point last_send_;
  std::string errors_;  // what librelp's callbacks reported during the current call
};

}  // namespace

Status make_relp_protocol(const RelpTarget &target, std::unique_ptr<Protocol> &out) {
  auto p = std::make_unique<RelpProtocol>(target);
  if (Status st = p->init(); !st) return st;
  out = std::move(p);
  return Status::ok();
}

}  // namespace ktrail::delivery
