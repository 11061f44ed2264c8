#!/usr/bin/env bash
# Exec-overhead benchmark: installs the dependencies, builds ktrail (build-bench/) and the load
# generator (bench/out/bin/), then runs bench/exec_overhead.py with every other argument.
#
#   bench/exec_overhead.sh                       # 5 interleaved rounds x 5 s, 1 and 2 workers
#   bench/exec_overhead.sh --rounds 7 --seconds 10 --workers 2 --configs none,ktrail
#   bench/exec_overhead.sh --rounds 0 --soak 60  # only the 60 s zero-loss run
#   bench/exec_overhead.sh --load syscall        # getppid() loop instead of fork+exec
#   bench/exec_overhead.sh --skip-setup ...      # reuse the existing build
#   bench/exec_overhead.sh --ref HEAD ...        # benchmark a commit, not the working tree
#
# Without --ref, ktrail is built from the working tree into build-bench/. With --ref REV, the
# commit is exported (git archive) to bench/out/src-<sha>/ and built there, into its own
# build-bench/, so uncommitted changes in the tree do not leak into the numbers.
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
ref=""
args=()
while (($#)); do
  case "$1" in
    --skip-setup) setup=0 ;;
    --ref) ref=${2:?--ref needs a revision}; shift ;;
    --ref=*) ref=${1#--ref=} ;;
    -h|--help) args+=("$1"); setup=0 ;;
    *) args+=("$1") ;;
  esac
  shift
done

src="$repo"
if [[ -n "$ref" ]]; then
  sha=$(git -C "$repo" rev-parse --verify "$ref^{commit}")
  src="$here/out/src-${sha:0:12}"
  args+=(--source-ref "$sha" --ktrail "$src/build-bench/ktrail")
fi

bindir="$here/out/bin"
if ((setup)); then
  scripts/install-deps.sh bench
  if [[ -n "$ref" && ! -f "$src/CMakeLists.txt" ]]; then
    mkdir -p "$src"
    git -C "$repo" archive "$sha" | tar -x -C "$src"
  fi
  (cd "$src" && cmake -S . -B build-bench -DKTRAIL_TESTS=OFF && make -C build-bench -j2 ktrail)
  mkdir -p "$bindir"
  cc -O2 -Wall -Wextra -o "$bindir/forkexec" "$here/forkexec.c"
  cc -O2 -static -nostdlib -fno-stack-protector -Wall -o "$bindir/ktb-tiny" "$here/tiny.c"
  cc -O2 -Wall -o "$bindir/emptytp" "$here/emptytp.c"
  # A copy of /bin/true under its own name: its comm ("ktb-true") tells the bench's execs
  # apart from anything else the machine runs.
  cp /bin/true "$bindir/ktb-true"
fi

py=python3
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
exec "$py" "$here/exec_overhead.py" --bindir "$bindir" ${args[@]+"${args[@]}"}
