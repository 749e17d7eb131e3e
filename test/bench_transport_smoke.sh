#!/usr/bin/env bash
# Smoke test of `holo bench transport` (ctest bench_transport_smoke): a short run (two in-process
# nodes on loopback ports) must exit 0 and print every row with a round trip and a rate above zero,
# so the bench cannot rot unnoticed. Figures are not checked: they are machine-dependent.
# Usage: bench_transport_smoke.sh HOLO_BIN
set -euo pipefail
holo=$1
out=$("$holo" bench transport --round-trips 50 --messages 3000 --rounds 2)
printf '%s\n' "$out"
status=0
for row in 'raw zeromq' 'holo' 'raw zmq \+ curve' 'holo \+ curve' 'caf local'; do
  # name, p50, p99, msg/s (> 0), ratio, share; twice per round plus the summary.
  n=$(grep -Ec "^${row} +[0-9.]+ +[0-9.]+ +[1-9][0-9]* +[0-9.]+ +[0-9]+%" <<<"$out" || true)
  if [ "$n" -lt 3 ]; then
    echo "bench_transport_smoke: row '$row' printed $n times with figures, expected 3" >&2
    status=1
  fi
done
grep -q 'stalled' <<<"$out" && { echo "bench_transport_smoke: a one-way run stalled" >&2; status=1; }

# --only: the rows asked for and no others; holo and caf local without their raw baseline (raw
# zeromq, left out) print "-" for the ratios.
only=$("$holo" bench transport --round-trips 20 --messages 1000 --rounds 1 --only holo,caf-local)
printf '%s\n' "$only"
grep -Eq '^holo +[0-9.]+ +[0-9.]+ +[1-9][0-9]* +- +-$' <<<"$only" ||
  { echo "bench_transport_smoke: --only holo did not print holo with '-' ratios" >&2; status=1; }
grep -Eq '^caf local +[0-9.]+ +[0-9.]+ +[1-9][0-9]* ' <<<"$only" ||
  { echo "bench_transport_smoke: --only caf-local did not print caf local" >&2; status=1; }
if grep -Eq '^(raw zeromq|raw zmq \+ curve|holo \+ curve) ' <<<"$only"; then
  echo "bench_transport_smoke: --only printed a row it was not asked for" >&2
  status=1
fi
# The coalescing line: node A sent every one-way message (and the round trips), in batches by
# default; with --coalesce-us 0 every frame goes alone, so no batch at all.
grep -Eq '^holo: node A sent [0-9]+ frames, [1-9][0-9]* ZeroMQ messages of several frames$' <<<"$only" ||
  { echo "bench_transport_smoke: holo printed no coalescing line with batches" >&2; status=1; }
sent=$(sed -nE 's/^holo: node A sent ([0-9]+) frames.*/\1/p' <<<"$only")
[ "${sent:-0}" -ge 1020 ] || { echo "bench_transport_smoke: node A sent ${sent:-no} frames, expected >= 1020" >&2; status=1; }
alone=$("$holo" bench transport --round-trips 20 --messages 1000 --rounds 1 --only holo --coalesce-us 0)
printf '%s\n' "$alone"
grep -Eq '^holo: node A sent [0-9]+ frames, 0 ZeroMQ messages of several frames$' <<<"$alone" ||
  { echo "bench_transport_smoke: --coalesce-us 0 still batched" >&2; status=1; }
if "$holo" bench transport --only nonsense >/dev/null 2>&1; then
  echo "bench_transport_smoke: --only nonsense was accepted" >&2
  status=1
fi
exit $status
