#!/usr/bin/env bash
# Offline validation of deploy/: no cluster, no container engine and no systemd PID 1 here.
#   yamllint; kubectl kustomize (when kubectl exists) renders both variants; structure checks
#   (check_manifests.py) on the rendered output; systemd-analyze verify + security --offline on
#   the unit; the Containerfile's final stage is `scratch` with only the static binary.
# Usage: check-deploy.sh KTRAIL_BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

yamllint -s -d '{extends: default, rules: {line-length: {max: 110}}}' deploy/kubernetes || fail=1

if command -v kubectl >/dev/null; then
  for v in base privileged; do
    mkdir -p "$tmp/$v"
    kubectl kustomize "deploy/kubernetes/$v" >"$tmp/$v/rendered.yaml" || { echo "FAIL: kustomize $v"; fail=1; }
  done
else
  echo "check-deploy: kubectl not installed: checking the base files unrendered, privileged overlay skipped"
  mkdir -p "$tmp/base"
  cat deploy/kubernetes/base/*.yaml >"$tmp/base/rendered.yaml"
fi
python3 tests/deploy/check_manifests.py "$tmp/base" || fail=1
[[ -f $tmp/privileged/rendered.yaml ]] && { python3 tests/deploy/check_manifests.py "$tmp/privileged" --privileged || fail=1; }

# The unit as installed, pointing at the built binary.
sed "s|/usr/local/bin/ktrail|$bin|g" deploy/systemd/ktrail.service >"$tmp/ktrail.service"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$tmp/ktrail.service" || { echo "FAIL: systemd-analyze verify"; fail=1; }
  score=$(systemd-analyze security --offline=yes "$tmp/ktrail.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for ktrail.service: \([0-9.]*\).*/\1/p')
  echo "check-deploy: systemd exposure level $score (0 = fully locked down, 10 = unprotected)"
  awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 5.0) }' || { echo "FAIL: exposure $score > 5.0"; fail=1; }
else
  echo "check-deploy: systemd-analyze missing: unit not verified"
fi
for k in ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= AmbientCapabilities=; do
  grep -q "^$k" deploy/systemd/ktrail.service || { echo "FAIL: unit lacks $k"; fail=1; }
done

# The example config is valid, and the ConfigMap ships exactly it.
"$bin" config check deploy/ktrail.yaml || { echo "FAIL: deploy/ktrail.yaml does not pass config check"; fail=1; }
python3 - <<'PY' || fail=1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/base/configmap.yaml")) if d]
embedded = docs[0]["data"]["ktrail.yaml"]
if embedded != open("deploy/ktrail.yaml").read():
    print("FAIL: the ConfigMap's ktrail.yaml differs from deploy/ktrail.yaml")
    sys.exit(1)
PY

last_from=$(grep -E '^FROM ' deploy/Containerfile | tail -1)
[[ $last_from == "FROM scratch" ]] || { echo "FAIL: final image stage is '$last_from', not scratch"; fail=1; }
grep -q 'KTRAIL_STATIC=ON' deploy/Containerfile || { echo "FAIL: Containerfile does not build static"; fail=1; }

((fail == 0)) && echo "check-deploy: PASS"
exit $fail
