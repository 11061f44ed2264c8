#!/usr/bin/env bash
# Installs everything ktrail needs to build and test on Debian 12 (bookworm).
# Idempotent: re-running only installs what is missing.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config git
  clang llvm            # BPF target + llvm-strip
  libbpf-dev bpftool    # used together: Debian pins both (libbpf 1.1.2 / bpftool 7.1)
  libelf-dev zlib1g-dev libzstd-dev
  libcli11-dev nlohmann-json3-dev libgtest-dev libssl-dev
  librelp-dev           # RELP output (delivery)
  libyaml-cpp-dev       # config file and alert rules (yaml-cpp ships a .a for the static build)
)
# openssh-server's postinst may try to start the system sshd (port 22); the SSH tests run
# their own sshd on a free loopback port with their own config, so either way is fine.
TEST_PKGS=( iproute2 procps python3 openssh-server openssh-client sshpass sudo
  qemu-system-x86 busybox-static file   # kernel matrix (scripts/kernel-matrix.sh)
  yamllint                              # deploy/ manifest checks
  podman runc containerd openssl        # tests/containers, TLS test servers
  rsyslog rsyslog-gnutls rsyslog-relp ) # tests/delivery: real collectors
TEST_PKGS+=( libclang-rt-14-dev )      # tests/fuzz: libFuzzer + ASan runtime for clang
# tests/metrics: a real Prometheus. Its postinst may start the system service (port 9090); the
# test runs its own instance with its own config, storage and free loopback port.
TEST_PKGS+=( prometheus )
BENCH_PKGS=( auditd bpftrace )

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  build) ;;
  test)  want+=("${TEST_PKGS[@]}") ;;
  bench) want+=("${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps auditd from being started by the package's postinst.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
