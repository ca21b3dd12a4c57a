#!/usr/bin/env bash
# `make screenshot-tracker`: runs the tracker with its status page on
# free loopback ports, lets a few peers announce, look and fetch for a
# while (tracker/examples/status_demo.rs, which also earns each kind of
# rejection), then renders the page in headless Chromium and saves
# docs/screenshots/tracker.png.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
SECONDS_OF_TRAFFIC=${SECONDS_OF_TRAFFIC:-35}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    browser=$(command -v chromium)
  else
    echo "screenshot-tracker: install chromium (sudo apt-get install chromium) and run again" >&2
    exit 1
  fi
fi
$CARGO build --release -p tracker --bin tracker --example status_demo
target=${CARGO_TARGET_DIR:-target}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { # a port nobody listens on now, from the ephemeral range
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "screenshot-tracker: no free port found" >&2; exit 1
}
port=$(free_port)
http=$(free_port)
cat >"$work/config.ini" <<INI
tracker_ip = 127.0.0.1
tracker_port = $port
tracker_http_port = $http
tracker_partial_timeout = 3000
tracker_max_connections_per_ip = 4
tracker_max_files_per_ip = 20
INI
RUST_LOG=warn "$target/release/tracker" --config "$work/config.ini" 2>"$work/tracker.log" & pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$http") 2>/dev/null && break; sleep 0.1; done

# The demo holds its connections while its stdin stays open.
mkfifo "$work/hold"
"$target/release/examples/status_demo" "127.0.0.1:$port" "$SECONDS_OF_TRAFFIC" <"$work/hold" >"$work/demo.out" & pids+=($!)
exec 4>"$work/hold"
for _ in $(seq $((SECONDS_OF_TRAFFIC * 10 + 300))); do grep -q ready "$work/demo.out" && break; sleep 0.1; done
grep -q ready "$work/demo.out" || { echo "screenshot-tracker: the demo peers did not finish" >&2; cat "$work/tracker.log" >&2; exit 1; }

mkdir -p docs/screenshots
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-color-profile=srgb \
  --window-size=1280,1200 --screenshot="$PWD/docs/screenshots/tracker.png" "http://127.0.0.1:$http/" \
  >"$work/chromium.log" 2>&1 || { cat "$work/chromium.log" >&2; exit 1; }
exec 4>&-
echo "saved docs/screenshots/tracker.png"
