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
unset WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
# A fresh home: no remembered window or views, no user configuration.
export HOME=$work/home XDG_DATA_HOME=$work/home/.local/share XDG_CONFIG_HOME=$work/home/.config
mkdir -p "$HOME"
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

window() { # the newest window named like $1
  local w=""
  for _ in $(seq 100); do
    w=$(xdotool search --name "$1" 2>/dev/null | tail -1 || true)
    [ -n "$w" ] && break
    sleep 0.1
  done
  [ -n "$w" ] || { echo "screenshot: no window appeared" >&2; cat "$work"/*.log >&2; exit 1; }
  echo "$w"
}
# Where things are in the 1000x700 window (checked on the pictures).
DOWNLOAD_X=940 ROW_Y=126 VIEWS_Y=45 SHARED_X=238 PANE_Y=468 PEERS_X=105 SPEED_X=171
click() { xdotool mousemove --window "$win" "$1" "$2" click 1; sleep "${3:-0.5}"; }
shot() { import -window "$win" "$out/$1.png"; shots+=("$out/$1.png"); }
shots=()

# The first-run screen: the app alone, where no configuration is found
# (a copy of the binary, away from the checkout's install/ folder).
mkdir -p "$work/bin"
cp target/release/peer-gui "$work/bin/"
(cd "$work" && exec ./bin/peer-gui >"$work/setup.log" 2>&1) & setup_pid=$!
win=$(window "Eirb2Share")
sleep 1.5
shot setup
kill "$setup_pid"; wait "$setup_pid" 2>/dev/null || true

RUST_LOG=warn ./target/release/tracker --config install/tracker/config.ini >"$work/tracker.log" 2>&1 & pids+=($!)
# Peer 1 shares the samples headless; the app shows peer 4, whose folder
# is copied so the shipped one stays as it is.
mkdir -p "$work/peer4" "$work/peer2"
cp install/peers/peer4_files/* "$work/peer4/"
head -c 4000000 /dev/urandom >"$work/peer4/holiday.zip"
sed -e "s|^peer4_directory_path = .*|peer4_directory_path = $work/peer4|" \
  -e "s|^peer2_directory_path = .*|peer2_directory_path = $work/peer2|" install/peers/config.ini >"$work/peers.ini"
# The seeder sends 20 kB/s, so the download is still moving when shot;
# the app sends at most 50 kB/s, so it is seen uploading to peer 2.
{ echo "peer1_max_upload_rate = 20000"; echo "peer4_max_upload_rate = 50000"; } >>"$work/peers.ini"
./target/release/peer --config "$work/peers.ini" --peer 1 share >"$work/peer1.log" 2>&1 & pids+=($!)
./target/release/peer-gui --config "$work/peers.ini" --peer 4 >"$work/gui.log" 2>&1 & pids+=($!)
win=$(window "Eirb2Share")
sleep 2
shot start
# Search through the real window: focus it (no window manager here),
# Ctrl+F to the field, type, press Enter.
xdotool windowfocus --sync "$win"
click 300 20 0.2
xdotool key ctrl+f
xdotool type --delay 20 'random'
xdotool key Return
sleep 2.5
shot search
# Paste a result line into the field and click Download (the seed's way).
xdotool key ctrl+f ctrl+a
xdotool type --delay 5 "$(./target/release/peer --config "$work/peers.ini" --peer 2 search 'filename="random_100k.bin"' | head -1)"
click "$DOWNLOAD_X" 20 2
# Select the transfer row: its pieces and peers show below the table.
click 60 "$ROW_Y" 1.5
shot download
# A leecher fetches one of the app's files: the Shared files view shows
# the upload, the Peers pane who takes it.
./target/release/peer --config "$work/peers.ini" --peer 2 download \
  "$(./target/release/peer --config "$work/peers.ini" --peer 2 search 'filename="holiday.zip"' | head -1)" >"$work/peer2.log" 2>&1 & pids+=($!)
click "$SHARED_X" "$VIEWS_Y" 0.3
click "$PEERS_X" "$PANE_Y" 3
shot seeding
click "$SPEED_X" "$PANE_Y" 2
shot speed
# The narrowest supported window: the transfers view at 640 px.
click 50 "$VIEWS_Y" 0.3
xdotool windowsize --sync "$win" 640 560 || xdotool windowsize "$win" 640 560
sleep 1.5
shot narrow

# The distributed mode: no tracker. Everything above stops but Xvfb; three
# headless peers and the app (peer 4, with a fresh home) find each other
# on the loopback multicast group, then the app searches a plain name.
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
pids=("${pids[0]}")
sed -e "s|^peer4_directory_path = .*|peer4_directory_path = $work/peer4|" install/peers/config-distributed.ini >"$work/lan.ini"
for x in 1 2 3; do
  ./target/release/peer --config "$work/lan.ini" --peer "$x" share >"$work/lan$x.log" 2>&1 & pids+=($!)
done
XDG_DATA_HOME=$work/lan-home ./target/release/peer-gui --config "$work/lan.ini" --peer 4 >"$work/gui-lan.log" 2>&1 & pids+=($!)
win=$(window "Eirb2Share")
sleep 4
xdotool windowfocus --sync "$win"
click 300 20 0.2
xdotool key ctrl+f
xdotool type --delay 20 'notes.txt'
xdotool key Return
sleep 4.5
click "$PEERS_X" "$PANE_Y" 1
shot lan
echo "screenshots: ${shots[*]}"
