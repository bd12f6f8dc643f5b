#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests, as an unprivileged user, in a new
# temporary directory; installs Debian's `postgresql` first when it is missing.
#
#   eval "$(tests/postgres/cluster.sh start [PORT])"   # exports LOCALHSM_TEST_POSTGRES, PG_CLUSTER_DIR, PG_BIN
#   tests/postgres/cluster.sh stop|restart DIR
#
# The cluster listens on 127.0.0.1:PORT (default 55432) with trust authentication for the
# user `localhsm`, and keeps its socket in DIR: nothing outside DIR is touched.
set -euo pipefail

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$d" ]; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql </dev/null >&2
    d="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$d"
}

# PostgreSQL refuses to run as root: run it as `postgres` (the package's user) or `nobody`.
as_user() {
  if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
  local u=postgres
  id "$u" >/dev/null 2>&1 || u=nobody
  runuser -u "$u" -- "$@"
}

cmd="${1:-start}"
case "$cmd" in
  start)
    port="${2:-55432}"
    bin="$(pg_bin)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/localhsm-pg.XXXXXX")"
    chmod 755 "$dir"
    [ "$(id -u)" -ne 0 ] || chown "$(id -u postgres 2>/dev/null || id -u nobody)" "$dir"
    as_user "$bin/initdb" -D "$dir/data" -U localhsm --auth=trust -E UTF8 >/dev/null
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
synchronous_commit = on
CONF
    as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null
    echo "export PG_CLUSTER_DIR='$dir' PG_BIN='$bin'"
    echo "export LOCALHSM_TEST_POSTGRES='postgres://localhsm@127.0.0.1:$port/postgres'"
    ;;
  stop)
    dir="$2"; bin="$(pg_bin)"
    as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  restart)
    dir="$2"; bin="$(pg_bin)"
    as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w -t 60 restart >/dev/null
    ;;
  *)
    echo "usage: $0 start [PORT] | stop DIR | restart DIR" >&2
    exit 2
    ;;
esac
