#!/usr/bin/env bash
# Writes ui/src/bindings.ts anew from the Rust types and the app's one list of commands
# (crates/doorstep-app/src/bindings.rs). Run it after changing either; the test suite fails
# while the committed file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
DOORSTEP_BLESS=1 cargo test --workspace --lib --quiet -- the_ui_bindings_are_current
echo "wrote ui/src/bindings.ts"
