#!/usr/bin/env bash
# Builds build/go-peer/go-peer, the Go ttrpc peer (test/go-peer) used by the
# interop tests and benchmarks, against Debian's packaged Go sources
# (golang-github-containerd-ttrpc-dev), offline, in GOPATH mode.
#
# Skips the build when the binary is newer than every .go file in test/go-peer.
# Missing toolchain/sources: installed via apt when CI=true, else an error.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC_DIR=test/go-peer
OUT_DIR=build/go-peer
OUT="$OUT_DIR/go-peer"
GOCODE=/usr/share/gocode
TTRPC_SRC="$GOCODE/src/github.com/containerd/ttrpc"
APT_PKGS="golang-go golang-github-containerd-ttrpc-dev"

find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [ -x /usr/lib/go/bin/go ]; then
    echo /usr/lib/go/bin/go
  else
    return 1
  fi
}

missing() {
  local m=()
  find_go >/dev/null || m+=("go (golang-go)")
  [ -f "$TTRPC_SRC/client.go" ] || m+=("Go ttrpc sources at $TTRPC_SRC (golang-github-containerd-ttrpc-dev)")
  if [ ${#m[@]} -gt 0 ]; then
    local IFS=';'
    echo "${m[*]}"
  fi
}

what="$(missing)"
if [ -n "$what" ]; then
  if [ "${CI:-}" = "true" ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
    echo "build-go-peer: missing $what; installing $APT_PKGS" >&2
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $APT_PKGS; then
      $SUDO apt-get update
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $APT_PKGS
    fi
    what="$(missing)"
    if [ -n "$what" ]; then
      echo "build-go-peer: still missing after apt-get install: $what" >&2
      exit 1
    fi
  else
    echo "build-go-peer: missing $what; install with: sudo apt-get install -y $APT_PKGS" >&2
    exit 1
  fi
fi
GO="$(find_go)"

# Up to date? (binary newer than every .go file in test/go-peer)
if [ -x "$OUT" ] && [ -z "$(find "$SRC_DIR" -name '*.go' -newer "$OUT" -print -quit)" ]; then
  echo "build-go-peer: $OUT is up to date"
  exit 0
fi

mkdir -p "$OUT_DIR"
export GO111MODULE=off
export GOFLAGS=
export GOPATH="$PWD/build/go-path:$GOCODE"
export GOCACHE="${GOCACHE_GO_PEER:-$PWD/build/go-cache}"
export GOPROXY=off
export GOTOOLCHAIN=local
export CGO_ENABLED=0

"$GO" build -trimpath -o "$OUT.tmp" "./$SRC_DIR"
mv -f "$OUT.tmp" "$OUT"
echo "build-go-peer: built $OUT ($("$GO" version | awk '{print $3}'), ttrpc from $TTRPC_SRC)"
