#!/usr/bin/env bash
# Builds the Go ttrpc peers, offline, in GOPATH mode, from Debian's packaged Go sources:
#
#   scripts/build-go-peer.sh        build/go-peer/go-peer (test/go-peer): bookworm's installed
#                                   Go and ttrpc 1.1.1 (golang-github-containerd-ttrpc-dev)
#   scripts/build-go-peer.sh 1.2    build/go-peer12/go-peer12 (test/go-peer12): ttrpc 1.2.7 and
#                                   its dependencies from sid, Go 1.24 from trixie, all unpacked
#                                   (not installed) by scripts/debian-peers.sh
#   scripts/build-go-peer.sh --fetch 1.2   only fetch what the 1.2 build needs (ci-setup.sh)
#
# Skips a build when the binary is newer than every .go file of its sources.
# Missing toolchain/sources: fetched when CI=true, else an error saying how.
set -euo pipefail
cd "$(dirname "$0")/.."

fetch_only=false
if [ "${1:-}" = "--fetch" ]; then
  fetch_only=true
  shift
fi

if [ "${1:-}" = "1.2" ]; then
  # Go 1.24 from trixie; ttrpc 1.2.7 is in sid only (trixie has 1.2.4), with what it imports.
  GO_PKGS=(golang-1.24-go golang-1.24-src)
  SRC_PKGS=(golang-github-containerd-ttrpc-dev golang-github-containerd-log-dev
    golang-github-sirupsen-logrus-dev golang-golang-x-sys-dev golang-google-grpc-dev
    golang-google-protobuf-dev golang-google-genproto-dev)
  go_root="$(bash scripts/debian-peers.sh --root trixie)/usr/lib/go-1.24"
  gocode="$(bash scripts/debian-peers.sh --root sid)/usr/share/gocode"
  have() { [ -x "$go_root/bin/go" ] && [ -f "$go_root/src/runtime/proc.go" ] &&
    grep -qs 'StreamingClient' "$gocode/src/github.com/containerd/ttrpc/services.go" &&
    [ -d "$gocode/src/google.golang.org/genproto/googleapis/rpc/status" ]; }
  if $fetch_only || ! have; then
    if ! $fetch_only && [ "${CI:-}" != "true" ]; then
      echo "build-go-peer: missing Go 1.24 or ttrpc 1.2.7 sources; fetch them with:" >&2
      echo "  bash scripts/debian-peers.sh trixie ${GO_PKGS[*]}" >&2
      echo "  bash scripts/debian-peers.sh sid ${SRC_PKGS[*]}" >&2
      exit 1
    fi
    bash scripts/debian-peers.sh trixie "${GO_PKGS[@]}" >/dev/null
    bash scripts/debian-peers.sh sid "${SRC_PKGS[@]}" >/dev/null
    have || { echo "build-go-peer: Go 1.24 / ttrpc 1.2.7 still missing after fetching" >&2; exit 1; }
    if $fetch_only; then exit 0; fi
  fi
  SRC_DIR=test/go-peer12
  OUT=build/go-peer12/go-peer12
  if [ -x "$OUT" ] && [ -z "$(find "$SRC_DIR" -name '*.go' -newer "$OUT" -print -quit)" ]; then
    echo "build-go-peer: $OUT is up to date"
    exit 0
  fi
  mkdir -p "$(dirname "$OUT")"
  GOROOT="$go_root" GO111MODULE=off GOFLAGS= GOPATH="$PWD/build/go-path12:$gocode" \
    GOCACHE="${GOCACHE_GO_PEER:-$PWD/build/go-cache}" GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 \
    "$go_root/bin/go" build -trimpath -o "$OUT.tmp" "./$SRC_DIR"
  mv -f "$OUT.tmp" "$OUT"
  echo "build-go-peer: built $OUT (Go $(cat "$go_root/VERSION" | head -n 1), ttrpc from $gocode)"
  exit 0
fi

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
