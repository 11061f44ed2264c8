// OCSF 1.1.0 records (sinks/ocsf.cpp): every mapped class with its required attributes, for
// events decoded from raw kernel records where the kernel produces them; and a trail written in
// OCSF through the real pipeline and notary that `ktrail verify` accepts (and whose tampering
// it catches).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "decode/decode.h"
#include "integrity_helpers.h"
#include "ktrail/abi/events.h"
#include "sinks/format.h"
#include "sinks/ocsf.h"
#include "test_records.h"

namespace ktrail {
namespace {

using json = nlohmann::json;

const HostInfo kHost{"node-1", "0123456789abcdef0123456789abcdef", "", "6.1.0", "Debian GNU/Linux", "12", "debian"};
constexpr int64_t kRealtime = 1790000000123456789ll;

json ocsf(const Event &e) {
  std::string out;
  format_ocsf(e, kHost, out);
  EXPECT_EQ(out.rfind("{\"time\":", 0), 0u) << out;
  json j = json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  // The ktrail object is the last member (the chain inserts its hash there).
  EXPECT_EQ(out.substr(out.size() - 2), "}}");
  return j;
}

// What every OCSF record must carry (Base Event + this product's metadata).
void expect_base(const json &j, int category, int cls, int activity, const char *activity_name, uint64_t seq) {
  EXPECT_EQ(j["category_uid"], category);
  EXPECT_EQ(j["class_uid"], cls);
  EXPECT_EQ(j["activity_id"], activity);
  EXPECT_EQ(j["activity_name"], activity_name);
  EXPECT_EQ(j["type_uid"], cls * 100 + activity);
  EXPECT_TRUE(j["category_name"].is_string() && j["class_name"].is_string() && j["type_name"].is_string()) << j;
  EXPECT_EQ(j["time"], kRealtime / 1000000);
  EXPECT_TRUE(j["severity_id"].is_number_integer()) << j;
  EXPECT_TRUE(j["severity"].is_string()) << j;
  const json &m = j["metadata"];
  EXPECT_EQ(m["version"], "1.1.0");
  EXPECT_EQ(m["product"], (json{{"name", "ktrail"}, {"vendor_name", "ktrail"}, {"version", KTRAIL_VERSION}}));
  EXPECT_EQ(m["sequence"], seq);
  EXPECT_EQ(m["uid"], kHost.id + ":" + std::to_string(seq));
  EXPECT_EQ(j["device"], (json{{"hostname", "node-1"}, {"uid", kHost.id}, {"type_id", 0}, {"type", "Unknown"},
                               {"os", {{"name", "Debian GNU/Linux"}, {"type_id", 200}, {"type", "Linux"}, {"version", "12"}}}}));
  EXPECT_TRUE(j["unmapped"].is_object()) << j;
}

Event decoded(const std::vector<char> &raw) {
  Event e;
  DecodeResult r = decode_record(raw.data(), raw.size(), e);
  EXPECT_TRUE(r.ok) << r.error;
  e.realtime_ns = kRealtime;
  e.sequence = 42;
  return e;
}

TEST(Ocsf, ExecIsProcessLaunch) {
  std::string args("/usr/bin/id\0-u\0", 15);
  Event e = decoded(test::exec_record("/usr/bin/id", std::string("u\0home\0", 7), args, 0, 2));
  e.executable = "/usr/bin/id";
  e.parent_name = "bash";
  e.parent_executable = "/usr/bin/bash";
  e.user_name = "bob";
  e.start_realtime_ns = kRealtime - 5000000;
  json j = ocsf(e);
  expect_base(j, 1, 1007, 1, "Launch", 42);
  EXPECT_EQ(j["metadata"]["event_code"], "exec");
  EXPECT_EQ(j["severity_id"], 1);
  EXPECT_EQ(j["status_id"], 1);
  EXPECT_EQ(j["status"], "Success");
  const json &p = j["process"];
  EXPECT_EQ(p["pid"], 4242);
  EXPECT_EQ(p["tid"], 4243);
  EXPECT_EQ(p["name"], "bash");  // comm from the header
  EXPECT_EQ(p["cmd_line"], "/usr/bin/id -u");
  EXPECT_EQ(p["file"]["path"], "/usr/bin/id");
  EXPECT_EQ(p["file"]["name"], "id");
  EXPECT_EQ(p["file"]["parent_folder"], "/usr/bin");
  EXPECT_EQ(p["created_time"], (kRealtime - 5000000) / 1000000);
  EXPECT_EQ(p["user"], (json{{"uid", "1002"}, {"name", "bob"}}));  // euid
  EXPECT_EQ(p["parent_process"]["pid"], 1717);
  EXPECT_EQ(p["session"]["uid"], "7");
  // The actor of a launch is the parent that asked for it.
  EXPECT_EQ(j["actor"]["process"]["pid"], 1717);
  EXPECT_EQ(j["actor"]["process"]["name"], "bash");
  EXPECT_EQ(j["actor"]["user"]["uid"], "1002");
  EXPECT_EQ(j["actor"]["session"], (json{{"uid", "7"}, {"terminal", "pts/3"}}));
  EXPECT_EQ(j["unmapped"]["exec"]["filename"], "/usr/bin/id");
  EXPECT_EQ(j["unmapped"]["cgroup"]["id"], 0x5555666677778888ull);
}

TEST(Ocsf, FailedExecIsAFailedLaunchWithItsErrno) {
  Event e;
  e.kind = EventKind::ExecFailed;
  e.realtime_ns = kRealtime;
  e.sequence = 3;
  e.filename = "/nonexistent";
  e.ret = -2;
  e.syscall = KTRAIL_SYS_EXECVE;
  json j = ocsf(e);
  expect_base(j, 1, 1007, 1, "Launch", 3);
  EXPECT_EQ(j["status_id"], 2);
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["status_code"], "ENOENT");
  EXPECT_EQ(j["status_detail"], "No such file or directory");
  EXPECT_EQ(j["severity_id"], 2);
  EXPECT_EQ(j["file"]["path"], "/nonexistent");
}

TEST(Ocsf, ExitIsProcessTerminate) {
  Event e;
  e.kind = EventKind::Exit;
  e.realtime_ns = kRealtime;
  e.sequence = 9;
  e.proc.pid = e.proc.tid = 77;
  e.exit_code = 3 << 8;
  json j = ocsf(e);
  expect_base(j, 1, 1007, 2, "Terminate", 9);
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["status_id"], 2);  // a non-zero exit code
  EXPECT_EQ(j["process"]["pid"], 77);
  EXPECT_EQ(j["actor"]["process"]["pid"], 77);  // reflexive
}

