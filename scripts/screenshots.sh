#!/usr/bin/env bash
# Refreshes docs/screenshots/ from the WebView tests (a plain test run writes them under
# target/screenshots/ and leaves the checkout unchanged). Needs what scripts/test.sh sets up.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace
DOORSTEP_SCREENSHOTS="$PWD/docs/screenshots" \
  xvfb-run -a -s "-screen 0 1280x900x24" target/e2e-venv/bin/pytest -q tests/e2e
# The city roll-up page (Chromium, on a throwaway PostgreSQL).
DOORSTEP_SCREENSHOTS="$PWD/docs/screenshots" scripts/postgres-tests.sh
