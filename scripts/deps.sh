#!/usr/bin/env bash
# Installs, from Debian 12's packages, what building vpsmail needs ("build") or also what its
# tests need ("test"). Installs nothing when everything is there already.
set -euo pipefail

build_packages=(
  g++ cmake ninja-build pkg-config ccache
  libcli11-dev libfmt-dev libtomlplusplus-dev libsqlite3-dev libcrypt-dev libidn2-dev libunistring-dev catch2
  libasio-dev libssl-dev libc-ares-dev
)
# clang and its runtime libraries (libFuzzer, ASan, UBSan: libclang-rt-14-dev, only recommended by
# clang, so not pulled in with --no-install-recommends) for scripts/fuzz.sh.
test_packages=(python3 mandoc bash-completion zsh fish sqlite3 util-linux swaks openssl mutt dnsmasq-base
  clang libclang-rt-14-dev)

packages=("${build_packages[@]}")
if [[ "${1:-build}" == test ]]; then
  packages+=("${test_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "vpsmail: missing packages: ${missing[*]}; run this as root or install them with apt-get" >&2
  exit 77
fi
echo "vpsmail: installing ${missing[*]}" >&2
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
