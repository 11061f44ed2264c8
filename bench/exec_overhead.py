#!/usr/bin/env python3
"""Exec-overhead benchmark: fork+execve throughput under no tracer, ktrail, auditd and bpftrace.

Python 3 standard library only. Normally started by bench/exec_overhead.sh, which installs the
dependencies and builds ktrail and the load generator first; see bench/README.md.

Each round runs every (configuration, workers) pair once, in an order that rotates from round
to round, so slow drift of a noisy VM hits all configurations alike. Reported numbers are
medians over rounds; throughput is always quoted as a ratio to the no-tracer run of the same
round and worker count.
"""
import argparse
import ctypes
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
ALL_CONFIGS = ["none", "ktrail", "auditd", "bpftrace"]
# Not run by default: ktrail without alert rules, the baseline for the rules' own cost;
# without the ia32 guard; and issue 2's own scope (exec, exit and credential events, ia32
# guard on, no rules), the base every later feature's price is measured from.
EXTRA_CONFIGS = ["ktrail-norules", "ktrail-ia32off", "ktrail-foundation"]
AUDIT_KEY = "ktbench"
AUDIT_RULE = ["always,exit", "-F", "arch=b64", "-S", "execve", "-k", AUDIT_KEY]
CLK_TCK = os.sysconf("SC_CLK_TCK")

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """preexec_fn: a tracer must not outlive the harness, even if the harness is SIGKILLed."""
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


# ---- /proc and BPF accounting ----------------------------------------------------------------

def proc_cpu_ns(pid):
    """utime+stime of the whole process (all threads), from /proc/PID/stat, in ns."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rfind(")") + 2:].split()
    # fields[0] is state (field 3); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLK_TCK


def proc_sched_ns(pid):
    """Sum of on-CPU ns over the process's live threads (/proc/PID/task/*/schedstat): finer
    grained than the tick-based utime+stime; kept in the raw JSON as a cross-check."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return None
    return total


def find_kthread(name):
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() == name:
                        return int(d)
            except OSError:
                pass
    return None


