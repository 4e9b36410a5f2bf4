#!/usr/bin/env bash
# Runs banger's whole test suite: installs packages, builds, makes the test
# guest (Debian cloud kernel + busybox initramfs), then ctest (unit,
# integration and e2e labels). Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
./scripts/make-test-guest.sh build/test-guest
export BANGER_TEST_GUEST_DIR="$PWD/build/test-guest"
ctest --test-dir build --output-on-failure --timeout 900 -j2 "$@"
