#!/usr/bin/env bash
# Kernel matrix: boots real Debian kernels (5.10, 6.1, 6.12) under qemu TCG with a busybox
# initramfs holding the STATIC ktrail and the static checker (tests/matrix/vmcheck.c), runs
# the end-to-end checks inside each VM, and prints a results table. Exits non-zero on any
# failure, including a VM that never reports.
#
#   scripts/kernel-matrix.sh [--kernels "5.10 6.1 6.12 6.12-noia32"] [--jobs N] [--out DIR]
#                            [--cache DIR] [--host] [--keep]
#
#   --kernels  which Debian kernel series to boot (default all; "6.12-noia32" boots 6.12 with
#              ia32_emulation=0 and runs only the probe and the auto scenario: ktrail must see
#              that int $0x80 faults and attach no raw ia32 hooks)
#   --jobs     VMs booted at once (default 1; qemu TCG is CPU-bound, at most 2 here)
#   --out      results, serial logs and the initramfs (default build/matrix)
#   --cache    kernel package cache (default /var/cache/ktrail/kernels; CI keeps it warm)
#   --host     also run the same checker on the host kernel (needs root), as a table row
# Binaries: $KTRAIL_STATIC_BIN, $KTRAIL_VMCHECK and $KTRAIL_HELPER override the defaults
# (build/ktrail-static, build/tests/matrix/ktrail-vmcheck, build/tests/matrix/ktrail-e2e-helper-static),
# which are built with `cmake --build build --target ktrail-static ktrail-vmcheck ktrail-e2e-helper-static`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

kernels="5.10 6.1 6.12 6.12-noia32"
jobs=1
out=$root/build/matrix
cache=${KTRAIL_KERNEL_CACHE:-/var/cache/ktrail/kernels}
host=0
while (($#)); do
  case $1 in
    --kernels) kernels=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --host) host=1; shift ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
done
((jobs >= 1 && jobs <= 2)) || { echo "kernel-matrix: --jobs must be 1 or 2" >&2; exit 2; }
for tool in qemu-system-x86_64 busybox; do
  command -v "$tool" >/dev/null || { echo "kernel-matrix: $tool missing: scripts/install-deps.sh test" >&2; exit 2; }
done
busybox=$(command -v busybox)
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || {
  echo "kernel-matrix: $busybox is not static: install busybox-static" >&2; exit 2; }

ktrail=${KTRAIL_STATIC_BIN:-$root/build/ktrail-static}
vmcheck=${KTRAIL_VMCHECK:-$root/build/tests/matrix/ktrail-vmcheck}
helper=${KTRAIL_HELPER:-$root/build/tests/matrix/ktrail-e2e-helper-static}
if [[ ! -x $ktrail || ! -x $vmcheck || ! -x $helper ]]; then
  cmake -S . -B build >/dev/null
  cmake --build build -j"$(nproc)" --target ktrail-static ktrail-vmcheck ktrail-e2e-helper-static >/dev/null
fi
for b in "$ktrail" "$vmcheck" "$helper"; do
  file -L "$b" | grep -q 'statically linked' || { echo "kernel-matrix: $b is not static" >&2; exit 2; }
done

mkdir -p "$out"
rm -f "$out"/serial-*.log "$out"/result-*.txt

# ---- initramfs: busybox + four static files, no libraries -------------------------------------
t0=$(date +%s)
rootfs=$out/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,run,root}
cp "$busybox" "$rootfs/bin/busybox"
strip -o "$rootfs/bin/ktrail" "$ktrail"
cp "$vmcheck" "$rootfs/bin/ktrail-vmcheck"
cp "$helper" "$rootfs/bin/ktrail-e2e-helper"
cp tests/matrix/init "$rootfs/init"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
echo 6b747261696c6d6174726978766d3031 >"$rootfs/etc/machine-id"
# The VM kernels load fentry and LSM programs (the host cannot): the checker requires it.
# The loss scenarios must overflow a 1 MiB buffer: an exec and its exit take ~400 bytes of it
# (packed exec records), so 5000 execs need about twice the room there is.
echo "--expect-prog-types --expect-ia32 on --loss-execs ${KTRAIL_MATRIX_LOSS_EXECS:-5000}" >"$rootfs/etc/ktrail-vmcheck.args"
(cd "$rootfs" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) >"$out/initramfs.cpio"
stat -c %s "$rootfs/bin/ktrail" | awk '{printf "kernel-matrix: static ktrail %.1f MB (stripped)\n", $1/1048576}'

