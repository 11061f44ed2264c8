#!/usr/bin/env bash
# shellcheck disable=SC1091 # /etc/os-release is the box's
# Runs the kernel-matrix checks on a full distribution (the Vagrant boxes): the same static
# ktrail and ktrail-vmcheck as the qemu matrix, on the box's own kernel.
#   vagrant-check.sh BIN_DIR   (BIN_DIR holds ktrail, ktrail-vmcheck, ktrail-e2e-helper)
set -euo pipefail
bin=${1:?usage: vagrant-check.sh BIN_DIR}
while read -r fstype dir; do
  mountpoint -q "$dir" || mount -t "$fstype" "$fstype" "$dir" || true
done <<'MOUNTS'
tracefs /sys/kernel/tracing
securityfs /sys/kernel/security
bpf /sys/fs/bpf
MOUNTS
args=()
if [[ ! -e /sys/kernel/btf/vmlinux ]]; then
  # No kernel BTF (Ubuntu 20.04's 5.4): use BTFHub's file for exactly this kernel.
  . /etc/os-release
  btf=/var/cache/ktrail/$(uname -r).btf
  if [[ ! -s $btf ]]; then
    mkdir -p /var/cache/ktrail
    url=https://github.com/aquasecurity/btfhub-archive/raw/main/$ID/$VERSION_ID/x86_64/$(uname -r).btf.tar.xz
    curl -fsSL "$url" | tar -xJ -O >"$btf"
  fi
  args+=(--btf "$btf")
fi
echo "== $(uname -r) ($(. /etc/os-release; echo "$PRETTY_NAME"))"
"$bin/ktrail" probe "${args[@]}" || true
# fentry/LSM expectations are for the Debian matrix kernels only; here the probe just reports.
exec "$bin/ktrail-vmcheck" --ktrail "$bin/ktrail" --helper "$bin/ktrail-e2e-helper" \
  --workdir /tmp/ktrail-vmcheck "${args[@]}"
