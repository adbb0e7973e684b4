#!/usr/bin/env bash
# The fuzz targets in the test suite (tests/fuzz/CMakeLists.txt says what each
# covers). libFuzzer needs clang while the suite builds with GCC, so the
# targets live in their own clang build directory:
#   run_fuzz_test.sh build SOURCE_DIR FUZZ_BUILD_DIR WERROR
#     configures (clang, ASan+UBSan, only the decoders) and builds every target;
#     an existing directory is reused, so only what changed is rebuilt.
#   run_fuzz_test.sh run SOURCE_DIR FUZZ_BUILD_DIR TARGET RUNS MAX_SECONDS
#     runs TARGET on a copy of tests/fuzz/corpus/<area> (libFuzzer adds what
#     it finds to its corpus, the repository's must not change) and fails on a
#     crash, a sanitizer report, a leak, a slow input or an over-large
#     allocation, and when fewer than RUNS inputs ran within MAX_SECONDS.
# Without clang or its libFuzzer runtime it skips (77), except under CI=true,
# where scripts/bootstrap has installed them and their absence is a failure.
set -uo pipefail

mode=$1 src=$2 dir=$3

need_clang() {
  local why=
  if ! command -v clang >/dev/null || ! command -v clang++ >/dev/null; then
    why="clang is not installed"
  elif ! clang++ -fsanitize=fuzzer -x c++ - -o /dev/null 2>/dev/null <<<'
      extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }'; then
    why="clang's libFuzzer runtime is missing (libclang-rt-14-dev)"
  fi
  [ -z "$why" ] && return 0
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $why (scripts/bootstrap installs it)"
    exit 1
  fi
  echo "SKIPPED: $why; run scripts/bootstrap"
  exit 77
}

case $mode in
  build)
    werror=${4:-OFF}
    need_clang
    start=$SECONDS
    CC=clang CXX=clang++ cmake -S "$src" -B "$dir" -G Ninja -DSTRATOSWARM_FUZZ=ON \
      -DSTRATOSWARM_GPU_NODE=OFF -DSTRATOSWARM_TESTS=OFF -DSTRATOSWARM_BENCH=OFF \
      -DSTRATOSWARM_WERROR="$werror" >"$dir.configure.log" 2>&1 ||
      { cat "$dir.configure.log"; echo "FAIL: configuring $dir"; exit 1; }
    cmake --build "$dir" --target fuzz_targets || { echo "FAIL: building the fuzz targets"; exit 1; }
    echo "fuzz targets built in $((SECONDS - start)) s"
    ;;
  run)
    target=$4 runs=$5 max_seconds=$6
    bin=$dir/tests/fuzz/$target
    if [ ! -x "$bin" ]; then
      need_clang
      echo "FAIL: $bin is missing (the fuzz:build test builds it)"
      exit 1
    fi
    work=$(mktemp -d "/tmp/stratoswarm-$target-XXXXXX")
    trap 'rm -rf "$work"' EXIT
    cp -r "$src/tests/fuzz/corpus/${target%_fuzz}" "$work/corpus"
    mkdir -p "$dir/artifacts"
    # -malloc_limit_mb: no message is bigger than 1 MiB, so a decoder that
    # asks for this much at once trusts a length it read.
    "$bin" -runs="$runs" -max_total_time="$max_seconds" -timeout=10 \
      -malloc_limit_mb=256 -rss_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/$target-" "$work/corpus" >"$work/log" 2>&1
    rc=$?
    done_runs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$work/log" | tail -n 1)
    if [ "$rc" -ne 0 ]; then
      grep -v -e '^#[0-9]' -e '^"' "$work/log" | tail -n 150  # the report, not the progress
      echo "FAIL: $target exited with $rc; the input is in $dir/artifacts/ (replay: $bin FILE)"
      exit 1
    fi
    grep -e '^INFO: Seed' -e '^#[0-9].*DONE' -e '^Done' -e '^stat::' "$work/log"
    if [ -z "$done_runs" ] || [ "$done_runs" -lt "$runs" ]; then
      echo "FAIL: $target ran ${done_runs:-no} inputs in ${max_seconds} s, fewer than $runs"
      exit 1
    fi
    echo "$target: $done_runs inputs, no findings"
    ;;
  *)
    echo "usage: $0 build|run ..." >&2
    exit 2
    ;;
esac
