#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (containerd, runc, the Go ttrpc peer's
# toolchain and sources, busybox for the test image). Only missing packages are installed.
set -euo pipefail

PACKAGES=(containerd runc golang-go golang-github-containerd-ttrpc-dev busybox-static)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ci-setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "ci-setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
