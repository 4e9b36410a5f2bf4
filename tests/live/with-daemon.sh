#!/bin/bash
# Runs a command against a live bangerd in a private home, for the test
# suites that drive banger from other languages (SDKs, MCP, the browser).
#
#   BANGER_BIN=/path/to/banger tests/live/with-daemon.sh CMD ARGS...
#
# Makes /tmp/bgl-XXXXXX with a config (QEMU, TCG, host networking off, small
# VMs, default image "t"), builds the agent image "t" (minimal profile), then
# runs CMD with BANGER_HOME, BANGER_SOCKET and BANGER_BIN exported. Whatever
# CMD does or however it ends, the daemon is stopped, every VMM of the home is
# killed and the home removed. The exit status is CMD's.
# BANGER_LIVE_CONFIG (optional): more top-level config lines (e.g.
# 'web_listen_addr = "127.0.0.1:0"'), added before the [vm_defaults] table.
set -euo pipefail

: "${BANGER_BIN:?set BANGER_BIN to the banger binary}"
[ $# -ge 1 ] || { echo "usage: with-daemon.sh CMD [ARGS...]" >&2; exit 2; }

home=$(mktemp -d /tmp/bgl-XXXXXX)
cleanup() {
  "$BANGER_BIN" --home "$home" daemon stop >/dev/null 2>&1 || true
  # VMMs name their VM directory (under the home) on their command line.
  pkill -KILL -f -- "$home/" >/dev/null 2>&1 || true
  rm -rf -- "$home"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$home/config.toml" <<TOML
backend = "qemu"
qemu_accel = "tcg"
network = "off"
default_image_name = "t"
stop_timeout = "2s"
${BANGER_LIVE_CONFIG:-}
[vm_defaults]
vcpu_count = 1
memory_mib = 256
work_disk_size = "128M"
system_overlay_size = "256M"
TOML

if ! out=$("$BANGER_BIN" --home "$home" image build t --profile minimal 2>&1); then
  echo "with-daemon: building the agent image failed:" >&2
  echo "$out" >&2
  exit 1
fi

export BANGER_HOME="$home" BANGER_SOCKET="$home/bangerd.sock" BANGER_BIN
set +e
"$@"
rc=$?
set -e
exit "$rc"
