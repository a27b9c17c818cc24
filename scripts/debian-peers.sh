#!/usr/bin/env bash
# Newer peers that bookworm lacks (containerd 1.7 from trixie, 2.1 from sid, Go ttrpc 1.2.7 and
# Go 1.24, the CRI API protos), taken from Debian's newer suites WITHOUT installing them: a private
# apt state per suite, `apt-get download`, `dpkg -x` into <dir>/<suite>/root. Nothing under /usr,
# /etc or dpkg's database is touched.
#
#   scripts/debian-peers.sh <suite> <package>...   download + unpack (idempotent), print the root
#   scripts/debian-peers.sh --root <suite>         print the root only
#
# <dir> is $CONTAINERD_SHIM_PEERS or /var/cache/containerd-shim-peers (root) /
# ${XDG_CACHE_HOME:-~/.cache}/containerd-shim-peers (other users). test/helpers/peers.ts reads the
# same location. Each package is unpacked once per version (a stamp file records it).
set -euo pipefail

default_dir() {
  if [ "$(id -u)" = 0 ]; then echo /var/cache/containerd-shim-peers; else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/containerd-shim-peers"
  fi
}
dir=${CONTAINERD_SHIM_PEERS:-$(default_dir)}

if [ "${1:-}" = "--root" ]; then
  echo "$dir/${2:?suite}/root"
  exit 0
fi
suite=${1:?usage: debian-peers.sh <suite> <package>...}
shift
case "$suite" in
  trixie | sid | forky) ;;
  *) echo "debian-peers: unsupported suite '$suite' (trixie, sid, forky)" >&2; exit 2 ;;
esac

base="$dir/$suite"
mkdir -p "$base/apt/lists/partial" "$base/apt/cache/archives/partial" "$base/debs" "$base/root" \
  "$base/stamps"
list="$base/apt/sources.list"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$list"
apt_opts=(
  -o "Dir::State::Lists=$base/apt/lists" -o "Dir::Cache=$base/apt/cache"
  -o "Dir::Etc::SourceList=$list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::status=/dev/null"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root" -qq
)

# Refresh the suite's index at most once a day (the suites move; a stale index 404s).
index_stamp="$base/stamps/.index"
if [ ! -f "$index_stamp" ] || [ -n "$(find "$index_stamp" -mmin +1440 2>/dev/null)" ]; then
  apt-get "${apt_opts[@]}" update >&2
  touch "$index_stamp"
fi

for pkg in "$@"; do
  version=$(apt-cache "${apt_opts[@]}" policy "$pkg" | sed -n 's/^ *Candidate: //p')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    echo "debian-peers: $pkg is not in $suite" >&2
    exit 1
  fi
  stamp="$base/stamps/$pkg"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then continue; fi
  echo "debian-peers: $suite $pkg $version" >&2
  (cd "$base/debs" && apt-get "${apt_opts[@]}" download "$pkg=$version" >&2)
  deb=$(ls -t "$base/debs/${pkg}_"*.deb | head -n 1)
  dpkg -x "$deb" "$base/root"
  echo "$version" >"$stamp"
done
echo "$base/root"
