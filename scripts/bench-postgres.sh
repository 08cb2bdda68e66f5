#!/usr/bin/env bash
# The benchmark with the hub on SQLite and on PostgreSQL (one and two hub processes) and the
# city roll-up, on a throwaway PostgreSQL cluster (scripts/pg-cluster.sh). Extra arguments go
# to doorstep-bench (e.g. --json). Figures: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/pg-cluster.sh
cargo build --release -p doorstep-bench
target/release/doorstep-bench --storage sqlite,postgres --postgres "$DOORSTEP_TEST_POSTGRES" "$@"
