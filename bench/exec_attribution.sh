#!/bin/bash
# Where ktrail's cost in the exec storm goes, as shares of the whole machine's CPU.
# usage: bench/exec_attribution.sh KTRAIL [SECONDS] [ktrail run args...]
#
# Throughput ratios on this VM move by +-5 % from round to round, more than ktrail costs, and
# bpf_stats sees only the programs' bodies. This samples every CPU instead (`perf record -a -g`)
# while `forkexec -w 2 ktb-true` (bench/out/bin, built by bench/exec_overhead.sh) saturates the
# machine, once with no tracer and once with `KTRAIL run` (json to a file, no metrics server,
# otherwise default options plus the given ones), and splits the difference by where the
# samples sit:
#   agent            samples of the ktrail process itself
#   syscall hooks    under syscall_trace_enter / syscall_exit_work: the syscall slow path that
#                    any syscall tracepoint turns on, the raw_syscalls dispatch and programs
#   uprobe_mmap      every executable file mapping on the host looks for uprobes once any
#                    exists (ktrail's libpam uprobe, --events ssh)
#   sched programs   the sched_process_exec and cap_capable programs with their dispatch
#                    (bpf_trace_run3/5: the tracepoints' thunks jump there, so they leave no
#                    frame) and the sched_process_exit program
# A share of the machine is what the storm loses to it: the implied throughput ratio is
# 1 - the sum. perf's own sampling is in both runs and cancels out.
set -euo pipefail
ktrail=$1
secs=${2:-8}
shift $(($# >= 2 ? 2 : 1))
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/out/bin
[ -x "$bin/forkexec" ] && [ -x "$bin/ktb-true" ] || { echo "run bench/exec_overhead.sh once first (it builds $bin)" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
tmp=$(mktemp -d)
agent=
trap '[ -n "$agent" ] && kill "$agent" 2>/dev/null; rm -rf "$tmp"' EXIT

profile() {  # profile LABEL: storm + perf record -a, perf reports into $tmp/LABEL.*
  local label=$1
  "$bin/forkexec" -t $((secs + 2)) -w 2 "$bin/ktb-true" >"$tmp/$label.storm" &
  local storm=$!
  sleep 1
  perf record -q -a -g -F 2999 -o "$tmp/$label.data" -- sleep "$secs" >/dev/null 2>&1
  wait "$storm"
  perf report -i "$tmp/$label.data" --no-children --sort comm --stdio 2>/dev/null >"$tmp/$label.comm"
  perf report -i "$tmp/$label.data" --children --sort sym -g none --stdio 2>/dev/null >"$tmp/$label.sym"
}

profile none
"$ktrail" run --format json -o "file:$tmp/out.ndjson" --chain-state "$tmp/chain.state" \
  --metrics-addr off "$@" 2>"$tmp/err" >/dev/null &
agent=$!
for _ in $(seq 100); do grep -q "tracing via" "$tmp/err" && break; sleep 0.1; done
grep -q "tracing via" "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
profile ktrail
kill -INT "$agent"
wait "$agent" || true
agent=

python3 - "$tmp" "$*" <<'PY'
import json, re, sys
tmp, args = sys.argv[1], sys.argv[2]

def comm_share(label, comm):
    for line in open(f"{tmp}/{label}.comm"):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
        if m and m.group(2) == comm:
            return float(m.group(1))
    return 0.0

def children(label, names, pattern=None):
    total = 0.0
    for line in open(f"{tmp}/{label}.sym"):
        m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[.\]\s+(\S+)", line)
        if m and (m.group(2) in names or (pattern and re.fullmatch(pattern, m.group(2)))):
            total += float(m.group(1))
    return total

cats = [
    ("agent", lambda l: comm_share(l, "ktrail")),
    ("syscall hooks", lambda l: children(l, {"syscall_trace_enter", "syscall_exit_work"})),
    ("uprobe_mmap", lambda l: children(l, {"uprobe_mmap"})),
    ("sched programs", lambda l: children(l, {"bpf_trace_run3", "bpf_trace_run5"},
                                          r"bpf_prog_[0-9a-f]+_\w*sched_process_exit")),
]
storm = {l: json.load(open(f"{tmp}/{l}.storm")) for l in ("none", "ktrail")}
print(f"exec storm, 2 workers, ktrail run {args or '(default options)'}")
print(f"execs/s during the profile: none {storm['none']['rate']:.0f}, ktrail {storm['ktrail']['rate']:.0f}")
print("| part | share of the machine, none | with ktrail | ktrail's cost |")
print("|---|---:|---:|---:|")
total = 0.0
for name, f in cats:
    a, b = f("none"), f("ktrail")
    total += b - a
    print(f"| {name} | {a:.2f} % | {b:.2f} % | {b - a:.2f} % |")
print(f"| **sum** | | | **{total:.2f} %** (implied throughput ratio {1 - total / 100:.3f}) |")
PY
