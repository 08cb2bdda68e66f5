#!/usr/bin/env bash
# The first README command: sets up what is missing, builds Doorstep and shows it working on a
# demo ward kept in the platform's data directory (or in $DOORSTEP_DB).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo build --workspace
doorstep=target/debug/doorstep
export DOORSTEP_DB="${DOORSTEP_DB:-${XDG_DATA_HOME:-$HOME/.local/share}/doorstep/demo.sqlite}"
mkdir -p "$(dirname "$DOORSTEP_DB")"
if [ ! -f "$DOORSTEP_DB" ]; then
  echo "== creating a demo ward in $DOORSTEP_DB"
  "$doorstep" demo --households "${DEMO_HOUSEHOLDS:-2000}" 2>/dev/null
fi
echo "== residential groups"
"$doorstep" group list
echo "== the ward report"
"$doorstep" report
echo
echo "Try: DOORSTEP_DB=$DOORSTEP_DB $doorstep household list --group 'Tổ dân phố số 1'"
