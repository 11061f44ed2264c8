// Alert rules: the expression language (precedence, every operator, errors with positions),
// the YAML loader, thresholds, first_seen, sequences, bounded state, reload, and alerts through
// the real pipeline (sequenced and chained after their trigger).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/log.h"
#include "ktrail/abi/events.h"
#include "pipeline/pipeline.h"
#include "rules/expr.h"
#include "rules/rules.h"
#include "sinks/format.h"
#include "temp_dir.h"

namespace ktrail {
namespace {

using json = nlohmann::json;
using rules::Expr;
using rules::ExprError;
using rules::RuleEngine;
using rules::RuleError;
using rules::RuleSet;

Event exec_event(const std::string &exe, uint32_t pid = 100) {
  Event e;
  e.kind = EventKind::Exec;
  e.proc.pid = pid;
  e.proc.comm = exe.substr(exe.rfind('/') + 1);
  e.executable = exe;
  e.filename = exe;
  e.args = {exe, "-c", "echo hi"};
  e.argc = 3;
  e.proc.creds = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
  e.user_name = "alice";
  return e;
}

Event ssh_auth(const std::string &ip, bool ok, uint64_t t_s, uint64_t seq) {
  Event e;
  e.kind = EventKind::SshAuth;
  e.ret = ok ? 0 : -1;
  e.ssh.source = {ip, 50000};
  e.ssh.user = "bob";
  e.ssh.method = "password";
  e.proc.comm = "sshd";
  e.executable = "/usr/sbin/sshd";
  e.boot_ns = t_s * 1000000000ull;
  e.sequence = seq;
  return e;
}

Event cred_event(uint32_t call, Creds before, Creds after, int64_t ret, uint64_t r0, uint64_t r1 = 0, uint64_t r2 = 0) {
  Event e;
  e.kind = EventKind::Cred;
  e.syscall = call;
  e.old_creds = before;
  e.proc.creds = after;
  e.ret = ret;
  e.req[0] = r0, e.req[1] = r1, e.req[2] = r2;
  e.proc.comm = "helper";
  e.executable = "/usr/local/bin/helper";
  return e;
}

bool eval(const std::string &src, const Event &e) {
  Expr x;
  ExprError err;
  EXPECT_TRUE(x.compile(src, err)) << src << ": " << err.message << " at " << err.offset;
  std::string scratch;
  return x.eval(e, scratch);
}

ExprError compile_error(const std::string &src) {
  Expr x;
  ExprError err;
  EXPECT_FALSE(x.compile(src, err)) << src;
  return err;
}

// ---- expression language -------------------------------------------------------------

TEST(RulesExpr, EveryComparisonOperator) {
  Event e = exec_event("/usr/bin/bash", 4242);
  EXPECT_TRUE(eval("process.pid == 4242", e));
  EXPECT_FALSE(eval("process.pid != 4242", e));
  EXPECT_TRUE(eval("process.pid != 1", e));
  EXPECT_TRUE(eval("process.pid < 4243", e));
  EXPECT_FALSE(eval("process.pid < 4242", e));
  EXPECT_TRUE(eval("process.pid <= 4242", e));
  EXPECT_TRUE(eval("process.pid > 4241", e));
  EXPECT_FALSE(eval("process.pid > 4242", e));
  EXPECT_TRUE(eval("process.pid >= 4242", e));
  EXPECT_TRUE(eval("process.user.id == 1000", e));
  EXPECT_TRUE(eval("process.name == \"bash\"", e));
  EXPECT_TRUE(eval("process.name == 'bash'", e));
  EXPECT_FALSE(eval("process.name != \"bash\"", e));
  EXPECT_TRUE(eval("process.pid == -1 or process.pid > -5", e));
}

TEST(RulesExpr, InListsGlobRegexAndExistence) {
  Event e = exec_event("/usr/bin/bash");
  EXPECT_TRUE(eval("process.name in [\"sh\", \"bash\"]", e));
  EXPECT_FALSE(eval("process.name in [\"sh\"]", e));
  EXPECT_TRUE(eval("process.name not in [\"sh\"]", e));
  EXPECT_TRUE(eval("process.user.id in [0, 1000]", e));
  EXPECT_TRUE(eval("process.executable matches \"/usr/*/bash\"", e));
  EXPECT_TRUE(eval("process.executable matches \"*bash\"", e));  // * crosses '/'
  EXPECT_FALSE(eval("process.executable matches \"/bin/*\"", e));
  EXPECT_TRUE(eval("process.executable matches \"/usr/bin/ba[rs]h\"", e));
  EXPECT_TRUE(eval("process.command_line =~ \"-c echo\"", e));
  EXPECT_TRUE(eval("process.executable =~ \"^/usr/bin/(ba|z)sh$\"", e));
  EXPECT_FALSE(eval("process.executable =~ \"^/bin/\"", e));
  EXPECT_TRUE(eval("process.executable =~ \"\\.?bash\"", e));
  EXPECT_TRUE(eval("exists(process.executable)", e));
  EXPECT_TRUE(eval("process.executable?", e));
  EXPECT_FALSE(eval("container.id?", e));
  EXPECT_FALSE(eval("exists(file.path)", e));
  EXPECT_TRUE(eval("ktrail.exec.privilege_change == false", e));
  EXPECT_FALSE(eval("ktrail.exec.privilege_change", e));
  EXPECT_TRUE(eval("not ktrail.exec.privilege_change", e));
}

TEST(RulesExpr, AbsentFieldsMakeComparisonsFalse) {
  Event e = exec_event("/bin/true");
  EXPECT_FALSE(eval("source.ip == \"1.2.3.4\"", e));
  EXPECT_FALSE(eval("source.ip != \"1.2.3.4\"", e)) << "a comparison with an absent field is false";
  EXPECT_TRUE(eval("not (source.ip == \"1.2.3.4\")", e));
  EXPECT_FALSE(eval("container.id in [\"x\"]", e));
  EXPECT_FALSE(eval("container.id matches \"*\"", e));
  EXPECT_FALSE(eval("container.id =~ \".*\"", e));
  EXPECT_FALSE(eval("ktrail.cred.before.uid != 0", e));
}

TEST(RulesExpr, PrecedenceNotAndOr) {
  Event e = exec_event("/bin/sh");  // name "sh", pid 100
  // and binds tighter than or: true or (false and false)
  EXPECT_TRUE(eval("process.name == \"sh\" or process.pid == 1 and process.pid == 2", e));
  // (true or false) and false
  EXPECT_FALSE(eval("(process.name == \"sh\" or process.pid == 1) and process.pid == 2", e));
  // not binds tighter than and: (not false) and true
  EXPECT_TRUE(eval("not process.pid == 1 and process.name == \"sh\"", e));
  EXPECT_FALSE(eval("not (process.pid == 100 and process.name == \"sh\")", e));
  EXPECT_TRUE(eval("not not process.pid == 100", e));
  // left to right: false or false or true
  EXPECT_TRUE(eval("process.pid == 1 or process.pid == 2 or process.pid == 100", e));
  EXPECT_TRUE(eval("((((process.pid == 100))))", e));
}

TEST(RulesExpr, ErrorsNameTheTokenAndItsOffset) {
  ExprError err = compile_error("process.name == \"sh\" and proces.pid == 1");
  EXPECT_EQ(err.offset, 25u);
  EXPECT_EQ(err.message, "unknown field 'proces.pid' (did you mean 'process.pid'?)");

  err = compile_error("process.pid == \"x\"");
  EXPECT_EQ(err.offset, 15u);
  EXPECT_EQ(err.message, "process.pid is a number; found string");

  err = compile_error("process.name < \"x\"");
  EXPECT_EQ(err.offset, 13u);
  EXPECT_NE(err.message.find("needs a number"), std::string::npos);

  err = compile_error("(process.pid == 1");
  EXPECT_EQ(err.offset, 17u);
  EXPECT_EQ(err.message, "expected ')', found end of condition");

  err = compile_error("process.pid == 1 process.pid == 2");
  EXPECT_EQ(err.offset, 17u);

  err = compile_error("process.name");
  EXPECT_EQ(err.offset, 12u);
  EXPECT_NE(err.message.find("is a string: compare it"), std::string::npos) << err.message;

  err = compile_error("process.name = \"x\"");
  EXPECT_EQ(err.offset, 13u);
  EXPECT_EQ(err.message, "unexpected '=' (did you mean '=='?)");

  err = compile_error("process.name == \"abc");
  EXPECT_EQ(err.offset, 16u);
  EXPECT_EQ(err.message, "unterminated string");

  err = compile_error("process.name =~ \"(\"");
  EXPECT_EQ(err.offset, 16u);
  EXPECT_NE(err.message.find("invalid regular expression"), std::string::npos);

  err = compile_error("process.pid matches \"1*\"");
  EXPECT_EQ(err.offset, 12u);

  err = compile_error("process.name in [\"a\",]");
  EXPECT_EQ(err.offset, 21u);
  EXPECT_EQ(err.message, "expected a value, found ']'");

  err = compile_error("process.pid == 99999999999999999999");
  EXPECT_EQ(err.offset, 15u);

  err = compile_error("process.name == \"x\" and not");
  EXPECT_EQ(err.offset, 27u);

  err = compile_error("exists(nope)");
  EXPECT_EQ(err.offset, 7u);

  err = compile_error("");
  EXPECT_EQ(err.offset, 0u);

  err = compile_error(std::string(100, '(') + "process.pid == 1" + std::string(100, ')'));
  EXPECT_NE(err.message.find("nested too deeply"), std::string::npos);
}

TEST(RulesExpr, ActionPrefilterIsDerivedFromTheCondition) {
  auto acts = [](const std::string &src) {
    Expr x;
    ExprError err;
    EXPECT_TRUE(x.compile(src, err)) << err.message;
    return x.actions();
  };
  EXPECT_EQ(acts("event.action == \"exec\" and process.name == \"sh\""), (std::set<std::string>{"exec"}));
  EXPECT_EQ(acts("event.action in [\"setuid\", \"setresuid\"] and process.pid > 1"),
            (std::set<std::string>{"setuid", "setresuid"}));
  EXPECT_EQ(acts("event.action == \"exec\" or event.action == \"exit\""), (std::set<std::string>{"exec", "exit"}));
  EXPECT_EQ(acts("event.action == \"exec\" or process.pid == 1"), std::nullopt);
  EXPECT_EQ(acts("not event.action == \"exec\""), std::nullopt);
  EXPECT_EQ(acts("event.action in [\"a\", \"b\"] and event.action == \"b\""), (std::set<std::string>{"b"}));
}

TEST(RulesExpr, FieldTableResolvesEcsNamesOfEveryEventKind) {
  Event c = cred_event(KTRAIL_SYS_SETRESUID, {1000, 1000, 1000, 1000, 0, 0, 0, 0},
                       {1000, 1000, 1000, 1000, 0, 0, 0, 0}, -1, 0, UINT32_MAX, 0);
  EXPECT_TRUE(eval("event.action == \"setresuid\" and event.outcome == \"failure\" and error.code == \"EPERM\"", c));
  EXPECT_TRUE(eval("ktrail.cred.requested.ruid == 0 and ktrail.cred.requested.euid == -1 and ktrail.cred.requested.suid == 0", c));
  EXPECT_FALSE(eval("ktrail.cred.requested.uid?", c)) << "setuid's argument is not setresuid's";
  EXPECT_TRUE(eval("ktrail.cred.before.uid == 1000 and not ktrail.ssh.self_check", c));

  Event f;
  f.kind = EventKind::File;
  f.file.syscall = KTRAIL_SYS_OPENAT;
  f.file.path = "/etc/shadow";
  f.file.arg_flags = 0;  // O_RDONLY
  f.executable = "/usr/bin/cat";
  EXPECT_TRUE(eval("event.action == \"open\" and file.path == \"/etc/shadow\" and file.name == \"shadow\" and "
                   "file.directory == \"/etc\" and ktrail.file.intent == \"read\"", f));

  Event k;
  k.kind = EventKind::Capable;
  k.cap.cap = 21;
  k.cap.ret = -1;
  EXPECT_TRUE(eval("ktrail.capability.name == \"CAP_SYS_ADMIN\" and ktrail.capability.id == 21 and "
                   "event.outcome == \"failure\" and not ktrail.capability.noise", k));

  Event s = ssh_auth("10.1.2.3", false, 1, 1);
  EXPECT_TRUE(eval("source.ip == \"10.1.2.3\" and source.port == 50000 and user.name == \"bob\" and "
                   "ktrail.ssh.method == \"password\"", s));

  Event x = exec_event("/bin/sh");
  x.container = std::make_shared<ContainerInfo>(ContainerInfo{"abc", "podman", "web", "img", {}, "", "", "", "", {}});
  x.session = {true, "ssh", "bob", {"10.0.0.9", 2222}, 5, "pts/1"};
  EXPECT_TRUE(eval("container.id == \"abc\" and container.name == \"web\" and container.image.name == \"img\" and "
                   "ktrail.session.user == \"bob\" and ktrail.session.source_ip == \"10.0.0.9\"", x));
  // Every field in the table has a unique name and resolves without crashing on an empty event.
  std::set<std::string> names;
  Event empty;
  std::string scratch;
  for (const auto &fd : rules::all_fields()) {
    EXPECT_TRUE(names.insert(fd.name).second) << fd.name;
    rules::Value v;
    fd.get(empty, v, scratch);
  }
}

// ---- loader --------------------------------------------------------------------------

std::vector<RuleError> load_errors(const std::string &yaml) {
  RuleSet set;
  std::vector<RuleError> errs;
  EXPECT_FALSE(rules::parse_rules(yaml, "t.yaml", set, errs)) << yaml;
  return errs;
}

TEST(RulesLoad, ConditionErrorsPointAtTheTokenInTheFile) {
  // Plain scalar.
  auto errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: process.pid == 1 and proces.name == \"x\"\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "t.yaml:5:37: unknown field 'proces.name' (did you mean 'process.name'?)");
  // Single-quoted scalar: the quote shifts the column by one.
  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: 'process.pid == 1 and proces.name == \"x\"'\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].line, 5);
  EXPECT_EQ(errs[0].column, 38);
  // Folded block scalar: the error is on the third line of the condition.
  errs = load_errors(
      "rules:\n  - id: a\n    name: A\n    severity: low\n    condition: >-\n      event.action == \"exec\"\n"
      "      and process.pid == 1\n      and process.name == 7\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "t.yaml:8:27: process.name is a string; found number");
}

TEST(RulesLoad, YamlAndSchemaErrorsHavePositions) {
  auto errs = load_errors("rules:\n  - id: a\n    name: [oops\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_GT(errs[0].line, 0);

  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: urgent\n    condition: process.pid == 1\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "t.yaml:4:15: severity must be low, medium, high or critical");

  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: process.pid == 1\n    treshold: {count: 2}\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "t.yaml:6:5: unknown rule key 'treshold'");

  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: process.pid == 1\n"
                     "    threshold: {count: 3, within: 5x, group_by: [source.ip]}\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].line, 6);
  EXPECT_EQ(errs[0].column, 35);
  EXPECT_NE(errs[0].message.find("duration"), std::string::npos);

  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: process.pid == 1\n"
                     "    first_seen: [process.exe]\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "t.yaml:6:18: first_seen: unknown field 'process.exe' (did you mean 'process.pid'?)");

  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: process.pid == 1\n"
                     "    after: {rule: nope, within: 1m}\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "t.yaml:6:19: after: no rule with id 'nope'");

  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: process.pid == 1\n"
                     "  - id: a\n    name: B\n    severity: low\n    condition: process.pid == 2\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "t.yaml:6:9: duplicate rule id 'a' (first defined at t.yaml:2)");

