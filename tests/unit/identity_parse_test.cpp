// Identity enrichment without privileges or network: cgroup paths of every runtime and
// driver, /proc/PID/cgroup on v1/v2/hybrid hosts, Engine API / Kubernetes / cloud documents,
// os-release, the cgroup record, process leaders and the JSON the identity adds.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "decode/decode.h"
#include "enrich/cgroup_map.h"
#include "enrich/cgroup_path.h"
#include "enrich/cloud.h"
#include "enrich/docker.h"
#include "enrich/host.h"
#include "enrich/identity.h"
#include "enrich/k8s.h"
#include "ktrail/abi/events.h"
#include "sinks/format.h"
#include "temp_dir.h"
#include "test_records.h"

namespace ktrail {
namespace {

using json = nlohmann::json;
const std::string kId = "4e6dd02500ac0f1c9e7d817889f9bf9c1912d9b405a46ed1e14aa439bed7e76e";
const std::string kUid = "8a3b1c52-6a4e-4d8a-9b51-0f2c9d7e1a33";
std::string underscored(std::string s) {
  for (char &c : s)
    if (c == '-') c = '_';
  return s;
}

struct PathCase {
  std::string path, runtime, id, pod_uid, qos;
};

TEST(CgroupPath, EveryRuntimeAndDriver) {
  const std::vector<PathCase> cases = {
      // docker, cgroupfs and systemd drivers; v1 paths look the same below the controller
      {"/docker/" + kId, "docker", kId, "", ""},
      {"/system.slice/docker-" + kId + ".scope", "docker", kId, "", ""},
      // podman: cgroupfs (this machine) and systemd, with the nested "container" cgroup
      {"/libpod_parent/libpod-" + kId, "podman", kId, "", ""},
      {"/machine.slice/libpod-" + kId + ".scope", "podman", kId, "", ""},
      {"/machine.slice/libpod-" + kId + ".scope/container", "podman", kId, "", ""},
      {"/machine.slice/libpod-conmon-" + kId + ".scope", "", "", "", ""},
      // cri-o
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + underscored(kUid) +
           ".slice/crio-" + kId + ".scope",
       "cri-o", kId, kUid, "burstable"},
      {"/kubepods.slice/kubepods-pod" + underscored(kUid) + ".slice/crio-conmon-" + kId + ".scope", "", "", kUid,
       "guaranteed"},
      // containerd CRI, systemd driver (pod uid escaped with '_'), every QoS class
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + underscored(kUid) +
           ".slice/cri-containerd-" + kId + ".scope",
       "containerd", kId, kUid, "besteffort"},
      {"/kubepods.slice/kubepods-pod" + underscored(kUid) + ".slice/cri-containerd-" + kId + ".scope",
       "containerd", kId, kUid, "guaranteed"},
      // kubelet cgroupfs driver: runtime unknown from the path
      {"/kubepods/burstable/pod" + kUid + "/" + kId, "cri", kId, kUid, "burstable"},
      {"/kubepods/pod" + kUid + "/" + kId, "cri", kId, kUid, "guaranteed"},
      {"/kubepods/besteffort/pod" + kUid + "/crio-" + kId, "cri-o", kId, kUid, "besteffort"},
      // systemd-escape style "\x2d"
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8a3b1c52\\x2d6a4e\\x2d4d8a\\x2d9b51\\x2d0f2c9d7e1a33.slice/cri-containerd-" +
           kId + ".scope",
       "containerd", kId, kUid, "burstable"},
      // pod sandbox-level cgroup: pod known, no container
      {"/kubepods/burstable/pod" + kUid, "", "", kUid, "burstable"},
      // plain containerd namespaces (ctr, nerdctl)
      {"/default/ktrail-ct-ctrd-1", "containerd", "ktrail-ct-ctrd-1", "", ""},
      {"/k8s.io/" + kId, "containerd", kId, "", ""},
      {"/moby/" + kId, "containerd", kId, "", ""},
      // not containers
      {"/", "", "", "", ""},
      {"/user.slice/user-0.slice/session-3.scope", "", "", "", ""},
      {"/system.slice/ssh.service", "", "", "", ""},
      {"/init.scope", "", "", "", ""},
      {"/libpod_parent/conmon", "", "", "", ""},
      {"/docker/not-hex", "", "", "", ""},
      {"/docker/" + kId.substr(0, 63), "", "", "", ""},
      // a two-level cgroup of some other tool is not a containerd container
      {"/ktrail-e2e/f2f33161eb96f6d5432a3d9f158dbf60", "", "", "", ""},
      {"/myapp/worker", "", "", "", ""},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(c.path);
    CgroupIdentity id = parse_cgroup_path(c.path);
    EXPECT_EQ(id.runtime, c.runtime);
    EXPECT_EQ(id.container_id, c.id);
    EXPECT_EQ(id.pod_uid, c.pod_uid);
    EXPECT_EQ(id.qos_class, c.qos);
  }
  EXPECT_EQ(parse_cgroup_path("/default/x1").ctr_namespace, "default");
}

