#!/bin/bash
# The OpenAPI conformance test (docs/openapi.yaml against a live bangerd
# booting a real guest under QEMU/TCG). ctest runs it as openapi_conformance
# (label e2e); alone, from the repository root after a build:
#
#   BANGER_BIN=build/src/main/banger tests/conformance/run.sh
#
# BANGERD_BIN defaults to the bangerd beside BANGER_BIN. The node packages
# (package-lock.json: yaml, ajv, ajv-formats, ws) are installed with `npm ci`
# into CONFORMANCE_WORK (default: build/tests/conformance/work) when missing or
# when the lock file changed; the test runs there, under
# tests/live/with-daemon.sh, with the web listener on 127.0.0.1 (a random port).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${BANGER_BIN:?set BANGER_BIN to the built banger binary}"
BANGER_BIN=$(realpath "$BANGER_BIN")
BANGERD_BIN=$(realpath "${BANGERD_BIN:-$(dirname "$BANGER_BIN")/bangerd}")
work=${CONFORMANCE_WORK:-$root/build/tests/conformance/work}
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here"/*.mjs "$work/"
if ! cmp -s "$here/package-lock.json" "$work/node_modules/.conformance-lock"; then
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$work/node_modules/.conformance-lock"
fi
export BANGER_BIN BANGERD_BIN OPENAPI_DOC="$root/docs/openapi.yaml"
export BANGER_LIVE_CONFIG='web_listen_addr = "127.0.0.1:0"'
exec "$root/tests/live/with-daemon.sh" node "$work/conformance.mjs"
