#!/usr/bin/env bash
# Builds and runs the libFuzzer target over the frame decoder and the channel's read loop
# (native/fuzz/frame_fuzz.cc) with AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh [seconds]     run for `seconds` (default 60) from the seed corpus in
#                                 test/fuzz-corpus; new inputs go to build/fuzz/corpus (not the
#                                 repo), a crash is written to build/fuzz/ and fails the run
#
# Needs clang with the libFuzzer runtime (Debian: clang-14 libclang-rt-14-dev, installed by
# scripts/ci-setup.sh). Exit 3 when it is missing, with what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
out=build/fuzz
bin="$out/frame-fuzz"
src=native/fuzz/frame_fuzz.cc

cxx=""
for c in clang++-14 clang++; do
  if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
done
if [ -z "$cxx" ]; then
  echo "fuzz: no clang++ (install clang-14 libclang-rt-14-dev, e.g. bash scripts/ci-setup.sh)" >&2
  exit 3
fi

mkdir -p "$out/corpus"
if [ ! -x "$bin" ] || [ -n "$(find native -name '*.h' -newer "$bin" -print -quit)" ] || [ "$src" -nt "$bin" ]; then
  if ! "$cxx" -std=c++17 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -o "$bin.tmp" "$src" 2>"$out/build.log"; then
    cat "$out/build.log" >&2
    if grep -q 'libclang_rt.fuzzer\|cannot find -l' "$out/build.log"; then
      echo "fuzz: $cxx has no libFuzzer runtime (install libclang-rt-14-dev)" >&2
      exit 3
    fi
    exit 1
  fi
  mv -f "$bin.tmp" "$bin"
fi

# Partial frames up to 4 MiB are legitimate: allow the decoder its memory, not more.
exec "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=300 -report_slow_units=300 -rss_limit_mb=2048 \
  -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus" test/fuzz-corpus
