#!/usr/bin/env bash
# chaos.sh [RUNS] [SEED] [ROUNDS]
#
# Long runs of the crash-consistency chaos test (tests/chaos/chaos_test.cc):
# ROUNDS rounds (default 1) of RUNS kill -9 runs each (default 500), seeds
# SEED, SEED+1, ... (default: the current time). Stops at the first round that
# fails and prints how to replay it. Each round's output goes to
# build/chaos-<seed>.log. Needs root (network namespace, taps, QEMU), a build
# with fault injection (the default; -DBANGER_FAULT_INJECTION=ON) and apt
# access for the first image build's kernel package.
#
# Environment: BANGER_CHAOS_POINTS=<p1>,<p2> narrows the fault points
# (`build/src/main/bangerd --list-fault-points` lists them all).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-500}
seed=${2:-$(date +%s)}
rounds=${3:-1}
[[ $runs =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ && $rounds =~ ^[0-9]+$ ]] || {
  echo "usage: $0 [RUNS] [SEED] [ROUNDS]" >&2
  exit 2
}

cmake --build build --target chaos_test banger bangerd banger-agent
for ((i = 0; i < rounds; i++)); do
  s=$((seed + i))
  log=build/chaos-$s.log
  echo "chaos.sh: round $((i + 1))/$rounds: $runs runs, seed $s (log: $log)"
  if ! BANGER_CHAOS_RUNS=$runs BANGER_CHAOS_SEED=$s build/tests/chaos/chaos_test >"$log" 2>&1; then
    grep -E 'INCONSISTENT|Failure|  - ' "$log" | head -40 || true
    echo "chaos.sh: round with seed $s failed; replay: BANGER_CHAOS_RUNS=$runs BANGER_CHAOS_SEED=$s build/tests/chaos/chaos_test"
    exit 1
  fi
  grep -E '^chaos: [0-9]+ runs in' "$log" || true
done
echo "chaos.sh: $rounds round(s) of $runs runs passed"
