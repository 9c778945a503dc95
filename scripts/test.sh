#!/usr/bin/env bash
# Quick start, command 2 (and CI): installs what is missing, builds with -Werror and runs every
# test, then builds again with AddressSanitizer + UBSan and runs every test again, then runs every
# libFuzzer target of tests/fuzz for a bounded time (scripts/fuzz.sh). Any failure, a crash found
# by a fuzzer, or a ctest run that finds no test at all fails it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" test
jobs=$(nproc)

echo "== build: RelWithDebInfo, -Werror" >&2
# -DVPSMAIL_TESTS=ON: the quick start configured build/ with the tests off, and the CMake cache
# would keep that.
BUILD_DIR="$root/build" "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVPSMAIL_WERROR=ON -DVPSMAIL_SANITIZE=OFF -DVPSMAIL_TESTS=ON
(cd "$root/build" && ctest --no-tests=error --output-on-failure -j "$jobs")

echo "== build: Debug, AddressSanitizer + UBSan, -Werror" >&2
BUILD_DIR="$root/build-asan" "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=Debug -DVPSMAIL_WERROR=ON -DVPSMAIL_SANITIZE=ON -DVPSMAIL_TESTS=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$root/build-asan" && ctest --no-tests=error --output-on-failure -j "$jobs")

echo "== fuzz: every target of tests/fuzz, ${FUZZ_SECONDS:-20} s each, ${FUZZ_JOBS:-$jobs} at a time" >&2
"$root/scripts/fuzz.sh"
