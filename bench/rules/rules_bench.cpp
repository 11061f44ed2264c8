// Rule-evaluation cost per event: a recorded NDJSON trail (`ktrail run --format json`) is read
// back into typed Events (outside the timed loop), then RuleEngine::observe runs over them
// repeatedly with the given rule files (default: the embedded pack). Prints ns/event overall
// and per event.action, next to the cost of formatting the same events as JSON, which every
// record pays anyway. Not a test: timing never fails a build (bench/README.md).
//
//   ktrail_rules_bench TRAIL.ndjson [PASSES] [RULES.yaml|default|none]...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "decode/decode.h"
#include "ktrail/abi/events.h"
#include "rules/rules.h"
#include "sinks/format.h"

using json = nlohmann::json;
using namespace ktrail;

namespace {

uint32_t syscall_id(const std::string &name, uint32_t first, uint32_t last, const char *(*namer)(uint32_t)) {
  for (uint32_t s = first; s <= last; s++)
    if (name == namer(s)) return s;
  return 0;
}

Creds creds(const json &c) {
  Creds r;
  r.uid = c.value("uid", 0u), r.euid = c.value("euid", 0u), r.suid = c.value("suid", 0u), r.fsuid = c.value("fsuid", 0u);
  r.gid = c.value("gid", 0u), r.egid = c.value("egid", 0u), r.sgid = c.value("sgid", 0u), r.fsgid = c.value("fsgid", 0u);
  return r;
}

// The fields the rule field table reads; the rest of the record is not needed here.
bool to_event(const json &j, Event &e) {
  const json &ev = j["event"];
  if (ev.value("kind", "") != "event") return false;
  const std::string action = ev.value("action", "");
  const bool ok = ev.value("outcome", "") == "success";
  const json &k = j.value("ktrail", json::object());
  if (action == "exec") e.kind = ok ? EventKind::Exec : EventKind::ExecFailed;
  else if (action == "exit") e.kind = EventKind::Exit;
  else if (action == "ssh_accept") e.kind = EventKind::SshAccept;
  else if (action == "ssh_auth") e.kind = EventKind::SshAuth;
  else if (action == "ssh_session_start") e.kind = EventKind::SshSessionStart;
  else if (action == "ssh_session_end") e.kind = EventKind::SshSessionEnd;
  else if (action == "capable") e.kind = EventKind::Capable;
  else if (k.contains("cred")) e.kind = EventKind::Cred;
  else if (k.contains("file")) e.kind = EventKind::File;
  else return false;  // lost, agent_start, checkpoint: not events rules see in this bench
  e.sequence = ev.value("sequence", 0ull);
  if (j.contains("process")) {
    const json &p = j["process"];
    e.proc.pid = p.value("pid", 0u);
    e.proc.comm = p.value("name", "");
    e.executable = p.value("executable", "");
    for (const auto &a : p.value("args", json::array())) e.args.push_back(a.get<std::string>());
    e.argc = static_cast<uint32_t>(e.args.size());
    if (p.contains("tty")) e.tty = p["tty"].value("name", "");
    e.proc.ppid = p["parent"].value("pid", 0u);
    e.parent_name = p["parent"].value("name", "");
    e.proc.creds.euid = p["user"].value("id", 0u);
    e.user_name = p["user"].value("name", "");
    e.proc.creds.uid = p["real_user"].value("id", 0u);
    e.proc.creds.suid = p["saved_user"].value("id", 0u);
  }
  if (j.contains("container")) {
    auto c = std::make_shared<ContainerInfo>();
    c->id = j["container"].value("id", "");
    c->runtime = j["container"].value("runtime", "");
    e.container = c;
  }
  if (j.contains("source")) e.ssh.source = {j["source"].value("ip", ""), static_cast<uint16_t>(j["source"].value("port", 0))};
  if (j.contains("user")) e.ssh.user = j["user"].value("name", "");
  if (e.kind == EventKind::SshAuth) e.ret = ok ? 0 : -1;
  if (k.contains("exec") && e.kind == EventKind::Exec) {
    e.filename = k["exec"].value("filename", "");
    if (k["exec"].contains("secureexec"))
      e.exec_flags = KTRAIL_EXEC_SECUREEXEC_KNOWN | (k["exec"]["secureexec"].get<bool>() ? KTRAIL_EXEC_SECUREEXEC : 0);
  }
  if (e.kind == EventKind::Cred) {
    const json &c = k["cred"];
    e.syscall = syscall_id(c.value("syscall", ""), KTRAIL_SYS_SETUID, KTRAIL_SYS_CAPSET, cred_syscall_name);
    e.ret = c.value("return", 0ll);
    e.old_creds = creds(c["before"]);
    e.proc.creds = creds(c["after"]);
    int i = 0;
    for (const char *n : {"uid", "ruid", "euid", "suid", "gid", "rgid", "egid", "sgid", "fsuid", "fsgid"})
      if (c["requested"].contains(n) && i < 3) e.req[i++] = static_cast<uint32_t>(c["requested"][n].get<int64_t>());
    if (k.contains("ssh")) e.ssh.self_check = k["ssh"].value("self_check", false), e.ssh.key_lookup = k["ssh"].value("key_lookup", false);
  }
  if (e.kind == EventKind::Capable) {
    e.cap.cap = capability_id(k["capability"].value("name", ""));
    e.cap.ret = ok ? 0 : -1;
    e.cap.noise = k["capability"].value("noise", false);
    const std::string origin = k["capability"].value("origin", "");
    e.cap.origin = origin == "summary" ? KTRAIL_CAP_SUMMARY : origin == "always" ? KTRAIL_CAP_ALWAYS : KTRAIL_CAP_FIRST;
  }
  if (e.kind == EventKind::File) {
    e.file.syscall = syscall_id(k["file"].value("syscall", ""), KTRAIL_SYS_OPEN, KTRAIL_SYS_FILE_LAST, file_syscall_name);
    e.file.path = j["file"].value("path", "");
    e.file.arg_flags = k["file"].value("flags", 0ull);
    e.ret = k["file"].value("return", 0ll);
  }
  if (k.contains("session")) {
    e.session.present = true;
    e.session.kind = k["session"].value("kind", "");
    e.session.user = k["session"].value("user", "");
    e.session.source.ip = k["session"].value("source_ip", "");
  }
  return true;
}

double now_ns() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TRAIL.ndjson [PASSES] [RULES.yaml|default|none]...\n", argv[0]);
    return 2;
  }
  int passes = argc > 2 ? std::atoi(argv[2]) : 20;
  std::vector<std::string> specs(argv + (argc > 3 ? 3 : argc), argv + argc);
  auto set = std::make_shared<rules::RuleSet>();
  std::vector<rules::RuleError> errs;
  if (!rules::load_rules(specs, *set, errs)) {
    for (const auto &e : errs) std::fprintf(stderr, "%s\n", e.str().c_str());
    return 2;
  }
  std::vector<Event> events;
  std::ifstream in(argv[1]);
  std::string line;
  while (std::getline(in, line)) {
    Event e;
    if (to_event(json::parse(line), e)) events.push_back(std::move(e));
  }
  if (events.empty()) {
    std::fprintf(stderr, "no events in %s\n", argv[1]);
    return 1;
  }
  // Per action: the events, timed in one batch each so the clock's cost is amortised.
  std::map<std::string, std::vector<const Event *>> by_action;
  for (const auto &e : events) by_action[event_action(e)].push_back(&e);

  rules::RuleEngine eng;
  eng.install(set);
  std::vector<Event> derived;
  uint64_t alerts = 0;
  // The least disturbed of 5 runs: the machine is shared, and interference only adds time.
  auto time_batch = [&](const std::vector<const Event *> &batch) {
    double best = 1e18;
    for (int run = 0; run < 5; run++) {
      double t0 = now_ns();
      for (int p = 0; p < passes; p++)
        for (const Event *e : batch) {
          eng.observe(*e, derived);
          alerts += derived.size();
          derived.clear();
        }
      best = std::min(best, (now_ns() - t0) / (static_cast<double>(passes) * batch.size()));
    }
    return best;
  };
  std::vector<const Event *> all;
  for (const auto &e : events) all.push_back(&e);
  time_batch(all);  // warm-up (also fills first_seen state, as a long-running agent has)
  double total = time_batch(all);

  HostInfo host{"bench", "0123456789abcdef0123456789abcdef"};
  std::string out;
  double fmt = 1e18;
  for (int run = 0; run < 5; run++) {
    double t0 = now_ns();
    for (int p = 0; p < passes; p++)
      for (const Event *e : all) {
        out.clear();
        format_json(*e, host, out);
      }
    fmt = std::min(fmt, (now_ns() - t0) / (static_cast<double>(passes) * all.size()));
  }

  std::printf("events: %zu (%d passes), rules: %zu (%s), evaluations/event: %.2f\n", events.size(), passes,
              set->rules.size(), specs.empty() ? "default" : specs[0].c_str(),
              static_cast<double>(eng.evaluations()) / (10.0 * passes * events.size()));
  std::printf("rule evaluation: %.1f ns/event; JSON formatting of the same events: %.1f ns/event\n", total, fmt);
  std::printf("%-20s %8s %12s\n", "action", "events", "ns/event");
  for (const auto &[action, batch] : by_action) std::printf("%-20s %8zu %12.1f\n", action.c_str(), batch.size(), time_batch(batch));
  std::printf("alerts raised while timing: %llu\n", static_cast<unsigned long long>(alerts));
  return 0;
}
