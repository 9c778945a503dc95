#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang and runs each for FUZZ_SECONDS
# (default 30). Skipped, with a note, when clang is not installed. Part of scripts/test.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "vpsmail: clang is not installed: the fuzz targets are not built" >&2
  exit 0
fi
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
CC=clang CXX=clang++ cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DVPSMAIL_FUZZ=ON \
  -DVPSMAIL_TESTS=OFF -DVPSMAIL_STATIC_DEPS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" --target fuzz_smtp_command fuzz_dot_decoder fuzz_smtp_client
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for target in smtp_command dot_decoder smtp_client; do
  mkdir -p "$corpus/$target"
  echo "vpsmail: fuzzing $target for ${seconds}s" >&2
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "$corpus/$target"
done