TEST(CgroupPath, ProcPidCgroupOnV2V1AndHybrid) {
  // Pure v2.
  EXPECT_EQ(pick_cgroup_path("0::/system.slice/docker-" + kId + ".scope\n"),
            "/system.slice/docker-" + kId + ".scope");
  // v1 only: the first controller path naming a container.
  std::string v1 = "12:pids:/docker/" + kId + "\n11:cpu,cpuacct:/docker/" + kId + "\n1:name=systemd:/docker/" + kId + "\n";
  EXPECT_EQ(pick_cgroup_path(v1), "/docker/" + kId);
  // Hybrid, runtime created no cgroup2 directory: v1 wins over the unified root.
  EXPECT_EQ(pick_cgroup_path("5:memory:/libpod_parent/libpod-" + kId + "\n0::/\n"), "/libpod_parent/libpod-" + kId);
  // Hybrid, both: the cgroup2 path.
  EXPECT_EQ(pick_cgroup_path("5:memory:/libpod_parent/libpod-" + kId + "\n0::/libpod_parent/libpod-" + kId + "\n"),
            "/libpod_parent/libpod-" + kId);
  // Host process: the cgroup2 path.
  EXPECT_EQ(pick_cgroup_path("1:name=systemd:/user.slice\n0::/user.slice/session-1.scope\n"),
            "/user.slice/session-1.scope");
  // A path containing ':'.
  EXPECT_EQ(pick_cgroup_path("0::/a:b\n"), "/a:b");
}

TEST(CgroupMap, SeedWalksInodesAndReapsGoneDirectories) {
  test::TempDir d;
  std::filesystem::create_directories(d.path() + "/libpod_parent/libpod-" + kId);
  CgroupMap m(d.path());
  EXPECT_EQ(m.seed(), 3u);
  struct stat st;
  ASSERT_EQ(stat((d.path() + "/libpod_parent/libpod-" + kId).c_str(), &st), 0);
  ASSERT_NE(m.find(st.st_ino), nullptr);
  EXPECT_EQ(*m.find(st.st_ino), "/libpod_parent/libpod-" + kId);
  ASSERT_EQ(stat(d.path().c_str(), &st), 0);
  EXPECT_EQ(*m.find(st.st_ino), "/");
  // A kernel record for a cgroup already gone: kept for the grace period, then reaped.
  m.add(999999999, "/default/gone", 1000);
  EXPECT_EQ(m.reap(1000 + 5, 10), 0u);
  ASSERT_NE(m.find(999999999), nullptr);
  EXPECT_EQ(m.reap(1000 + 10, 10), 1u);
  EXPECT_EQ(m.find(999999999), nullptr);
  EXPECT_EQ(m.size(), 3u);
  // Bounded.
  CgroupMap small("", 2);
  small.add(1, "/a", 0), small.add(2, "/b", 0), small.add(3, "/c", 0);
  EXPECT_EQ(small.size(), 2u);
}

