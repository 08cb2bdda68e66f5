#!/usr/bin/env bash
# The second README command: sets up what is missing, then runs every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export CARGO_TERM_COLOR=never
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
