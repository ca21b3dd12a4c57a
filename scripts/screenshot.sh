#!/usr/bin/env bash
# `make screenshot`: runs the tracker and the peers' app under Xvfb against
# the shipped configuration, searches and downloads through the real
# window, and saves PNG screenshots in docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v import >/dev/null || need+=(imagemagick)
command -v xwininfo >/dev/null || need+=(x11-utils)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" libgl1 libegl1 libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 >/dev/null
  else
    echo "screenshot: install ${need[*]} (sudo apt-get install ${need[*]}) and run again" >&2
    exit 1
  fi
fi
out=docs/screenshots
mkdir -p "$out"
work=$(mktemp -d)
display=:97
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 & pids+=($!)
export DISPLAY=$display
unset WAYLAND_DISPLAY
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
RUST_LOG=warn ./target/release/tracker --config install/tracker/config.ini >"$work/tracker.log" 2>&1 & pids+=($!)
# Peer 1 shares the samples headless; the app shows peer 4, whose folder
# is copied so the shipped one stays as it is.
mkdir -p "$work/peer4"
cp install/peers/peer4_files/* "$work/peer4/"
sed "s|^peer4_directory_path = .*|peer4_directory_path = $work/peer4|" install/peers/config.ini >"$work/peers.ini"
# The seeder sends 20 kB/s, so the download is still moving when shot.
echo "peer1_max_upload_rate = 20000" >>"$work/peers.ini"
./target/release/peer --config "$work/peers.ini" --peer 1 share >"$work/peer1.log" 2>&1 & pids+=($!)
./target/release/peer-gui --config "$work/peers.ini" --peer 4 >"$work/gui.log" 2>&1 & pids+=($!)
win=""
for _ in $(seq 100); do
  win=$(xdotool search --name "Eirb2Share" 2>/dev/null | head -1 || true)
  [ -n "$win" ] && break
  sleep 0.1
done
[ -n "$win" ] || { echo "screenshot: no window appeared"; cat "$work/gui.log"; exit 1; }
sleep 2
import -window "$win" "$out/start.png"
# Search through the real window: focus it (no window manager here),
# click the field, type, press Enter.
xdotool windowfocus --sync "$win"
xdotool mousemove --window "$win" 300 42 click 1
sleep 0.3
xdotool type --delay 20 'random'
xdotool key Return
sleep 2
import -window "$win" "$out/search.png"
# Paste a result line into the field and click Download (the seed's way).
xdotool mousemove --window "$win" 300 42 click 1
sleep 0.2
xdotool key ctrl+a
xdotool type --delay 5 "$(./target/release/peer --config "$work/peers.ini" --peer 2 search 'filename="random_100k.bin"' | head -1)"
xdotool mousemove --window "$win" 910 42 click 1
sleep 2
# Select the transfer row: its peers show below the table.
xdotool mousemove --window "$win" 60 200 click 1
sleep 1.5
import -window "$win" "$out/download.png"
echo "screenshots: $out/start.png $out/search.png $out/download.png"