TEST(CgroupRecord, DecodesApartFromEvents) {
  ktrail_cgroup c;
  std::memset(&c, 0, sizeof(c));
  test::fill_header(c.hdr, KTRAIL_EV_CGROUP, sizeof(c));
  c.id = 4242;
  c.op = KTRAIL_CGROUP_MKDIR;
  c.level = 2;
  std::string p = "/libpod_parent/libpod-" + kId;
  std::memcpy(c.path, p.data(), p.size());
  c.path_len = static_cast<__u32>(p.size());
  CgroupRecord r;
  DecodeResult res;
  ASSERT_TRUE(decode_cgroup_record(&c, sizeof(c), r, res));
  EXPECT_TRUE(res.ok);
  EXPECT_EQ(r.id, 4242u);
  EXPECT_EQ(r.level, 2u);
  EXPECT_EQ(r.path, p);
  // Short or lying records are rejected, other types are not cgroup records.
  EXPECT_TRUE(decode_cgroup_record(&c, sizeof(c) - 8, r, res));
  EXPECT_FALSE(res.ok);
  c.path_len = KTRAIL_PATH_MAX;
  EXPECT_TRUE(decode_cgroup_record(&c, sizeof(c), r, res));
  EXPECT_FALSE(res.ok);
  ktrail_exit x;
  std::memset(&x, 0, sizeof(x));
  test::fill_header(x.hdr, KTRAIL_EV_EXIT, sizeof(x));
  EXPECT_FALSE(decode_cgroup_record(&x, sizeof(x), r, res));
  EXPECT_STREQ(hook_name(KTRAIL_HOOK_CGROUP), "cgroup");
}

TEST(DockerApi, InspectListAndEvents) {
  DockerMeta m;
  ASSERT_TRUE(parse_docker_inspect(
      R"({"Id":")" + kId + R"(","Name":"/web","Config":{"Image":"nginx:1.25","Labels":{"b":"2","a":"1","n":null}},"State":{"Pid":42}})",
      m));
  EXPECT_EQ(m.id, kId);
  EXPECT_EQ(m.name, "web");
  EXPECT_EQ(m.image, "nginx:1.25");
  EXPECT_EQ(m.labels, (Labels{{"a", "1"}, {"b", "2"}}));
  EXPECT_FALSE(parse_docker_inspect(R"({"message":"no such container"})", m));
  EXPECT_FALSE(parse_docker_inspect("not json", m));
  auto l = parse_docker_list(R"([{"Id":"x1","Names":["/one"],"Image":"i1","Labels":{"k":"v"}},{"Names":["/noid"]}])");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].name, "one");
  EXPECT_EQ(l[0].labels, (Labels{{"k", "v"}}));
  EXPECT_EQ(docker_event_container(R"({"Type":"container","Action":"create","Actor":{"ID":"abc"}})"), "abc");
  EXPECT_EQ(docker_event_container(R"({"status":"start","id":"def","Type":"container"})"), "def");
  EXPECT_EQ(docker_event_container(R"({"Type":"container","Action":"die","Actor":{"ID":"abc"}})"), "");
  EXPECT_EQ(docker_event_container(R"({"Type":"image","Action":"create","Actor":{"ID":"abc"}})"), "");
}

json pod_json(const std::string &uid, const std::string &name, const std::string &rv, const std::string &cid) {
  return {{"metadata",
           {{"uid", uid}, {"name", name}, {"namespace", "shop"}, {"resourceVersion", rv},
            {"labels", {{"app", name}, {"tier", "web"}}}}},
          {"spec", {{"nodeName", "node-1"}}},
          {"status",
           {{"containerStatuses",
             json::array({{{"name", "main"}, {"image", "registry/" + name + ":1"}, {"containerID", "containerd://" + cid}}})},
            {"initContainerStatuses", json::array({{{"name", "init"}, {"image", "busybox"}, {"containerID", "cri-o://i" + cid}}})}}}};
}

