#!/usr/bin/env bash
# Exec-overhead benchmark: installs the dependencies, builds ktrail (build-bench/) and the load
# generator (bench/out/bin/), then runs bench/exec_overhead.py with every other argument.
#
#   bench/exec_overhead.sh                       # 5 interleaved rounds x 5 s, 1 and 2 workers
#   bench/exec_overhead.sh --rounds 7 --seconds 10 --workers 2 --configs none,ktrail
#   bench/exec_overhead.sh --rounds 0 --soak 60  # only the 60 s zero-loss run
#   bench/exec_overhead.sh --load syscall        # getppid() loop instead of fork+exec
#   bench/exec_overhead.sh --skip-setup ...      # reuse the existing build
#
# Cleanup (tracers, the audit rule, auditd if it was started here, kernel.bpf_stats_enabled)
# happens in the Python harness on exit, on error, and on SIGINT/SIGTERM/SIGHUP; tracers also
# get PR_SET_PDEATHSIG so they cannot outlive it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cd "$repo"

if [[ $(id -u) -ne 0 ]]; then
  echo "exec_overhead: run as root (it loads BPF programs and audit rules)" >&2
  exit 1
fi

setup=1
args=()
for a in "$@"; do
  case "$a" in
    --skip-setup) setup=0 ;;
    -h|--help) args+=("$a"); setup=0 ;;
    *) args+=("$a") ;;
  esac
done

bindir="$here/out/bin"
if ((setup)); then
  scripts/install-deps.sh bench
  cmake -S . -B build-bench -DKTRAIL_TESTS=OFF
  make -C build-bench -j2 ktrail
  mkdir -p "$bindir"
  cc -O2 -Wall -Wextra -o "$bindir/forkexec" "$here/forkexec.c"
  cc -O2 -static -nostdlib -fno-stack-protector -Wall -o "$bindir/ktb-tiny" "$here/tiny.c"
  # A copy of /bin/true under its own name: its comm ("ktb-true") tells the bench's execs
  # apart from anything else the machine runs.
  cp /bin/true "$bindir/ktb-true"
fi

py=python3
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
exec "$py" "$here/exec_overhead.py" --bindir "$bindir" ${args[@]+"${args[@]}"}