TEST(Ocsf, CredentialChanges) {
  ktrail_cred c = test::cred_record(KTRAIL_SYS_SETRESUID, -1);
  Event e = decoded(test::bytes_of(&c, sizeof(c)));
  json j = ocsf(e);
  expect_base(j, 1, 1007, 5, "Set User ID", 42);
  EXPECT_EQ(j["metadata"]["event_code"], "setresuid");
  EXPECT_EQ(j["status_id"], 2);
  EXPECT_EQ(j["status_code"], "EPERM");
  EXPECT_EQ(j["process"]["pid"], 4242);
  EXPECT_EQ(j["unmapped"]["cred"]["syscall"], "setresuid");
  EXPECT_EQ(j["unmapped"]["cred"]["before"]["uid"], 11);

  c = test::cred_record(KTRAIL_SYS_SETGROUPS, 0);
  e = decoded(test::bytes_of(&c, sizeof(c)));
  j = ocsf(e);
  expect_base(j, 1, 1007, 99, "setgroups", 42);
  EXPECT_EQ(j["status_id"], 1);
}

TEST(Ocsf, CapabilityCheckIsProcessActivityOther) {
  Event e;
  e.kind = EventKind::Capable;
  e.realtime_ns = kRealtime;
  e.sequence = 5;
  e.cap.cap = 21;
  e.cap.ret = -1;
  e.cap.count = 4;
  json j = ocsf(e);
  expect_base(j, 1, 1007, 99, "Capability Check", 5);
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["unmapped"]["capability"]["name"], "CAP_SYS_ADMIN");
}

