#!/usr/bin/env bash
# Smoke test of `holo bench serve` (ctest bench_serve_smoke): builds a tiny model, runs the bench
# briefly (a real `holo node` child on free loopback ports) and checks that it exits 0 and prints
# every row, so the bench cannot rot unnoticed. Figures are not checked: they are machine-dependent.
# Usage: bench_serve_smoke.sh HOLO_BIN
set -euo pipefail
holo=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/holo-bench-serve-smoke-XXXXXX")
trap 'rm -rf "$dir"' EXIT

"$holo" mkmodel --preset tiny --type Q8_0 --quiet "$dir/serve.gguf"
out=$("$holo" bench serve "$dir/serve.gguf" --tokens 16 --streams 1,2 --reps 1)
printf '%s\n' "$out"

status=0
for row in '^engine alone ' '^served, 1 stream ' '^overhead ' '^streams ' '^1 +[0-9]' '^2 +[0-9]'; do
  if ! grep -Eq "$row" <<<"$out"; then
    echo "bench_serve_smoke: no row matching '$row'" >&2
    status=1
  fi
done
if grep -q '^warning' <<<"$out"; then
  echo "bench_serve_smoke: served and engine generations differ" >&2
  status=1
fi
exit $status
