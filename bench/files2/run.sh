#!/bin/bash
# Watched files, round 2 (bench/RESULTS.md): in-kernel ns per open with bpf_stats, and the
# candidate rate of build-like workloads.
# usage: bench/files2/run.sh BEFORE_KTRAIL AFTER_KTRAIL [ROUNDS]
#   needs /tmp/openload (gcc -O2 -o /tmp/openload bench/openload.c), root, bpftool.
set -euo pipefail
before=$1 after=$2 rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ktrail-files2-XXXXXX)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/renameload" "$here/renameload.c"
gcc -O2 -o "$work/deepload" "$here/deepload.c"
mkdir -p "$work/deep/a/b/c/d/e/f/g/h" "$work/proj"
echo x >"$work/deep/a/b/c/d/e/f/g/h/file"
# The default entries whose directories exist here: successful opens judged by the file alone.
existing=(--no-default-watch --watch /etc/shadow --watch /etc/gshadow --watch /etc/sudoers
  --watch /etc/sudoers.d/ --watch w:/etc/passwd --watch w:/etc/group --watch /etc/ssh/
  --watch '*/.ssh/authorized_keys')

# prog_ns BIN LOADCMD agent-args...: ns/run of sys_exit_openat while LOADCMD runs.
prog_ns() {
  local bin=$1 load=$2; shift 2
  sysctl -qw kernel.bpf_stats_enabled=1
  "$bin" run --format json -o file:"$work/ev.ndjson" --metrics-addr off --chain-state none "$@" 2>"$work/err" &
  local a=$!
  for _ in $(seq 100); do grep -q "tracing via" "$work/err" && break; sleep 0.1; done
  bpftool prog show -j >"$work/b.json"
  eval "$load" >/dev/null
  bpftool prog show -j >"$work/a.json"
  kill -INT $a; wait $a || true
  sysctl -qw kernel.bpf_stats_enabled=0
  python3 - "$work/b.json" "$work/a.json" <<'PY'
import json, sys
b = {p['id']: p for p in json.load(open(sys.argv[1]))}
for p in json.load(open(sys.argv[2])):
    q = b.get(p['id'])
    if q and p.get('name') == 'tracepoint__syscalls__sys_exit_openat':
        dc = p.get('run_cnt', 0) - q.get('run_cnt', 0)
        print(f"{(p.get('run_time_ns', 0) - q.get('run_time_ns', 0)) / max(dc, 1):.0f}")
PY
}

for r in $(seq "$rounds"); do
  for bin in "$before" "$after"; do
    echo "round $r $bin: existing-dir list $(prog_ns "$bin" "/tmp/openload open 3" --events file --ia32 off "${existing[@]}") ns," \
      "default list $(prog_ns "$bin" "/tmp/openload open 3" --events file --ia32 off) ns," \
      "12-level path $(prog_ns "$bin" "$work/deepload $work/deep/a/b/c/d/e/f/g/h/file" --events file --ia32 off "${existing[@]}") ns"
  done
done

# Candidates: the after binary, default watch list, metrics on a free loopback port.
port=$((20000 + RANDOM % 20000))
"$after" run --format json -o file:"$work/ev.ndjson" --metrics-addr 127.0.0.1:$port --chain-state none --events file 2>"$work/err" &
a=$!
for _ in $(seq 100); do grep -q "tracing via" "$work/err" && break; sleep 0.1; done
cand() { curl -s 127.0.0.1:$port/metrics | awk '/^ktrail_file_candidates_total/{s+=$2} END{print s+0}'; }
cpu() { curl -s 127.0.0.1:$port/metrics | awk '/^process_cpu_seconds_total/{print $2}'; }
c0=$(cand); u0=$(cpu)
"$work/renameload" "$work/proj" 5000
c1=$(cand); u1=$(cpu)
echo "renameload 5000: $((c1 - c0)) candidates (host-wide, other activity included), agent CPU $(echo "$u1 - $u0" | bc) s"
for i in $(seq 30); do printf 'int f%d(int x){return x*%d;}\n' "$i" "$i" >"$work/proj/f$i.c"; done
printf 'int main(void){return 0;}\n' >"$work/proj/main.c"
c0=$(cand)
(cd "$work/proj" && for f in *.c; do gcc -O2 -c "$f" -o "${f%.c}.o"; done && gcc -o prog ./*.o)
c1=$(cand)
echo "gcc of 31 files + link: $((c1 - c0)) candidates"
curl -s 127.0.0.1:$port/metrics | grep '^ktrail_file_candidates_total'
kill -INT $a; wait $a || true
echo "file events emitted: $(grep -c '"category":\["file"\]' "$work/ev.ndjson" || true)"
