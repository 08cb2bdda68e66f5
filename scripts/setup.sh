#!/usr/bin/env bash
# Installs what building, running and testing Doorstep needs on Debian 12, skipping what is
# there. Sourced by run.sh and test.sh; a second run takes seconds.
set -euo pipefail

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
wanted=(build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev
  libayatana-appindicator3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev xvfb xauth
  webkit2gtk-driver python3-venv
  # the OS-keystore tests: a Secret Service (GNOME Keyring) on a private D-Bus session
  gnome-keyring dbus
  # reading printed sheets back (pdftotext, pdffonts, pdftoppm)
  poppler-utils
  # the hub's storage tests on PostgreSQL (a city deployment's database)
  postgresql
  # the city roll-up page, tested in Chromium
  chromium chromium-driver)
# Node.js and pip may come from elsewhere than Debian: ask apt only when they are missing.
command -v node >/dev/null 2>&1 || wanted+=(nodejs npm)
python3 -m pip --version >/dev/null 2>&1 || wanted+=(python3-pip)
need_apt=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: Rust is missing; install it with rustup (https://rustup.rs), then run this again" >&2
    exit 1
  fi
fi
export PATH="$HOME/.cargo/bin:$PATH"
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

# The UI: dependencies from the lock file, then a build into ui/dist (what the app embeds).
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  (cd ui && npm ci --no-audit --no-fund)
fi
(cd ui && npm run --silent build)
