#!/usr/bin/env bash
# The first README command: installs what is missing, builds the UI and the app, and starts
# the app. With no ward on this device yet it opens on a demo ward (5,000 households) served
# by an embedded hub. Data lives in the platform's app data directory unless DOORSTEP_DATA
# says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo build --workspace
export DOORSTEP_DEMO="${DOORSTEP_DEMO:-5000}"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display: starting the app under Xvfb (set DISPLAY to see it)."
  exec xvfb-run -a -s "-screen 0 1280x900x24" target/debug/doorstep-app
fi
exec target/debug/doorstep-app
