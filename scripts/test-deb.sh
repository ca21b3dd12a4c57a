#!/usr/bin/env bash
# `make test-deb`: builds the two Debian packages, checks what is in them,
# then (as root) installs them on this machine, checks what they
# installed, and removes and purges them again. CI runs it after `make
# test`. Each check prints "ok: ..." or "FAIL: ..."; any failure fails
# the script once every check has run.
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
  if [ "$failures" -gt 0 ]; then
    echo "test-deb: $failures check(s) failed" >&2
    exit 1
  fi
  echo "test-deb: every check passed"
  exit 0
}

bash scripts/deb.sh || { echo "test-deb: the packages could not be built" >&2; exit 1; }

target=$("$CARGO" metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | sed 's/.*:"//; s/"$//')
version=$("$CARGO" pkgid --package tracker | sed 's/.*[#@]//')
arch=$(dpkg --print-architecture)
tracker_deb="$target/debian/eirb2share-tracker_${version}-1_${arch}.deb"
peer_deb="$target/debian/eirb2share-peer_${version}-1_${arch}.deb"
unit=usr/lib/systemd/system/eirb2share-tracker.service
conffile=/etc/eirb2share/tracker.ini

## What is in the packages.
check "install/debian/changelog starts at version $version-1" \
  grep -q "^eirb2share ($version-1) " <(head -n 1 install/debian/changelog)
for deb in "$tracker_deb" "$peer_deb"; do
  [ -f "$deb" ] || { echo "test-deb: $deb was not built" >&2; exit 1; }
  check "$(basename "$deb"): version $version-1 (the workspace's)" \
    test "$(dpkg-deb --field "$deb" Version)" = "$version-1"
  check "$(basename "$deb"): depends on the C library (dpkg-shlibdeps ran)" \
    grep -q 'libc6' <<<"$(dpkg-deb --field "$deb" Depends)"
  check "$(basename "$deb"): has a description" \
    test "$(dpkg-deb --field "$deb" Description | wc -l)" -gt 3
done
contents() { dpkg-deb --contents "$1" | awk '{print $NF}' | sed 's|^\./|/|'; }
has() { # has DEB PATH...
  local deb=$1 listing path
  shift
  listing=$(contents "$deb")
  for path in "$@"; do
    check "$(basename "$deb") holds $path" grep -qxF "$path" <<<"$listing"
  done
}
has "$tracker_deb" /usr/bin/tracker "/$unit" "$conffile" /usr/share/man/man1/tracker.1.gz
check "the tracker's conffiles are exactly $conffile" \
  test "$(dpkg-deb --info "$tracker_deb" conffiles)" = "$conffile"
icons=()
for size in 16 22 24 32 48 64 128 256 512; do
  icons+=("/usr/share/icons/hicolor/${size}x${size}/apps/eirb2share.png")
done
has "$peer_deb" /usr/bin/peer-gui /usr/bin/peer /usr/share/applications/eirb2share.desktop \
  /usr/share/man/man1/peer.1.gz /usr/share/man/man1/peer-gui.1.gz \
  /usr/share/icons/hicolor/scalable/apps/eirb2share.svg "${icons[@]}"
stripped() { # stripped DEB PATH: no debug sections in the packaged binary
  local bin="$target/debian/stripped-check"
  dpkg-deb --fsys-tarfile "$1" | tar -xO ".$2" >"$bin" &&
    readelf --sections --wide "$bin" >"$bin.sections" &&
    ! grep -qE '\.(debug_(info|line)|symtab) ' "$bin.sections"
  local verdict=$?
  rm -f "$bin" "$bin.sections"
  return $verdict
}
check "the packaged tracker is stripped" stripped "$tracker_deb" /usr/bin/tracker
check "the packaged peer-gui is stripped" stripped "$peer_deb" /usr/bin/peer-gui
check "the packaged peer is stripped" stripped "$peer_deb" /usr/bin/peer
if command -v desktop-file-validate >/dev/null; then
  check "desktop-file-validate accepts the desktop entry" desktop-file-validate install/eirb2share.desktop
fi
if command -v lintian >/dev/null; then
  # Errors fail the test; warnings are shown.
  check "lintian finds no error" lintian --fail-on error "$tracker_deb" "$peer_deb"
else
  echo "skip: lintian (not installed: apt-get install lintian)"
fi
if command -v systemd-analyze >/dev/null; then
  # The unit as packaged, checked before installing: verify wants the
  # binary it starts, so that part waits for the installed one below.
  systemd-analyze security --offline=yes --no-pager "install/debian/tracker/eirb2share-tracker.service" 2>/dev/null |
    tail -n 1 | sed 's/^/systemd-analyze security: /'
fi

# Their files but the conffile, listed now: building the upgrade below
# replaces the tracker's package.
files_of() { contents "$1" | grep -v '/$' | grep -vxF "$conffile"; }
tracker_files=$(files_of "$tracker_deb")
peer_files=$(files_of "$peer_deb")
check "the packages' file lists were read" test -n "$tracker_files" -a -n "$peer_files"

## Installed on this machine (root only: CI runs as root).
if [ "$(id -u)" != 0 ]; then
  echo "skip: installing the packages (needs root)"
  finish
fi
for package in eirb2share-tracker eirb2share-peer; do
  if dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null | grep -q '^installed$'; then
    fail "$package is installed here already, so the install checks cannot run: purge it (sudo apt purge eirb2share-tracker eirb2share-peer) and run again"
    finish
  fi
