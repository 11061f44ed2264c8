// The default rule pack end to end: the real `ktrail run` (embedded pack), real actions that
// each rule must catch (a non-root setuid(0), a capability escalation, a /etc/shadow read, an
// authorized_keys and a sudoers change, a dangerous capability check, a real sshd login after
// a burst of wrong passwords, a real podman container shell and setuid binary), each next to
// its benign twin that must not fire. Every alert is checked against the real events its
// trigger_sequences name. Also: SIGHUP reload while events flow, and a broken reload.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../ssh/sshd_harness.h"
#include "agent.h"

using json = nlohmann::json;
using namespace std::chrono_literals;
using ktrail::test::Agent;
using ktrail::test::read_file;
using ktrail::test::select;
using ktrail::test::sh;
using ktrail::test::spawn;
using ktrail::test::wait_for;

namespace {

struct Events {
  std::vector<json> all;
  std::map<uint64_t, const json *> by_seq;
  std::vector<json> alerts(const std::string &rule) const {
    return where([&](const json &e) { return e["event"]["kind"] == "alert" && e["rule"]["id"] == rule; });
  }
  std::vector<json> where(const std::function<bool(const json &)> &f) const { return select(all, f); }
  // For failure messages: the records a count was taken over, whole.
  static std::string dump(const std::vector<json> &v) {
    std::string s;
    for (const auto &e : v) s += "\n" + e.dump();
    return s;
  }
  const json &at(uint64_t seq) const {
    static const json kNull;
    auto it = by_seq.find(seq);
    return it == by_seq.end() ? kNull : *it->second;
  }
};

// Stops the agent once it has drained (every 50 ms) and indexes its records by sequence.
Events stop(Agent &t) {
  std::this_thread::sleep_for(300ms);
  Events ev{t.stop_and_read(), {}};
  for (const auto &e : ev.all) ev.by_seq[e["event"]["sequence"].get<uint64_t>()] = &e;
  return ev;
}

// pid of a rules_helper run ("PID RESULT ERRNO").
struct HelperRun {
  int pid = 0;
  long result = 0;
  int err = 0;
};
HelperRun helper(const std::string &args) {
  auto r = sh(std::string(KTRAIL_RULES_HELPER) + " " + args);
  HelperRun h;
  std::istringstream in(r.out);
  in >> h.pid >> h.result >> h.err;
  EXPECT_GT(h.pid, 0) << args << ": " << r.out;
  return h;
}

// The one alert of `rule` whose trigger satisfies `is_trigger`; checks the alert's own fields and
// that every trigger sequence names a real event of the same stream, and that the alert came
// right after its last trigger.
json expect_alert(const Events &ev, const std::string &rule, int severity, const std::string &severity_text,
                  const std::function<bool(const json &)> &is_trigger, size_t n_triggers = 1) {
  std::vector<json> hits;
  for (const auto &a : ev.alerts(rule)) {
    const auto &seqs = a["ktrail"]["alert"]["trigger_sequences"];
    if (!seqs.empty() && is_trigger(ev.at(seqs.back().get<uint64_t>()))) hits.push_back(a);
  }
  EXPECT_EQ(hits.size(), 1u) << "alerts of " << rule << " for this trigger";
  if (hits.empty()) return json();
  const json &a = hits[0];
  EXPECT_EQ(a["event"]["kind"], "alert");
  EXPECT_EQ(a["event"]["category"], json::array({"intrusion_detection"}));
  EXPECT_EQ(a["event"]["action"], "alert");
  EXPECT_EQ(a["event"]["severity"], severity);
  EXPECT_EQ(a["ktrail"]["alert"]["severity"], severity_text);
  EXPECT_FALSE(a["rule"]["name"].get<std::string>().empty());
  EXPECT_FALSE(a["rule"]["description"].get<std::string>().empty());
  EXPECT_TRUE(a["ktrail"].contains("chain")) << "alerts are chained like every record";
  const auto &seqs = a["ktrail"]["alert"]["trigger_sequences"];
  EXPECT_EQ(seqs.size(), n_triggers) << a.dump();
  for (const auto &s : seqs) EXPECT_FALSE(ev.at(s.get<uint64_t>()).is_null()) << "trigger " << s << " is not in the stream";
  const json &last = ev.at(seqs.back().get<uint64_t>());
  EXPECT_EQ(a["event"]["sequence"].get<uint64_t>(), last["event"]["sequence"].get<uint64_t>() + 1);
  EXPECT_EQ(a["@timestamp"], last["@timestamp"]);
  EXPECT_EQ(a["ktrail"]["alert"]["trigger_action"], last["event"]["action"]);
  if (last.contains("process")) {
    EXPECT_EQ(a["process"]["pid"], last["process"]["pid"]);
    EXPECT_EQ(a["process"]["name"], last["process"]["name"]);
    EXPECT_EQ(a["process"]["user"], last["process"]["user"]);
  }
  return a;
}

// No alert of `rule` was triggered by an event satisfying `is_trigger` (which must exist).
void expect_no_alert(const Events &ev, const std::string &rule, const std::function<bool(const json &)> &is_trigger) {
  EXPECT_FALSE(ev.where([&](const json &e) { return e["event"]["kind"] == "event" && is_trigger(e); }).empty())
      << "the benign twin's event must be in the stream, or this check proves nothing";
  for (const auto &a : ev.alerts(rule))
    for (const auto &s : a["ktrail"]["alert"]["trigger_sequences"])
      EXPECT_FALSE(is_trigger(ev.at(s.get<uint64_t>()))) << rule << " fired on the benign twin: " << a.dump();
}

bool of_pid(const json &e, int pid) { return e.contains("process") && e["process"]["pid"] == pid; }

class RulesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF)";
    char tmpl[] = "/tmp/ktrail-rules-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    if (!dir_.empty()) sh("rm -rf " + dir_);
  }
  std::string dir_;
};

