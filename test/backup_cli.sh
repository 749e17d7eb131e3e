#!/usr/bin/env bash
# `holo backup` end to end with real processes: a SQLite database (made with the sqlite3 CLI) is backed
# up while another process keeps writing to it, restored into a new path and compared; a damaged
# archive, a wrong key, a group-readable key file and a database held open by another process are
# all refused, leaving the target untouched. Usage: backup_cli.sh HOLO_BINARY
set -euo pipefail

holo=${1:?usage: backup_cli.sh HOLO_BINARY}
command -v sqlite3 >/dev/null || { echo "backup_cli: the sqlite3 CLI is needed (Debian package sqlite3)"; exit 1; }
work=$(mktemp -d /tmp/holo-backup-cli.XXXXXX)
writer_pid=""
holder_pid=""
cleanup() {
  [ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null || true
  [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "backup_cli: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# Runs holo, expecting exit code $1; output goes to $work/out.
expect_rc() {
  local want=$1; shift
  set +e
  "$holo" "$@" >"$work/out" 2>&1
  local rc=$?
  set -e
  if [ "$rc" -ne "$want" ]; then
    cat "$work/out" >&2
    fail "holo $* exited $rc, expected $want"
  fi
}

canary="CANARY-holobionte-3b7d91"
db="$work/node.sqlite"
key="$work/backup.key"
dir="$work/backups"

step "keygen: mode 0600, refuses to overwrite, usage errors exit 2"
expect_rc 0 backup keygen "$key"
[ "$(stat -c %a "$key")" = 600 ] || fail "key file mode is $(stat -c %a "$key")"
expect_rc 1 backup keygen "$key"
grep -q "already exists" "$work/out" || fail "keygen over an existing file: $(cat "$work/out")"
expect_rc 2 backup create --db "$db"
expect_rc 2 backup
expect_rc 0 backup --help
grep -q "restore" "$work/out" || fail "backup --help does not list restore"

step "a live database in WAL mode, written by another process during the backup"
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
CREATE TABLE journal(id INTEGER PRIMARY KEY, request TEXT NOT NULL, prefix BLOB);
CREATE TABLE counters(name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE INDEX journal_request ON journal(request);
INSERT INTO counters VALUES('journal', 0);
WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 5000)
  INSERT INTO journal(request, prefix) SELECT 'req-' || x || '-$canary', randomblob(64) FROM i;
UPDATE counters SET n = (SELECT count(*) FROM journal);
SQL
# The writer keeps an invariant in every transaction: counters.n == count(journal). A consistent
# snapshot must show it holding, whatever moment it caught.
(
  i=0
  while :; do
    i=$((i + 1))
    sqlite3 -cmd ".timeout 5000" "$db" \
      "BEGIN IMMEDIATE; INSERT INTO journal(request, prefix) VALUES('live-$i-$canary', randomblob(200));
       UPDATE counters SET n = n + 1; COMMIT;" >/dev/null 2>&1 || true
  done
) &
writer_pid=$!
sleep 0.5
for n in 1 2 3; do
  expect_rc 0 backup create --db "$db" --key "$key" --dir "$dir" --keep 2
  sleep 1.1  # a new second, a new name (same-second names get -2, -3: tested in the unit tests)
done
kill "$writer_pid"; wait "$writer_pid" 2>/dev/null || true; writer_pid=""
[ "$(ls "$dir" | wc -l)" = 2 ] || fail "--keep 2 left: $(ls -a "$dir")"
live_archive="$dir/$(ls "$dir" | sort | tail -1)"
if grep -q "$canary" "$dir"/*; then fail "the canary appears in archive bytes"; fi

step "list and verify"
expect_rc 0 backup list --dir "$dir"
grep -q "header ok" "$work/out" || fail "list: $(cat "$work/out")"
expect_rc 0 backup list --dir "$dir" --key "$key"
[ "$(grep -c verified "$work/out")" = 2 ] || fail "list --key: $(cat "$work/out")"
expect_rc 0 backup verify --key "$key" "$live_archive"

step "restore of the backup taken under writes: consistent snapshot"
expect_rc 0 backup restore --key "$key" "$live_archive" --db "$work/restored-live.sqlite"
[ "$(sqlite3 "$work/restored-live.sqlite" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
rows=$(sqlite3 "$work/restored-live.sqlite" "SELECT count(*) FROM journal")
counter=$(sqlite3 "$work/restored-live.sqlite" "SELECT n FROM counters")
[ "$rows" = "$counter" ] || fail "snapshot not consistent: $rows rows, counter $counter"
[ "$rows" -ge 5000 ] || fail "snapshot lost rows: $rows"
echo "   snapshot caught $rows rows (counter $counter)"

step "restore with the database quiet: identical .dump"
expect_rc 0 backup create --db "$db" --key "$key" --dir "$dir"
quiet_archive="$dir/$(ls "$dir" | sort | tail -1)"
expect_rc 0 backup restore --key "$key" "$quiet_archive" --db "$work/restored.sqlite"
sqlite3 "$db" .dump >"$work/want.sql"
sqlite3 "$work/restored.sqlite" .dump >"$work/got.sql"
cmp -s "$work/want.sql" "$work/got.sql" || fail ".dump of the restored database differs"
[ "$(wc -l <"$work/want.sql")" -gt 5000 ] || fail ".dump too short"

step "a damaged archive leaves an existing target untouched"
cp "$quiet_archive" "$work/damaged.hbak"
size=$(stat -c %s "$work/damaged.hbak")
pos=$((size / 2))
orig=$(od -An -tu1 -j "$pos" -N1 "$work/damaged.hbak" | tr -d ' ')
printf "$(printf '\\%03o' $((orig ^ 4)))" | dd of="$work/damaged.hbak" bs=1 seek="$pos" conv=notrunc status=none
before=$(sha256sum "$work/restored.sqlite")
expect_rc 1 backup verify --key "$key" "$work/damaged.hbak"
grep -q "damaged archive at byte" "$work/out" || fail "verify damaged: $(cat "$work/out")"
expect_rc 1 backup restore --key "$key" "$work/damaged.hbak" --db "$work/restored.sqlite"
grep -q "damaged archive at byte" "$work/out" || fail "restore damaged: $(cat "$work/out")"
[ "$(sha256sum "$work/restored.sqlite")" = "$before" ] || fail "a damaged archive changed the target"
ls -a "$work" | grep -q restore- && fail "a temp file was left: $(ls -a "$work")"
head -c $((size - 10)) "$quiet_archive" >"$work/truncated.hbak"
expect_rc 1 backup restore --key "$key" "$work/truncated.hbak" --db "$work/restored.sqlite"
grep -q "truncated" "$work/out" || fail "restore truncated: $(cat "$work/out")"
[ "$(sha256sum "$work/restored.sqlite")" = "$before" ] || fail "a truncated archive changed the target"

step "a wrong key is refused as such; an open key file is refused"
expect_rc 0 backup keygen "$work/other.key"
expect_rc 1 backup restore --key "$work/other.key" "$quiet_archive" --db "$work/restored.sqlite"
grep -q "wrong key" "$work/out" || fail "wrong key: $(cat "$work/out")"
[ "$(sha256sum "$work/restored.sqlite")" = "$before" ] || fail "a wrong key changed the target"
chmod 644 "$work/other.key"
expect_rc 1 backup verify --key "$work/other.key" "$quiet_archive"
grep -q "chmod 600" "$work/out" || fail "open key file: $(cat "$work/out")"

step "a database held open by another process is not replaced"
sqlite3 "$work/restored.sqlite" "PRAGMA journal_mode=WAL" >/dev/null
# sqlite3 keeps the database open while it waits for more input on the FIFO.
mkfifo "$work/hold"
sqlite3 "$work/restored.sqlite" <"$work/hold" >/dev/null &
holder_pid=$!
exec 9>"$work/hold"
echo "SELECT count(*) FROM journal;" >&9
sleep 0.5
before=$(sqlite3 "$work/restored.sqlite" "SELECT count(*) FROM journal")
expect_rc 1 backup restore --key "$key" "$live_archive" --db "$work/restored.sqlite"
grep -q "in use" "$work/out" || fail "in-use restore: $(cat "$work/out")"
exec 9>&-
wait "$holder_pid" 2>/dev/null || true; holder_pid=""
[ "$(sqlite3 "$work/restored.sqlite" "SELECT count(*) FROM journal")" = "$before" ] || fail "in-use target changed"
# Closed now: the restore goes through and replaces it.
expect_rc 0 backup restore --key "$key" "$live_archive" --db "$work/restored.sqlite"
[ "$(sqlite3 "$work/restored.sqlite" "SELECT count(*) FROM journal")" = "$rows" ] || fail "restore over a closed db"

echo "backup_cli: all checks passed"
