// SSH sessions: turns the SSH signals (accepts, sshd's log lines, libpam calls, sshd's own
// credential calls, execs and exits) into ssh_auth / ssh_session_start / ssh_session_end
// events, and attributes every event inside a session to the person who logged in.
//
// Sessions are keyed by the audit session id, which pam_loginuid sets once and the kernel
// never lets change, so attribution holds through sudo, su and setuid binaries. Without PAM
// (no session id) a session is keyed by its sshd monitor's pid and attributed by ancestry.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/event.h"
#include "enrich/sshd_log.h"

namespace ktrail {

class ProcTable;
class Users;

struct SshSession {
  uint32_t id = UINT32_MAX;  // audit session id; UINT32_MAX = none (keyed by monitor pid)
  uint32_t monitor_pid = 0;  // the sshd process whose exit ends the session
  uint32_t uid = UINT32_MAX;
  std::string user;
  Endpoint source, destination;
  std::string tty;
  uint64_t start_boot_ns = 0;
  bool seeded = false;   // open before ktrail started (found in /proc)
  bool started = false;  // ssh_session_start emitted (never for seeded sessions)
  bool ended = false;
  uint64_t start_deadline_ns = 0;
  std::vector<std::string> signals;
  Event base;  // the event the start is reported with (process = the sshd monitor)
};

struct SessionTrackerConfig {
  std::vector<std::string> exe_names{"sshd", "sshd-session", "sshd-auth"};
  uint64_t merge_window_ns = 500000000ull;  // a PAM result waits this long for sshd's log line
  uint64_t start_wait_ns = 1000000000ull;   // a session start waits this long for its tty
  size_t max_sessions = 4096;     // ended sessions are forgotten beyond this
  size_t max_connections = 4096;  // connections still authenticating
  size_t max_sources = 4096;      // source addresses with a failure count
};

class SessionTracker {
 public:
  SessionTracker(ProcTable &procs, Users &users, std::string proc_root = "/proc",
                 SessionTrackerConfig cfg = {});

  void set_config(SessionTrackerConfig cfg) { cfg_ = std::move(cfg); }

  // For every enriched event, in stream order: updates the state, marks SSH signals
  // suppressed, fills e.session and e.ssh annotations, and appends derived events to emit
  // before and after e.
  void process(Event &e, std::vector<Event> &before, std::vector<Event> &after);
  // Emits what has waited long enough: PAM results without a log line, session starts
  // without a tty. `now_boot_ns` is CLOCK_BOOTTIME.
  void tick(uint64_t now_boot_ns, std::vector<Event> &out);
  // Everything still waiting (shutdown).
  void flush(std::vector<Event> &out) { tick(UINT64_MAX, out); }
  // Sessions open before ktrail started: sshd monitors in /proc with an audit session id.
  size_t seed();

  // Failed authentications per source address (for alerting); 0 when none.
  uint64_t failures_from(const std::string &ip) const;
  const SshSession *session(uint32_t id) const;
  size_t session_count() const { return sessions_.size() + pid_sessions_.size(); }
  // ssh_auth events held back, waiting for their partner signal (metrics: pipeline queue).
  size_t pending_auths() const;
  bool is_ssh_exe(const std::string &name) const;

 private:
  struct Pending {
    bool active = false;
    bool have_pam = false, have_log = false;
    uint64_t deadline_ns = 0;
    Event ev;  // the ssh_auth event being assembled
  };
  struct Conn {
    uint32_t pid = 0;
    Endpoint source, destination;
    std::string user;
    int8_t user_exists = -1;
    bool pam = false;         // pam_start seen: PAM will report password outcomes
    bool key_lookup = false;  // the monitor read authorized_keys as the user
    bool authenticated = false;
    bool failure_reported = false;
    uint32_t preauth_sessionid = UINT32_MAX;
    uint64_t last_ns = 0;
    Pending pending;
  };
  struct Drop {
    uint32_t uid_from = UINT32_MAX, gid_from = UINT32_MAX;
  };

  bool trusted(const Event &e) const;
  Conn &conn_for(const Event &e);
  Conn *find_conn(uint32_t pid);
  void on_accept(Event &e);
  void on_log(Event &e, const SshdLogMsg &m, std::vector<Event> &before);
  void on_pam(Event &e, std::vector<Event> &before);
  void on_cred(Event &e);
  void on_exec(Event &e, std::vector<Event> &before);
  void on_exit(Event &e, std::vector<Event> &after);
  void annotate(Event &e);

  Event make_auth(const Event &base, Conn &c, bool success) const;
  void emit_auth(Event ev, Conn &c, std::vector<Event> &out);
  void flush_pending(Conn &c, std::vector<Event> &out);
  SshSession &open_session(const Event &base, Conn *c, uint32_t sid, const char *signal);
  void emit_start(SshSession &s, std::vector<Event> &out);
  void emit_end(SshSession &s, const Event &exit_ev, std::vector<Event> &out);
  Event session_event(const SshSession &s, const Event &base, EventKind kind) const;
  void fill_ref(const SshSession &s, Event &e) const;
  SshSession *session_of(const Event &e);
  void add_signal(std::vector<std::string> &v, const std::string &s) const;
  int8_t user_exists_in(uint32_t pid, const std::string &user) const;
  void forget_ended();

  ProcTable &procs_;
  Users &users_;
  std::string proc_root_;
  SessionTrackerConfig cfg_;
  std::unordered_map<uint32_t, Conn> conns_;               // by sshd monitor pid
  std::unordered_map<std::string, Endpoint> accepts_;       // "ip port" -> listener address
  std::deque<std::string> accept_order_;
  std::unordered_map<uint32_t, SshSession> sessions_;      // by audit session id
  std::unordered_map<uint32_t, SshSession> pid_sessions_;  // no session id: by monitor pid
  std::unordered_map<uint32_t, uint32_t> monitor_sid_;     // monitor pid -> audit session id
  std::deque<uint32_t> ended_order_;
  std::unordered_map<uint32_t, Drop> drops_;               // privilege drops per sshd pid
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> failures_;  // ip -> (count, last)
  uint64_t failure_tick_ = 0;
};

// /proc helpers for seeding (exposed for tests).
// The remote end of `pid`'s connected TCP sockets, from its fds and <proc>/PID/net/tcp{,6}.
Endpoint proc_tcp_peer(const std::string &proc_root, uint32_t pid, Endpoint *local = nullptr);
// "pts/3" from a tty_nr of /proc/PID/stat; "" for none or unknown majors.
std::string tty_name_from_nr(uint64_t tty_nr);
// Parses one /proc/net/tcp{,6} address "0100007F:0016" (or the 32-hex-digit v6 form).
Endpoint parse_proc_net_addr(const std::string &hex);

}  // namespace ktrail
