#!/usr/bin/env bash
# The OS-keystore tests against a real Secret Service: a private D-Bus session with GNOME
# Keyring unlocked by a throwaway password, its keyring files under target/ (never the
# user's own). Called by scripts/test.sh; runnable alone.
set -euo pipefail
cd "$(dirname "$0")/.."
home="$PWD/target/keystore-home"
rm -rf "$home" && mkdir -p -m 0700 "$home"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
XDG_DATA_HOME="$home" XDG_RUNTIME_DIR="$home" HOME="$home" dbus-run-session -- bash -c '
    printf "doorstep-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    # Every "keystore" test target of the workspace (the vault and the CLI), with the features
    # `cargo test --workspace` built: one package alone would be built again with others.
    cargo test -q --workspace --test keystore -- --ignored
  '
