#!/bin/bash
# CTest's entry for the browser test (tests/browser/CMakeLists.txt):
#   BANGER_BIN=/path/to/banger [BANGER_ARTIFACT_DIR=DIR] tests/browser/run.sh
# Installs the test's npm packages (puppeteer-core, pinned by
# package-lock.json) when they are missing, then runs web_ui.test.mjs
# against a live daemon in a private home with the web listener on.
# Exits 77 (CTest: skipped) when there is no Chromium to drive.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${BANGER_BIN:?set BANGER_BIN to the banger binary}"

chromium=${BANGER_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "browser test skipped: no Chromium at $chromium (Debian package chromium; scripts/install-deps.sh)"
  exit 77
fi
command -v node >/dev/null || { echo "browser test: node (Node.js 20) is needed: scripts/install-deps.sh" >&2; exit 1; }
if [ ! -f "$here/node_modules/puppeteer-core/package.json" ]; then
  command -v npm >/dev/null || { echo "browser test: npm is needed: scripts/install-deps.sh" >&2; exit 1; }
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

# The web listener on a free loopback port; stats every second, so the
# charts have points within the test.
export BANGER_LIVE_CONFIG='web_listen_addr = "127.0.0.1:0"
stats_poll_interval = "1s"'
exec "$here/../live/with-daemon.sh" node "$here/web_ui.test.mjs"