TEST_F(RulesE2E, SetuidToRootDeniedAndSucceededButNotDroppingPrivileges) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  HelperRun denied = helper("setuid-denied 65534");
  HelperRun self = helper("setuid-self 65534");
  HelperRun escalated = helper("setuid-cap 65534");
  Events ev = stop(t);
  EXPECT_EQ(denied.err, EPERM);
  EXPECT_EQ(self.result, 0);
  EXPECT_EQ(escalated.result, 0);

  auto setuid_of = [](int pid) {
    return [pid](const json &e) { return of_pid(e, pid) && e["event"]["action"] == "setuid"; };
  };
  json a = expect_alert(ev, "setuid-root-denied", 47, "medium", setuid_of(denied.pid));
  const json &trig = ev.at(a["ktrail"]["alert"]["trigger_sequences"][0].get<uint64_t>());
  EXPECT_EQ(trig["event"]["outcome"], "failure");
  EXPECT_EQ(trig["error"]["code"], "EPERM");
  EXPECT_EQ(trig["ktrail"]["cred"]["requested"]["uid"], 0);
  EXPECT_EQ(a["process"]["user"]["id"], 65534);
  EXPECT_EQ(a["process"]["executable"], KTRAIL_RULES_HELPER);

  json s = expect_alert(ev, "setuid-root-succeeded", 99, "critical", setuid_of(escalated.pid));
  const json &st = ev.at(s["ktrail"]["alert"]["trigger_sequences"][0].get<uint64_t>());
  EXPECT_EQ(st["event"]["outcome"], "success");
  EXPECT_EQ(st["ktrail"]["cred"]["before"]["uid"], 65534);
  EXPECT_EQ(st["ktrail"]["cred"]["after"]["uid"], 0);

  // Benign twins: a process dropping to nobody and setuid(nobody); root dropping privileges.
  expect_no_alert(ev, "setuid-root-denied", setuid_of(self.pid));
  expect_no_alert(ev, "setuid-root-succeeded", setuid_of(self.pid));
  expect_no_alert(ev, "setuid-root-succeeded", [&](const json &e) {
    return of_pid(e, denied.pid) && e["event"]["action"] == "setresuid";  // root -> nobody
  });
}

