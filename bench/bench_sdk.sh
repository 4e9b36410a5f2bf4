#!/bin/bash
# vm.exec(["true"]) round trip through each SDK against the CLI
# (`banger vm exec VM -- true`), on one running VM of a private daemon
# (tests/live/with-daemon.sh: QEMU TCG, network off, the minimal agent image).
#
#   BANGER_BIN=build/src/main/banger bench/bench_sdk.sh [N]
#
# Runs the Python SDK (bench/sdk/exec_py.py), the TypeScript SDK
# (bench/sdk/exec_ts.mjs, skipped with a message when it or its build is
# missing) and the CLI N times each (default 50) and prints p50/p90/p99 in ms
# and each one's ratio to the CLI. Every run must succeed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
n=${1:-50}
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench_sdk.sh [N]" >&2; exit 2; }

if [ -z "${BANGER_BENCH_INNER:-}" ]; then
  : "${BANGER_BIN:?set BANGER_BIN to the banger binary}"
  BANGER_BIN=$(realpath "$BANGER_BIN")
  export BANGER_BIN BANGER_BENCH_INNER=1
  exec "$root/tests/live/with-daemon.sh" "$0" "$n"
fi

vm=bench-sdk
out=$(mktemp -d /tmp/bench-sdk-XXXXXX)
trap 'rm -rf -- "$out"' EXIT

echo "creating vm $vm ..." >&2
"$BANGER_BIN" vm create --name "$vm" >/dev/null
"$BANGER_BIN" vm exec "$vm" -- true  # the agent is up

echo "python: $n runs ..." >&2
PYTHONPATH="$root/sdk/python" python3 "$here/sdk/exec_py.py" "$BANGER_SOCKET" "$vm" "$n" | tee "$out/py" >&2

ts="$here/sdk/exec_ts.mjs"
if [ ! -f "$ts" ]; then
  echo "typescript: skipped ($ts not found)" >&2
elif ! command -v node >/dev/null; then
  echo "typescript: skipped (no node)" >&2
elif [ ! -d "$root/sdk/typescript/dist" ] && [ ! -d "$root/sdk/typescript/node_modules" ]; then
  echo "typescript: skipped (sdk/typescript is not built: npm ci && npm run build there)" >&2
else
  echo "typescript: $n runs ..." >&2
  if ! node "$ts" "$BANGER_SOCKET" "$vm" "$n" | tee "$out/ts" >&2; then
    echo "typescript: the bench failed" >&2
    rm -f "$out/ts"
  fi
fi

echo "cli: $n runs ..." >&2
# EPOCHREALTIME (bash 5): no process of its own around the timed one.
for _ in $(seq "$n"); do
  t0=${EPOCHREALTIME/./}
  "$BANGER_BIN" vm exec "$vm" -- true
  t1=${EPOCHREALTIME/./}
  echo $((t1 - t0)) >>"$out/cli_us"
done

python3 - "$out" <<'PY'
import os, re, sys

out = sys.argv[1]

def pct(v, p):
    return v[min(len(v) - 1, max(0, round(p / 100 * len(v) + 0.5) - 1))]

us = sorted(int(x) for x in open(os.path.join(out, "cli_us")))
cli = {p: pct(us, p) / 1000 for p in (50, 90, 99)}
rows = [("cli", cli)]
for name in ("py", "ts"):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        continue
    text = open(path).read()
    vals = {int(k): float(v) for k, v in re.findall(r"p(50|90|99)=([0-9.]+)", text)}
    if len(vals) == 3:
        rows.append((name, vals))
    else:
        print(f"{name}: unreadable output: {text.strip()!r}", file=sys.stderr)
print(f"{'client':<8}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'p50/cli':>10}{'p99/cli':>10}")
for name, v in rows:
    print(f"{name:<8}{v[50]:>10.2f}{v[90]:>10.2f}{v[99]:>10.2f}{v[50] / cli[50]:>10.2f}{v[99] / cli[99]:>10.2f}")
PY
