#!/usr/bin/env bash
# Tamper-evident trail benchmarks (README "Tamper-evident trail"):
#  1. `ktrail verify` throughput on a generated signed trail (plain and gzip), goal >= 100 MB/s;
#  2. the chain's cost per event: Pipeline::emit with and without it (ktrail_chain_bench).
# Usage: bench/verify_bench.sh [EVENTS]   (build first: scripts/build.sh or cmake + make)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EVENTS=${1:-1000000}
ROUNDS=${ROUNDS:-5}
OUT=bench/out/integrity
mkdir -p "$OUT"
KTRAIL=$BUILD/ktrail
GEN=$BUILD/bench/integrity/ktrail_chain_bench
[ -x "$KTRAIL" ] && [ -x "$GEN" ] || { echo "build first ($KTRAIL, $GEN)" >&2; exit 2; }

echo "machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

openssl genpkey -algorithm ed25519 -out "$OUT/key.pem" 2>/dev/null
chmod 600 "$OUT/key.pem"
openssl pkey -in "$OUT/key.pem" -pubout -out "$OUT/pub.pem"
"$GEN" --write-trail "$OUT/trail.ndjson" --signing-key "$OUT/key.pem" --events "$EVENTS"
gzip -1 -c "$OUT/trail.ndjson" >"$OUT/trail.ndjson.gz"
BYTES=$(stat -c %s "$OUT/trail.ndjson")
echo "trail:   $EVENTS events + checkpoints, $BYTES bytes ($(stat -c %s "$OUT/trail.ndjson.gz") gzipped)"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# measure NAME FILE: MB/s of uncompressed trail per second of wall time and per second of CPU
# time (user+sys: what other load on a shared machine does not distort), medians of ROUNDS, warm
# page cache.
measure() {
  local name=$1 file=$2 wall=() cpu=() t
  "$KTRAIL" verify --pubkey "$OUT/pub.pem" "$file" >/dev/null  # warm-up, and must pass
  for _ in $(seq "$ROUNDS"); do
    t=$( { TIMEFORMAT='%R %U %S'; time "$KTRAIL" verify --pubkey "$OUT/pub.pem" "$file" >/dev/null; } 2>&1 )
    wall+=("$(awk -v b="$BYTES" -v t="$t" 'BEGIN {split(t, x, " "); printf "%.0f", b / 1e6 / x[1]}')")
    cpu+=("$(awk -v b="$BYTES" -v t="$t" 'BEGIN {split(t, x, " "); printf "%.0f", b / 1e6 / (x[2] + x[3])}')")
  done
  echo "verify $name: wall median $(printf '%s\n' "${wall[@]}" | median) MB/s (${wall[*]});" \
       "cpu median $(printf '%s\n' "${cpu[@]}" | median) MB/s (${cpu[*]})"
}
measure plain "$OUT/trail.ndjson"
measure gzip "$OUT/trail.ndjson.gz"

echo "chain cost per event (Pipeline::emit, $EVENTS events x $ROUNDS interleaved rounds):"
"$GEN" --events "$EVENTS" --rounds "$ROUNDS"