TEST_F(RulesE2E, SecretReadAndAuthConfigChangeButNotTheirBenignTwins) {
  const std::string home = dir_ + "/home";
  const std::string keys = home + "/.ssh/authorized_keys";
  const std::string sudoers = "/etc/sudoers.d/ktrail-rules-test";
  ASSERT_EQ(sh("mkdir -p " + home + "/.ssh && echo '# keys' > " + keys).rc, 0);
  ASSERT_EQ(sh("echo '# ktrail rules test' > " + dir_ + "/sudoers && install -m 440 " + dir_ + "/sudoers " + sudoers).rc, 0);
  Agent t;
  ASSERT_TRUE(t.start({"--events", "exec,exit,cred,ssh,capable,file"})) << t.err();
  HelperRun shadow = helper("read /etc/shadow");
  ASSERT_EQ(sh("passwd -S root >/dev/null").rc, 0);  // benign: passwd reads shadow for a living
  HelperRun keys_read = helper("read " + keys);
  HelperRun keys_write = helper("append " + keys);
  HelperRun sudo_read = helper("read " + sudoers);
  HelperRun sudo_write = helper("append " + sudoers);
  Events ev = stop(t);
  unlink(sudoers.c_str());

  auto open_of = [](int pid, const std::string &path) {
    return [pid, path](const json &e) {
      return of_pid(e, pid) && e["event"]["action"] == "open" && e["file"]["path"] == path;
    };
  };
  json a = expect_alert(ev, "secret-read", 73, "high", open_of(shadow.pid, "/etc/shadow"));
  EXPECT_EQ(a["file"]["path"], "/etc/shadow");
  expect_no_alert(ev, "secret-read", [](const json &e) {
    return e["event"]["action"] == "open" && e.contains("file") && e["file"]["path"] == "/etc/shadow" &&
           e["process"].value("executable", "") == "/usr/bin/passwd";
  });

  json k = expect_alert(ev, "auth-config-change", 73, "high", open_of(keys_write.pid, keys));
  EXPECT_EQ(ev.at(k["ktrail"]["alert"]["trigger_sequences"][0].get<uint64_t>())["ktrail"]["file"]["intent"], "write");
  expect_no_alert(ev, "auth-config-change", open_of(keys_read.pid, keys));
  expect_alert(ev, "auth-config-change", 73, "high", open_of(sudo_write.pid, sudoers));
  expect_no_alert(ev, "auth-config-change", open_of(sudo_read.pid, sudoers));
}

TEST_F(RulesE2E, DangerousCapabilityOncePerExecutableButNotOtherCapabilities) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  HelperRun admin = helper("cap-sysadmin 65534");
  HelperRun admin2 = helper("cap-sysadmin 65534");
  HelperRun timecap = helper("cap-systime 65534");
  Events ev = stop(t);
  EXPECT_EQ(admin.err, EPERM);
  EXPECT_EQ(timecap.err, EPERM);
  auto capable_of = [](int pid, const std::string &cap) {
    return [pid, cap](const json &e) {
      return of_pid(e, pid) && e["event"]["action"] == "capable" && e["ktrail"]["capability"]["name"] == cap;
    };
  };
  json a = expect_alert(ev, "dangerous-capability", 73, "high", capable_of(admin.pid, "CAP_SYS_ADMIN"));
  EXPECT_EQ(a["ktrail"]["alert"]["capability"], "CAP_SYS_ADMIN");
  EXPECT_EQ(ev.at(a["ktrail"]["alert"]["trigger_sequences"][0].get<uint64_t>())["event"]["outcome"], "failure");
  // The second run's check is aggregated in the kernel and reported in the shutdown summary: a
  // repeat, not a new alert.
  expect_no_alert(ev, "dangerous-capability", [&](const json &e) {
    return (of_pid(e, admin.pid) || of_pid(e, admin2.pid)) && e["event"]["action"] == "capable" &&
           e["ktrail"]["capability"]["name"] == "CAP_SYS_ADMIN" && e["ktrail"]["capability"]["origin"] == "summary";
  });
  expect_no_alert(ev, "dangerous-capability", capable_of(timecap.pid, "CAP_SYS_TIME"));
}