TEST(Kubernetes, ListThenWatchEventsThen410) {
  PodStore s;
  std::string rv, err;
  json list = {{"kind", "PodList"}, {"metadata", {{"resourceVersion", "100"}}},
               {"items", json::array({pod_json("u1", "cart", "90", kId)})}};
  ASSERT_TRUE(s.apply_list(list.dump(), rv, err)) << err;
  EXPECT_EQ(rv, "100");
  const PodContainer *pc = nullptr;
  auto p = s.by_container(kId, &pc);
  ASSERT_TRUE(p);
  ASSERT_TRUE(pc);
  EXPECT_EQ(p->name, "cart");
  EXPECT_EQ(p->ns, "shop");
  EXPECT_EQ(p->labels, (Labels{{"app", "cart"}, {"tier", "web"}}));
  EXPECT_EQ(pc->name, "main");
  EXPECT_EQ(pc->image, "registry/cart:1");
  EXPECT_EQ(pc->runtime, "containerd");
  ASSERT_TRUE(s.by_container("i" + kId, &pc));
  EXPECT_EQ(pc->runtime, "cri-o");
  EXPECT_EQ(pc->name, "init");

  uint64_t v = s.version();
  json added = {{"type", "ADDED"}, {"object", pod_json("u2", "pay", "101", "c2")}};
  EXPECT_EQ(s.apply_watch_line(added.dump(), rv, err), PodStore::WatchResult::Applied);
  EXPECT_EQ(rv, "101");
  EXPECT_GT(s.version(), v);
  EXPECT_EQ(s.size(), 2u);
  // MODIFIED replaces the container index: the old id no longer maps.
  json mod = {{"type", "MODIFIED"}, {"object", pod_json("u2", "pay", "102", "c3")}};
  EXPECT_EQ(s.apply_watch_line(mod.dump(), rv, err), PodStore::WatchResult::Applied);
  EXPECT_FALSE(s.by_container("c2", nullptr));
  EXPECT_TRUE(s.by_container("c3", nullptr));
  json bm = {{"type", "BOOKMARK"}, {"object", {{"kind", "Pod"}, {"metadata", {{"resourceVersion", "150"}}}}}};
  EXPECT_EQ(s.apply_watch_line(bm.dump(), rv, err), PodStore::WatchResult::Bookmark);
  EXPECT_EQ(rv, "150");
  json del = {{"type", "DELETED"}, {"object", pod_json("u2", "pay", "151", "c3")}};
  EXPECT_EQ(s.apply_watch_line(del.dump(), rv, err), PodStore::WatchResult::Applied);
  EXPECT_FALSE(s.by_uid("u2"));
  EXPECT_EQ(rv, "151");
  json gone = {{"type", "ERROR"},
               {"object", {{"kind", "Status"}, {"status", "Failure"}, {"message", "too old resource version: 1 (151)"},
                           {"reason", "Expired"}, {"code", 410}}}};
  EXPECT_EQ(s.apply_watch_line(gone.dump(), rv, err), PodStore::WatchResult::Gone);
  json other = {{"type", "ERROR"}, {"object", {{"kind", "Status"}, {"code", 500}, {"message", "boom"}}}};
  EXPECT_EQ(s.apply_watch_line(other.dump(), rv, err), PodStore::WatchResult::Error);
  EXPECT_EQ(s.apply_watch_line("{garbage", rv, err), PodStore::WatchResult::Error);
  EXPECT_EQ(s.apply_watch_line("", rv, err), PodStore::WatchResult::Ignored);
  EXPECT_FALSE(s.apply_list(R"({"kind":"Status","code":401})", rv, err));
  // A re-list replaces everything.
  json list2 = {{"metadata", {{"resourceVersion", "300"}}}, {"items", json::array()}};
  ASSERT_TRUE(s.apply_list(list2.dump(), rv, err));
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.by_container(kId, nullptr));
}

TEST(Kubernetes, InClusterDefaults) {
  test::TempDir d;
  std::ofstream(d.path() + "/token") << "tok\n";
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  setenv("NODE_NAME", "node-7", 1);
  KubeConfig c;
  kube_config_defaults(c, d.path());
  EXPECT_EQ(c.api_url, "https://10.96.0.1:6443");
  EXPECT_EQ(c.token_file, d.path() + "/token");
  EXPECT_EQ(c.ca_file, d.path() + "/ca.crt");
  EXPECT_EQ(c.node_name, "node-7");
  EXPECT_TRUE(c.enabled());
  KubeConfig none;
  kube_config_defaults(none, d.path() + "/absent");
  EXPECT_TRUE(none.api_url.empty()) << "no token, not in a cluster";
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  unsetenv("NODE_NAME");
}

