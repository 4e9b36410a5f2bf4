#!/usr/bin/env bash
# Builds and runs banger's libFuzzer targets (fuzz/; docs/fuzzing.md).
#
#   scripts/fuzz.sh build
#       configures and builds the fuzz tree build-fuzz/ (clang, ASan, UBSan,
#       libFuzzer): only the fuzz_<name> binaries and the libraries they link.
#   scripts/fuzz.sh run [options] [NAME...]
#       runs each fuzzer (all of them without NAMEs) over a copy of its
#       checked-in seeds fuzz/corpus/<NAME>/ in a temp dir (new inputs never go
#       into the repository); fails if any finds a crash, leak, UB, timeout or
#       memory blow-up, keeping its temp dir with the crashing input.
#         -t, --seconds S  how long each fuzzer runs (default: $BANGER_FUZZ_SECONDS, else 60)
#         --build-dir DIR  the fuzz tree (default: build-fuzz)
#         --keep           keep the temp dirs (grown corpus, artifacts) and say where
#         --skip-missing   exit 77 (ctest's "skipped") when a binary is not built
#         -- ARGS...       more libFuzzer flags (e.g. -jobs=2 -workers=2, -dict=FILE)
#   scripts/fuzz.sh list
#       names the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZERS=(http agent_frames agent_client dns stream parsers vmlinux cp_in gotemplate ttrpc)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

build() {
  local start=$SECONDS launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DBANGER_FUZZ=ON "${launcher[@]}" >/dev/null
  cmake --build build-fuzz --target fuzzers -j"$(nproc)"
  echo "fuzz.sh: built ${#FUZZERS[@]} fuzzers in build-fuzz/ in $((SECONDS - start)) s"
}

# run_one NAME: returns libFuzzer's status (0: nothing found).
run_one() {
  local name=$1 bin="$build_dir/fuzz/fuzz_$1" seeds="fuzz/corpus/$1"
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: $bin is not built (scripts/fuzz.sh build)" >&2
    if [ "$skip_missing" = 1 ]; then return 77; fi
    return 1
  fi
  local work
  work=$(mktemp -d "/tmp/banger-fuzz-$name.XXXXXX")
  mkdir "$work/corpus" "$work/tmp"
  if [ -d "$seeds" ]; then cp -r "$seeds/." "$work/corpus/"; fi
  echo "fuzz.sh: $name for ${seconds}s over $(find "$work/corpus" -type f | wc -l) seeds (work dir $work)"
  local rc=0
  # libFuzzer's own default error status is 77, ctest's "skipped": make every
  # finding exit 1 (below, anything else non-zero becomes 1 too).
  # abort_on_error etc.: any sanitizer report ends the run as a crash;
  # -fno-sanitize-recover=all already makes UBSan's first report fatal.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} TMPDIR="$work/tmp" \
    "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 -max_len=65536 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$work/" "${extra[@]}" "$work/corpus" >"$work/log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/log" |
    sort -u | sed "s/^/  $name: /" || true
  if [ $rc -ne 0 ]; then
    rc=1
    echo "fuzz.sh: $name FAILED (exit $rc); last lines of $work/log:"
    tail -n 60 "$work/log" | sed 's/^/  /'
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
      [ -f "$a" ] || continue
      echo "fuzz.sh: input $a ($(stat -c %s "$a") bytes); reproduce: $bin $a"
      head -c 512 "$a" | od -A d -t x1z | head -n 20 | sed 's/^/  /'
    done
    return $rc
  fi
  if [ "$keep" = 1 ]; then
    echo "fuzz.sh: kept $work ($(find "$work/corpus" -type f | wc -l) inputs)"
  else
    rm -rf "$work"
  fi
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case $cmd in
  build) build ;;
  list) printf '%s\n' "${FUZZERS[@]}" ;;
  run)
    seconds=${BANGER_FUZZ_SECONDS:-60}
    build_dir=build-fuzz
    keep=0
    skip_missing=0
    extra=()
    names=()
    while [ $# -gt 0 ]; do
      case $1 in
        -t | --seconds) seconds=$2; shift 2 ;;
        --build-dir) build_dir=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --skip-missing) skip_missing=1; shift ;;
        --) shift; extra=("$@"); break ;;
        -*) usage ;;
        *) names+=("$1"); shift ;;
      esac
    done
    [ ${#names[@]} -gt 0 ] || names=("${FUZZERS[@]}")
    failed=0
    for n in "${names[@]}"; do
      case " ${FUZZERS[*]} " in *" $n "*) ;; *) echo "fuzz.sh: no fuzzer $n (scripts/fuzz.sh list)" >&2; exit 2 ;; esac
      rc=0
      run_one "$n" || rc=$?
      if [ $rc -eq 77 ] && [ ${#names[@]} -eq 1 ]; then exit 77; fi
      [ $rc -eq 0 ] || failed=1
    done
    exit $failed
    ;;
  *) usage ;;
esac
