#include "cli/probe.h"

#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli/options.h"
#include "common/log.h"
#include "common/status.h"
#include "loader/loader.h"
#include "loader/plan.h"
#include "loader/probe.h"
#include "loader/prog_probe.h"

namespace ktrail {
namespace {

using nlohmann::json;

std::string slurp(const char *path) {
  std::ifstream f(path);
  if (!f) return "";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int libbpf_silent(enum libbpf_print_level, const char *, va_list) { return 0; }

json probe_json(const ProgProbe &p) { return {{"ok", p.ok}, {"detail", p.detail}}; }

}  // namespace

CLI::App *add_probe_command(CLI::App &app, ProbeOptions &o) {
  auto *probe = app.add_subcommand("probe", "Report this kernel's BPF features and the attach plan `run` would use");
  probe->add_flag("--json", o.json, "Print the report as one JSON document");
  probe->add_option("--events", o.events, "Event classes to plan for")
      ->delimiter(',')
      ->check(CLI::IsMember({"exec", "exit", "cred"}));
  probe->add_option("--buffer", o.buffer, "Transport to plan for")->check(CLI::IsMember({"auto", "ring", "perf"}));
  probe->add_option("--hooks", o.hooks, "Hook variant to plan for")
      ->check(CLI::IsMember({"auto", "tp_btf", "tracepoint"}));
  probe->add_option("--btf", o.btf, "Kernel BTF file for kernels without /sys/kernel/btf/vmlinux");
  probe->add_option("--ia32", o.ia32, "ia32 syscalls to plan for, as `ktrail run --ia32`")
      ->check(CLI::IsMember({"trace", "off"}));
  return probe;
}

json collect_probe(const ProbeOptions &o) {
  json r;
  json missing = json::array();
  auto miss = [&](const std::string &what, const std::string &why, const std::string &effect) {
    missing.push_back({{"what", what}, {"why", why}, {"effect", effect}});
  };
  int exit_code = KTRAIL_EXIT_OK;
  auto fail = [&](int code) {
    if (exit_code == KTRAIL_EXIT_OK) exit_code = code;
  };

  struct utsname u {};
  uname(&u);
  r["kernel"] = {{"release", u.release}, {"version", u.version}, {"machine", u.machine}};

  // The lockdown mode and the LSM list live in securityfs, which a fresh host may not mount.
  std::string sec_err = ensure_mounted("securityfs", "/sys/kernel/security");
  KernelFeatures f = probe_kernel(o.btf);
  r["btf"] = {{"present", f.btf}, {"path", f.btf_path}, {"source", o.btf.empty() ? "kernel" : "--btf"}};
  if (!f.btf) {
    miss("btf", "no BTF at " + f.btf_path,
         "ktrail cannot run: needs CONFIG_DEBUG_INFO_BTF=y or a BTF file for this kernel via --btf "
         "(e.g. from BTFHub)");
    fail(KTRAIL_EXIT_NO_BTF);
  }

  r["lockdown"] = f.lockdown.empty() ? json(nullptr) : json(f.lockdown);
  if (f.lockdown == "confidentiality") {
    miss("lockdown", "kernel lockdown is in confidentiality mode",
         "ktrail cannot run: the BPF programs read kernel memory; boot with lockdown=integrity or none");
    fail(KTRAIL_EXIT_LOCKDOWN);
  } else if (f.lockdown.empty()) {
    miss("lockdown", sec_err.empty() ? "no /sys/kernel/security/lockdown (no lockdown LSM)" : sec_err,
         "unknown; loading reports it if it blocks");
  }

  std::string lsm_raw = slurp("/sys/kernel/security/lsm");
  std::vector<std::string> lsms = parse_lsm_list(lsm_raw);
  bool bpf_lsm_active = false;
  for (const auto &l : lsms) bpf_lsm_active |= l == "bpf";
  r["lsm"] = {{"list", lsms}, {"bpf_active", bpf_lsm_active}, {"readable", !lsm_raw.empty()}};
  if (!bpf_lsm_active)
    miss("bpf_lsm", lsm_raw.empty() ? "cannot read /sys/kernel/security/lsm" : "\"bpf\" is not in the active LSM list",
         "LSM programs would attach but never run; boot with lsm=...,bpf");

  std::string caps = missing_bpf_capabilities();
  const bool privileged = caps.empty();
  r["privileges"] = {{"ok", privileged}, {"missing", caps}};
  if (!privileged) {
    miss("privileges", "missing " + caps, "ktrail cannot load BPF programs; run as root");
    fail(KTRAIL_EXIT_PRIVILEGE);
  }

  json feat;
  feat["ring_buffer"] = f.ringbuf;
  feat["perf_buffer"] = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERF_EVENT_ARRAY, nullptr) == 1;
  json tp = json::object();
  for (const char *h : kHookNames)
    if (strcmp(h, "syscalls") != 0) tp[h] = f.has_tp_btf(h);  // per-syscall: classic only
  feat["tp_btf"] = tp;
  feat["tracefs_mounted"] = is_mounted("/sys/kernel/tracing");
  feat["ia32_syscalls"] = f.ia32;
  feat["ia32_off_at_boot"] = f.ia32_off_at_boot;
  feat["task_pt_regs"] = f.task_pt_regs;
  const char *unprivileged = "not probed: needs CAP_BPF + CAP_PERFMON or root";
  ProgProbe fentry{false, unprivileged}, lsm{false, unprivileged};
  if (privileged && f.btf) {
    fentry = probe_fentry(f.vmlinux_btf.get());
    lsm = probe_lsm(f.vmlinux_btf.get());
  }
  ProgProbe kprobes = probe_kprobes();
  feat["fentry"] = probe_json(fentry);
  feat["lsm_programs"] = probe_json(lsm);
  feat["kprobes"] = probe_json(kprobes);
  r["features"] = feat;
  if (!f.ringbuf) miss("ring_buffer", "no BPF ring buffer (kernel < 5.8)", "the perf buffer is used instead");
  if (!fentry.ok) miss("fentry", fentry.detail, "fentry/fexit hooks cannot be used on this kernel");
  if (!lsm.ok) miss("lsm_programs", lsm.detail, "BPF LSM hooks cannot be used on this kernel");
  if (!kprobes.ok) miss("kprobes", kprobes.detail, "kprobe hooks cannot be used on this kernel");