TEST(Cloud, Documents) {
  CloudInfo c;
  ASSERT_TRUE(parse_aws_identity(R"({"accountId":"123456789012","architecture":"x86_64","availabilityZone":"eu-west-1b",
    "imageId":"ami-0abc","instanceId":"i-0123456789abcdef0","instanceType":"m5.large","privateIp":"10.0.0.5",
    "region":"eu-west-1","version":"2017-09-30"})", c));
  EXPECT_EQ(c.provider, "aws");
  EXPECT_EQ(c.instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(c.region, "eu-west-1");
  EXPECT_EQ(c.availability_zone, "eu-west-1b");
  EXPECT_EQ(c.account_id, "123456789012");
  EXPECT_EQ(c.machine_type, "m5.large");
  EXPECT_FALSE(parse_aws_identity("{}", c));
  c = gcp_info("4520031799277581759", "projects/123456/zones/us-central1-a", "projects/123456/machineTypes/e2-medium", "my-proj");
  EXPECT_EQ(c.provider, "gcp");
  EXPECT_EQ(c.availability_zone, "us-central1-a");
  EXPECT_EQ(c.region, "us-central1");
  EXPECT_EQ(c.machine_type, "e2-medium");
  EXPECT_EQ(c.account_id, "my-proj");
  ASSERT_TRUE(parse_azure_instance(R"({"compute":{"location":"westeurope","zone":"2","vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6",
    "subscriptionId":"8d10da13-8125-4ba9-a717-bf7490507b3d","vmSize":"Standard_D2s_v3"},"network":{}})", c));
  EXPECT_EQ(c.provider, "azure");
  EXPECT_EQ(c.instance_id, "02aab8a4-74ef-476e-8182-f6d2ba4166a6");
  EXPECT_EQ(c.region, "westeurope");
  EXPECT_EQ(c.availability_zone, "2");
  EXPECT_EQ(c.account_id, "8d10da13-8125-4ba9-a717-bf7490507b3d");
  EXPECT_EQ(c.machine_type, "Standard_D2s_v3");
  EXPECT_FALSE(parse_azure_instance(R"({"compute":{}})", c));
  CloudMode m;
  EXPECT_TRUE(parse_cloud_mode("off", m));
  EXPECT_EQ(m, CloudMode::Off);
  EXPECT_FALSE(parse_cloud_mode("ibm", m));
}

TEST(Host, OsRelease) {
  std::string osr = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"
                    "X='it''s'\n";
  EXPECT_EQ(os_release_value(osr, "NAME"), "Debian GNU/Linux");
  EXPECT_EQ(os_release_value(osr, "VERSION_ID"), "12");
  EXPECT_EQ(os_release_value(osr, "ID"), "debian");
  EXPECT_EQ(os_release_value(osr, "MISSING"), "");
  HostInfo h = HostInfo::detect();
  EXPECT_FALSE(h.boot_id.empty());
  EXPECT_FALSE(h.os_kernel.empty());
}

// A DaemonSet pod has its own UTS namespace: uname says the pod's name, not the node's.
TEST(Host, NameInsideAPod) {
  EXPECT_EQ(choose_host_name(true, "node-a", "etc-name\n", "vm"), "vm");
  EXPECT_EQ(choose_host_name(false, "node-a", "etc-name\n", "ktrail-x7b2"), "node-a");
  EXPECT_EQ(choose_host_name(false, "", "etc-name\n", "ktrail-x7b2"), "etc-name");
  EXPECT_EQ(choose_host_name(false, "", "  \n", "ktrail-x7b2"), "ktrail-x7b2");
  EXPECT_EQ(choose_host_name(false, "", "", "ktrail-x7b2"), "ktrail-x7b2");
}