TEST(Ocsf, FileActivities) {
  struct Case {
    uint32_t syscall;
    int activity;
    const char *name;
  } cases[] = {{KTRAIL_SYS_OPENAT, 14, "Open"},        {KTRAIL_SYS_UNLINKAT, 4, "Delete"},
               {KTRAIL_SYS_RENAMEAT2, 5, "Rename"},    {KTRAIL_SYS_TRUNCATE, 3, "Update"},
               {KTRAIL_SYS_SETXATTR, 6, "Set Attributes"}, {KTRAIL_SYS_FCHMODAT, 7, "Set Security"},
               {KTRAIL_SYS_FCHOWN, 7, "Set Security"}};
  for (const Case &c : cases) {
    Event e;
    e.kind = EventKind::File;
    e.realtime_ns = kRealtime;
    e.sequence = 8;
    e.file.syscall = c.syscall;
    e.file.path = "/etc/shadow";
    if (c.activity == 5) e.file.new_path = "/etc/shadow.bak";
    e.proc.creds.euid = 0;
    json j = ocsf(e);
    SCOPED_TRACE(c.name);
    expect_base(j, 1, 1001, c.activity, c.name, 8);
    EXPECT_EQ(j["file"]["path"], "/etc/shadow");
    EXPECT_EQ(j["file"]["name"], "shadow");
    EXPECT_EQ(j["file"]["parent_folder"], "/etc");
    EXPECT_TRUE(j["file"]["type_id"].is_number_integer());
    if (c.activity == 5) EXPECT_EQ(j["file_result"]["path"], "/etc/shadow.bak");
    EXPECT_EQ(j["actor"]["user"]["uid"], "0");
    EXPECT_EQ(j["actor"]["process"]["pid"], 0);
    EXPECT_EQ(j["unmapped"]["file"]["syscall"], file_syscall_name(c.syscall));
  }
}

Event ssh_event(EventKind k) {
  Event e;
  e.kind = k;
  e.realtime_ns = kRealtime;
  e.sequence = 11;
  e.proc.pid = 900;
  e.proc.comm = "sshd";
  e.ssh.source = {"192.0.2.7", 50022};
  e.ssh.destination = {"127.0.0.1", 2222};
  e.ssh.user = "alice";
  return e;
}

TEST(Ocsf, SshIsAuthentication) {
  Event a = ssh_event(EventKind::SshAuth);
  a.ssh.method = "password";
  a.ret = 7;  // PAM_AUTH_ERR
  a.ssh.log_message = "Failed password for alice from 192.0.2.7 port 50022 ssh2";
  json j = ocsf(a);
  expect_base(j, 3, 3002, 1, "Logon", 11);
  EXPECT_EQ(j["status_id"], 2);
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["user"], (json{{"name", "alice"}}));
  EXPECT_EQ(j["src_endpoint"], (json{{"ip", "192.0.2.7"}, {"port", 50022}}));
  EXPECT_EQ(j["dst_endpoint"], (json{{"ip", "127.0.0.1"}, {"port", 2222}}));
  EXPECT_EQ(j["auth_protocol_id"], 99);
  EXPECT_EQ(j["auth_protocol"], "ssh password");
  EXPECT_EQ(j["logon_type_id"], 10);
  EXPECT_EQ(j["is_remote"], true);
  EXPECT_EQ(j["service"]["name"], "sshd");
  EXPECT_EQ(j["message"], a.ssh.log_message);
  EXPECT_EQ(j["actor"]["process"]["name"], "sshd");

  Event s = ssh_event(EventKind::SshSessionStart);
  s.ssh.uid = 1000;
  s.ssh.session_id = 12;
  s.ssh.tty = "pts/1";
  j = ocsf(s);
  expect_base(j, 3, 3002, 99, "Session Start", 11);
  EXPECT_EQ(j["status_id"], 1);
  EXPECT_EQ(j["user"], (json{{"name", "alice"}, {"uid", "1000"}}));
  EXPECT_EQ(j["session"], (json{{"uid", "12"}, {"terminal", "pts/1"}}));

  Event end = ssh_event(EventKind::SshSessionEnd);
  j = ocsf(end);
  expect_base(j, 3, 3002, 2, "Logoff", 11);

  Event acc = ssh_event(EventKind::SshAccept);
  j = ocsf(acc);
  expect_base(j, 4, 4001, 1, "Open", 11);
  EXPECT_EQ(j["connection_info"]["protocol_name"], "tcp");
}

