#!/usr/bin/env bash
# Configures and builds banger into build/ (Release with debug info).
# With arguments, builds only those targets (setup.sh builds just the
# programs; the tests build everything).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
