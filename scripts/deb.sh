#!/usr/bin/env bash
# `make deb`: the release build, then the Debian packages of the tracker
# and of the app in target/debian/ (cargo-deb reads each package's
# [package.metadata.deb]). Installs cargo-deb when missing, dpkg-dev,
# whose dpkg-shlibdeps lists the libraries the binaries link to, and
# help2man, which makes the manual pages.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

# 3.8 or later: the flags and the package layout used here.
have=$("$CARGO" deb --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
if [ -z "$have" ] || [ "$(printf '%s\n' 3.8.0 "$have" | sort -V | head -n 1)" != 3.8.0 ]; then
  echo "deb: installing cargo-deb 3.8 or later${have:+ (found $have)}" >&2
  "$CARGO" install --locked cargo-deb --version '^3.8'
fi
missing=()
command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev)
command -v help2man >/dev/null || missing+=(help2man)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "deb: needs ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

"$CARGO" build --release --workspace
# The manual pages, from each command's --help, beside the binaries
# (cargo-deb reads `target/release/` in the assets as the real target
# folder), gzipped as Debian wants them: cargo-deb compresses only the
# assets it did not see built.
release="$("$CARGO" metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | sed 's/.*:"//; s/"$//')/release"
man() { # man COMMAND SUMMARY EXTRA-SECTIONS
  help2man --no-info --section 1 --name "$2" --include "$3" --output "$release/$1.1" "$release/$1"
  gzip --best --no-name --force "$release/$1.1"
}
man tracker "the Eirb2Share tracker: knows which peer shares which file" install/man/tracker.h2m
man peer "an Eirb2Share peer without a window: share, search, download" install/man/peer.h2m
man peer-gui "the Eirb2Share desktop app: share a folder, search, download" install/man/peer.h2m

# The build above made every binary both packages take (peer-gui's takes
# the engine's `peer` too), so cargo-deb only packs; --strip keeps the
# line tables of the release profile out of the installed binaries.
for package in tracker peer-gui; do
  "$CARGO" deb --no-build --strip --package "$package"
done
