#!/usr/bin/env python3
"""Agent CPU per record of two ktrail binaries attached to the same exec storm at once.

    bench/agent_paired.py [--rounds 9] [--seconds 6] [--workers 2] BASE_BIN NEW_BIN

On a shared machine the load of other processes moves bench/exec_overhead.sh's agent CPU per
event by more than a change to the agent does. Here both agents see the same storm, the same
load and each other's syscalls, so their ratio holds where the absolute figures do not. Each
round starts both (start order alternated), runs `forkexec -t SECONDS -w WORKERS ktb-true`
(bench/out/bin, built by bench/exec_overhead.sh), reads each agent's CPU (schedstat of all its
threads) from just before the storm to 0.6 s after it, and divides by the records that agent
wrote meanwhile. Both write JSON to a file with their own chain state, default options
otherwise. It then checks that both wrote the same storm records: every exec and exit record
of ktb-true, keyed by action and pid, must be identical once what differs by construction is
masked (wall-clock times: each agent has its own boot-to-realtime offset; the sequence and
the chain hash). Root only (BPF).
"""
import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMESTAMP = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"')


def cpu_ns(pid):
    total = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(f) as fh:
                total += int(fh.read().split()[0])
        except OSError:
            pass  # a thread that just ended
    return total


def lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def storm_records(path):
    out = {}
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            if d.get("process", {}).get("name") != "ktb-true":
                continue
            d.pop("@timestamp", None)
            d["event"].pop("sequence", None)
            d.get("ktrail", {}).pop("chain", None)
            out[(d["event"]["action"], d["process"]["pid"])] = TIMESTAMP.sub('"T"', json.dumps(d, sort_keys=True))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bindir", default=os.path.join(HERE, "out", "bin"))
    ap.add_argument("base")
    ap.add_argument("new")
    a = ap.parse_args()
    forkexec, target = os.path.join(a.bindir, "forkexec"), os.path.join(a.bindir, "ktb-true")
    for p in (forkexec, target):
        if not os.access(p, os.X_OK):
            sys.exit(f"agent_paired: {p} missing: run bench/exec_overhead.sh once (it builds them)")
    names = {"base": a.base, "new": a.new}
    per_record = {"base": [], "new": []}
    mismatches = 0
    for r in range(a.rounds):
        order = ["base", "new"] if r % 2 == 0 else ["new", "base"]
        d = tempfile.mkdtemp(prefix="ktrail-paired-")
        agents = {}
        try:
            for name in order:
                out = f"{d}/{name}.ndjson"
                err = open(f"{d}/{name}.err", "w")
                p = subprocess.Popen([names[name], "run", "--format", "json", "-o", f"file:{out}",
                                      "--chain-state", f"{d}/{name}.state"], stderr=err)
                agents[name] = (p, out)
            for name, (p, out) in agents.items():
                for _ in range(100):  # attached once agent_start is written
                    if lines(out) > 0 or p.poll() is not None:
                        break
                    time.sleep(0.1)
                if p.poll() is not None:
                    sys.exit(f"agent_paired: {names[name]} exited: see {d}/{name}.err")
            time.sleep(1.0)
            c0 = {n: cpu_ns(p.pid) for n, (p, _) in agents.items()}
            l0 = {n: lines(o) for n, (_, o) in agents.items()}
            subprocess.run([forkexec, "-t", str(a.seconds), "-w", str(a.workers), target],
                           stdout=subprocess.DEVNULL, check=True)
            time.sleep(0.6)
            c1 = {n: cpu_ns(p.pid) for n, (p, _) in agents.items()}
            l1 = {n: lines(o) for n, (_, o) in agents.items()}
            for p, _ in agents.values():
                p.send_signal(2)
            for p, _ in agents.values():
                p.wait()
            row = []
            for n in ("base", "new"):
                us = (c1[n] - c0[n]) / 1000 / max(l1[n] - l0[n], 1)
                per_record[n].append(us)
                row.append(f"{n} {us:.2f} µs ({l1[n] - l0[n]} records)")
            sa, sb = storm_records(agents["base"][1]), storm_records(agents["new"][1])
            both = sa.keys() & sb.keys()
            differ = sum(1 for k in both if sa[k] != sb[k])
            mismatches += differ + len(sa.keys() ^ sb.keys())
            print(f"round {r}: " + ", ".join(row) + f", ratio {per_record['new'][-1] / per_record['base'][-1]:.3f}; "
                  f"storm records {len(sa)} / {len(sb)}, {differ} differ", flush=True)
        finally:
            for p, _ in agents.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
            shutil.rmtree(d, ignore_errors=True)
    mb, mn = statistics.median(per_record["base"]), statistics.median(per_record["new"])
    ratios = [n / b for b, n in zip(per_record["base"], per_record["new"])]
    print(f"base {a.base}: median {mb:.2f} µs/record")
    print(f"new  {a.new}: median {mn:.2f} µs/record")
    print(f"ratio of medians {mn / mb:.3f}; median of per-round ratios {statistics.median(ratios):.3f} "
          f"[{min(ratios):.3f}-{max(ratios):.3f}]; storm records that differ: {mismatches}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