TEST(Leaders, EntryAndSessionLeader) {
  ProcTable t;
  auto add = [&](uint32_t pid, uint32_t ppid, const char *comm, uint32_t sid, uint32_t ns = 1) {
    ProcInfo p;
    p.ppid = ppid, p.comm = comm, p.executable = std::string("/usr/bin/") + comm, p.sid = sid, p.pid_ns = ns;
    p.start_boot_ns = pid * 1000ull;
    t.upsert(pid, p);
  };
  add(1, 0, "systemd", 1);
  add(100, 1, "sshd", 100);
  add(200, 100, "sshd", 200);   // per-connection sshd: entry service
  add(300, 200, "bash", 300);   // the login shell: entry and session leader
  add(400, 300, "make", 300);
  add(500, 400, "cc", 300);
  Event e;
  e.proc.pid = 500;
  fill_leaders(e, t);
  EXPECT_EQ(e.entry_leader.pid, 300u);
  EXPECT_EQ(e.entry_leader.name, "bash");
  EXPECT_EQ(e.entry_leader.start_boot_ns, 300000u);
  EXPECT_EQ(e.session_leader.pid, 300u);
  // A container's first process (another pid namespace) leads what runs inside it.
  add(600, 1, "conmon", 600);
  add(700, 600, "app", 700, 2);
  add(800, 700, "worker", 700, 2);
  Event c;
  c.proc.pid = 800;
  fill_leaders(c, t);
  EXPECT_EQ(c.entry_leader.pid, 700u);
  // A service started by init leads itself.
  Event s;
  s.proc.pid = 100;
  fill_leaders(s, t);
  EXPECT_EQ(s.entry_leader.pid, 100u);
  // Unknown ancestry: no guess.
  add(900, 12345, "orphan", 0);
  Event o;
  o.proc.pid = 900;
  fill_leaders(o, t);
  EXPECT_EQ(o.entry_leader.pid, 0u);
  EXPECT_EQ(o.session_leader.pid, 0u);
}

TEST(ProcTableBound, CapacityEvictsAndReapRemovesDead) {
  test::TempDir d;  // an empty /proc: every entry is "dead"
  ProcTable t;
  t.set_capacity(4);
  EXPECT_EQ(t.reap(d.path()), 0u);
  for (uint32_t p = 2; p < 10; p++) {
    ProcInfo i;
    i.comm = "x";
    t.upsert(p, i);
    EXPECT_LE(t.size(), 4u);
  }
  EXPECT_EQ(t.reap(d.path()), t.size() == 0 ? 0u : t.size());
  EXPECT_EQ(t.size(), 0u);
  // Live processes survive a reap; a reused pid (other start time) does not.
  ProcTable live;
  ProcInfo self;
  uint64_t start;
  uint32_t sid;
  ASSERT_TRUE(ProcTable::read_stat("/proc", getpid(), start, sid));
  self.start_boot_ns = start;
  live.upsert(getpid(), self);
  self.start_boot_ns = start + 5000000000ull;
  live.upsert(1, self);
  EXPECT_EQ(live.reap("/proc"), 1u);
  EXPECT_TRUE(live.find(getpid()));
}

TEST(IdentityPerPid, ExecInItsParentsNamespacesTakesTheParentsCgroups) {
  // A v1 host (no cgroup2 under this sys/fs/cgroup): identity comes from /proc/PID/cgroup.
  test::TempDir root;
  root.write("sys/fs/cgroup/.keep", "");
  root.write("proc/500/cgroup", "5:memory:/user.slice\n");
  std::filesystem::create_directories(root / "proc/500/ns");
  std::filesystem::create_symlink("pid:[4026531836]", root / "proc/500/ns/pid");
  std::filesystem::create_symlink("mnt:[4026531841]", root / "proc/500/ns/mnt");
  // Children of 500 that a runtime moved into a container's cgroups.
  for (const char *pid : {"501", "502", "503", "504"})
    root.write(std::string("proc/") + pid + "/cgroup", "5:memory:/docker/" + kId + "\n");
  IdentityConfig cfg;
  cfg.docker_sockets = {};
  cfg.kube_auto = false;
  cfg.cloud = CloudMode::Off;
  cfg.sys_fs_cgroup = root.path() + "/sys/fs/cgroup";
  cfg.proc_root = root.path() + "/proc";
  IdentityEnricher id(cfg);
  ASSERT_EQ(id.layout(), CgroupLayout::V1);
  auto exec = [&](uint32_t pid, uint32_t ppid, uint32_t pid_ns, uint32_t mnt_ns) {
    Event e;
    e.kind = EventKind::Exec;
    e.proc.pid = pid;
    e.proc.ppid = ppid;
    e.proc.pid_ns = pid_ns;
    e.proc.mnt_ns = mnt_ns;
    id.enrich(e);
    return e.container;
  };
  // In its parent's namespaces: its parent's cgroups, without reading its own (this file says
  // otherwise, which no runtime produces for a process that shares its parent's namespaces).
  EXPECT_FALSE(exec(501, 500, 4026531836u, 4026531841u));
  Event ex;
  ex.kind = EventKind::Exit;
  ex.proc.pid = 501;
  ex.proc.ppid = 500;
  id.enrich(ex);
  EXPECT_FALSE(ex.container) << "later records of 501 keep its entry";
  // A mount namespace of its own (a container's init, or a process that joined one): read.
  auto c = exec(502, 500, 4026531836u, 4026532100u);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->runtime, "docker");
  // Namespaces not in the record, or a parent that cannot be resolved: read.
  c = exec(503, 500, 0, 0);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kId);
  c = exec(504, 9999, 4026531836u, 4026531841u);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kId);
}

