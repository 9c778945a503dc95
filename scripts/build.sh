#!/usr/bin/env bash
# Configures and builds vpsmail in BUILD_DIR (default build/) with Ninja, through ccache when
# it is installed. Extra arguments go to cmake's configure step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
# ccache hits survive a fresh clone in another folder (shared/research/deps.md section 7).
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build_dir" -G Ninja "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
