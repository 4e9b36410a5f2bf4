#!/usr/bin/env bash
# Sets banger up on a Debian 12 machine, as root: installs the packages it
# needs, builds it, installs `banger`, `bangerd`, the guest agent and the
# containerd shim (docs/containerd.md) to /usr/local/bin and builds the image "default" (Debian's cloud kernel, a
# busybox userland, the agent and an SSH server) so that `banger vm run`
# works at once. Safe to run again: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-deps.sh
./scripts/build.sh banger bangerd banger-agent containerd-shim-banger-v2

# A running daemon from an earlier install keeps its VMs across the restart.
if command -v banger >/dev/null 2>&1; then banger daemon stop >/dev/null 2>&1 || true; fi
install -m 0755 build/src/main/banger build/src/main/bangerd build/src/main/banger-agent \
  build/src/shim/runtime/containerd-shim-banger-v2 /usr/local/bin/

if ! banger image show default >/dev/null 2>&1; then
  banger image build default --profile minimal
fi
echo "banger is ready: try 'banger vm run -- uname -a'"
