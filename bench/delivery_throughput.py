#!/usr/bin/env python3
"""Delivery throughput: records per CPU-second of the network outputs, spool on.

Python 3 standard library only. Needs root (part B loads BPF), rsyslog and rsyslog-gnutls
(scripts/install-deps.sh bench), openssl, a C compiler, and a build with ktrail and
ktrail_delivery_bench (cmake --build BUILD --target ktrail ktrail_delivery_bench).

A. The delivery path alone (bench/delivery/delivery_bench.cpp): a real 1.4 KB exec record,
   formatted as RFC 5424, appended to the spool, read back by the sender thread and sent to a
   real rsyslog over TCP or TLS, until the spool's cursor confirms the last one. Denominator:
   the process's CPU time (every thread). Configurations: tcp, tls (both fsync on flush, as the
   agent runs), tcp without fsync (what the fsync costs).
B. The whole agent fed by real execs (bench/forkexec.c, 2 workers of fork+exec /bin/true):
   `ktrail run --events exec,exit` with `-o file:` only, `-o syslog+tcp://`, `-o syslog+tls://`.
   Denominator: the agent's utime+stime from /proc/PID/stat, taken before it is stopped.
   Events: the agent's own "N events emitted" count (the whole host's execs).

Rounds are interleaved (each round runs every configuration once, in an order rotating from
round to round, so drift on a shared VM hits all alike); medians are reported.
"""
import argparse
import datetime
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_listening(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"rsyslog did not listen on {port}")


def make_certs(d):
    q = dict(cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                    "-out", "ca.pem", "-days", "2", "-subj", "/CN=ktrail-bench-ca"], **q)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
                    "-out", "server.csr", "-subj", "/CN=localhost"], **q)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"], **q)


