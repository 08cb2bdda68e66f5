#!/usr/bin/env bash
# The second README command: sets up what is missing, then runs every check and test:
# formatting, lints, the UI's unit tests, every Rust test, and the app end to end in the
# real WebView (tauri-driver + WebKitWebDriver under Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

if ! command -v tauri-driver >/dev/null 2>&1; then
  cargo install tauri-driver --locked
fi
E2E_VENV=target/e2e-venv
if [ ! -x "$E2E_VENV/bin/pytest" ]; then
  python3 -m venv "$E2E_VENV"
  "$E2E_VENV/bin/pip" install -q selenium==4.* pytest==8.*
fi

export CARGO_TERM_COLOR=never
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== ui: vitest"
(cd ui && npx vitest run)
echo "== cargo test"
cargo test --workspace
echo "== app end to end (real WebView)"
cargo build --workspace
xvfb-run -a -s "-screen 0 1280x900x24" "$E2E_VENV/bin/pytest" -q tests/e2e
