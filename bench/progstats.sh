#!/bin/bash
# In-kernel cost per operation of every BPF program, from kernel.bpf_stats_enabled.
# usage: bench/progstats.sh KTRAIL OPENLOAD LOAD(open|exec) SECONDS [ktrail run args...]
# Runs `KTRAIL run` (json to a scratch file), waits until it traces, runs `OPENLOAD LOAD SECONDS`
# and prints, per program of that agent that ran, runs per operation and ns per run (run_time_ns / run_cnt).
# These figures come from the kernel's own accounting, so they hold up on a busy machine,
# unlike throughput. OPENLOAD is bench/openload.c (cc -O2 -o /tmp/openload bench/openload.c).
# Calibration: run_time_ns is the time between two sched_clock() reads around the program, so
# it includes one clock read per run (~54 ns in this VM, where sched_clock is a kvm-clock read).
# An empty program (bench/emptytp.c) on raw_syscalls/sys_enter runs during the same load; its
# ns/run is that instrument cost, and "net" columns subtract it per run.
set -euo pipefail
ktrail=$1 openload=$2 load=$3 secs=$4
shift 4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; sysctl -qw kernel.bpf_stats_enabled=0' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
cc -O2 -o "$tmp/emptytp" "$(dirname "$0")/emptytp.c"
"$tmp/emptytp" raw_syscalls/sys_enter >"$tmp/empty.log" 2>&1 &
empty=$!
for _ in $(seq 50); do grep -q Attaching "$tmp/empty.log" && break; sleep 0.1; done
grep -q Attaching "$tmp/empty.log" || { cat "$tmp/empty.log" >&2; exit 1; }
sed -n 's/^prog_id:[[:space:]]*//p' /proc/"$empty"/fdinfo/* 2>/dev/null | sort -u >"$tmp/empty_id"
"$ktrail" run --format json -o "file:$tmp/out.ndjson" --metrics-addr off --chain-state none "$@" \
  2>"$tmp/err" &
agent=$!
for _ in $(seq 100); do grep -q "tracing via" "$tmp/err" && break; sleep 0.1; done
grep -q "tracing via" "$tmp/err" || { cat "$tmp/err" >&2; kill "$agent"; exit 1; }
# Only this agent's programs (other tracers may run on the host): the ids its fds hold.
cat /proc/"$agent"/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:[[:space:]]*//p' | sort -u >"$tmp/ids"
bpftool prog show -j >"$tmp/before.json"
rate=$("$openload" "$load" "$secs")
bpftool prog show -j >"$tmp/after.json"
kill -INT "$agent"
wait "$agent" || true
kill "$empty"
wait "$empty" || true
python3 - "$rate" "$secs" "$tmp" <<'PY'
import json, sys
ops = float(sys.argv[1]) * float(sys.argv[2])
tmp = sys.argv[3]
ids = {int(x) for x in open(f'{tmp}/ids').read().split()}
empty_id = int(open(f'{tmp}/empty_id').read().split()[0])
before = {p['id']: p for p in json.load(open(f'{tmp}/before.json'))}
after = json.load(open(f'{tmp}/after.json'))
def delta(p):
    q = before.get(p['id'], {})
    return p.get('run_cnt', 0) - q.get('run_cnt', 0), p.get('run_time_ns', 0) - q.get('run_time_ns', 0)
er, en = next(delta(p) for p in after if p['id'] == empty_id)
floor = en / er if er else 0.0
total = net = 0
for p in after:
    if p['id'] not in ids or p['id'] not in before:
        continue
    runs, ns = delta(p)
    if runs == 0:
        continue
    total += ns
    net += ns - runs * floor
    print(f"{p.get('name', '?'):24s} runs/op={runs / ops:7.2f} ns/run={ns / runs:7.1f} net ns/run={ns / runs - floor:7.1f} ns/op={ns / ops:8.1f}")
print(f"empty program (instrument cost): ns/run={floor:.1f} over {er} runs")
print(f"ops={ops:.0f} total in-kernel ns/op={total / ops:.1f} net of the instrument={net / ops:.1f}")
PY
