#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: `test/postgres.sh start DIR` creates a cluster in DIR
# and starts it on a private port on 127.0.0.1 (socket in DIR), printing `export HOLO_TEST_POSTGRES_DSN=...`;
# `test/postgres.sh stop DIR` stops it and removes DIR. PostgreSQL refuses to run as root, so as root
# it runs as the `postgres` user (created by Debian's postgresql package).
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "postgres.sh: no PostgreSQL server found (run deploy/install-deps.sh)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    port=${HOLO_TEST_POSTGRES_PORT:-$(( 20000 + RANDOM % 20000 ))}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U holo --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U holo holo_test
    echo "export HOLO_TEST_POSTGRES_DSN='host=127.0.0.1 port=$port dbname=holo_test user=holo'"
    echo "export HOLO_TEST_POSTGRES_BIN='$bin' HOLO_TEST_POSTGRES_DIR='$dir' HOLO_TEST_POSTGRES_PORT='$port'"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "usage: postgres.sh start|stop DIR" >&2; exit 2 ;;
esac
