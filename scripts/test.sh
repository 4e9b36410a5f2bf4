#!/usr/bin/env bash
# Runs banger's whole test suite: installs packages, builds (warnings are
# errors), builds the fuzzers (build-fuzz/, scripts/fuzz.sh), lints
# (scripts/lint.sh: clang-format, clang-tidy), makes the test guest (Debian
# cloud kernel + busybox initramfs), then ctest (unit, integration, e2e, chaos
# and fuzz labels; each fuzz test runs its fuzzer for BANGER_FUZZ_SECONDS, 60
# by default). Extra arguments go to ctest (e.g. -L unit).
# Ends with the tests that skipped (GTEST_SKIP) and why; ctest's exit code is
# the script's.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
./scripts/fuzz.sh build
./scripts/lint.sh
./scripts/make-test-guest.sh build/test-guest
export BANGER_TEST_GUEST_DIR="$PWD/build/test-guest"

log=build/ctest-output.log
set +e
ctest --test-dir build --output-on-failure --timeout 900 -j2 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# ctest marks a test "Skipped" when its output matches the test's
# SKIP_REGULAR_EXPRESSION, which gtest_discover_tests sets to gtest's
# "[  SKIPPED ]". The reason is the line after gtest's "Skipped" in the
# test's output (build/Testing/Temporary/LastTest.log).
mapfile -t skipped < <(sed -n 's/^ *[0-9]*\/[0-9]* Test *#[0-9]*: \([^ ]*\) .*\*\*\*Skipped.*/\1/p' "$log" | sort)
echo "test.sh: ${#skipped[@]} test(s) skipped"
for t in "${skipped[@]}"; do
  reason=$(awk -v name="$t" '
    $2 == "Test:" && $3 == name { in_test = 1; next }
    in_test && prev ~ /: Skipped$/ { print; exit }
    in_test && /^<end of output>/ { exit }
    { prev = $0 }' build/Testing/Temporary/LastTest.log 2>/dev/null)
  echo "  $t${reason:+: $reason}"
done
exit "$rc"
