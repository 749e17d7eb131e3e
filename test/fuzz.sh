#!/usr/bin/env bash
# Builds one libFuzzer target with clang (address + undefined sanitizers) and runs it for a bounded
# time. A crash, a leak or a sanitizer report fails the run (libFuzzer exits non-zero).
#   test/fuzz.sh NAME SECONDS SOURCE... [-- EXTRA_FLAGS...]
# The corpus lives in a temporary folder; crashing inputs are kept in $HOLO_FUZZ_ARTIFACTS (default
# the build folder's fuzz/ directory) for a human to replay.
set -euo pipefail
name=$1; seconds=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
srcs=(); extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  srcs+=("$root/$1"); shift
done
cxx=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$cxx" ] || { echo "fuzz.sh: clang++ not found (deploy/install-deps.sh installs it)"; exit 1; }
out=${HOLO_FUZZ_ARTIFACTS:-$root/build/fuzz}
mkdir -p "$out"
bin="$out/$name"
"$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root" -I/usr/include "${srcs[@]}" "${extra[@]}" -o "$bin"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
  -artifact_prefix="$out/$name-" "$corpus" 2>&1 | tail -n 12
echo "fuzz.sh: $name ran ${seconds}s without a finding"