// SIGHUP swaps the rules between two records while execs flow: every exec is in the stream,
// the sequence has no gap, alerts follow the old rules before and the new ones after; a broken
// file keeps the new rules and says so in-band.
TEST_F(RulesE2E, SighupReloadsWithoutLosingEvents) {
  const std::string rules = dir_ + "/rules.yaml";
  auto write_rule = [&](const std::string &id, const std::string &exe) {
    std::ofstream(rules + ".tmp") << "rules:\n  - id: " << id << "\n    name: " << id
                                  << "\n    severity: low\n    condition: event.action == \"exec\" and process.name == \""
                                  << exe << "\"\n";
    rename((rules + ".tmp").c_str(), rules.c_str());
  };
  write_rule("saw-true", "true");
  Agent t;
  ASSERT_TRUE(t.start({"--rules", rules})) << t.err();
  ASSERT_EQ(sh("for i in $(seq 100); do /bin/true; /bin/false; done; exit 0").rc, 0);
  write_rule("saw-false", "false");
  // Reload while execs run: the loop keeps going through it.
  auto loop = std::thread([] { sh("for i in $(seq 300); do /bin/true; /bin/false; done; exit 0"); });
  std::this_thread::sleep_for(100ms);
  kill(t.pid(), SIGHUP);
  loop.join();
  ASSERT_TRUE(wait_for([&] { return t.err().find("rules: reloaded, 1 active") != std::string::npos; }, 10s))
      << t.err();
  ASSERT_EQ(sh("for i in $(seq 50); do /bin/false; done; exit 0").rc, 0);
  std::ofstream(rules) << "rules:\n  - id: broken\n    name: B\n    severity: low\n    condition: process.nam == \"x\"\n";
  kill(t.pid(), SIGHUP);
  ASSERT_TRUE(wait_for([&] { return t.err().find("reload failed") != std::string::npos; }, 10s)) << t.err();
  ASSERT_EQ(sh("for i in $(seq 10); do /bin/false; done; exit 0").rc, 0);
  Events ev = stop(t);

  uint64_t prev = 0;
  for (const auto &e : ev.all) {
    uint64_t s = e["event"]["sequence"];
    if (prev) {
      EXPECT_EQ(s, prev + 1) << "gap in the sequence";
    }
    prev = s;
  }
  auto execs = [&](const std::string &name) {
    return ev.where([&](const json &e) {
      return e["event"]["kind"] == "event" && e["event"]["action"] == "exec" && e["process"]["name"] == name &&
             e["process"]["parent"].value("name", "") == "sh";
    });
  };
  EXPECT_EQ(execs("true").size(), 400u) << "an exec was lost around the reload";
  EXPECT_EQ(execs("false").size(), 460u) << "an exec was lost around the reload";
  auto trues = ev.alerts("saw-true"), falses = ev.alerts("saw-false");
  ASSERT_GE(trues.size(), 100u);
  ASSERT_GE(falses.size(), 60u);
  // One switch between two records, somewhere between the last saw-true alert (X) and the first
  // saw-false alert (Y): every `true` before X alerted under the old rule, every `false` from
  // Y's trigger on under the new one, and each alert directly follows its trigger.
  const uint64_t x = trues.back()["event"]["sequence"], y = falses.front()["event"]["sequence"];
  EXPECT_LT(x, y);
  size_t true_before = 0, false_after = 0;
  for (const auto &e : execs("true")) true_before += e["event"]["sequence"].get<uint64_t>() < x;
  for (const auto &e : execs("false")) false_after += e["event"]["sequence"].get<uint64_t>() >= y - 1;
  EXPECT_EQ(trues.size(), true_before);
  EXPECT_EQ(falses.size(), false_after);
  for (const auto *alerts : {&trues, &falses})
    for (const auto &a : *alerts) {
      const json &trig = ev.at(a["ktrail"]["alert"]["trigger_sequences"][0].get<uint64_t>());
      EXPECT_EQ(trig["process"]["name"], alerts == &trues ? "true" : "false");
      EXPECT_EQ(a["event"]["sequence"].get<uint64_t>(), trig["event"]["sequence"].get<uint64_t>() + 1);
    }
  // The broken file: an in-band notice with the error's position, and saw-false still active.
  auto notices = ev.alerts("ktrail.rules.reload_failed");
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0]["rule"]["description"],
            rules + ":5:16: unknown field 'process.nam' (did you mean 'process.name'?)");
  uint64_t notice_seq = notices[0]["event"]["sequence"];
  size_t after = 0;
  for (const auto &f : falses) after += f["event"]["sequence"].get<uint64_t>() > notice_seq;
  EXPECT_EQ(after, 10u);
}

