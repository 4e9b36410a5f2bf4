#!/bin/bash
# CTest entry of the TypeScript SDK suite (sdk/typescript/CMakeLists.txt):
# copies the package into WORK (the build tree, so the source tree stays
# clean and several build trees do not race), installs its locked
# dependencies (npm ci, only when package-lock.json changed), compiles it,
# checks src/schema.d.ts against docs/openapi.yaml, then runs test/ with
# node --test against a live daemon (tests/live/with-daemon.sh).
#
#   BANGER_BIN=/path/to/banger ctest-live.sh SOURCE_DIR WORK
# Exit 77 (skipped) when node or npm is not installed.
set -euo pipefail

src=${1:?usage: ctest-live.sh SOURCE_DIR WORK}
work=${2:?usage: ctest-live.sh SOURCE_DIR WORK}
: "${BANGER_BIN:?set BANGER_BIN to the banger binary}"
repo=$(cd "$src/../.." && pwd)

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (scripts/install-deps.sh installs Node.js)"
    exit 77
  fi
done
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "SKIP: node $major is older than 20"
  exit 77
fi

mkdir -p "$work"
# The package's own files; node_modules and dist are made here.
rm -rf "$work/src" "$work/test" "$work/scripts"
cp -r "$src/src" "$src/test" "$src/scripts" "$work/"
cp "$src/package.json" "$src/package-lock.json" "$src/tsconfig.json" "$work/"
cd "$work"
if ! cmp -s package-lock.json node_modules/.banger-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.banger-lock
fi
rm -rf dist
npm run --silent build
# The types are generated from the OpenAPI document: a stale
# src/schema.d.ts fails the suite.
BANGER_OPENAPI="$repo/docs/openapi.yaml" npm run --silent check-schema
exec "$repo/tests/live/with-daemon.sh" node --test --test-reporter=spec test/
