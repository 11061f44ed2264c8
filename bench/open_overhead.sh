#!/usr/bin/env bash
# Sensitive-file and capability overhead (issue 4). Interleaved rounds, medians, ratios:
#   open: open+close of unwatched paths, no tracer vs `ktrail run` (default events plus file,
#         default watch list), with the ia32 raw hooks (default) and with --ia32 off, and with
#         --ia32 off and only the default entries whose directories exist here ("inode": a
#         successful open is then matched on the opened file alone, no path string read);
#   exec: fork+exec of /bin/true, no tracer vs `ktrail run --events capable --cap-policy all`
#         (capability hook alone) and vs the default event set;
#   caps: cap_capable checks seen by the kernel hook vs capable events emitted, and the same
#         raw count from the classic capability:cap_capable tracepoint via perf when present.
# Usage: bench/open_overhead.sh [ROUNDS] [SECONDS]   (root; builds into build/ if needed;
#        KTRAIL_BIN=path benchmarks another binary)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
rounds=${1:-5}
secs=${2:-3}
[[ $(id -u) -eq 0 ]] || { echo "open_overhead: run as root" >&2; exit 1; }
bin=${KTRAIL_BIN:-$repo/build/ktrail}
[[ -x $bin ]] || { cmake -S "$repo" -B "$repo/build" >/dev/null && make -C "$repo/build" -j2 ktrail >/dev/null; }
out=$(mktemp -d /tmp/ktrail-bench-XXXXXX)
cc -O2 -Wall -o "$out/openload" "$here/openload.c"
agent=""
cleanup() { [[ -n $agent ]] && kill -INT "$agent" 2>/dev/null && wait "$agent" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

start_agent() {  # args...: starts ktrail, waits for "tracing via"
  "$bin" run --format json -o "file:$out/events.ndjson" "$@" 2>"$out/agent.err" &
  agent=$!
  for _ in $(seq 1 300); do grep -q "tracing via" "$out/agent.err" && return 0; sleep 0.1; done
  echo "agent did not start" >&2; cat "$out/agent.err" >&2; exit 1
}
stop_agent() { kill -INT "$agent"; wait "$agent" || true; agent=""; }

# The default watch list minus the entries whose directory is missing on this host: with a
# directory missing, the kernel also checks every open's walk against the missing directory's
# nearest existing ancestor (README, Sensitive files); this configuration leaves that out.
existing_watch=(--no-default-watch)
for w in /etc/shadow /etc/gshadow /etc/sudoers /etc/sudoers.d/ w:/etc/passwd w:/etc/group /etc/ssh/ \
         /root/.ssh/ '*/.ssh/authorized_keys' /var/run/secrets/kubernetes.io/ /run/secrets/; do
  p=${w#w:}
  case $p in
    \**) existing_watch+=(--watch "$w") ;;
    */) [[ -d $p ]] && existing_watch+=(--watch "$w") ;;
    *) [[ -d $(dirname "$p") ]] && existing_watch+=(--watch "$w") ;;
  esac
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

run_config() {  # name load agent-args...
  local name=$1 load=$2; shift 2
  if [[ $name != none ]]; then start_agent "$@"; fi
  "$out/openload" "$load" "$secs" >>"$out/$load.$name"
  if [[ $name != none ]]; then stop_agent; fi
}

for r in $(seq 1 "$rounds"); do
  run_config none open
  run_config ktrail open --events exec,exit,cred,ssh,capable,file
  run_config noia32 open --events exec,exit,cred,ssh,capable,file --ia32 off
  run_config inode open --events exec,exit,cred,ssh,capable,file --ia32 off "${existing_watch[@]}"
  run_config none exec
  run_config caps exec --events capable --cap-policy all
  run_config ktrail exec
done
mo_none=$(median <"$out/open.none"); mo_kt=$(median <"$out/open.ktrail"); mo_n32=$(median <"$out/open.noia32")
mo_ino=$(median <"$out/open.inode")
me_none=$(median <"$out/exec.none"); me_caps=$(median <"$out/exec.caps"); me_kt=$(median <"$out/exec.ktrail")

# Capability volume: one exec storm, raw checks vs events.
start_agent --events capable --cap-policy all --cap-interval 1
perf_raw=""
if command -v perf >/dev/null && [[ -d /sys/kernel/tracing/events/capability/cap_capable ]]; then
  perf_raw=$(perf stat -x, -e capability:cap_capable -a -- "$out/openload" exec "$secs" 2>&1 >/dev/null | awk -F, '/cap_capable/ {print $1}')
else
  "$out/openload" exec "$secs" >/dev/null
fi
sleep 1.5
stop_agent
line=$(grep -o "capability checks: .*" "$out/agent.err" || true)
seen=$(sed -E 's/capability checks: ([0-9]+) seen.*/\1/' <<<"$line")
events=$(grep -c '"action":"capable"' "$out/events.ndjson" || true)

printf 'open  ops/s  none %s  ktrail(+file) %s  ratio %.3f  --ia32 off %s  ratio %.3f\n' "$mo_none" "$mo_kt" \
  "$(echo "$mo_kt / $mo_none" | bc -l)" "$mo_n32" "$(echo "$mo_n32 / $mo_none" | bc -l)"
printf 'open  ops/s  --ia32 off, watch list of existing directories (%s) %s  ratio %.3f\n' \
  "${existing_watch[*]}" "$mo_ino" "$(echo "$mo_ino / $mo_none" | bc -l)"
printf 'exec  /s     none %s  capable-only %s  ratio %.3f  ktrail(default) %s  ratio %.3f\n' \
  "$me_none" "$me_caps" "$(echo "$me_caps / $me_none" | bc -l)" "$me_kt" "$(echo "$me_kt / $me_none" | bc -l)"
printf 'caps  raw checks (ktrail hook) %s  perf raw %s  capable events %s  fraction %.5f\n' \
  "$seen" "${perf_raw:-n/a}" "$events" "$(echo "$events / $seen" | bc -l)"
echo "rounds $rounds x ${secs}s, interleaved; $(uname -r); $(nproc) vCPU; $(date -u +%FT%TZ)"