TEST_F(RulesE2E, BrokenRuleFileStopsRunWithItsPosition) {
  const std::string rules = dir_ + "/bad.yaml";
  std::ofstream(rules) << "rules:\n  - id: x\n    name: X\n    severity: high\n    condition: process.name =~ \"(\"\n";
  auto r = sh(std::string(KTRAIL_BIN) + " run --chain-state none --duration 1 -o file:" + dir_ + "/out --rules " + rules);
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("rules: " + rules + ":5:32: invalid regular expression"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("tracing via"), std::string::npos) << "nothing may be traced without the rules";
  r = sh(std::string(KTRAIL_BIN) + " run --chain-state none --duration 1 -o file:" + dir_ + "/out --rules none --rules default");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("'none' cannot be combined"), std::string::npos) << r.out;
}

// ---- SSH: a real sshd, real wrong passwords, a real login -----------------------------

class RulesSsh : public RulesE2E {
 protected:
  static constexpr const char *kUser = "ktrulesu1";
  static constexpr const char *kPassword = "Kt-rules-pw-2291";
  void SetUp() override {
    RulesE2E::SetUp();
    if (IsSkipped()) return;
    for (const char *bin : {"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/sshpass"})
      if (access(bin, X_OK) != 0) GTEST_SKIP() << bin << " is missing: scripts/install-deps.sh test installs it";
    sh(std::string("userdel -r ") + kUser + " >/dev/null 2>&1");
    ASSERT_EQ(sh(std::string("useradd -m -s /bin/sh ") + kUser).rc, 0);
    ASSERT_EQ(sh(std::string("echo '") + kUser + ":" + kPassword + "' | chpasswd").rc, 0);
    ASSERT_TRUE(sshd_.start(dir_, "INFO")) << read_file(dir_ + "/sshd.out");
  }
  void TearDown() override {
    sshd_.stop();
    sh(std::string("pkill -KILL -u ") + kUser + "; userdel -r " + kUser + " >/dev/null 2>&1");
    RulesE2E::TearDown();
  }
  // n wrong passwords at once (each costs sshd's ~2 s PAM delay), then one right one.
  void attempts(int n, bool then_login) {
    std::vector<std::thread> th;
    for (int i = 0; i < n; i++)
      th.emplace_back([this] {
        sh("sshpass -p wrong-password ssh " + ktrail::test::password_opts(sshd_.port) + " " + kUser + "@127.0.0.1 true");
      });
    for (auto &x : th) x.join();
    if (then_login) {
      ASSERT_EQ(sh("sshpass -p '" + std::string(kPassword) + "' ssh " + ktrail::test::password_opts(sshd_.port) + " " +
                   kUser + "@127.0.0.1 true").rc, 0);
    }
  }
  ktrail::test::Sshd sshd_;
};

