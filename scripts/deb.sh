#!/usr/bin/env bash
# `make deb`: the release build, then the Debian packages of the tracker
# and of the app in target/debian/ (cargo-deb reads each package's
# [package.metadata.deb]). Installs cargo-deb when missing, and dpkg-dev,
# whose dpkg-shlibdeps lists the libraries the binaries link to.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

if ! "$CARGO" deb --version >/dev/null 2>&1; then
  echo "deb: installing cargo-deb (once)" >&2
  "$CARGO" install --locked cargo-deb --version '^3.8'
fi
if ! command -v dpkg-shlibdeps >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq dpkg-dev >/dev/null
  else
    echo "deb: needs dpkg-shlibdeps: sudo apt-get install dpkg-dev" >&2
    exit 1
  fi
fi

"$CARGO" build --release --workspace
# The build above made every binary both packages take (peer-gui's takes
# the engine's `peer` too), so cargo-deb only packs; --strip keeps the
# line tables of the release profile out of the installed binaries.
for package in tracker peer-gui; do
  "$CARGO" deb --no-build --strip --package "$package"
done