class Rsyslog:
    """One rsyslogd (one stream driver per instance), writing messages to a file it truncates
    between runs so the disk does not fill."""

    def __init__(self, d, name, tls):
        self.dir = os.path.join(d, name)
        os.makedirs(os.path.join(self.dir, "work"))
        self.port = free_port()
        self.out = os.path.join(self.dir, "out.log")
        glob = f'workDirectory="{self.dir}/work" maxMessageSize="64k"'
        mod = 'module(load="imtcp")'
        if tls:
            glob += (f' DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{d}/ca.pem"'
                     f' DefaultNetstreamDriverCertFile="{d}/server.pem"'
                     f' DefaultNetstreamDriverKeyFile="{d}/server.key"')
            mod = ('module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" '
                   'StreamDriver.AuthMode="anon")')
        conf = os.path.join(self.dir, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(f"global({glob})\n{mod}\n"
                    f'input(type="imtcp" address="127.0.0.1" port="{self.port}")\n'
                    'template(name="m" type="string" string="%msg%\\n")\n'
                    f'action(type="omfile" file="{self.out}" template="m")\n')
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(self.dir, "pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def truncate(self):
        if os.path.exists(self.out):
            os.truncate(self.out, 0)

    def cpu_s(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def part_a(build, tmp, collectors, records, rounds):
    bench = os.path.join(build, "bench", "delivery", "ktrail_delivery_bench")
    configs = {
        "tcp": (f"syslog+tcp://127.0.0.1:{collectors['tcp'].port}", "1"),
        "tls": (f"syslog+tls://127.0.0.1:{collectors['tls'].port}?ca={tmp}/ca.pem", "1"),
        "tcp, no fsync": (f"syslog+tcp://127.0.0.1:{collectors['tcp'].port}", "0"),
    }
    names = list(configs)
    results = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            url, fsync = configs[n]
            spool = os.path.join(tmp, "spool-a")
            subprocess.run(["rm", "-rf", spool], check=True)
            col = collectors["tls" if n == "tls" else "tcp"]
            col.truncate()
            c0 = col.cpu_s()
            out = subprocess.run([bench, url, spool, str(records), "700", fsync], check=True,
                                 capture_output=True, text=True).stdout
            res = json.loads(out)
            res["rsyslog_cpu_s"] = col.cpu_s() - c0
            results[n].append(res)
            print(f"  A round {r + 1} {n}: {res['per_cpu_s']:.0f} records/CPU-s, "
                  f"{res['cpu_us_per_record']:.2f} us/record, wall {res['wall_s']:.2f} s", file=sys.stderr)
    return results


def agent_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def part_b(build, tmp, collectors, seconds, rounds, forkexec):
    ktrail = os.path.join(build, "ktrail")
    configs = {
        "file: only": ["-o", f"file:{tmp}/trail.ndjson"],
        "syslog+tcp": ["-o", f"syslog+tcp://127.0.0.1:{collectors['tcp'].port}"],
        "syslog+tls": ["-o", f"syslog+tls://127.0.0.1:{collectors['tls'].port}?ca={tmp}/ca.pem"],
    }
    names = list(configs)
    results = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            subprocess.run(["rm", "-rf", f"{tmp}/spool-b", f"{tmp}/trail.ndjson", f"{tmp}/chain.state"], check=True)
            for c in collectors.values():
                c.truncate()
            err_path = f"{tmp}/agent.stderr"
            with open(err_path, "w") as err:
                agent = subprocess.Popen([ktrail, "run", "--format", "json", "--events", "exec,exit",
                                          "--chain-state", f"{tmp}/chain.state", "--spool-dir", f"{tmp}/spool-b"]
                                         + configs[n], stdout=subprocess.DEVNULL, stderr=err)
            deadline = time.time() + 30
            while "tracing via" not in open(err_path).read():
                if time.time() > deadline or agent.poll() is not None:
                    sys.exit("agent did not start:\n" + open(err_path).read())
                time.sleep(0.05)
            c0 = agent_cpu_s(agent.pid)
            load = json.loads(subprocess.run([forkexec, "-t", str(seconds), "-w", "2", "/bin/true"], check=True,
                                             capture_output=True, text=True).stdout)
            time.sleep(0.5)  # the last drain cycle
            cpu = agent_cpu_s(agent.pid) - c0
            agent.send_signal(signal.SIGINT)
            agent.wait(60)
            log = open(err_path).read()
            m = re.search(r"stopped: (\d+) events emitted", log)
            if not m:
                sys.exit("no 'stopped:' line:\n" + log)
            events = int(m.group(1))
            res = {"events": events, "execs": load["execs"], "cpu_s": cpu, "per_cpu_s": events / cpu,
                   "cpu_us_per_event": cpu * 1e6 / events}
            results[n].append(res)
            print(f"  B round {r + 1} {n}: {events} events, {res['per_cpu_s']:.0f} events/CPU-s, "
                  f"{res['cpu_us_per_event']:.2f} us/event", file=sys.stderr)
    return results


def med(rs, key):
    return statistics.median(x[key] for x in rs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--records", type=int, default=100000, help="records per part A run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5, help="exec load per part B run")
    ap.add_argument("--skip-agent", action="store_true", help="part A only (no root needed)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ktrail-delivery-bench-")
    make_certs(tmp)
    forkexec = os.path.join(tmp, "forkexec")
    subprocess.run(["cc", "-O2", "-o", forkexec, os.path.join(BENCH_DIR, "forkexec.c")], check=True)
    collectors = {"tcp": Rsyslog(tmp, "tcp", False), "tls": Rsyslog(tmp, "tls", True)}
    try:
        ra = part_a(a.build, tmp, collectors, a.records, a.rounds)
        rb = {} if a.skip_agent else part_b(a.build, tmp, collectors, a.seconds, a.rounds, forkexec)
    finally:
        for c in collectors.values():
            c.stop()
        subprocess.run(["rm", "-rf", tmp])
    print(f"\n{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {a.rounds} rounds, medians\n")
    print("| delivery path | records/CPU-s | CPU µs/record | wall records/s | rsyslog CPU µs/record |")
    print("|---|---:|---:|---:|---:|")
    for n, rs in ra.items():
        print(f"| {n} | {med(rs, 'per_cpu_s'):.0f} | {med(rs, 'cpu_us_per_record'):.2f} | "
              f"{statistics.median(x['records'] / x['wall_s'] for x in rs):.0f} | "
              f"{statistics.median(x['rsyslog_cpu_s'] * 1e6 / x['records'] for x in rs):.2f} |")
    if rb:
        print("\n| whole agent, real execs | events/run | agent events/CPU-s | agent CPU µs/event |")
        print("|---|---:|---:|---:|")
        for n, rs in rb.items():
            print(f"| {n} | {med(rs, 'events'):.0f} | {med(rs, 'per_cpu_s'):.0f} | {med(rs, 'cpu_us_per_event'):.2f} |")


if __name__ == "__main__":
    main()
