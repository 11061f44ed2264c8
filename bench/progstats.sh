#!/bin/bash
# In-kernel cost per operation of every BPF program, from kernel.bpf_stats_enabled.
# usage: bench/progstats.sh KTRAIL OPENLOAD LOAD(open|exec) SECONDS [ktrail run args...]
# Runs `KTRAIL run` (json to a scratch file), waits until it traces, runs `OPENLOAD LOAD SECONDS`
# and prints, per program of that agent that ran, runs per operation and ns per run (run_time_ns / run_cnt).
# These figures come from the kernel's own accounting, so they hold up on a busy machine,
# unlike throughput. OPENLOAD is bench/openload.c (cc -O2 -o /tmp/openload bench/openload.c).
set -euo pipefail
ktrail=$1 openload=$2 load=$3 secs=$4
shift 4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; sysctl -qw kernel.bpf_stats_enabled=0' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
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
python3 - "$rate" "$secs" "$tmp" <<'PY'
import json, sys
ops = float(sys.argv[1]) * float(sys.argv[2])
tmp = sys.argv[3]
ids = {int(x) for x in open(f'{tmp}/ids').read().split()}
before = {p['id']: p for p in json.load(open(f'{tmp}/before.json'))}
total = 0
for p in json.load(open(f'{tmp}/after.json')):
    q = before.get(p['id'])
    if not q or 'run_cnt' not in p or p['id'] not in ids:
        continue
    runs = p['run_cnt'] - q.get('run_cnt', 0)
    ns = p.get('run_time_ns', 0) - q.get('run_time_ns', 0)
    if runs == 0:
        continue
    total += ns
    print(f"{p.get('name', '?'):24s} runs/op={runs / ops:7.2f} ns/run={ns / runs:7.1f} ns/op={ns / ops:8.1f}")
print(f"ops={ops:.0f} total in-kernel ns/op={total / ops:.1f}")
PY