TEST(IdentityJson, ContainerPodCloudLeadersHost) {
  Event e;
  e.kind = EventKind::Exec;
  e.proc.pid = 7;
  e.boot_ns = 2000000000;
  e.realtime_ns = 1700000000000000000;
  auto c = std::make_shared<ContainerInfo>();
  c->id = kId, c->runtime = "containerd", c->name = "main", c->image = "registry/cart:1";
  c->labels = {{"a\"quote", "v"}};
  c->pod_uid = kUid, c->qos_class = "burstable", c->pod_name = "cart", c->pod_namespace = "shop";
  c->pod_labels = {{"app", "cart"}};
  e.container = c;
  auto cl = std::make_shared<CloudInfo>();
  cl->provider = "aws", cl->instance_id = "i-1", cl->region = "eu-west-1", cl->availability_zone = "eu-west-1b";
  cl->account_id = "123", cl->machine_type = "m5.large";
  e.cloud = cl;
  e.entry_leader = {3, "bash", "/usr/bin/bash", 1000000000};
  e.session_leader = {3, "bash", "/usr/bin/bash", 1000000000};
  HostInfo h;
  h.name = "n", h.id = "m", h.boot_id = "b", h.os_kernel = "6.1", h.os_name = "Debian GNU/Linux", h.os_version = "12",
  h.os_family = "debian";
  std::string out;
  format_json(e, h, out);
  json j = json::parse(out);
  EXPECT_EQ(j["container"], json({{"id", kId}, {"runtime", "containerd"}, {"name", "main"},
                                  {"image", {{"name", "registry/cart:1"}}}, {"labels", {{"a\"quote", "v"}}}}));
  EXPECT_EQ(j["orchestrator"], json({{"type", "kubernetes"}, {"namespace", "shop"},
                                     {"resource", {{"name", "cart"}, {"type", "pod"}}}}));
  EXPECT_EQ(j["ktrail"]["k8s"], json({{"pod", {{"uid", kUid}}}, {"qos_class", "burstable"}, {"labels", {{"app", "cart"}}}}));
  EXPECT_EQ(j["cloud"], json({{"provider", "aws"}, {"instance", {{"id", "i-1"}}}, {"region", "eu-west-1"},
                              {"availability_zone", "eu-west-1b"}, {"account", {{"id", "123"}}},
                              {"machine", {{"type", "m5.large"}}}}));
  EXPECT_EQ(j["host"], json({{"name", "n"}, {"id", "m"}, {"boot", {{"id", "b"}}},
                             {"os", {{"type", "linux"}, {"kernel", "6.1"}, {"name", "Debian GNU/Linux"},
                                     {"version", "12"}, {"family", "debian"}}}}));
  EXPECT_EQ(j["process"]["entry_leader"]["pid"], 3);
  EXPECT_EQ(j["process"]["entry_leader"]["start"], "2023-11-14T22:13:19.000000000Z");
  EXPECT_EQ(j["process"]["session_leader"]["executable"], "/usr/bin/bash");
  // Nothing known: no identity objects at all.
  Event bare;
  bare.kind = EventKind::Exec;
  out.clear();
  format_json(bare, HostInfo{}, out);
  j = json::parse(out);
  EXPECT_FALSE(j.contains("container"));
  EXPECT_FALSE(j.contains("orchestrator"));
  EXPECT_FALSE(j.contains("cloud"));
  EXPECT_FALSE(j["process"].contains("entry_leader"));
}

}  // namespace
}  // namespace ktrail