  // Several broken rules: every one is reported.
  errs = load_errors("rules:\n  - id: a\n    name: A\n    severity: low\n    condition: nope == 1\n"
                     "  - id: b\n    name: B\n    severity: low\n    condition: process.pid ==\n");
  EXPECT_EQ(errs.size(), 2u);
}

TEST(RulesLoad, DefaultPackLoadsAndEveryRuleIsDocumented) {
  RuleSet set;
  std::vector<RuleError> errs;
  ASSERT_TRUE(rules::load_rules({}, set, errs)) << (errs.empty() ? "" : errs[0].str());
  ASSERT_EQ(set.rules.size(), 9u);
  for (const auto &r : set.rules) {
    EXPECT_FALSE(r.description.empty()) << r.id;
    EXPECT_FALSE(r.false_positives.empty()) << r.id;
    // Every default rule but the catch-alls is pre-filtered by action.
    EXPECT_TRUE(r.condition.actions().has_value()) << r.id << " would run on every event";
  }
  RuleSet none;
  EXPECT_TRUE(rules::load_rules({"none"}, none, errs));
  EXPECT_TRUE(none.rules.empty());
  EXPECT_FALSE(rules::load_rules({"none", "default"}, none, errs));
  EXPECT_FALSE(rules::load_rules({"/nonexistent/rules.yaml"}, none, errs));
}

