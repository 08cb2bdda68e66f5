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
echo "== cargo deny (licences, banned crates, sources; advisories when reachable)"
command -v cargo-deny >/dev/null 2>&1 || cargo install cargo-deny --locked
cargo deny check bans licenses sources
# The RustSec database is cloned from GitHub: checked whenever this machine can reach it,
# and said loudly when it cannot (never skipped in silence).
if timeout 60 git ls-remote https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny check advisories
else
  echo "!! advisories NOT CHECKED: github.com (the RustSec database) is unreachable from here" >&2
fi
echo "== ui: vitest"
(cd ui && npx vitest run)
echo "== cargo test"
cargo test --workspace
echo "== OS keystore (GNOME Keyring's Secret Service on a private session bus)"
scripts/keystore-tests.sh
echo "== hub storage on PostgreSQL (a throwaway cluster under target/pg)"
scripts/postgres-tests.sh
echo "== benchmark smoke run (checks it works, not its speed)"
cargo build --workspace
target/debug/doorstep-bench --households 300 --visits 1500 --groups 4 --scales 200 \
  --devices 4 --visits-per-device 3 --saves 20 --at-rest-households 300 --coordination-households 300 --json > target/bench-smoke.json
python3 -c "import json; r = json.load(open('target/bench-smoke.json')); assert r['ward']['one_visit_sync_bytes'] > 0 and r['hub'][0]['updates_per_second'] > 0 and r['at_rest']['unlock_seconds'] > 0 and r['coordination']['merge_50_visits_each_ms'] > 0; print('bench smoke ok')"
echo "== fuzz smoke (each decoder a peer can reach, 15 s each; long runs: see fuzz/README.md)"
if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal || true
fi
if cargo +nightly --version >/dev/null 2>&1; then
  cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  mkdir -p target
  for target in sync_body change_checker document_load join_link signed_push; do
    log="target/fuzz-$target.log"
    # document_load: Automerge's load running out of memory on crafted documents is an open
    # finding (fuzz/README.md); the smoke goes on past such inputs and fails on any crash.
    extra=()
    [ "$target" = document_load ] && extra=(-fork=1 -ignore_ooms=1 -ignore_timeouts=1)
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time=15 -print_final_stats=1 "${extra[@]}") \
      > "$log" 2>&1 || { tail -40 "$log"; echo "fuzz target $target crashed" >&2; exit 1; }
    echo "$target: $(grep -E 'number_of_executed_units' "$log")"
  done
else
  echo "!! fuzz smoke NOT RUN: no nightly toolchain could be installed on this machine" >&2
fi
echo "== app end to end (real WebView)"
xvfb-run -a -s "-screen 0 1280x900x24" "$E2E_VENV/bin/pytest" -q tests/e2e
