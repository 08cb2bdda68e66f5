#!/usr/bin/env bash
# Sourced: starts a throwaway PostgreSQL cluster (Debian's, installed by setup.sh) under
# target/pg (its own port, trust on loopback only, a socket directory of its own), stopped
# when the sourcing script exits, and exports its URL as DOORSTEP_TEST_POSTGRES. `as_owner`
# runs a PostgreSQL program as the cluster's owner.
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed: run scripts/setup.sh" >&2; exit 1; }
dir="$PWD/target/pg"
rm -rf "$dir" && mkdir -p "$dir/sock"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# initdb refuses to run as root: as root the cluster belongs to the postgres user.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" -ne 0 ] || chown -R postgres "$dir"
as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
# -l: without a log file pg_ctl keeps the caller's stdout open.
as_owner "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/pg.log" \
  -o "-p $port -k $dir/sock -h 127.0.0.1 -c max_connections=300" start >/dev/null
trap 'as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null' EXIT
export DOORSTEP_TEST_POSTGRES="host=127.0.0.1 port=$port user=postgres dbname=postgres"