done

# The libraries they depend on, from the Debian archive (as `apt install
# ./x.deb` would take them), then the packages themselves with dpkg.
for deb in "$tracker_deb" "$peer_deb"; do
  depends=$(dpkg-deb --field "$deb" Depends)
  apt-get satisfy -y -qq --no-install-recommends "$depends" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get satisfy -y -qq --no-install-recommends "$depends" >/dev/null; } ||
    fail "the dependencies of $(basename "$deb") could not be installed: $depends"
done
check "dpkg -i installs both packages" dpkg -i "$tracker_deb" "$peer_deb"
for command in tracker peer peer-gui; do
  check "/usr/bin/$command --help runs" bash -c "/usr/bin/$command --help >/dev/null"
done
home=$(mktemp -d)
answer=$(cd "$home" && HOME="$home" timeout 10 env -u XDG_CONFIG_HOME /usr/bin/peer search anything 2>&1)
check "the installed peer, with no settings, exits naming ~/.config/eirb2share/config.ini" \
  bash -c '[ "$1" != 0 ] && grep -qF "$2/.config/eirb2share/config.ini" <<<"$3"' _ $? "$home" "$answer"
rm -rf "$home"
check "the system user eirb2share exists, without a login shell" \
  bash -c 'entry=$(getent passwd eirb2share) && uid=$(cut -d: -f3 <<<"$entry") && [ "$uid" -lt 1000 ] && case $(cut -d: -f7 <<<"$entry") in */nologin|*/false) true;; *) false;; esac'
check "the unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/eirb2share-tracker.service
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify accepts the unit" systemd-analyze verify "/$unit"
else
  echo "skip: systemd-analyze verify (systemd not installed)"
fi

# The installed tracker, as the service's user with the installed
# configuration (found without --config), on a loopback port of its own.
log=$(mktemp)
(cd / && exec setpriv --reuid eirb2share --regid eirb2share --clear-groups \
  env RUST_LOG=info /usr/bin/tracker --ip 127.0.0.1 --port 0 2>"$log") &
tracker=$!
listening=no
for _ in $(seq 100); do
  if grep -q 'tracker listening on 127.0.0.1:' "$log"; then listening=yes; break; fi
  kill -0 "$tracker" 2>/dev/null || break
  sleep 0.1
done
check "the installed tracker starts as eirb2share with $conffile" test "$listening" = yes
kill -TERM "$tracker" 2>/dev/null
wait "$tracker"
check "it stops cleanly on SIGTERM" test $? = 0
[ "$listening" = yes ] || cat "$log" >&2
rm -f "$log"

if [ -d /run/systemd/system ]; then
  # A machine that runs systemd started the service on install.
  check "the service is active" systemctl is-active --quiet eirb2share-tracker
fi

# An upgrade (the same tracker as revision 2) keeps the admin's edit of
# the settings and the user, and leaves the package configured.
echo "# an admin's edit" >>"$conffile"
# cargo-deb deletes the package's other versions from target/debian:
# revision 1 is put back afterwards, for `apt install ./target/debian/*.deb`.
kept=$(mktemp -d)
cp "$tracker_deb" "$kept/"
"$CARGO" deb --no-build --strip --package tracker --deb-version "$version-2" --output "$target/debian/upgrade/" >/dev/null
cp "$kept/$(basename "$tracker_deb")" "$tracker_deb"
rm -rf "$kept"
check "dpkg -i upgrades the tracker to $version-2" dpkg -i "$target/debian/upgrade/eirb2share-tracker_${version}-2_${arch}.deb"
rm -rf "$target/debian/upgrade"
check "the upgrade kept the edited settings" grep -qx "# an admin's edit" "$conffile"
check "the tracker package is configured after the upgrade" \
  test "$(dpkg-query --show --showformat='${Version} ${db:Status-Status}' eirb2share-tracker)" = "$version-2 installed"
check "the user survived the upgrade" bash -c "getent passwd eirb2share >/dev/null"

## Removed: nothing of theirs is left but the conffile, then purged.
left() { # left "LISTING": the listed files still on disk
  local path
  while read -r path; do
    [ -e "$path" ] && echo "$path"
  done <<<"$1"
}
check "dpkg -r removes both packages" dpkg -r eirb2share-peer eirb2share-tracker
check "no file of the tracker package is left" test -z "$(left "$tracker_files")"
check "no file of the peer package is left" test -z "$(left "$peer_files")"
if [ -d /run/systemd/system ]; then
  check "the service is stopped after removal" bash -c '! systemctl is-active --quiet eirb2share-tracker'
fi
check "the conffile is kept after removal" test -f "$conffile"
# Debian's way (deb-systemd-helper): a removed package's unit is masked,
# so nothing can start it, and its enablement is remembered for a
# reinstall; purging forgets both.
check "the unit file is gone and the unit masked" \
  bash -c "[ ! -e '/$unit' ] && [ \"\$(readlink /etc/systemd/system/eirb2share-tracker.service)\" = /dev/null ]"
check "dpkg -P purges the tracker" dpkg -P eirb2share-tracker eirb2share-peer
check "the conffile is gone after purging" test ! -e "$conffile"
check "nothing of the unit is left in /etc/systemd after purging" \
  test -z "$(find /etc/systemd -name 'eirb2share-tracker*')"
check "the system user is gone after purging" bash -c '! getent passwd eirb2share >/dev/null'
finish