  // The same translation and the same plan function as `ktrail run`.
  RunOptions ro;
  ro.events = o.events;
  ro.buffer = o.buffer;
  ro.hooks = o.hooks;
  ro.btf = o.btf;
  ro.ia32 = o.ia32;
  LoaderConfig lc;
  if (Status s = to_loader_config(ro, lc); !s) {
    miss("options", s.message, "ktrail run would refuse these options");
    fail(s.code);
  }
  AttachPlan plan = plan_attach(plan_request(lc), plan_kernel(f));
  json hooks = json::array();
  for (const HookPlan &h : plan.hooks) {
    hooks.push_back({{"hook", h.hook},
                     {"wanted", h.wanted},
                     {"variant", h.first.empty() ? json(nullptr) : json(h.first)},
                     {"fallback", h.fallback.empty() ? json(nullptr) : json(h.fallback)},
                     {"reason", h.reason}});
    if (h.wanted && h.first.empty()) miss("hook " + h.hook, h.reason, "this hook would be inactive");
    if (h.wanted && h.first == "tracepoint" && h.hook != "syscalls" && !f.has_tp_btf(h.hook) && o.hooks == "auto")
      miss("tp_btf " + h.hook, "the kernel BTF has no btf_trace_" + h.hook + " type",
           "the classic tracepoint is used (needs tracefs, which ktrail mounts)");
  }
  if (!plan.syscalls.ia32_gap.empty()) miss("ia32", plan.syscalls.ia32_gap, "an `int $0x80` setuid or open passes unseen");
  bool any_hook = false;
  for (const HookPlan &h : plan.hooks) any_hook |= h.wanted && !h.first.empty();
  if (!any_hook && f.btf) fail(KTRAIL_EXIT_NO_HOOKS);
  if (!plan.buffer_problem.empty()) {
    miss("buffer", plan.buffer_problem, "ktrail run would refuse to start");
    fail(KTRAIL_EXIT_USAGE);
  }
  r["plan"] = {{"request", {{"hooks", o.hooks}, {"buffer", o.buffer}, {"events", o.events}}},
               {"buffer", plan.use_perf ? "perf" : "ring"},
               {"buffer_reason", plan.buffer_reason},
               {"hooks", hooks},
               {"syscalls", {{"per_syscall", plan.syscalls.per_syscall},
                             {"ia32_raw_hooks", plan.syscalls.raw_compat_only && !plan.hooks[2].first.empty()},
                             {"enter", plan.syscalls.enter},
                             {"exit", plan.syscalls.exit},
                             {"absent", plan.syscalls.absent},
                             {"reason", plan.syscalls.reason}}}};
  r["missing"] = missing;
  r["ready"] = exit_code == KTRAIL_EXIT_OK;
  r["exit_code"] = exit_code;
  return r;
}

std::string render_probe_text(const json &r) {
  std::string out;
  char line[512];
  auto row = [&](const char *k, const std::string &v) {
    snprintf(line, sizeof(line), "  %-22s %s\n", k, v.c_str());
    out += line;
  };
  auto yn = [](const json &b) { return b.get<bool>() ? std::string("yes") : std::string("no"); };

  out += "kernel " + r["kernel"]["release"].get<std::string>() + " (" + r["kernel"]["machine"].get<std::string>() + ")\n";
  row("BTF", yn(r["btf"]["present"]) + "  " + r["btf"]["path"].get<std::string>() +
                 (r["btf"]["source"] == "--btf" ? " (--btf)" : ""));
  row("lockdown", r["lockdown"].is_null() ? "unknown" : r["lockdown"].get<std::string>());
  std::string lsms;
  for (const auto &l : r["lsm"]["list"]) lsms += (lsms.empty() ? "" : ",") + l.get<std::string>();
  row("LSM list", (lsms.empty() ? std::string("unknown") : lsms) + "  (bpf " +
                      (r["lsm"]["bpf_active"].get<bool>() ? "active" : "not active") + ")");
  row("privileges", r["privileges"]["ok"].get<bool>() ? "ok" : "missing " + r["privileges"]["missing"].get<std::string>());
  const json &f = r["features"];
  row("ring buffer", yn(f["ring_buffer"]));
  row("perf buffer", yn(f["perf_buffer"]));
  std::string tp;
  for (auto it = f["tp_btf"].begin(); it != f["tp_btf"].end(); ++it)
    tp += (tp.empty() ? "" : " ") + it.key() + "=" + yn(it.value());
  row("tp_btf types", tp);
  row("tracefs mounted", yn(f["tracefs_mounted"]));
  for (const char *k : {"fentry", "lsm_programs", "kprobes"})
    row(k, yn(f[k]["ok"]) + "  " + f[k]["detail"].get<std::string>());

  const json &p = r["plan"];
  out += "plan for `ktrail run --hooks " + p["request"]["hooks"].get<std::string>() + " --buffer " +
         p["request"]["buffer"].get<std::string>() + "`:\n";
  row("transport", p["buffer_reason"].get<std::string>());
  for (const auto &h : p["hooks"]) {
    std::string v = !h["wanted"].get<bool>() ? "-"
                    : h["variant"].is_null()  ? "NONE"
                                              : h["variant"].get<std::string>();
    if (!h["fallback"].is_null()) v += " (fallback " + h["fallback"].get<std::string>() + ")";
    row(h["hook"].get<std::string>().c_str(), v + "  " + h["reason"].get<std::string>());
  }
  if (r["missing"].empty()) {
    out += "missing: nothing\n";
  } else {
    out += "missing:\n";
    for (const auto &m : r["missing"])
      out += "  - " + m["what"].get<std::string>() + ": " + m["why"].get<std::string>() + " -> " +
             m["effect"].get<std::string>() + "\n";
  }
  out += r["ready"].get<bool>() ? "ready: ktrail run can start on this kernel\n"
                                : "NOT ready: ktrail run would exit " + std::to_string(r["exit_code"].get<int>()) + "\n";
  return out;
}

int probe_command(const ProbeOptions &o) {
  // libbpf warnings from the deliberate failing probes are noise here; the report has them.
  log::set_level(log::Level::Error);
  libbpf_set_print(libbpf_silent);
  json r = collect_probe(o);
  std::string out = o.json ? r.dump() + "\n" : render_probe_text(r);
  fwrite(out.data(), 1, out.size(), stdout);
  return r["exit_code"].get<int>();
}

}  // namespace ktrail
