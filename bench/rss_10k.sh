#!/usr/bin/env bash
# RSS of the whole agent with N live processes (default 10000): spawns N sleeping processes,
# starts `ktrail run` (which seeds its process cache from /proc), lets it run under an exec
# load, and reads VmRSS/VmHWM from /proc/<agent>/status. Needs root. Goal: <= 30 MB.
set -euo pipefail
KTRAIL=${KTRAIL:-$(dirname "$0")/../build/ktrail}
N=${1:-10000}
out=$(mktemp -d)
cleanup() {
  [[ -n "${agent:-}" ]] && kill -INT "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
  [[ -n "${holder:-}" ]] && kill -- -"$holder" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
ulimit -u unlimited 2>/dev/null || true
# One process group holds all sleepers, so cleanup ends exactly them.
setsid bash -c 'for ((i = 0; i < '"$N"'; i++)); do sleep 600 & done; wait' &
holder=$!
for _ in $(seq 1 600); do
  n=$(pgrep -c -g "$holder" sleep || true)
  [[ "$n" -ge "$N" ]] && break
  sleep 0.1
done
echo "live sleepers: $(pgrep -c -g "$holder" sleep)"
"$KTRAIL" run --format json --cloud off ${KTRAIL_ARGS:-} -o "file:$out/events.json" 2>"$out/stderr" &
agent=$!
for _ in $(seq 1 300); do grep -q "tracing via" "$out/stderr" && break; sleep 0.1; done
grep "tracing via" "$out/stderr"
# Some exec churn so every path (exec, exit, identity lookups) is exercised.
for ((i = 0; i < 2000; i++)); do /bin/true; done
sleep 2
grep -E 'VmRSS|VmHWM|RssAnon|RssFile|RssShmem' /proc/$agent/status
echo "events: $(wc -l < "$out/events.json")"
