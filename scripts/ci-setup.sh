#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (containerd, runc, the Go ttrpc peer's
# toolchain and sources, busybox for the test image, clang and its libFuzzer/sanitizer runtimes for
# `npm run fuzz`, CNI plugins and gcc for the CRI suite's pod network and pause image) and the ones
# that cross-build and run the npm package's prebuilt addons (scripts/prebuild.js,
# test/package.test.ts): the arm64 and mingw-w64 cross compilers, qemu-user for the arm64 binary
# and wine64 for the Windows one. Only missing packages are installed.
# Newer peers come from scripts/debian-peers.sh, unpacked, not installed: containerd 1.7 and 2.1,
# the CRI API protos, and for the Go ttrpc 1.2 peer trixie's Go 1.24 with sid's ttrpc 1.2.7 and
# its dependencies.
set -euo pipefail

PACKAGES=(containerd runc criu golang-go golang-github-containerd-ttrpc-dev busybox-static
  clang-14 libclang-rt-14-dev containernetworking-plugins iproute2 gcc libc6-dev)
# node-gyp's (source builds: test/source-build.test.ts); python3 also plays runc's console sender.
PACKAGES+=(python3 make)
# getpeereid for the generic-POSIX addon built on Linux (scripts/build-posix.js).
PACKAGES+=(libbsd-dev)
# Installed without recommends (wine64 would otherwise pull in 32-bit wine and fonts).
CROSS_PACKAGES=(g++ binutils g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user
  g++-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 wine64)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
missing_cross=()
for p in "${CROSS_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing_cross+=("$p")
done
# containerd 1.7 (trixie) and 2.1 (sid), unpacked beside bookworm's 1.6 (never installed); the CRI
# API protos the CRI suite's client loads (sid); Go 1.24 (trixie) and ttrpc 1.2.7 with what it
# imports (sid; trixie has ttrpc 1.2.4).
peers() {
  local script
  script="$(dirname "$0")/debian-peers.sh"
  bash "$script" trixie containerd >/dev/null
  bash "$script" sid containerd golang-k8s-cri-api-dev >/dev/null
  bash "$(dirname "$0")/build-go-peer.sh" --fetch 1.2
}
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_cross[@]} -eq 0 ]; then
  peers
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ci-setup: need root to install: ${missing[*]} ${missing_cross[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  echo "ci-setup: installing $*" >&2
  if ! $SUDO apt-get install -y -qq "$@" >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "$@" >/dev/null
  fi
}
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
[ ${#missing_cross[@]} -eq 0 ] || apt_install --no-install-recommends "${missing_cross[@]}"
peers
