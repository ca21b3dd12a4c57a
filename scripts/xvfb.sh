#!/usr/bin/env bash
# Runs a command with DISPLAY set to a private Xvfb (installed if missing
# and root; otherwise says what to install).
set -euo pipefail
if ! command -v Xvfb >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq xvfb libgl1 libegl1 libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 >/dev/null
  else
    echo "xvfb: install it with: sudo apt-get install xvfb" >&2
    exit 1
  fi
fi
# -displayfd: Xvfb picks a free display and writes its number when ready.
fifo=$(mktemp -u)
mkfifo "$fifo"
Xvfb -displayfd 3 -screen 0 1280x860x24 -nolisten tcp 3>"$fifo" >/dev/null 2>&1 &
xvfb=$!
trap 'kill "$xvfb" 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r number <"$fifo"
display=":$number"
unset WAYLAND_DISPLAY
DISPLAY=$display "$@"