TEST(RulesCli, CheckPrintsPositionsAndExits2) {
  test::TempDir dir;
  dir.write("bad.yaml", "rules:\n  - id: a\n    name: A\n    severity: low\n    condition: >-\n"
                        "      event.action == \"exec\"\n      and proces.name == \"sh\"\n");
  dir.write("good.yaml", "rules:\n  - id: a\n    name: A\n    severity: low\n    condition: process.name?\n"
                         "    first_seen: [process.executable]\n");
  auto run = [](const std::string &args, int &rc) {
    std::string out;
    FILE *p = popen((std::string(KTRAIL_BINARY) + " rules check " + args + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    int st = pclose(p);
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
  };
  int rc = -1;
  std::string out = run(dir / "bad.yaml", rc);
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(out, dir / "bad.yaml" + ":7:11: unknown field 'proces.name' (did you mean 'process.name'?)\n");
  out = run(dir / "good.yaml" + " default", rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "OK: 10 rules (4 stateful) in 2 files\n");
  out = run(dir / "missing.yaml", rc);
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(out, dir / "missing.yaml" + ": cannot read the rule file\n");
}

// ---- engine --------------------------------------------------------------------------

std::shared_ptr<const RuleSet> ruleset(const std::string &yaml) {
  auto set = std::make_shared<RuleSet>();
  std::vector<RuleError> errs;
  EXPECT_TRUE(rules::parse_rules(yaml, "t.yaml", *set, errs)) << (errs.empty() ? "" : errs[0].str());
  return set;
}

const char *kSshRules = R"(rules:
  - id: burst
    name: Burst
    severity: medium
    condition: event.action == "ssh_auth" and event.outcome == "failure"
    threshold: {count: 3, within: 60s, group_by: [source.ip]}
  - id: after-burst
    name: Success after burst
    severity: high
    condition: event.action == "ssh_auth" and event.outcome == "success"
    after: {rule: burst, same: [source.ip], within: 10m}
)";

TEST(RulesEngine, ThresholdCountsPerGroupWithinTheWindow) {
  RuleEngine eng;
  eng.install(ruleset(kSshRules));
  std::vector<Event> out;
  uint64_t seq = 1;
  // Two sources interleaved: only A reaches 3 within 60 s.
  eng.observe(ssh_auth("10.0.0.1", false, 100, seq++), out);
  eng.observe(ssh_auth("10.0.0.2", false, 101, seq++), out);
  eng.observe(ssh_auth("10.0.0.1", false, 102, seq++), out);
  EXPECT_TRUE(out.empty());
  eng.observe(ssh_auth("10.0.0.1", false, 103, seq++), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, EventKind::Alert);
  EXPECT_EQ(out[0].alert->rule_id, "burst");
  EXPECT_EQ(out[0].alert->severity, 47);
  EXPECT_EQ(out[0].alert->trigger_sequences, (std::vector<uint64_t>{1, 3, 4}));
  // The window resets after an alert; old matches fall out of the window.
  out.clear();
  eng.observe(ssh_auth("10.0.0.2", false, 200, seq++), out);  // B: 101 is 99 s old
  eng.observe(ssh_auth("10.0.0.2", false, 201, seq++), out);
  EXPECT_TRUE(out.empty());
  eng.observe(ssh_auth("10.0.0.2", false, 202, seq++), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert->trigger_sequences, (std::vector<uint64_t>{5, 6, 7}));
}

TEST(RulesEngine, SequenceFiresOnlyAfterTheReferencedRuleForTheSameKey) {
  RuleEngine eng;
  eng.install(ruleset(kSshRules));
  std::vector<Event> out;
  // A success with no burst before: nothing.
  eng.observe(ssh_auth("10.0.0.1", true, 10, 1), out);
  EXPECT_TRUE(out.empty());
  for (uint64_t i = 0; i < 3; i++) eng.observe(ssh_auth("10.0.0.1", false, 20 + i, 2 + i), out);
  ASSERT_EQ(out.size(), 1u);
  out.clear();
  // Another source's success does not match.
  eng.observe(ssh_auth("10.0.0.9", true, 30, 5), out);
  EXPECT_TRUE(out.empty());
  eng.observe(ssh_auth("10.0.0.1", true, 31, 6), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert->rule_id, "after-burst");
  EXPECT_EQ(out[0].alert->trigger_sequences, (std::vector<uint64_t>{2, 3, 4, 6}));
  ASSERT_TRUE(out[0].alert->trigger);
  EXPECT_EQ(out[0].alert->trigger->ssh.source.ip, "10.0.0.1");
  // Consumed: a second success is not another alert.
  out.clear();
  eng.observe(ssh_auth("10.0.0.1", true, 32, 7), out);
  EXPECT_TRUE(out.empty());
  // Expired: a burst, then a success 11 minutes later.
  for (uint64_t i = 0; i < 3; i++) eng.observe(ssh_auth("10.0.0.1", false, 100 + i, 8 + i), out);
  out.clear();
  eng.observe(ssh_auth("10.0.0.1", true, 102 + 11 * 60, 11), out);
  EXPECT_TRUE(out.empty());
}

TEST(RulesEngine, FirstSeenFiresOncePerKeyAndStateIsBounded) {
  RuleEngine eng;
  eng.install(ruleset(R"(rules:
  - id: new-exe
    name: New executable
    severity: low
    condition: event.action == "exec"
    first_seen: [process.executable]
    max_keys: 2
)"));
  std::vector<Event> out;
  eng.observe(exec_event("/bin/a"), out);
  eng.observe(exec_event("/bin/a"), out);
  eng.observe(exec_event("/bin/b"), out);
  EXPECT_EQ(out.size(), 2u);
  eng.observe(exec_event("/bin/b"), out);
  EXPECT_EQ(out.size(), 2u);
  // A third key evicts the least recently used one (/bin/a): it counts as new again.
  eng.observe(exec_event("/bin/c"), out);
  EXPECT_EQ(out.size(), 3u);
  eng.observe(exec_event("/bin/b"), out);
  EXPECT_EQ(out.size(), 3u);
  eng.observe(exec_event("/bin/a"), out);
  EXPECT_EQ(out.size(), 4u);
}

TEST(RulesEngine, ThresholdStateIsBoundedByMaxKeys) {
  RuleEngine eng;
  eng.install(ruleset(R"(rules:
  - id: b
    name: B
    severity: low
    condition: event.action == "ssh_auth"
    threshold: {count: 2, within: 1h, group_by: [source.ip]}
    max_keys: 100
)"));
  std::vector<Event> out;
  // 10,000 distinct sources, one event each: no alert, and at most 100 keys kept, so the first
  // source's earlier match was forgotten.
  for (int i = 0; i < 10000; i++) eng.observe(ssh_auth("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), false, 1, i), out);
  EXPECT_TRUE(out.empty());
  eng.observe(ssh_auth("10.0.0.0", false, 2, 10001), out);
  EXPECT_TRUE(out.empty());
  eng.observe(ssh_auth("10.0.39.15", false, 2, 10002), out);  // the last source: still known
  EXPECT_EQ(out.size(), 1u);
}

TEST(RulesEngine, NeverDerivesFromAlerts) {
  RuleEngine eng;
  eng.install(ruleset("rules:\n  - id: all\n    name: All\n    severity: low\n    condition: event.sequence >= 0\n"));
  std::vector<Event> out;
  eng.observe(exec_event("/bin/a"), out);
  ASSERT_EQ(out.size(), 1u);
  std::vector<Event> again;
  eng.observe(out[0], again);
  EXPECT_TRUE(again.empty());
}

TEST(RulesEngine, ReloadKeepsStateOfUnchangedRulesOnly) {
  RuleEngine eng;
  eng.install(ruleset(kSshRules));
  std::vector<Event> out;
  eng.observe(ssh_auth("10.0.0.1", false, 1, 1), out);
  eng.observe(ssh_auth("10.0.0.1", false, 2, 2), out);
  // Same rules: the two failures are remembered.
  eng.install(ruleset(kSshRules));
  eng.observe(ssh_auth("10.0.0.1", false, 3, 3), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert->trigger_sequences, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(eng.hits()[0], (std::pair<std::string, uint64_t>{"burst", 1}));
  // Changed threshold: state starts empty.
  out.clear();
  eng.observe(ssh_auth("10.0.0.1", false, 4, 4), out);
  std::string changed = kSshRules;
  changed.replace(changed.find("count: 3"), 8, "count: 2");
  eng.install(ruleset(changed));
  eng.observe(ssh_auth("10.0.0.1", false, 5, 5), out);
  EXPECT_TRUE(out.empty());
  eng.observe(ssh_auth("10.0.0.1", false, 6, 6), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert->trigger_sequences, (std::vector<uint64_t>{5, 6}));
  // An empty set disables everything.
  out.clear();
  eng.install(std::make_shared<RuleSet>());
  eng.observe(ssh_auth("10.0.0.1", false, 7, 7), out);
  EXPECT_TRUE(out.empty());
}

TEST(RulesEngine, DefaultPackOnSyntheticEvents) {
  auto set = std::make_shared<RuleSet>();
  std::vector<RuleError> errs;
  ASSERT_TRUE(rules::load_rules({"default"}, *set, errs));
  RuleEngine eng;
  eng.install(set);
  auto fired = [&](const Event &e) {
    std::vector<Event> out;
    eng.observe(e, out);
    std::vector<std::string> ids;
    for (const auto &a : out) ids.push_back(a.alert->rule_id);
    return ids;
  };
  using V = std::vector<std::string>;
  const Creds user{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, root{};
  EXPECT_EQ(fired(cred_event(KTRAIL_SYS_SETUID, user, user, -1, 0)), V{"setuid-root-denied"});
  EXPECT_EQ(fired(cred_event(KTRAIL_SYS_SETRESUID, user, root, 0, 0, 0, 0)), V{"setuid-root-succeeded"});
  // Benign twins: a setuid-root binary (euid 0) becoming root; a user dropping to itself;
  // sshd's self-check.
  Creds suid_bin = user;
  suid_bin.euid = 0;
  EXPECT_EQ(fired(cred_event(KTRAIL_SYS_SETUID, suid_bin, root, 0, 0)), V{});
  EXPECT_EQ(fired(cred_event(KTRAIL_SYS_SETUID, user, user, 0, 1000)), V{});
  Event self = cred_event(KTRAIL_SYS_SETUID, user, user, -1, 0);
  self.ssh.self_check = true;
  EXPECT_EQ(fired(self), V{});

  Event ct = exec_event("/bin/sh");
  ct.container = std::make_shared<ContainerInfo>(ContainerInfo{"c1", "podman", "", "", {}, "", "", "", "", {}});
  EXPECT_EQ(fired(ct), V{}) << "no tty: a script, not an interactive shell";
  ct.tty = "pts/0";
  EXPECT_EQ(fired(ct), V{"container-interactive-shell"});
  Event bash = ct;
  bash.proc.comm = "exe";  // known by its path only
  bash.executable = "/usr/local/bin/bash";
  EXPECT_EQ(fired(bash), V{"container-interactive-shell"});
  Event ssh = ct;
  ssh.proc.comm = "ssh";
  ssh.executable = "/usr/bin/ssh";
  EXPECT_EQ(fired(ssh), V{}) << "an ssh client is not a shell";
  Event suid = exec_event("/usr/bin/ping");
  suid.container = ct.container;
  suid.exec_flags = KTRAIL_EXEC_SECUREEXEC | KTRAIL_EXEC_SECUREEXEC_KNOWN;
  EXPECT_EQ(fired(suid), V{"container-setuid-exec"});
  suid.container.reset();
  EXPECT_EQ(fired(suid), V{});

  Event shadow;
  shadow.kind = EventKind::File;
  shadow.file.syscall = KTRAIL_SYS_OPENAT;
  shadow.file.path = "/etc/shadow";
  shadow.executable = "/usr/bin/cat";
  EXPECT_EQ(fired(shadow), V{"secret-read"});
  shadow.executable = "/usr/bin/passwd";
  EXPECT_EQ(fired(shadow), V{});

  Event keys;
  keys.kind = EventKind::File;
  keys.file.syscall = KTRAIL_SYS_OPENAT;
  keys.file.path = "/home/u/.ssh/authorized_keys";
  keys.file.arg_flags = 01 | 02000;  // O_WRONLY|O_APPEND
  EXPECT_EQ(fired(keys), V{"auth-config-change"});
  keys.file.arg_flags = 0;
  EXPECT_EQ(fired(keys), V{}) << "reading authorized_keys is what sshd does";

  Event cap;
  cap.kind = EventKind::Capable;
  cap.cap.cap = 19;  // CAP_SYS_PTRACE
  cap.cap.origin = KTRAIL_CAP_FIRST;
  cap.executable = "/tmp/x";
  EXPECT_EQ(fired(cap), V{"dangerous-capability"});
  EXPECT_EQ(fired(cap), V{}) << "first_seen: once per executable and capability";
  cap.cap.cap = 7;  // CAP_SETUID
  cap.executable = "/tmp/y";
  EXPECT_EQ(fired(cap), V{});
  cap.cap.cap = 21;
  cap.cap.noise = true;
  EXPECT_EQ(fired(cap), V{});
  cap.cap.noise = false;
  cap.cap.origin = KTRAIL_CAP_SUMMARY;  // a repeat of a check already reported
  cap.executable = "/tmp/z";
  EXPECT_EQ(fired(cap), V{});
}

// ---- alerts through the pipeline -------------------------------------------------------

class CaptureSink : public Sink {
 public:
  CaptureSink(Format f, std::shared_ptr<std::vector<std::string>> into) : fmt_(f), into_(std::move(into)) {}
  Format format() const override { return fmt_; }
  bool write(const std::string &line) override {
    into_->push_back(line);
    return true;
  }
  bool flush() override { return true; }
  std::string describe() const override { return "capture"; }

 private:
  Format fmt_;
  std::shared_ptr<std::vector<std::string>> into_;
};

TEST(RulesPipeline, AlertIsEmittedRightAfterItsTriggerWithItsFields) {
  log::set_level(log::Level::Error);
  test::TempDir proc, etc;
  etc.write("passwd", "root:x:0:0::/:\n");
  etc.write("group", "root:x:0:\n");
  Enricher enricher(proc.path(), etc.path());
  auto lines = std::make_shared<std::vector<std::string>>();
  auto table = std::make_shared<std::vector<std::string>>();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<CaptureSink>(Format::Json, lines));
  sinks.push_back(std::make_unique<CaptureSink>(Format::Table, table));
  Pipeline p(HostInfo{"h", "id"}, enricher, std::move(sinks));
  RuleEngine eng;
  eng.install(ruleset(kSshRules));
  p.add_observer(&eng);
  for (int i = 0; i < 3; i++) {
    Event e = ssh_auth("192.0.2.7", false, 10 + i, 0);
    e.realtime_ns = 1700000000000000000ll + i;
    p.emit(e);
  }
  Event ok = ssh_auth("192.0.2.7", true, 20, 0);
  ok.session = {true, "ssh", "bob", {"192.0.2.7", 50000}, 9, ""};
  p.emit(ok);
  ASSERT_EQ(lines->size(), 6u);
  std::vector<json> ev;
  for (const auto &l : *lines) ev.push_back(json::parse(l));
  for (size_t i = 0; i < ev.size(); i++) EXPECT_EQ(ev[i]["event"]["sequence"], i + 1);
  const json &burst = ev[3];
  EXPECT_EQ(burst["event"]["kind"], "alert");
  EXPECT_EQ(burst["event"]["category"], json::array({"intrusion_detection"}));
  EXPECT_EQ(burst["event"]["action"], "alert");
  EXPECT_EQ(burst["event"]["severity"], 47);
  EXPECT_EQ(burst["rule"], json({{"id", "burst"}, {"name", "Burst"}}));
  EXPECT_EQ(burst["ktrail"]["alert"]["severity"], "medium");
  EXPECT_EQ(burst["ktrail"]["alert"]["trigger_sequences"], json::array({1, 2, 3}));
  EXPECT_EQ(burst["ktrail"]["alert"]["trigger_action"], "ssh_auth");
  EXPECT_EQ(burst["source"]["ip"], "192.0.2.7");
  EXPECT_EQ(burst["user"]["name"], "bob");
  EXPECT_EQ(burst["process"]["executable"], "/usr/sbin/sshd");
  EXPECT_EQ(burst["host"]["name"], "h");
  EXPECT_EQ(burst["@timestamp"], ev[2]["@timestamp"]) << "an alert carries its trigger's time";
  const json &after = ev[5];
  EXPECT_EQ(after["rule"]["id"], "after-burst");
  EXPECT_EQ(after["event"]["severity"], 73);
  EXPECT_EQ(after["ktrail"]["alert"]["trigger_sequences"], json::array({1, 2, 3, 5}));
  EXPECT_EQ(after["ktrail"]["session"]["user"], "bob");
  ASSERT_EQ(table->size(), 6u);
  EXPECT_NE((*table)[3].find("alert"), std::string::npos);
  EXPECT_NE((*table)[3].find("burst: Burst from 192.0.2.7 (seq 1,2,3)"), std::string::npos) << (*table)[3];
  EXPECT_NE((*table)[3].find("medium"), std::string::npos) << (*table)[3];
  log::set_level(log::Level::Info);
}

TEST(RulesPipeline, OcsfAlertIsADetectionFinding) {
  RuleEngine eng;
  eng.install(ruleset(kSshRules));
  std::vector<Event> out;
  for (uint64_t i = 0; i < 3; i++) eng.observe(ssh_auth("192.0.2.7", false, 10 + i, 7 + i), out);
  ASSERT_EQ(out.size(), 1u);
  out[0].sequence = 10;
  std::string line;
  format_record(Schema::Ocsf, out[0], HostInfo{"h", "hid"}, line);
  json j = json::parse(line);
  EXPECT_EQ(j["class_uid"], 2004);
  EXPECT_EQ(j["category_uid"], 2);
  EXPECT_EQ(j["activity_id"], 1);
  EXPECT_EQ(j["type_uid"], 200401);
  EXPECT_EQ(j["severity_id"], 3);  // medium
  EXPECT_EQ(j["finding_info"]["uid"], "hid:10");
  EXPECT_EQ(j["finding_info"]["title"], "Burst");
  EXPECT_EQ(j["finding_info"]["analytic"]["uid"], "burst");
  EXPECT_EQ(j["finding_info"]["related_events"],
            json::parse(R"([{"uid":"hid:7"},{"uid":"hid:8"},{"uid":"hid:9"}])"));
  EXPECT_EQ(j["actor"]["process"]["name"], "sshd");
  EXPECT_EQ(j["unmapped"]["alert"]["trigger_sequences"], json::array({7, 8, 9}));
  EXPECT_EQ(j["unmapped"]["alert"]["severity"], "medium");
}

TEST(RulesPipeline, ReloadFailureNoticeNamesEveryError) {
  std::vector<RuleError> errs = {{"r.yaml", 3, 7, "unknown field 'x'"}, {"r.yaml", 9, 1, "bad"}};
  Event n = rules::reload_failed_notice(errs, 5, 1700000000000000000ll);
  std::string out;
  format_json(n, HostInfo{"h", "id"}, out);
  json j = json::parse(out);
  EXPECT_EQ(j["event"]["kind"], "alert");
  EXPECT_EQ(j["rule"]["id"], "ktrail.rules.reload_failed");
  EXPECT_EQ(j["rule"]["description"], "r.yaml:3:7: unknown field 'x'; r.yaml:9:1: bad");
  EXPECT_EQ(j["ktrail"]["alert"]["trigger_sequences"], json::array());
  EXPECT_FALSE(j.contains("process"));
}

}  // namespace
}  // namespace ktrail
