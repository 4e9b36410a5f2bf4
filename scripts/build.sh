#!/usr/bin/env bash
# Configures and builds banger into build/ (Release with debug info).
# With arguments, builds only those targets (setup.sh builds just the
# programs; the tests build everything).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache, when the machine has it, makes rebuilds of a fresh clone cheap.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
