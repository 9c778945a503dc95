#!/usr/bin/env bash
# Quick start, command 2 (and CI): installs what is missing, builds with -Werror and runs every
# test, then builds again with AddressSanitizer + UBSan and runs every test again, then fuzzes
# the SMTP parsers for a bounded time when clang is installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" test
jobs=$(nproc)

echo "== build: RelWithDebInfo, -Werror" >&2
BUILD_DIR="$root/build" "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVPSMAIL_WERROR=ON -DVPSMAIL_SANITIZE=OFF
(cd "$root/build" && ctest --output-on-failure -j "$jobs")

echo "== build: Debug, AddressSanitizer + UBSan, -Werror" >&2
BUILD_DIR="$root/build-asan" "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=Debug -DVPSMAIL_WERROR=ON -DVPSMAIL_SANITIZE=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$root/build-asan" && ctest --output-on-failure -j "$jobs")

echo "== fuzz: the SMTP command parser and the DATA decoder, ${FUZZ_SECONDS:-30} s each (when clang is installed)" >&2
"$root/scripts/fuzz.sh"
