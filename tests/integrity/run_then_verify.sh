#!/usr/bin/env bash
# ktrail run (twice: a restart; with rotation and signed checkpoints), then ktrail verify.
set -euo pipefail
KTRAIL=${1:?usage: run_then_verify.sh path/to/ktrail}
if [ "$(id -u)" != 0 ]; then echo "skipped: needs root"; exit 77; fi
D=$(mktemp -d /tmp/ktrail-e2e-integrity.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

openssl genpkey -algorithm ed25519 -out "$D/key.pem" 2>/dev/null
chmod 600 "$D/key.pem"
openssl pkey -in "$D/key.pem" -pubout -out "$D/pub.pem"
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout -out "$D/other.pem"

run() {
  "$KTRAIL" run --duration 2 --events exec,exit -o "file:$D/trail.ndjson" \
    --chain-state "$D/chain.state" --signing-key "$D/key.pem" \
    --checkpoint-records 40 --file-max-bytes 100000 --file-max-files 1000 2>"$D/run.err" &
  local pid=$!
  sleep 0.7
  for _ in $(seq 60); do /bin/true; done
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { cat "$D/run.err" >&2; fail "ktrail run exited $rc"; }
}
run
run
ls "$D"/trail.ndjson* >/dev/null
grep -q '"action":"agent_start"' "$D/trail.ndjson"* || fail "no agent_start record"
if grep -q -- "$(sed -n 2p "$D/key.pem")" "$D"/run.err "$D"/trail.ndjson*; then fail "key material leaked"; fi

# Files in any order; OK, two runs, from genesis.
# shellcheck disable=SC2046
"$KTRAIL" verify --pubkey "$D/pub.pem" --json $(ls "$D"/trail.ndjson* | sort -r) >"$D/v.json" \
  || { cat "$D/v.json"; fail "verify exited $?"; }
python3 - "$D/v.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["result"] == "ok", r
assert r["start"] == "genesis" and r["verified"]["first"] == 1, r
assert r["restarts"] == 1 and r["final_checkpoint"], r
assert r["verified"]["last"] == r["last_sequence"] == r["records"], r
print("verified", r["records"], "records in", len(r["files"]), "files")
PY

# The same set: unknown key, and a deleted line.
set +e
# shellcheck disable=SC2046
"$KTRAIL" verify --pubkey "$D/other.pem" $(ls "$D"/trail.ndjson*) >/dev/null; rc=$?
[ "$rc" = 11 ] || fail "unknown key: exit $rc, want 11"
n=$(ls "$D"/trail.ndjson.* 2>/dev/null | wc -l)
{ for i in $(seq "$n" -1 1); do cat "$D/trail.ndjson.$i"; done; cat "$D/trail.ndjson"; } |
  sed '5d' | "$KTRAIL" verify --pubkey "$D/pub.pem" - >"$D/bad.txt"; rc=$?
set -e
[ "$rc" = 10 ] || fail "deleted line: exit $rc, want 10"
grep -q "FAILED: deleted at sequence 5" "$D/bad.txt" || { cat "$D/bad.txt"; fail "deleted line not named"; }
echo "ok"
