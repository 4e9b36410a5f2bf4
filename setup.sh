#!/usr/bin/env bash
# Sets banger up on a Debian 12 machine, as root: installs the packages it
# needs, builds it, installs `banger` and `bangerd` to /usr/local/bin and
# registers a starter image named "default" (the Debian cloud kernel with a
# small busybox initramfs) so that `banger vm create` works at once.
# Safe to run again: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-deps.sh
./scripts/build.sh

# A running daemon from an earlier install keeps its VMs across the restart.
if command -v banger >/dev/null 2>&1; then banger daemon stop >/dev/null 2>&1 || true; fi
install -m 0755 build/src/main/banger build/src/main/bangerd build/src/main/banger-agent /usr/local/bin/

home="${BANGER_HOME:-/var/lib/banger}"
starter="$home/images/starter"
if ! banger image show default >/dev/null 2>&1; then
  ./scripts/make-test-guest.sh "$starter"
  banger image import default --kernel "$starter/vmlinuz" --initrd "$starter/initrd.img" \
    --rootfs "$starter/rootfs.ext4"
fi
echo "banger is ready: try 'banger vm create' and 'banger vm list'"
