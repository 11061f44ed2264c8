#!/usr/bin/env bash
# What any syscall-tracepoint tracer must cost on a tight syscall loop, next to ktrail. LOAD open:
# open+close of unwatched paths (issue 4's open-heavy target is >= 0.97 of no tracer); LOAD
# write: 64-byte writes to /dev/null (every write on the host runs the program that picks
# sshd's log lines out). Interleaved rounds, medians, ratios to no tracer:
#   none        no tracer;
#   slowpath    an empty program (bench/emptytp.c) on an unrelated per-syscall tracepoint
#               (sys_enter_setuid): enabling any
#               syscalls:* tracepoint sets SYSCALL_TRACEPOINT work on every task, so every open
#               and close takes the syscall slow path; ktrail's cred/exec hooks need the same;
#   empty-exit  an empty program (bench/emptytp.c, attached the way libbpf attaches ktrail's) on
#               syscalls:sys_exit_openat (sys_exit_write): the
#               cheapest program that sees every call's result, on the kernel's perf-event path
#               for syscall tracepoints (the floor for any filter that runs per call on this
#               kernel, which offers no fentry/LSM/kprobe; ENVIRONMENT.md);
#   ktrail      default events (no file class), --ia32 off;
#   open:  ktrail-file: default events plus file, --ia32 off, and ktrail-file-ia32 with the
#          default --ia32 trace;
#   write: ktrail-nossh: --events exec,exit,cred,capable (no write-family hooks), --ia32 off, and
#          ktrail-ia32: default events and --ia32 trace.
# Usage: bench/syscall_floor.sh [ROUNDS] [SECONDS] [open|write]   (root; KTRAIL_BIN=path picks
#        the binary)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
rounds=${1:-5}
secs=${2:-3}
load=${3:-open}
[[ $load == open || $load == write ]] || { echo "syscall_floor: LOAD is open or write" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "syscall_floor: run as root" >&2; exit 1; }
bin=${KTRAIL_BIN:-$repo/build/ktrail}
[[ -x $bin ]] || { cmake -S "$repo" -B "$repo/build" >/dev/null && make -C "$repo/build" -j2 ktrail >/dev/null; }
out=$(mktemp -d /tmp/ktrail-floor-XXXXXX)
cc -O2 -Wall -o "$out/openload" "$here/openload.c"
cc -O2 -Wall -o "$out/emptytp" "$here/emptytp.c"
tracer=""
cleanup() { [[ -n $tracer ]] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

wait_for() {  # file pattern: the tracer has attached
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "syscall_floor: tracer did not start:" >&2; cat "$1" >&2; exit 1
}
start_empty() {
  "$out/emptytp" "$1" >"$out/tracer.log" 2>&1 &
  tracer=$!
  wait_for "$out/tracer.log" "Attaching"
}
start_ktrail() {
  "$bin" run --format json -o file:/dev/null --metrics-addr off --chain-state none "$@" 2>"$out/tracer.log" &
  tracer=$!
  wait_for "$out/tracer.log" "tracing via"
}
stop_tracer() { kill -INT "$tracer"; wait "$tracer" || true; tracer=""; }

if [[ $load == open ]]; then
  configs=(none slowpath empty-exit ktrail ktrail-file ktrail-file-ia32)
  exit_tp=sys_exit_openat
else
  configs=(none slowpath empty-exit ktrail ktrail-nossh ktrail-ia32)
  exit_tp=sys_exit_write
fi
run_config() {
  case $1 in
    none) ;;
    slowpath) start_empty syscalls/sys_enter_setuid ;;
    empty-exit) start_empty "syscalls/$exit_tp" ;;
    ktrail) start_ktrail --ia32 off ;;
    ktrail-file) start_ktrail --ia32 off --events exec,exit,cred,ssh,capable,file ;;
    ktrail-file-ia32) start_ktrail --events exec,exit,cred,ssh,capable,file ;;
    ktrail-nossh) start_ktrail --ia32 off --events exec,exit,cred,capable ;;
    ktrail-ia32) start_ktrail ;;
  esac
  "$out/openload" "$load" "$secs" >>"$out/$1"
  [[ $1 == none ]] || stop_tracer
}

n=${#configs[@]}
for r in $(seq 0 $((rounds - 1))); do
  for i in $(seq 0 $((n - 1))); do run_config "${configs[(i + r) % n]}"; done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
base=$(median <"$out/none")
printf '%-18s %12s %7s  %s\n' config "${load}s/s" ratio "runs (${load}s/s)"
for c in "${configs[@]}"; do
  m=$(median <"$out/$c")
  printf '%-18s %12.0f %7.3f  %s\n' "$c" "$m" "$(echo "$m / $base" | bc -l)" "$(tr '\n' ' ' <"$out/$c")"
done
echo "load $load; rounds $rounds x ${secs}s, interleaved (order rotated per round); $(uname -r); $(nproc) vCPU; $(date -u +%FT%TZ); ktrail $("$bin" version 2>/dev/null | head -1)"