TEST_F(RulesSsh, LoginAfterFailureBurstButNotAfterAFewTypos) {
  auto auth = [](const std::string &outcome) {
    return [outcome](const json &e) {
      return e["event"]["action"] == "ssh_auth" && e["event"]["outcome"] == outcome &&
             e["source"]["ip"] == "127.0.0.1" && e["user"]["name"] == kUser;
    };
  };
  {
    // Benign twin: two typos, then the right password.
    Agent t;
    ASSERT_TRUE(t.start()) << t.err();
    attempts(2, true);
    Events ev = stop(t);
    auto failures = ev.where(auth("failure"));
    EXPECT_EQ(failures.size(), 2u) << Events::dump(failures) << "\nsshd's log:\n" << read_file(sshd_.log);
    expect_no_alert(ev, "ssh-fail-burst", auth("failure"));
    expect_no_alert(ev, "ssh-login-after-failures", auth("success"));
    // sshd's privilege-separation self-check (EPERMs on setuid(0)) is not an escalation attempt.
    EXPECT_FALSE(ev.where([](const json &e) {
                     return e.contains("ktrail") && e["ktrail"].contains("ssh") && e["ktrail"]["ssh"].value("self_check", false);
                   }).empty());
    expect_no_alert(ev, "setuid-root-denied", [](const json &e) {
      return e.contains("ktrail") && e["ktrail"].contains("ssh") && e["ktrail"]["ssh"].value("self_check", false);
    });
  }
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  attempts(5, true);
  Events ev = stop(t);
  auto failures = ev.where(auth("failure"));
  ASSERT_EQ(failures.size(), 5u) << Events::dump(failures) << "\nsshd's log:\n" << read_file(sshd_.log);
  json burst = expect_alert(ev, "ssh-fail-burst", 47, "medium", auth("failure"), 5);
  for (const auto &s : burst["ktrail"]["alert"]["trigger_sequences"])
    EXPECT_TRUE(auth("failure")(ev.at(s.get<uint64_t>())));
  EXPECT_EQ(burst["source"]["ip"], "127.0.0.1");
  EXPECT_EQ(burst["user"]["name"], kUser);
  json login = expect_alert(ev, "ssh-login-after-failures", 73, "high", auth("success"), 6);
  auto seqs = login["ktrail"]["alert"]["trigger_sequences"];
  for (size_t i = 0; i < 5; i++) EXPECT_EQ(seqs[i], burst["ktrail"]["alert"]["trigger_sequences"][i]);
  EXPECT_EQ(login["source"]["ip"], "127.0.0.1");
  EXPECT_EQ(login["user"]["name"], kUser);
}

// ---- containers: real podman, our own image --------------------------------------------

