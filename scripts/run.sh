#!/usr/bin/env bash
# `make run`: the tracker in the background and every peer's window; closing
# the window stops everything this started.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display (DISPLAY is not set). Run it from a desktop session," >&2
  echo "     or headless: make run_tracker & ./target/release/peer --peer 1 share" >&2
  exit 1
fi
# Runtime libraries the window needs (present on any desktop install).
missing=()
for lib in libGL.so.1 libEGL.so.1 libxkbcommon-x11.so.0 libXcursor.so.1 libXrandr.so.2 libXi.so.6; do
  ldconfig -p | grep -q "$lib" || missing+=("$lib")
done
if ((${#missing[@]})); then
  pkgs="libgl1 libegl1 libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6"
  if [ "$(id -u)" = 0 ]; then
    echo "run: installing the window's libraries: $pkgs"
    apt-get update -qq && apt-get install -y -qq $pkgs >/dev/null
  else
    echo "run: missing ${missing[*]}; install them with: sudo apt-get install $pkgs" >&2
    exit 1
  fi
fi
mkdir -p target
./target/release/tracker --config install/tracker/config.ini >target/tracker.log 2>&1 &
tracker=$!
trap 'kill "$tracker" 2>/dev/null || true' EXIT
echo "tracker running (log: target/tracker.log); opening the peers' window"
./target/release/peer-gui --config install/peers/config.ini
