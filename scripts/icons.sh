#!/usr/bin/env bash
# Makes the app's PNG icons, in the hicolor theme's sizes, from the
# project's drawing, install/icons/hicolor/scalable/apps/eirb2share.svg
# (run `make icons` after editing it; the PNGs are committed). Installs
# rsvg-convert when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v rsvg-convert >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq librsvg2-bin >/dev/null
  else
    echo "icons: needs rsvg-convert: sudo apt-get install librsvg2-bin" >&2
    exit 1
  fi
fi
svg=install/icons/hicolor/scalable/apps/eirb2share.svg
for size in 16 22 24 32 48 64 128 256 512; do
  dir=install/icons/hicolor/${size}x${size}/apps
  mkdir -p "$dir"
  rsvg-convert --width "$size" --height "$size" "$svg" --output "$dir/eirb2share.png"
  echo "$dir/eirb2share.png"
done