# ---- boot one kernel ----------------------------------------------------------------------------
boot() {
  local series=$1 vmlinuz log start rc extra=""
  log=$out/serial-$series.log
  start=$(date +%s)
  # ia32_emulation= exists from 6.7 on ("x86: Make IA32_EMULATION boot time configurable").
  [[ $series == *-noia32 ]] && extra=" ia32_emulation=0 ktrail_vmcheck=--only-ia32,--expect-ia32,off"
  if ! vmlinuz=$(tests/matrix/fetch-kernel.sh "${series%-noia32}" "$cache" 2>"$out/fetch-$series.log"); then
    echo "$series|-|-|-|FAIL (kernel download: $(tail -1 "$out/fetch-$series.log"))|0" >"$out/result-$series.txt"
    return
  fi
  # lsm=...,bpf: 5.10's default LSM list lacks bpf, and LSM programs then attach but never run.
  rc=0
  timeout "${KTRAIL_MATRIX_VM_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -cpu max -m 1G -smp 1 \
    -nographic -no-reboot -kernel "$vmlinuz" -initrd "$out/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 lsm=lockdown,capability,yama,bpf$extra" \
    </dev/null >"$log" 2>&1 || rc=$?
  summarize "$series" "$log" "$rc" $(($(date +%s) - start)) "$(basename "$(dirname "$vmlinuz")")"
}

# One result line: series|kernel|buffer/hooks per scenario|checks|PASS/FAIL|seconds
summarize() {
  local series=$1 log=$2 rc=$3 secs=$4 pkg=$5 release summary verdict variants fails
  tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
  release=$(sed -n 's/^KTRAIL-MATRIX kernel //p' "$log" | head -1)
  summary=$(sed -n 's/^KTRAIL-MATRIX summary //p' "$log" | tail -1)
  # capable-* scenarios trace cap_capable alone: their column shows that hook's variant.
  variants=$(sed -n -e 's/^KTRAIL-MATRIX variant \(capable[^ ]*\) buffer=[^ ]* hooks=.*cap_capable=\([^,]*\).*/\1: \2/p;t' \
    -e 's/^KTRAIL-MATRIX variant \([^ ]*\) buffer=\([^ ]*\) hooks=sched_process_exec=\([^,]*\),.*/\1: \2+\3/p' "$log" |
    paste -sd ';' | sed 's/;/; /g')
  fails=$(grep -c '^KTRAIL-MATRIX check .* FAIL' "$log" || true)
  if [[ -n $summary && $fails == 0 && $summary == *"fail=0"* ]]; then
    verdict=PASS
  elif [[ -z $summary ]]; then
    verdict="FAIL (no summary: qemu exit $rc, see $log)"
  else
    verdict="FAIL ($fails failed)"
  fi
  echo "$series|${release:-$pkg}|${variants:--}|${summary%% seconds*}|$verdict|$secs" >"$out/result-$series.txt"
}

if ((host)); then
  start=$(date +%s)
  log=$out/serial-host.log
  rc=0
  "$vmcheck" --ktrail "$rootfs/bin/ktrail" --helper "$rootfs/bin/ktrail-e2e-helper" \
    --workdir "$out/host-work" >"$log" 2>&1 || rc=$?
  summarize host "$log" "$rc" $(($(date +%s) - start)) host
fi

running=0
for k in $kernels; do
  boot "$k" &
  running=$((running + 1))
  if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
done
wait

# ---- results ------------------------------------------------------------------------------------
status=0
: >"$out/results.md"
{
  echo "| kernel | release | variants per scenario (buffer+hooks) | checks | result | seconds |"
  echo "|---|---|---|---|---|---|"
  for k in $( ((host)) && echo host) $kernels; do
    if [[ -f $out/result-$k.txt ]]; then
      IFS='|' read -r series release variants checks verdict secs <"$out/result-$k.txt"
    else
      series=$k release=- variants=- checks=- verdict="FAIL (no result)" secs=0
    fi
    echo "| $series | $release | $variants | $checks | $verdict | $secs |"
  done
} >"$out/results.md"
cat "$out/results.md"
grep -q ' FAIL' "$out/results.md" && status=1
grep -h '^KTRAIL-MATRIX check .* FAIL' "$out"/serial-*.log 2>/dev/null | sed 's/^/  /' || true
echo "kernel-matrix: total $(($(date +%s) - t0)) s; logs in $out"
exit $status