def bpf_prog_ids_of(pid):
    """Ids of the BPF programs a process holds (prog and link fds both show prog_id)."""
    ids = set()
    if not pid:
        return ids
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def bpf_prog_stats(ids):
    """{id: (name, run_time_ns, run_cnt)} from `bpftool prog show -j`."""
    if not ids:
        return {}
    out = run(["bpftool", "prog", "show", "-j"]).stdout
    stats = {}
    for p in json.loads(out):
        if p.get("id") in ids:
            stats[p["id"]] = (p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return stats


def stats_delta(before, after):
    """Per program name: (run_time_ns, run_cnt) accumulated between two snapshots."""
    d = {}
    for pid_, (name, t1, c1) in after.items():
        _, t0, c0 = before.get(pid_, (name, 0, 0))
        t, c = d.get(name, (0, 0))
        d[name] = (t + t1 - t0, c + c1 - c0)
    return d


TRACING_PROG_TYPES = {"tracing", "raw_tracepoint", "tracepoint", "kprobe", "perf_event",
                      "raw_tracepoint_writable", "lsm"}


def foreign_tracing_progs(ours):
    """Tracing programs loaded by someone else (another tracer or test on this machine): they
    tax every configuration, the baseline included, so runs are flagged when they show up."""
    try:
        progs = json.loads(run(["bpftool", "prog", "show", "-j"]).stdout)
    except Exception:
        return []
    return sorted(f"{p.get('name', '?')}#{p['id']}" for p in progs
                  if p.get("type") in TRACING_PROG_TYPES and p["id"] not in ours)


def cpu_busy_ns():
    """Non-idle CPU time of the whole machine (all CPUs), from /proc/stat, in ns."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy * 1_000_000_000 // CLK_TCK


def wait_quiet(max_wait, ours=()):
    """Waits (at most max_wait s) until no foreign tracing program is loaded and the machine
    is mostly idle (< 15% of one CPU busy over 0.5 s). Returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        b0 = cpu_busy_ns()
        time.sleep(0.5)
        busy = (cpu_busy_ns() - b0) / 0.5e9
        if (busy < 0.15 and not foreign_tracing_progs(set(ours))) or \
                time.monotonic() - t0 >= max_wait:
            return time.monotonic() - t0


def enable_bpf_stats_fd():
    """BPF_ENABLE_STATS: run-time stats stay on while the returned fd is open, whatever anyone
    else writes to kernel.bpf_stats_enabled meanwhile, and go off when this process exits."""
    attr = ctypes.create_string_buffer(16)  # union bpf_attr { enable_stats.type = 0 }
    syscall = _libc.syscall
    syscall.restype = ctypes.c_long
    fd = syscall(ctypes.c_long(321), ctypes.c_long(32), attr, ctypes.c_long(len(attr)))  # bpf()
    return fd if fd >= 0 else None


def read_sysctl(name):
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


def write_sysctl(name, value):
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(str(value))


def is_mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def wait_for(pred, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def file_contains(path, needle):
    try:
        with open(path, errors="replace") as f:
            return needle in f.read()
    except OSError:
        return False


def stop_process(proc, sig=signal.SIGINT, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- Tracers ---------------------------------------------------------------------------------

class NoTracer:
    name = "none"
    pid = None

    def start(self, rundir):
        pass

    def stop(self):
        pass

    def kthread_pid(self):
        return None

    def count(self, bench, comm):
        return {"received": None, "records": None, "lost": 0}


class Ktrail(NoTracer):
    name = "ktrail"

    def __init__(self, binary, extra_args):
        self.binary = binary
        self.extra = extra_args
        self.proc = None
        self.help = None

    def supports(self, option):
        if self.help is None:
            self.help = run([self.binary, "run", "--help"], check=False).stdout
        return option in self.help

    def start(self, rundir):
        self.out = os.path.join(rundir, "ktrail.ndjson")
        self.err = os.path.join(rundir, "ktrail.stderr")
        for p in (self.out, self.err):
            if os.path.exists(p):
                os.unlink(p)  # the file sink appends
        cmd = [self.binary, "run", "--format", "json", "-o", "file:" + self.out]
        # The default chain state (/var/lib/ktrail/chain.state) is locked by whichever ktrail
        # runs on the machine: the bench's agent keeps its own, next to its output.
        if self.supports("--chain-state") and "--chain-state" not in self.extra:
            cmd += ["--chain-state", os.path.join(rundir, "chain.state")]
        cmd += self.extra
        self.cmd = cmd
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        try:
            wait_for(lambda: file_contains(self.err, "tracing via"), 60, "ktrail to attach", self.proc)
        except RuntimeError as e:
            stop_process(self.proc, signal.SIGKILL)
            self.proc = None
            with open(self.err, errors="replace") as f:
                raise RuntimeError(f"{e}: {' '.join(cmd)}: {f.read()[-1000:].strip()}") from None

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc, signal.SIGINT)
        rc = self.proc.returncode
        self.proc = None
        if rc != 0:
            raise RuntimeError(f"ktrail exited with {rc}; see {self.err}")

    def count(self, bench, comm):
        workers = set(bench["workers"])
        received = records = lost = 0
        lost_detail = []
        with open(self.out, errors="replace") as f:
            for line in f:
                records += 1
                if '"action":"exec"' in line:
                    e = json.loads(line)
                    p = e.get("process", {})
                    if (e["event"]["outcome"] == "success" and p.get("name") == comm
                            and p.get("parent", {}).get("pid") in workers):
                        received += 1
                elif '"action":"lost"' in line:
                    e = json.loads(line)
                    lost_info = e.get("ktrail", {}).get("lost", {})
                    lost += int(lost_info.get("count", 1))
                    lost_detail.append(lost_info)
        with open(self.err, errors="replace") as f:
            err = f.read()
        # A record whose handler threw is dropped by the agent without a "lost" event.
        return {"received": received, "records": records, "lost": lost,
                "lost_detail": lost_detail, "stderr": err[-2000:],
                "handler_errors": err.count("event handler failed")}


class Bpftrace(NoTracer):
    name = "bpftrace"
    PROG = 'tracepoint:sched:sched_process_exec { printf("%d %s\\n", pid, comm); }'

    def __init__(self):
        self.proc = None

    def start(self, rundir):
        self.out = os.path.join(rundir, "bpftrace.out")
        self.err = os.path.join(rundir, "bpftrace.stderr")
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(["bpftrace", "-e", self.PROG], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        wait_for(lambda: file_contains(self.out, "Attaching"), 120, "bpftrace to attach", self.proc)

    def stop(self):
        stop_process(self.proc, signal.SIGINT)
        self.proc = None

    def count(self, bench, comm):
        received = records = lost = 0
        pat = re.compile(r"^\d+ " + re.escape(comm) + "$")
        with open(self.out, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("Attaching") or not line:
                    continue
                m = re.search(r"Lost (\d+) events", line)
                if m:
                    lost += int(m.group(1))
                    continue
                records += 1
                if pat.match(line):
                    received += 1
        with open(self.err, errors="replace") as f:
            for m in re.finditer(r"Lost (\d+) events", f.read()):
                lost += int(m.group(1))
        return {"received": received, "records": records, "lost": lost}


class Auditd(NoTracer):
    """auditd with `-a always,exit -F arch=b64 -S execve`, set up like Debian's default
    rules (-b 8192, --backlog_wait_time 60000). Uses a running auditd if there is one,
    otherwise starts a private instance (own config dir and log) and stops it afterwards."""
    name = "auditd"

    def __init__(self):
        self.proc = None
        self.saved = None
        self.rule_added = False

    @staticmethod
    def status():
        st = {}
        for line in run(["auditctl", "-s"]).stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                st[parts[0]] = parts[1]
        return st

    def start(self, rundir):
        st = self.status()
        self.saved = {k: st.get(k) for k in ("enabled", "backlog_limit", "backlog_wait_time")}
        running = st.get("pid", "0") != "0" and os.path.exists(f"/proc/{st['pid']}")
        if running:
            self.pid = int(st["pid"])
            self.log_file = self._conf_value("/etc/audit/auditd.conf", "log_file",
                                             "/var/log/audit/audit.log")
            self.own = False
        else:
            confdir = os.path.join(rundir, "auditd")
            os.makedirs(confdir, exist_ok=True)
            self.log_file = os.path.join(confdir, "audit.log")
            self._write_conf("/etc/audit/auditd.conf", os.path.join(confdir, "auditd.conf"), {
                "log_file": self.log_file,
                "max_log_file_action": "IGNORE",  # no rotation under the counter's feet
                "space_left_action": "IGNORE",
                "admin_space_left_action": "IGNORE",
                "disk_full_action": "IGNORE",
            })
            plug = os.path.join(confdir, "plugins.d")
            os.makedirs(plug, exist_ok=True)
            self.proc = subprocess.Popen(["auditd", "-n", "-c", confdir], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=open(os.path.join(confdir, "stderr"), "w"),
                                         preexec_fn=_die_with_parent)
            self.pid = self.proc.pid
            self.own = True
            wait_for(lambda: self.status().get("pid") == str(self.pid), 30, "auditd to register",
                     self.proc)
        self.log_offset = os.path.getsize(self.log_file) if os.path.exists(self.log_file) else 0
        run(["auditctl", "-b", "8192", "--backlog_wait_time", "60000"])
        run(["auditctl", "-e", "1"])
        self.lost_before = int(self.status().get("lost", 0))
        run(["auditctl", "-a"] + AUDIT_RULE)
        self.rule_added = True

    def stop(self):
        # Rule first, then the daemon: never leave a rule without a reader.
        if self.rule_added:
            run(["auditctl", "-d"] + AUDIT_RULE, check=False)
            self.rule_added = False
            self.lost_after = int(self.status().get("lost", 0))
            # Let the daemon write out what the kernel queued before counting.
            self._settle()
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM)
            self.proc = None
        if self.saved:
            s = self.saved
            if s.get("backlog_limit"):
                run(["auditctl", "-b", s["backlog_limit"]], check=False)
            if s.get("backlog_wait_time"):
                run(["auditctl", "--backlog_wait_time", s["backlog_wait_time"]], check=False)
            if s.get("enabled") in ("0", "1"):
                run(["auditctl", "-e", s["enabled"]], check=False)
            self.saved = None

    def kthread_pid(self):
        return find_kthread("kauditd")

    def _settle(self, timeout=15):
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            size = os.path.getsize(self.log_file) if os.path.exists(self.log_file) else 0
            if size != last:
                last, stable_since = size, time.monotonic()
            elif time.monotonic() - stable_since > 0.5 and self.status().get("backlog") == "0":
                return
            time.sleep(0.1)

    def count(self, bench, comm):
        received = records = 0
        with open(self.log_file, errors="replace") as f:
            f.seek(self.log_offset)
            for line in f:
                if not line.startswith("type=SYSCALL") or f'key="{AUDIT_KEY}"' not in line:
                    continue
                records += 1
                if " syscall=59 " in line and "success=yes" in line and f'comm="{comm}"' in line:
                    received += 1
        return {"received": received, "records": records,
                "lost": self.lost_after - self.lost_before}

    @staticmethod
    def _conf_value(path, key, default):
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition("=")
                    if k.strip() == key:
                        return v.strip()
        except OSError:
            pass
        return default

    @staticmethod
    def _write_conf(src, dst, overrides):
        lines, seen = [], set()
        with open(src) as f:
            for line in f:
                k = line.partition("=")[0].strip()
                if k in overrides:
                    lines.append(f"{k} = {overrides[k]}\n")
                    seen.add(k)
                else:
                    lines.append(line)
        for k, v in overrides.items():
            if k not in seen:
                lines.append(f"{k} = {v}\n")
        with open(dst, "w") as f:
            f.writelines(lines)
        os.chmod(dst, 0o640)


# ---- One measured run ------------------------------------------------------------------------

class BpfStats:
    """Run-time stats for BPF programs, on only while measuring in-kernel time: the stats add
    two clock reads to every program run, which on this VM is a large share of what a
    sys_enter/sys_exit program costs, so they stay off while throughput is measured.
    Turned on through the sysctl (restored afterwards) and held on through a
    BPF_ENABLE_STATS fd, so someone else resetting the sysctl cannot switch them off."""

    def __init__(self):
        self.prev = None
        self.fd = None

    def __enter__(self):
        self.prev = read_sysctl("kernel.bpf_stats_enabled")
        write_sysctl("kernel.bpf_stats_enabled", 1)
        self.fd = enable_bpf_stats_fd()
        return self

    def __exit__(self, *exc):
        if self.prev is not None:
            write_sysctl("kernel.bpf_stats_enabled", self.prev)
        if self.fd is not None:
            os.close(self.fd)
        self.prev = self.fd = None


def forkexec_run(forkexec, seconds, workers, load_args):
    res = run([forkexec, "-t", str(seconds), "-w", str(workers)] + load_args, check=False,
              preexec_fn=_die_with_parent)
    if res.returncode != 0:
        raise RuntimeError(f"forkexec failed ({res.returncode}): {res.stderr.strip()}")
    return json.loads(res.stdout)


class Instrument:
    """An empty program (emptytp.c) on raw_syscalls/sys_enter while the stats are on: its
    ns/run is what bpf_stats itself adds to every run (the two sched_clock() reads around the
    program; ~55-60 ns on this VM), so in-kernel time can be given net of the instrument."""

    def __init__(self, binary):
        self.binary = binary
        self.proc = None
        self.id = None

    def __enter__(self):
        if self.binary and os.access(self.binary, os.X_OK):
            self.proc = subprocess.Popen([self.binary, "raw_syscalls/sys_enter"], stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
            if "Attaching" in (self.proc.stdout.readline() or ""):
                ids = bpf_prog_ids_of(self.proc.pid)
                self.id = next(iter(ids)) if ids else None
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
        self.proc = None


def one_run(tracer, workers, seconds, forkexec, load_args, comm, rundir, drain_s, stats_s,
            stats_whole=False, emptytp=None):
    """Starts the tracer, then (1) a throughput segment of `seconds` with BPF stats off:
    rate, CPU of the traced tasks, agent and kauditd; (2) for tracers with BPF programs, a
    segment of `stats_s` seconds with stats on: in-kernel time per exec. stats_whole: a
    single segment with stats on throughout (the soak). Events are counted over both."""
    tracer.start(rundir)
    bench2 = None
    s0 = s1 = {}
    instrument_ns = None
    try:
        ids = bpf_prog_ids_of(tracer.pid)
        kpid = tracer.kthread_pid()
        foreign = foreign_tracing_progs(ids)
        stats_during_throughput = read_sysctl("kernel.bpf_stats_enabled") != "0"
        cpu0, sched0 = proc_cpu_ns(tracer.pid), proc_sched_ns(tracer.pid)
        k0 = proc_cpu_ns(kpid)
        busy0 = cpu_busy_ns()
        if stats_whole and ids:
            with BpfStats():
                s0 = bpf_prog_stats(ids)
                bench = forkexec_run(forkexec, seconds, workers, load_args)
                s1 = bpf_prog_stats(ids)
        else:
            bench = forkexec_run(forkexec, seconds, workers, load_args)
        busy1 = cpu_busy_ns()
        foreign = sorted(set(foreign) | set(foreign_tracing_progs(ids)))
        k_mid = proc_cpu_ns(kpid)
        time.sleep(drain_s)  # the agent drains its buffer on a timer
        cpu1, sched1 = proc_cpu_ns(tracer.pid), proc_sched_ns(tracer.pid)
        k1 = proc_cpu_ns(kpid)
        if ids and stats_s > 0 and not stats_whole:
            with BpfStats(), Instrument(emptytp) as inst:
                probe = ids | ({inst.id} if inst.id else set())
                s0 = bpf_prog_stats(probe)
                bench2 = forkexec_run(forkexec, stats_s, workers, load_args)
                s1 = bpf_prog_stats(probe)
                if inst.id in s0 and inst.id in s1:
                    _, t0, c0 = s0.pop(inst.id)
                    _, t1, c1 = s1.pop(inst.id)
                    instrument_ns = (t1 - t0) / (c1 - c0) if c1 > c0 else None
            time.sleep(drain_s)
    finally:
        tracer.stop()
    both = [bench] + ([bench2] if bench2 else [])
    counted = tracer.count({"workers": [p for b in both for p in b["workers"]]}, comm)
    progs = stats_delta(s0, s1)
    stats_execs = (bench2 or bench)["execs"]
    # CPU the rest of the machine used while the bench ran, as a fraction of all CPUs.
    ours = bench["cpu_us"] * 1000 + ((cpu1 - cpu0) if cpu0 is not None else 0) + \
        ((k_mid - k0) if k0 is not None else 0)
    foreign_cpu = max(0.0, (busy1 - busy0 - ours) / (bench["seconds"] * 1e9 * os.cpu_count()))
    r = {
        "config": tracer.name, "workers": workers, "execs": bench["execs"],
        "execs_all": sum(b["execs"] for b in both), "stats_execs": stats_execs,
        "bench_cpu_ns": bench["cpu_us"] * 1000, "foreign_cpu": foreign_cpu,
        "foreign_bpf": foreign, "stats_during_throughput": stats_during_throughput or stats_whole,
        "rate": bench["rate"], "seconds": bench["seconds"], "bench": bench, "stats_bench": bench2,
        "received": counted["received"], "records": counted["records"], "lost": counted["lost"],
        "agent_cpu_ns": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        "agent_sched_ns": (sched1 - sched0) if sched0 is not None and sched1 is not None else None,
        "kthread_cpu_ns": (k1 - k0) if k0 is not None and k1 is not None else None,
        "bpf_progs": {n: {"run_time_ns": t, "run_cnt": c} for n, (t, c) in progs.items()},
        # No program ran at all while thousands of execs happened: stats were off.
        "bpf_run_time_ns": (sum(t for t, _ in progs.values())
                            if ids and sum(c for _, c in progs.values()) > 0 else None),
        "instrument_ns_per_run": instrument_ns,
        "bpf_runs": sum(c for _, c in progs.values()),
    }
    # Records per exec over the whole tracer lifetime, for the agent's per-event CPU.
    r["records_per_exec"] = (counted["records"] / r["execs_all"]
                             if counted["records"] is not None and r["execs_all"] else None)
    for k in ("lost_detail", "stderr", "handler_errors"):
        if k in counted:
            r[k] = counted[k]
    return r


# ---- Reporting -------------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".2f", none="n/a"):
    return none if x is None else format(x, spec)


def per_run_metrics(r):
    e = r["execs"] or 1
    m = {"rate": r["rate"], "bench_us_exec": r["bench_cpu_ns"] / e / 1e3}
    # Everything this exec cost in CPU: the traced tasks (BPF programs and audit run in their
    # context), the agent, and kauditd for auditd.
    m["total_us_exec"] = (r["bench_cpu_ns"] + (r["agent_cpu_ns"] or 0) + (r["kthread_cpu_ns"] or 0)) / e / 1e3
    m["agent_us_exec"] = r["agent_cpu_ns"] / e / 1e3 if r["agent_cpu_ns"] is not None else None
    rpe = r.get("records_per_exec")
    m["agent_us_event"] = (r["agent_cpu_ns"] / (rpe * e) / 1e3
                           if r["agent_cpu_ns"] is not None and rpe else None)
    m["kthread_us_exec"] = r["kthread_cpu_ns"] / e / 1e3 if r["kthread_cpu_ns"] is not None else None
    m["kernel_us_exec"] = (r["bpf_run_time_ns"] / r["stats_execs"] / 1e3
                           if r["bpf_run_time_ns"] is not None and r["stats_execs"] else None)
    inst = r.get("instrument_ns_per_run")
    m["kernel_net_us_exec"] = ((r["bpf_run_time_ns"] - inst * r["bpf_runs"]) / r["stats_execs"] / 1e3
                               if m["kernel_us_exec"] is not None and inst is not None else None)
    return m


QUIET_LOAD = 0.10  # a run is "quiet" when the rest of the machine used < 10% of the CPUs


def is_quiet(r):
    return r["foreign_cpu"] < QUIET_LOAD and not r["foreign_bpf"]


def summarize(runs, configs, workers_list):
    base = {(r["round"], r["workers"]): r["rate"] for r in runs if r["config"] == "none"}
    base_quiet = {(r["round"], r["workers"]): is_quiet(r) for r in runs if r["config"] == "none"}
    base_cpu = {(r["round"], r["workers"]): per_run_metrics(r)["total_us_exec"]
                for r in runs if r["config"] == "none"}
    rows = []
    for cfg in configs:
        for w in workers_list:
            rs = [r for r in runs if r["config"] == cfg and r["workers"] == w]
            if not rs:
                continue
            ms = [per_run_metrics(r) for r in rs]
            ratios = [r["rate"] / base[(r["round"], w)] for r in rs if (r["round"], w) in base]
            quiet = [r["rate"] / base[(r["round"], w)] for r in rs
                     if (r["round"], w) in base and is_quiet(r) and base_quiet[(r["round"], w)]]
            cpu_ratios = [base_cpu[(r["round"], w)] / m["total_us_exec"] for r, m in zip(rs, ms)
                          if (r["round"], w) in base_cpu and m["total_us_exec"]]
            execs = sum(r["execs_all"] for r in rs)
            stats_execs = sum(r["stats_execs"] for r in rs if r["bpf_run_time_ns"] is not None)
            recv = [r["received"] for r in rs if r["received"] is not None]
            progs = {}
            for r in rs:
                for n, v in r["bpf_progs"].items():
                    t, c = progs.get(n, (0, 0))
                    progs[n] = (t + v["run_time_ns"], c + v["run_cnt"])
            rows.append({
                "config": cfg, "workers": w, "runs": len(rs),
                "rate": med([m["rate"] for m in ms]),
                "ratio": med(ratios), "ratio_min": min(ratios) if ratios else None,
                "ratio_max": max(ratios) if ratios else None,
                "cpu_ratio": med(cpu_ratios),
                "quiet_ratio": med(quiet), "quiet_pairs": len(quiet),
                "bench_us_exec": med([m["bench_us_exec"] for m in ms]),
                "total_us_exec": med([m["total_us_exec"] for m in ms]),
                "foreign_cpu": med([r["foreign_cpu"] for r in rs]),
                "foreign_bpf_runs": sum(1 for r in rs if r["foreign_bpf"]),
                "stats_on_runs": sum(1 for r in rs if r.get("stats_during_throughput")),
                "execs": execs, "received": sum(recv) if recv else None,
                "lost": sum(r["lost"] or 0 for r in rs),
                "agent_us_exec": med([m["agent_us_exec"] for m in ms]),
                "agent_us_event": med([m["agent_us_event"] for m in ms]),
                "kthread_us_exec": med([m["kthread_us_exec"] for m in ms]),
                "kernel_us_exec": med([m["kernel_us_exec"] for m in ms]),
                "kernel_net_us_exec": med([m["kernel_net_us_exec"] for m in ms]),
                "instrument_ns_per_run": med([r.get("instrument_ns_per_run") for r in rs]),
                "records_per_exec": (sum(r["records"] for r in rs) / execs
                                     if execs and all(r["records"] is not None for r in rs) else None),
                "progs": {n: {"run_time_ns": t, "run_cnt": c, "ns_per_run": t / c if c else None,
                              "runs_per_exec": c / stats_execs if stats_execs else None,
                              "ns_per_exec": t / stats_execs if stats_execs else None}
                          for n, (t, c) in sorted(progs.items())},
            })
    return rows


def markdown(rows, soak=None, load="exec"):
    out = []
    if rows and load == "syscall":
        # getppid() loop: per-call costs are nanoseconds, and there are no events to count.
        out.append("| config | workers | median getppid/s | throughput ratio (median) [min-max] "
                   "| throughput ratio, quiet pairs (n) | CPU-cost ratio | ns added per call (from CPU) "
                   "| in-kernel ns/call | agent CPU ns/call | other load |")
        out.append("|---|---:|---:|---|---|---:|---:|---:|---:|---:|")
        base = {r["workers"]: r["total_us_exec"] for r in rows if r["config"] == "none"}
        for r in rows:
            ratio = ("1 (baseline)" if r["config"] == "none" else
                     f"**{fmt(r['ratio'], '.3f')}** [{fmt(r['ratio_min'], '.3f')}-{fmt(r['ratio_max'], '.3f')}]")
            b = base.get(r["workers"])
            added = ("-" if r["config"] == "none" or not b or not r["cpu_ratio"] else
                     f"{1e3 * b * (1 / r['cpu_ratio'] - 1):.1f}")
            k = "-" if r["kernel_us_exec"] is None else f"{r['kernel_us_exec'] * 1e3:.1f}"
            ag = "-" if r["agent_us_exec"] is None else f"{r['agent_us_exec'] * 1e3:.3f}"
            cr = "1" if r["config"] == "none" else fmt(r["cpu_ratio"], ".3f")
            other = f"{100 * r['foreign_cpu']:.0f}%" if r["foreign_cpu"] is not None else "?"
            if r["foreign_bpf_runs"]:
                other += f", foreign BPF in {r['foreign_bpf_runs']}/{r['runs']} runs"
            qr = "-" if r["config"] == "none" else f"{fmt(r['quiet_ratio'], '.3f', '-')} ({r['quiet_pairs']})"
            out.append(f"| {r['config']} | {r['workers']} | {fmt(r['rate'], '.0f')} | {ratio} | {qr} | {cr} | {added} "
                       f"| {k} | {ag} | {other} |")
        return "\n".join(out)
    if rows:
        out.append("| config | workers | median execs/s | throughput ratio (median) [min-max] "
                   "| throughput ratio, quiet pairs (n) | CPU-cost ratio | exec events received / execs "
                   "| lost | agent CPU µs/exec | agent CPU µs/event | in-kernel µs/exec "
                   "| in-kernel µs/exec, net of bpf_stats (ns/run subtracted) "
                   "| traced-task CPU µs/exec | other load |")
        out.append("|---|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            ratio = ("1 (baseline)" if r["config"] == "none" else
                     f"**{fmt(r['ratio'], '.3f')}** [{fmt(r['ratio_min'], '.3f')}-{fmt(r['ratio_max'], '.3f')}]")
            recv = ("-" if r["received"] is None else
                    f"{r['received']} / {r['execs']} ({100.0 * r['received'] / r['execs']:.2f}%)")
            agent = fmt(r["agent_us_exec"], ".2f", "-")
            if r["kthread_us_exec"] is not None:
                agent += f" (+{r['kthread_us_exec']:.2f} kauditd)"
            kern = fmt(r["kernel_us_exec"], ".2f", "-" if r["config"] == "none" else "n/a (not BPF)")
            net = ("-" if r["kernel_net_us_exec"] is None else
                   f"{r['kernel_net_us_exec']:.2f} ({r['instrument_ns_per_run']:.0f})")
            cr = "1" if r["config"] == "none" else fmt(r["cpu_ratio"], ".3f")
            qr = "-" if r["config"] == "none" else f"{fmt(r['quiet_ratio'], '.3f', '-')} ({r['quiet_pairs']})"
            other = f"{100 * r['foreign_cpu']:.0f}%" if r["foreign_cpu"] is not None else "?"
            if r["foreign_bpf_runs"]:
                other += f", foreign BPF in {r['foreign_bpf_runs']}/{r['runs']} runs"
            if r["stats_on_runs"]:
                other += f", bpf stats on in {r['stats_on_runs']}/{r['runs']} runs"
            out.append(f"| {r['config']} | {r['workers']} | {fmt(r['rate'], '.0f')} | {ratio} | {qr} | {cr} | {recv} "
                       f"| {r['lost'] if r['config'] != 'none' else '-'} | {agent} "
                       f"| {fmt(r['agent_us_event'], '.2f', '-')} | {kern} "
                       f"| {net} | {fmt(r['bench_us_exec'], '.0f')} "
                       f"| {other} |")
        progs = [r for r in rows if r["progs"]]
        if progs:
            out.append("")
            out.append("Per-program in-kernel time, summed over all rounds (runs come from every task "
                       "on the machine, divided by the bench's execs; loaded but unattached fallback "
                       "programs, which never ran, are left out):")
            out.append("")
            out.append("| config | workers | program | runs per exec | ns per run | ns per exec |")
            out.append("|---|---:|---|---:|---:|---:|")
            for r in progs:
                for n, p in r["progs"].items():
                    if not p["run_cnt"]:
                        continue
                    out.append(f"| {r['config']} | {r['workers']} | {n} | {fmt(p['runs_per_exec'], '.1f')} "
                               f"| {fmt(p['ns_per_run'], '.0f')} | {fmt(p['ns_per_exec'], '.0f')} |")
    if soak:
        out.append("")
        s = soak
        m = per_run_metrics(s)
        out.append(f"Soak: ktrail, {s['workers']} workers, {s['seconds']:.0f} s: {s['execs']} execs, "
                   f"{s['received']} exec events received ({100.0 * s['received'] / max(s['execs'], 1):.3f}%), "
                   f"{s['lost']} lost, agent {fmt(m['agent_us_exec'])} µs/exec "
                   f"({fmt(m['agent_us_event'])} µs/event), in-kernel {fmt(m['kernel_us_exec'])} µs/exec "
                   f"-> {'PASS' if s['received'] == s['execs'] and s['lost'] == 0 else 'FAIL'} (zero loss)"
                   + (f"; ktrail logged {s['handler_errors']} 'event handler failed' (records dropped "
                      f"without a lost event)" if s.get("handler_errors") else ""))
    return "\n".join(out)


# ---- Main ------------------------------------------------------------------------------------

class Interrupted(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5, help="length of one run (default 5)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma separated (default 1,2)")
    ap.add_argument("--configs", default=",".join(ALL_CONFIGS),
                    help="configurations, comma separated (default none,ktrail,auditd,bpftrace)")
    ap.add_argument("--target", choices=["true", "tiny"], default="true",
                    help="exec target: a copy of /bin/true (dynamic, ~33 syscalls per fork+exec) "
                         "or a static no-libc binary (execve + exit_group only)")
    ap.add_argument("--load", choices=["exec", "syscall"], default="exec",
                    help="exec: fork+execve loop (default); syscall: getppid() loop, to measure "
                         "what a tracer adds to every syscall of every task")
    ap.add_argument("--soak", type=float, default=0,
                    help="also run ktrail with 2 workers for this many seconds and check for loss")
    ap.add_argument("--ktrail", default=os.path.join(REPO, "build-bench", "ktrail"))
    ap.add_argument("--ktrail-args", default="", help="extra arguments for `ktrail run`")
    ap.add_argument("--source-ref", default="",
                    help="commit the ktrail binary was built from (set by exec_overhead.sh --ref)")
    ap.add_argument("--bindir", default=os.path.join(BENCH_DIR, "out", "bin"))
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "out"))
    ap.add_argument("--stats-seconds", type=float, default=None,
                    help="length of the extra segment, run with kernel.bpf_stats_enabled=1 after "
                         "each BPF tracer's throughput segment, that measures in-kernel time "
                         "(default: half of --seconds; 0 = none)")
    ap.add_argument("--no-bpf-stats", action="store_true", help="same as --stats-seconds 0")
    ap.add_argument("--drain", type=float, default=0.5, help="seconds the agent gets to drain")
    ap.add_argument("--quiet-wait", type=float, default=3,
                    help="before each run, wait up to this many seconds for the machine to be "
                         "idle and free of other tracing BPF programs (default 3; 0 = never)")
    ap.add_argument("--keep", action="store_true", help="keep tracer outputs in the work dir")
    a = ap.parse_args()

    configs = [c for c in a.configs.split(",") if c]
    for c in configs:
        if c not in ALL_CONFIGS + EXTRA_CONFIGS:
            ap.error(f"unknown config {c}")
    if "none" not in configs and a.rounds > 0:
        configs.insert(0, "none")  # ratios need the baseline
    workers_list = [int(w) for w in a.workers.split(",") if w]
    stats_s = 0 if a.no_bpf_stats else (a.seconds / 2 if a.stats_seconds is None else a.stats_seconds)
    if os.geteuid() != 0:
        sys.exit("exec_overhead: run as root (BPF, auditd, bpf_stats)")
    forkexec = os.path.join(a.bindir, "forkexec")
    emptytp = os.path.join(a.bindir, "emptytp")
    if not os.access(emptytp, os.X_OK):  # --skip-setup with a bindir from before it existed
        run(["cc", "-O2", "-o", emptytp, os.path.join(BENCH_DIR, "emptytp.c")], check=False)
    target = os.path.join(a.bindir, "ktb-true" if a.target == "true" else "ktb-tiny")
    comm = os.path.basename(target)[:15]
    load_args = [target] if a.load == "exec" else ["-S"]
    for p in (forkexec, target) + ((a.ktrail,) if any(c.startswith("ktrail") for c in configs) or a.soak else ()):
        if not os.access(p, os.X_OK):
            sys.exit(f"exec_overhead: missing {p}; run bench/exec_overhead.sh (it builds them)")

    def on_term(sig, frm):
        raise Interrupted(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    os.makedirs(a.out, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = tempfile.mkdtemp(prefix="ktbench.", dir="/tmp")
    ktrail_extra = a.ktrail_args.split()
    tracers = {"none": NoTracer(), "ktrail": Ktrail(a.ktrail, ktrail_extra),
               "auditd": Auditd(), "bpftrace": Bpftrace()}
    tracers["ktrail-norules"] = Ktrail(a.ktrail, ktrail_extra + ["--rules", "none"])
    tracers["ktrail-norules"].name = "ktrail-norules"
    # Without the raw syscall hooks that only serve ia32 syscalls (README: --ia32).
    tracers["ktrail-ia32off"] = Ktrail(a.ktrail, ktrail_extra + ["--ia32", "off"])
    tracers["ktrail-ia32off"].name = "ktrail-ia32off"
    tracers["ktrail-foundation"] = Ktrail(a.ktrail, ktrail_extra + ["--events", "exec,exit,cred", "--rules", "none"])
    tracers["ktrail-foundation"].name = "ktrail-foundation"
    items = [(c, w) for c in configs for w in workers_list]
    meta = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv), "kernel": os.uname().release, "nproc": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), "?"),
        "seconds": a.seconds, "rounds": a.rounds, "workers": workers_list, "configs": configs,
        "target": target, "load": a.load, "stats_seconds": stats_s, "ktrail_args": ktrail_extra,
        "other_bpf_progs_at_start": len(json.loads(run(["bpftool", "prog", "show", "-j"]).stdout)),
        "ktrail": a.ktrail,
        "ktrail_source": (f"git archive {a.source_ref}" if a.source_ref else "working tree of " + REPO),
        "git_head": a.source_ref or run(["git", "-C", REPO, "rev-parse", "HEAD"],
                                        check=False).stdout.strip(),
        # Uncommitted changes outside bench/ that went into a working-tree build.
        "git_dirty": [] if a.source_ref else [
            l[3:] for l in run(["git", "-C", REPO, "status", "--porcelain"],
                               check=False).stdout.splitlines() if not l[3:].startswith("bench/")],
    }
    mounted_tracefs = False
    stats_prev = read_sysctl("kernel.bpf_stats_enabled")
    runs, soak = [], None
    result_file = os.path.join(a.out, f"exec_overhead-{stamp}.json")

    def save():
        with open(result_file, "w") as f:
            json.dump({"meta": meta, "runs": runs, "soak": soak,
                       "summary": summarize(runs, configs, workers_list)}, f, indent=1)

    rc = 0
    try:
        if "bpftrace" in configs and not is_mounted("/sys/kernel/tracing"):
            run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            mounted_tracefs = True
        if stats_prev != "0":
            log("warning: kernel.bpf_stats_enabled is already on; its overhead will weigh on "
                "the BPF tracers' throughput")
        n_bpf = sum(1 for c, _ in items if c.startswith("ktrail") or c == "bpftrace")
        eta = a.rounds * (len(items) * (a.seconds + 2) + n_bpf * (stats_s + 1)) + a.soak
        log(f"{a.rounds} rounds x {len(items)} runs of {a.seconds:g} s (about {eta / 60:.0f} min); "
            f"load {a.load}, target {target}; work dir {workdir}")
        for rnd in range(a.rounds):
            k = rnd % len(items)
            for cfg, w in items[k:] + items[:k]:
                rundir = os.path.join(workdir, f"r{rnd}-{cfg}-w{w}")
                os.makedirs(rundir)
                waited = wait_quiet(a.quiet_wait) if a.quiet_wait > 0 else 0
                try:
                    r = one_run(tracers[cfg], w, a.seconds, forkexec, load_args, comm, rundir,
                                a.drain, stats_s, emptytp=emptytp)
                except RuntimeError as e:
                    # A shared machine: one retry before giving up on the whole benchmark.
                    log(f"round {rnd + 1} {cfg} w={w} failed ({e}); retrying once")
                    shutil.rmtree(rundir, ignore_errors=True)
                    os.makedirs(rundir)
                    time.sleep(3)
                    r = one_run(tracers[cfg], w, a.seconds, forkexec, load_args, comm, rundir,
                                a.drain, stats_s, emptytp=emptytp)
                r["round"] = rnd
                r["quiet_waited_s"] = waited
                runs.append(r)
                save()
                m = per_run_metrics(r)
                log(f"round {rnd + 1}/{a.rounds} {cfg:8s} w={w}: {r['rate']:8.0f} ops/s, "
                    f"received {r['received']}/{r['execs_all']}, lost {r['lost']}, "
                    f"task CPU {m['bench_us_exec']:.3f} µs/op, agent {fmt(m['agent_us_exec'], '.3f')} µs/op, "
                    f"in-kernel {fmt(m['kernel_us_exec'], '.3f')} µs/op, other load "
                    f"{100 * r['foreign_cpu']:.0f}%{' +foreign BPF' if r['foreign_bpf'] else ''}"
                    f"{f' (waited {waited:.0f} s for quiet)' if waited >= 1 else ''}")
                if not a.keep:
                    shutil.rmtree(rundir, ignore_errors=True)
        if a.soak:
            rundir = os.path.join(workdir, "soak")
            os.makedirs(rundir)
            log(f"soak: ktrail, 2 workers, {a.soak:g} s")
            if a.quiet_wait > 0:
                wait_quiet(a.quiet_wait)
            soak = one_run(tracers["ktrail"], 2, a.soak, forkexec, [target], comm, rundir, a.drain,
                          stats_s, stats_whole=stats_s > 0)
            soak["round"] = "soak"
            save()
            if not a.keep:
                shutil.rmtree(rundir, ignore_errors=True)
    except (KeyboardInterrupt, Interrupted) as e:
        log(f"interrupted ({e or 'SIGINT'}); cleaning up")
        rc = 130
    except Exception as e:
        log(f"error: {e}; cleaning up")
        rc = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for t in tracers.values():
            try:
                t.stop()
            except Exception:
                pass
        # Belt and braces: our audit rule must not survive us.
        if shutil.which("auditctl") and f"-k {AUDIT_KEY}" in run(["auditctl", "-l"], check=False).stdout:
            run(["auditctl", "-d"] + AUDIT_RULE, check=False)
        # BpfStats restores the sysctl itself; this covers an interrupt between its steps.
        write_sysctl("kernel.bpf_stats_enabled", stats_prev)
        if mounted_tracefs:
            run(["umount", "/sys/kernel/tracing"], check=False)
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    save()
    rows = summarize(runs, configs, workers_list)
    md = markdown(rows, soak, a.load)
    src = meta["git_head"][:12] + (" + uncommitted changes" if meta["git_dirty"] else "")
    header = (f"{meta['date_utc']} | {meta['cpu']} | nproc {meta['nproc']} | kernel {meta['kernel']} | "
              f"ktrail {src} | "
              f"{a.rounds} rounds x {a.seconds:g} s | load {a.load} | target {os.path.basename(target)} | "
              f"in-kernel: {f'separate {stats_s:g} s segment with bpf stats' if stats_s else 'not measured'}")
    with open(result_file[:-5] + ".md", "w") as f:
        f.write(header + "\n\n" + md + "\n")
    print(header + "\n\n" + md)
    log(f"raw results: {result_file}")
    if soak and rc == 0 and not (soak["received"] == soak["execs_all"] and soak["lost"] == 0):
        log("soak: exec events were lost (reported, not a failure of the harness)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
