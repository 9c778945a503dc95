#!/usr/bin/env bash
# Builds every libFuzzer target of tests/fuzz (tests/fuzz/NAME_fuzz.cpp -> fuzz_NAME) with clang
# and runs each for FUZZ_SECONDS (default 20), FUZZ_JOBS at a time (default: the number of
# cores), starting from its seed corpus tests/fuzz/corpus/NAME when there is one. Part of
# scripts/test.sh: a crash, a leak or a timeout that a fuzzer finds fails it, and so does a
# missing clang (scripts/deps.sh test installs it). FUZZ_TARGETS="a b" runs only those.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "vpsmail: clang is not installed: run scripts/deps.sh test as root (or apt-get install clang libclang-rt-14-dev)" >&2
  exit 69
fi
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-20}"
jobs="${FUZZ_JOBS:-$(nproc)}"
targets=()
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  for source in "$root"/tests/fuzz/*_fuzz.cpp; do
    name=$(basename "$source" _fuzz.cpp)
    targets+=("$name")
  done
fi
if ((${#targets[@]} == 0)); then
  echo "vpsmail: no fuzz target in $root/tests/fuzz" >&2
  exit 70
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
CC=clang CXX=clang++ cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DVPSMAIL_FUZZ=ON \
  -DVPSMAIL_TESTS=OFF -DVPSMAIL_STATIC_DEPS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" --target "${targets[@]/#/fuzz_}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One target: new inputs go to $work/NAME (the first folder), the seeds are only read. libFuzzer
# exits non-zero when it finds a crash, a sanitizer report or a timeout, and keeps the input
# that failed as $build/NAME-crash-* (or -leak-, -timeout-). The status goes to $work/NAME.rc.
run() {
  local target=$1 status=0
  local seeds=()
  mkdir -p "$work/$target"
  if [[ -d "$root/tests/fuzz/corpus/$target" ]]; then seeds=("$root/tests/fuzz/corpus/$target"); fi
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/$target-" "$work/$target" "${seeds[@]}" >"$work/$target.log" 2>&1 || status=$?
  echo "$status" >"$work/$target.rc"
}

echo "vpsmail: fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time" >&2
running=0
for target in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
  run "$target" &
  running=$((running + 1))
done
wait

failed=()
for target in "${targets[@]}"; do
  status=$(cat "$work/$target.rc" 2>/dev/null || echo 1)
  runs=$(grep -o 'number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || true)
  if [[ "$status" == 0 ]]; then
    echo "vpsmail: fuzz $target: ok, ${runs:-?} runs" >&2
  else
    echo "vpsmail: fuzz $target: FAILED (status $status); its log:" >&2
    cat "$work/$target.log" >&2
    failed+=("$target")
  fi
done
if ((${#failed[@]} > 0)); then
  echo "vpsmail: fuzz targets that failed: ${failed[*]} (inputs kept as $build/NAME-crash-*)" >&2
  exit 1
fi
