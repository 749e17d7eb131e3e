#!/usr/bin/env bash
# The engine's commands end to end (ctest engine_cli): `holo run`, `holo tokenize`, `holo bench
# engine` on a tiny model built here, through `holo` as a user types them. Checks:
# - greedy `holo run --token-ids` is deterministic and prints --max-tokens ids;
# - a seeded sampled run repeats itself;
# - `holo tokenize` prints the prompt's ids, BOS first;
# - a missing model fails with exit 1 and names the file;
# - `holo bench engine` prints its rows, and its peak RSS is the lean holo-engine's: under file + KV
#   cache + 10 MiB. Run inside `holo` itself (CAF, ZeroMQ, libpq, httplib loaded) the floor alone is
#   ~17 MiB, so this fails if the hand-over to holo-engine breaks;
# - holo-engine's own mkmodel writes the same file as holo's (a GPU box may carry holo-engine alone).
# Usage: engine_cli.sh HOLO_BIN
set -euo pipefail
holo=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/holo-engine-cli-XXXXXX")
trap 'rm -rf "$dir"' EXIT
status=0
fail() { echo "engine_cli: $*" >&2; status=1; }

"$holo" mkmodel --preset tiny --type Q8_0 --quiet "$dir/m.gguf"
"$(dirname "$holo")/holo-engine" mkmodel --preset tiny --type Q8_0 --quiet "$dir/m2.gguf"
cmp -s "$dir/m.gguf" "$dir/m2.gguf" || fail "holo-engine mkmodel wrote a different file than holo mkmodel"

a=$("$holo" run "$dir/m.gguf" "Once upon a time" --temperature 0 --max-tokens 12 --token-ids 2>/dev/null)
b=$("$holo" run "$dir/m.gguf" "Once upon a time" --temperature 0 --max-tokens 12 --token-ids 2>/dev/null)
echo "greedy ids: $a"
[[ "$a" == "$b" ]] || fail "greedy runs differ: '$a' vs '$b'"
[[ $(wc -w <<<"$a") -eq 12 ]] || fail "expected 12 ids, got '$a'"
s1=$("$holo" run "$dir/m.gguf" "Once" --temperature 0.9 --seed 7 --max-tokens 12 --token-ids 2>/dev/null)
s2=$("$holo" run "$dir/m.gguf" "Once" --temperature 0.9 --seed 7 --max-tokens 12 --token-ids 2>/dev/null)
[[ "$s1" == "$s2" ]] || fail "seeded runs differ: '$s1' vs '$s2'"

ids=$("$holo" tokenize "$dir/m.gguf" "Once upon a time")
echo "tokenize: $ids"
[[ "$ids" =~ ^1\ [0-9]+ ]] || fail "tokenize: expected BOS (1) then ids, got '$ids'"

set +e
err=$("$holo" run "$dir/missing.gguf" "x" 2>&1 >/dev/null)
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "missing model: exit $rc, expected 1"
grep -q "missing.gguf" <<<"$err" || fail "missing model: message does not name the file: $err"

out=$("$holo" bench engine "$dir/m.gguf" --pp 32 --tg 8 --reps 1)
printf '%s\n' "$out"
for row in '^holo +pp32 ' '^holo +tg8 ' '^memory +peak RSS ' '^bandwidth '; do
  grep -Eq "$row" <<<"$out" || fail "bench engine: no row matching '$row'"
done
read -r rss bound < <(sed -nE 's/^memory +peak RSS ([0-9.]+) MiB;.* = ([0-9.]+) MiB$/\1 \2/p' <<<"$out")
echo "peak RSS $rss MiB, file + KV $bound MiB"
awk -v r="$rss" -v b="$bound" 'BEGIN { exit !(r > 0 && r < b + 10) }' ||
  fail "bench engine: peak RSS $rss MiB is not under file + KV cache ($bound MiB) + 10 MiB: not run in holo-engine?"
exit $status
