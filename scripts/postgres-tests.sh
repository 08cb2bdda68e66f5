#!/usr/bin/env bash
# Every test that needs PostgreSQL (Debian's, installed by setup.sh), on a throwaway cluster
# under target/pg stopped on exit whatever happens (scripts/pg-cluster.sh): the storage
# conformance suite, the hub on PostgreSQL, many wards, the city page in Chromium. Called by
# scripts/test.sh; runnable alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg-cluster.sh
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
