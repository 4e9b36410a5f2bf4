#!/bin/bash
# The MCP suite (ctest mcp_e2e): installs the MCP SDK from the lock file
# into WORKDIR (npm ci, only when missing or when the lock changed), then
# runs mcp.test.mjs there under tests/live/with-daemon.sh (a live daemon,
# image "t").
#
#   BANGER_BIN=/path/to/banger tests/mcp/run.sh WORKDIR
set -euo pipefail
: "${BANGER_BIN:?set BANGER_BIN to the banger binary}"
src=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: run.sh WORKDIR}
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/mcp.test.mjs" "$work/"
if [ ! -d "$work/node_modules" ] || ! cmp -s "$src/package-lock.json" "$work/node_modules/.banger-lock"; then
  (cd "$work" && npm ci --no-audit --no-fund)
  cp "$src/package-lock.json" "$work/node_modules/.banger-lock"
fi
cd "$work"
exec "$src/../live/with-daemon.sh" node --test --test-reporter=spec mcp.test.mjs