class RulesContainers : public RulesE2E {
 protected:
  static constexpr const char *kImage = "localhost/ktrail-rules-ct:test";
  void SetUp() override {
    RulesE2E::SetUp();
    if (IsSkipped()) return;
    for (const char *t : {"podman", "runc", "tar"})
      if (sh(std::string("command -v ") + t).rc != 0) GTEST_SKIP() << t << " is not installed (scripts/install-deps.sh test)";
    if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "busybox-static is not installed";
    for (const char *d : {"rootfs", "rootfs/etc", "rootfs/bin", "conf", "run", "graph", "tmp"})
      mkdir((dir_ + "/" + d).c_str(), 0755);
    // busybox as /bin/sh, our static probe twice: setuid root, and plain.
    ASSERT_EQ(sh("cp /bin/busybox " + dir_ + "/rootfs/bin/busybox && ln -s busybox " + dir_ + "/rootfs/bin/sh && "
                 "cp " KTRAIL_CT_PROBE " " + dir_ + "/rootfs/suid-probe && chmod 4755 " + dir_ + "/rootfs/suid-probe && "
                 "cp " KTRAIL_CT_PROBE " " + dir_ + "/rootfs/plain-probe").rc, 0);
    std::ofstream(dir_ + "/rootfs/etc/passwd") << "root:x:0:0:root:/:/bin/sh\nktctr:x:1000:1000::/:/bin/sh\n";
    std::ofstream(dir_ + "/rootfs/etc/group") << "root:x:0:\nktctr:x:1000:\n";
    std::ofstream(dir_ + "/conf/containers.conf")
        << "[containers]\nnetns=\"none\"\ndefault_ulimits=[\"nofile=1024:1024\",\"nproc=1024:1024\"]\n"
        << "[engine]\ncgroup_manager=\"cgroupfs\"\nevents_logger=\"file\"\nevents_logfile_path=\"" << dir_
        << "/tmp/events.log\"\nruntime=\"runc\"\ntmp_dir=\"" << dir_ << "/tmp\"\n";
    std::ofstream(dir_ + "/conf/storage.conf")
        << "[storage]\ndriver=\"vfs\"\nrunroot=\"" << dir_ << "/run\"\ngraphroot=\"" << dir_ << "/graph\"\n";
    setenv("CONTAINERS_CONF", (dir_ + "/conf/containers.conf").c_str(), 1);
    setenv("CONTAINERS_STORAGE_CONF", (dir_ + "/conf/storage.conf").c_str(), 1);
    ASSERT_EQ(sh("tar -C " + dir_ + "/rootfs -cf " + dir_ + "/img.tar . && podman import " + dir_ + "/img.tar " +
                 kImage + " >/dev/null").rc, 0);
  }
  void TearDown() override {
    if (!dir_.empty()) {
      sh("podman rm -af -t 0 >/dev/null 2>&1; podman rmi -af >/dev/null 2>&1");
      sh("grep -o ' " + dir_ + "[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l");
    }
    unsetenv("CONTAINERS_CONF");
    unsetenv("CONTAINERS_STORAGE_CONF");
    RulesE2E::TearDown();
  }
  std::string run(const std::string &args) {
    auto r = sh("podman run --rm " + args);
    EXPECT_EQ(r.rc, 0) << args << ": " << r.out;
    return r.out;
  }
};

TEST_F(RulesContainers, ShellWithATtyAndSetuidBinaryButNotScriptsOrPlainBinaries) {
  Agent t;
  ASSERT_TRUE(t.start()) << t.err();
  run(std::string("-t ") + kImage + " /bin/sh -c 'exit 0'");            // interactive shell
  run(std::string(kImage) + " /bin/sh -c 'exit 0'");                    // benign: a script, no tty
  run(std::string("--user 1000 ") + kImage + " /suid-probe");           // setuid binary as a user
  run(std::string("--user 1000 ") + kImage + " /plain-probe");          // benign: no setuid bit
  Events ev = stop(t);

  auto exec_of = [](const std::string &exe, bool tty) {
    return [exe, tty](const json &e) {
      return e["event"]["action"] == "exec" && e.contains("container") && e["process"].value("executable", "") == exe &&
             e["process"].contains("tty") == tty;
    };
  };
  json shell = expect_alert(ev, "container-interactive-shell", 73, "high", exec_of("/bin/sh", true));
  EXPECT_EQ(shell["container"]["runtime"], "podman");
  EXPECT_EQ(shell["container"]["id"].get<std::string>().size(), 64u);
  EXPECT_EQ(shell["process"]["name"], "sh");
  expect_no_alert(ev, "container-interactive-shell", exec_of("/bin/sh", false));

  json suid = expect_alert(ev, "container-setuid-exec", 73, "high", exec_of("/suid-probe", false));
  const json &trig = ev.at(suid["ktrail"]["alert"]["trigger_sequences"][0].get<uint64_t>());
  EXPECT_EQ(trig["ktrail"]["exec"]["secureexec"], true);
  EXPECT_EQ(trig["process"]["real_user"]["id"], 1000);
  EXPECT_EQ(trig["process"]["user"]["id"], 0);
  EXPECT_EQ(suid["container"]["id"], trig["container"]["id"]);
  expect_no_alert(ev, "container-setuid-exec", exec_of("/plain-probe", false));
}

}  // namespace
