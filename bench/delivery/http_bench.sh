#!/usr/bin/env bash
# Events/s into each HTTP output (OTLP protobuf/JSON, Loki, Splunk HEC, Elasticsearch) with the
# spool on, over TLS with gzip, against the stand-ins in --discard mode. Prints a markdown table
# of medians (interleaved rounds) for bench/RESULTS.md.
#   bench/delivery/http_bench.sh [records=100000] [rounds=3] [nofsync]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
cmake --build "$BUILD" -j2 --target ktrail_http_bench >/dev/null
D=$(mktemp -d /tmp/ktrail-http-bench-certs.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$D"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
  -extfile server.ext 2>/dev/null
"$BUILD/bench/delivery/ktrail_http_bench" "$ROOT/tests/delivery/http_collectors.py" "$D" "${1:-100000}" "${2:-3}" ${3:-}
