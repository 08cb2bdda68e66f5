#!/usr/bin/env bash
# The hub's storage conformance suite against PostgreSQL (Debian's, installed by setup.sh): a
# throwaway cluster under target/pg (its own port, trust on loopback only, a socket directory
# of its own), stopped on exit whatever happens. Called by scripts/test.sh; runnable alone.
set -euo pipefail
cd "$(dirname "$0")/.."
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
  -o "-p $port -k $dir/sock -h 127.0.0.1" start >/dev/null
trap 'as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null' EXIT
export DOORSTEP_TEST_POSTGRES="host=127.0.0.1 port=$port user=postgres dbname=postgres"
# The storage conformance suite and the `hub --database` commands end to end, with the
# features `cargo test --workspace` built (one package alone would be built again with others).
cargo test -q --workspace --test storage --test hub_postgres --test hub_city -- --include-ignored
# The city roll-up page in Chromium, on a database of its own (the binary the tests built).
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres city_page
E2E_VENV=target/e2e-venv
if [ ! -x "$E2E_VENV/bin/pytest" ]; then
  python3 -m venv "$E2E_VENV"
  "$E2E_VENV/bin/pip" install -q selenium==4.* pytest==8.*
fi
DOORSTEP_TEST_CITY_DB="$DOORSTEP_TEST_POSTGRES dbname=city_page" "$E2E_VENV/bin/pytest" -q tests/city
