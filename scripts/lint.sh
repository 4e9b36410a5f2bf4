#!/usr/bin/env bash
# Lints banger's code (docs/adr/0015); fails when either check finds anything:
#   format: a .cc/.h file in src/, guest/, tests/, bench/ or fuzz/ that differs from
#           .clang-format (fix: clang-format -i FILE);
#   tidy:   clang-tidy with .clang-tidy on every shipped translation unit of
#           ours (src/ and guest/, not *_test.cc) in build/compile_commands.json,
#           one per core.
# Compiler warnings fail the build itself (BANGER_WERROR, on by default). The
# tidy check needs a configured build/ (scripts/build.sh) for the compile
# commands and generated headers. Usage: scripts/lint.sh [format|tidy]...
set -euo pipefail
cd "$(dirname "$0")/.."

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(format tidy)
jobs=$(nproc)
failed=0

check_format() {
  local bad
  bad=$(find src guest tests bench fuzz -type f \( -name '*.cc' -o -name '*.h' \) -print0 |
    xargs -0 -n 16 -P "$jobs" sh -c 'for f; do clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"; done' sh |
    sort)
  if [ -n "$bad" ]; then
    echo "lint: these files differ from .clang-format (run clang-format -i on them):"
    echo "$bad" | sed 's/^/  /'
    return 1
  fi
  echo "lint: clang-format: all files match"
}

check_tidy() {
  if [ ! -f build/compile_commands.json ]; then
    echo "lint: build/compile_commands.json missing: run scripts/build.sh first" >&2
    return 1
  fi
  local start=$SECONDS
  # Our shipped sources (banger, bangerd, the agent) and every header of ours they
  # include; tests and benchmarks are left to the compiler's -Werror: clang-tidy
  # parses each translation unit whole, and the test files (gtest, the fixtures)
  # would more than double the time on a 2-core CI machine. -quiet keeps the
  # output to the findings. Anchored at the source tree: code generated into
  # build/ (protoc's) is not ours to lint.
  if ! run-clang-tidy -p build -j "$jobs" -quiet "^$PWD/(src|guest)/.*(?<!_test)\\.cc\$" >build/clang-tidy.log 2>&1; then
    grep -E 'warning:|error:' -A3 build/clang-tidy.log | grep -v '^clang-tidy-' | head -200
    echo "lint: clang-tidy found problems (full output: build/clang-tidy.log; NOLINT(check) only with a reason)"
    return 1
  fi
  echo "lint: clang-tidy: clean ($((SECONDS - start)) s)"
}

for c in "${checks[@]}"; do
  case $c in
    format) check_format || failed=1 ;;
    tidy) check_tidy || failed=1 ;;
    *) echo "lint: unknown check $c (format, tidy)" >&2; exit 2 ;;
  esac
done
exit $failed