TEST(Ocsf, LostIsABaseEventWithItsRange) {
  Event e;
  e.kind = EventKind::Lost;
  e.realtime_ns = kRealtime;
  e.sequence = 100;
  e.lost_hook = "syslog+tcp://h:514";
  e.lost_source = "spool";
  e.lost_count = 5;
  e.lost_first_sequence = 10;
  e.lost_last_sequence = 14;
  json j = ocsf(e);
  expect_base(j, 0, 0, 99, "lost", 100);
  EXPECT_EQ(j["metadata"]["event_code"], "lost");
  EXPECT_EQ(j["severity_id"], 3);
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["unmapped"]["lost"], (json{{"hook", "syslog+tcp://h:514"}, {"source", "spool"}, {"count", 5},
                                         {"first_sequence", 10}, {"last_sequence", 14}}));
  EXPECT_FALSE(j.contains("actor"));
}

TEST(Ocsf, RecordTimestampForBothSchemas) {
  EXPECT_EQ(record_timestamp("{\"@timestamp\":\"2026-11-26T16:42:59.120724008Z\",\"event\":{}}"),
            "2026-11-26T16:42:59.120724008Z");
  EXPECT_EQ(record_timestamp("{\"time\":1790000000123,\"metadata\":{}}"), format_rfc3339(1790000000123000000ll));
  EXPECT_EQ(record_timestamp("{\"other\":1}"), "");
}

// A whole OCSF trail through the real pipeline and notary: verify accepts it, its agent
// records are OCSF Base Events, and a one-byte change is caught.
TEST(OcsfTrail, VerifiesAndDetectsTampering) {
  test::TempDir d;
  test::AgentRun r;
  r.schema = Schema::Ocsf;
  r.outputs = {d / "trail.ndjson"};
  r.state = d / "chain.state";
  test::Keys keys = test::make_keys(d, "k");
  r.key = keys.key_path;
  ASSERT_NO_FATAL_FAILURE(test::run_agent(r));
  test::AgentRun again;  // a restart continues the chain
  again.schema = Schema::Ocsf;
  again.outputs = r.outputs;
  again.state = r.state;
  again.key = r.key;
  again.event_base = 100;
  ASSERT_NO_FATAL_FAILURE(test::run_agent(again));

  std::string text = test::read_file(d / "trail.ndjson");
  VerifyReport rep = test::verify_text(text, {&keys});
  EXPECT_EQ(rep.result, VerifyReport::Ok) << test::describe(rep);
  EXPECT_EQ(rep.restarts, 1u);
  EXPECT_GT(rep.checkpoints, 2u);
  EXPECT_GT(rep.lost_records, 0u);

  std::vector<std::string> lines = test::split_lines(text);
  size_t checkpoints = 0;
  for (const auto &l : lines) {
    json j = json::parse(l);
    ASSERT_TRUE(j.contains("metadata") && j.contains("unmapped")) << l;
    EXPECT_EQ(j["unmapped"]["chain"]["hash"].get<std::string>().size(), 64u);
    const std::string code = j["metadata"]["event_code"];
    if (code == "checkpoint" || code == "agent_start") {
      EXPECT_EQ(j["class_uid"], 0) << l;
      EXPECT_EQ(j["type_uid"], 99) << l;
      EXPECT_EQ(j["device"]["uid"], "0123456789abcdef0123456789abcdef") << l;
    }
    if (code == "checkpoint") {
      checkpoints++;
      EXPECT_EQ(j["unmapped"]["checkpoint"]["signature"].get<std::string>().size(), 128u) << l;
    }
  }
  EXPECT_EQ(checkpoints, rep.checkpoints);

  // Change one digit of a record's time: the chain no longer holds.
  std::vector<std::string> bad = lines;
  std::string &victim = bad[5];
  size_t at = victim.find("\"time\":") + 10;
  victim[at] = victim[at] == '7' ? '3' : '7';
  VerifyReport broken = test::verify_text(test::join_lines(bad), {&keys});
  ASSERT_TRUE(broken.failure) << test::describe(broken);
  EXPECT_EQ(broken.failure->kind, Damage::Modified) << test::describe(broken);
  EXPECT_EQ(broken.failure->sequence, test::seq_of(lines[5]));
}

}  // namespace
}  // namespace ktrail
