#!/usr/bin/env bash
# Builds every libFuzzer target of tests/fuzz (tests/fuzz/NAME_fuzz.cpp -> fuzz_NAME) with clang
# and runs each for FUZZ_SECONDS (default 30). Part of scripts/test.sh: a crash, a leak or a
# timeout that a fuzzer finds fails it, and so does a missing clang (scripts/deps.sh test
# installs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "vpsmail: clang is not installed: run scripts/deps.sh test as root (or apt-get install clang libclang-rt-14-dev)" >&2
  exit 69
fi
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
targets=()
for source in "$root"/tests/fuzz/*_fuzz.cpp; do
  name=$(basename "$source" _fuzz.cpp)
  targets+=("$name")
done
if ((${#targets[@]} == 0)); then
  echo "vpsmail: no fuzz target in $root/tests/fuzz" >&2
  exit 70
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
CC=clang CXX=clang++ cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DVPSMAIL_FUZZ=ON \
  -DVPSMAIL_TESTS=OFF -DVPSMAIL_STATIC_DEPS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" --target "${targets[@]/#/fuzz_}"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$corpus/$target"
  echo "vpsmail: fuzzing $target for ${seconds}s" >&2
  # libFuzzer exits non-zero when it finds a crash, a sanitizer report or a timeout; set -e
  # stops here with that status, and the input that failed is kept as $build/NAME-crash-*.
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/$target-" "$corpus/$target"
done
