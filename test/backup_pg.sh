#!/usr/bin/env bash
# `holo backup` of a PostgreSQL store, end to end against the real server scripts/test starts: the
# store's journal is written through the store actor (holo store write-test), backed up with pg_dump
# while rows keep arriving, changed, and restored in one transaction; the restored rows equal the
# backed-up ones (compared by content), a canary row never appears in the archive bytes, and a
# damaged archive, a wrong key and a SQLite archive given to --dsn are refused with the database
# untouched. Runs in its own database, so concurrent tests on the server are not disturbed.
# Usage: backup_pg.sh HOLO_BINARY. Needs HOLO_TEST_POSTGRES_DSN (a keyword DSN) and psql.
set -euo pipefail

holo=${1:?usage: backup_pg.sh HOLO_BINARY}
if [ -z "${HOLO_TEST_POSTGRES_DSN:-}" ]; then
  echo "backup_pg: SKIP: HOLO_TEST_POSTGRES_DSN is unset (scripts/test starts PostgreSQL and sets it)"
  exit 0
fi
command -v psql >/dev/null || { echo "backup_pg: psql is needed (Debian package postgresql-client)"; exit 1; }
work=$(mktemp -d /tmp/holo-backup-pg.XXXXXX)
db="holo_backup_test_$$"
dsn="$HOLO_TEST_POSTGRES_DSN dbname=$db"
cleanup() {
  psql "$HOLO_TEST_POSTGRES_DSN" -qAtc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "backup_pg: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
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
q() { psql "$dsn" -qAtc "$1"; }
# Every journal row's content (id, status, revision, delivered tokens): what a restore must bring back.
rows() { q "SELECT request_id || ' ' || status || ' ' || revision || ' ' || md5(delivered_tokens::text) FROM journal ORDER BY request_id"; }

psql "$HOLO_TEST_POSTGRES_DSN" -qAtc "CREATE DATABASE $db" >/dev/null
key="$work/backup.key"
other_key="$work/other.key"
dir="$work/backups"
canary="CANARY-holobionte-pg-5e21c4"

step "1000 journal rows through the store actor, plus a canary row"
expect_rc 0 backup keygen "$key"
expect_rc 0 backup keygen "$other_key"
expect_rc 0 store write-test --backend postgres --dsn "$dsn" --count 1000
q "CREATE TABLE canary (v text); INSERT INTO canary VALUES ('$canary')"
[ "$(q 'SELECT count(*) FROM journal')" = 1000 ] || fail "expected 1000 journal rows"

step "backup while another writer keeps adding rows"
"$holo" store write-test --backend postgres --dsn "$dsn" --count 3000 --first 5000 --prefix live/ >/dev/null 2>&1 &
writer=$!
sleep 0.3
expect_rc 0 backup create --dsn "$dsn" --key "$key" --dir "$dir" --keep 3
grep -q "pg_dump" "$work/out" || fail "create did not report a pg_dump: $(cat "$work/out")"
wait $writer
archive=$(ls "$dir"/holo-backup-*.hbak | head -1)
[ -n "$archive" ] || fail "no archive in $dir"
[ "$(stat -c %a "$archive")" = 600 ] || fail "archive mode $(stat -c %a "$archive")"
ls -a "$dir" | grep -q "holo-snapshot" && fail "a clear-text dump was left in $dir"
grep -q "$canary" "$archive" && fail "the canary appears in the archive bytes"
expect_rc 0 backup verify --key "$key" "$archive"
grep -q "postgres_dump" "$work/out" || fail "verify does not name the payload: $(cat "$work/out")"

step "restore after changes: the rows are the backup's again, in one transaction"
# What the dump holds: restore it into a scratch database and read it there first.
scratch="${db}_scratch"
psql "$HOLO_TEST_POSTGRES_DSN" -qAtc "CREATE DATABASE $scratch" >/dev/null
expect_rc 0 backup restore --key "$key" --dsn "$HOLO_TEST_POSTGRES_DSN dbname=$scratch" "$archive"
want=$(psql "$HOLO_TEST_POSTGRES_DSN dbname=$scratch" -qAtc "SELECT request_id || ' ' || status || ' ' || revision || ' ' || md5(delivered_tokens::text) FROM journal ORDER BY request_id")
psql "$HOLO_TEST_POSTGRES_DSN" -qAtc "DROP DATABASE $scratch" >/dev/null
n_want=$(echo "$want" | wc -l)
[ "$n_want" -ge 1000 ] || fail "the dump holds $n_want journal rows, expected at least the first 1000"
q "DELETE FROM journal WHERE request_id LIKE 'wt/%'; UPDATE canary SET v = 'changed'"
expect_rc 0 backup restore --key "$key" --dsn "$dsn" "$archive"
[ "$(rows)" = "$want" ] || fail "restored journal differs from the backup's"
[ "$(q 'SELECT v FROM canary')" = "$canary" ] || fail "canary table not restored"

step "refusals leave the database untouched"
q "INSERT INTO canary VALUES ('after-restore')"
before=$(q "SELECT count(*) FROM canary")
expect_rc 1 backup restore --key "$other_key" --dsn "$dsn" "$archive"
grep -q "wrong key" "$work/out" || fail "wrong key: $(cat "$work/out")"
cp "$archive" "$work/damaged.hbak"
size=$(stat -c %s "$work/damaged.hbak")
# Flip a bit of the middle byte (writing a fixed 0xff left the archive intact whenever that byte
# already was 0xff: 1 run in 256 restored it and failed here).
pos=$((size / 2))
orig=$(od -An -tu1 -j "$pos" -N1 "$work/damaged.hbak" | tr -d ' ')
printf "$(printf '\\%03o' $((orig ^ 4)))" | dd of="$work/damaged.hbak" bs=1 seek="$pos" conv=notrunc status=none
cmp -s "$archive" "$work/damaged.hbak" && fail "the damaged copy equals the archive"
expect_rc 1 backup restore --key "$key" --dsn "$dsn" "$work/damaged.hbak"
grep -q "damaged archive" "$work/out" || fail "damaged archive: $(cat "$work/out")"
[ "$(q 'SELECT count(*) FROM canary')" = "$before" ] || fail "a refused restore changed the database"
# A SQLite archive is not a PostgreSQL dump.
sqlite3 "$work/s.sqlite" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
expect_rc 0 backup create --db "$work/s.sqlite" --key "$key" --dir "$work/sqlite-backups"
expect_rc 1 backup restore --key "$key" --dsn "$dsn" "$(ls "$work"/sqlite-backups/*.hbak | head -1)"
grep -q "sqlite_database" "$work/out" || fail "sqlite archive into --dsn: $(cat "$work/out")"
# A pg_restore failure rolls back: a dump restored into a database where a dependent object blocks
# the --clean drop must leave everything as it was.
q "CREATE VIEW blocker AS SELECT * FROM canary"
expect_rc 1 backup restore --key "$key" --dsn "$dsn" "$archive"
grep -q "rolled back" "$work/out" || fail "failed pg_restore: $(cat "$work/out")"
[ "$(q 'SELECT count(*) FROM canary')" = "$before" ] || fail "a failed pg_restore changed the database"
expect_rc 2 backup restore --key "$key" "$archive"
echo "backup_pg: ok"
