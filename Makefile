# Eirb2Share: `make` builds everything, `make test` runs every check.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build test fmt-check clippy unit bench-key bench-tracker bench-tracker-memory bench-download bench-swarm bench-frame bench-lan screenshot screenshot-tracker run run_peers install-desktop fuzz clean run_tracker deb test-deb icons

all: build

build:
	$(CARGO) build --release --workspace

## Every test of the workspace plus formatting and lints.
test: fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

## Key computation speed on a 1 GiB file (figures in the README).
bench-key:
	$(CARGO) bench -p common --bench key

## Fuzz the peer/tracker decoders (needs cargo-fuzz; see README).
## FUZZ_TARGET=lan fuzzes the distributed mode's codec instead.
FUZZ_RUNS ?= 1000000
FUZZ_TARGET ?= decode
# Each target starts from its seeds and dictionary (libFuzzer reaches
# far more of the codec than from an empty corpus); what it finds goes to
# the first folder, fuzz/corpus/TARGET (ignored by git), not the seeds.
FUZZ_SEEDS = $(if $(filter lan,$(FUZZ_TARGET)),fuzz/seeds-lan,fuzz/seeds)
FUZZ_DICT = $(if $(filter lan,$(FUZZ_TARGET)),fuzz/lan.dict,fuzz/decode.dict)
fuzz:
	mkdir -p common/fuzz/corpus/$(FUZZ_TARGET)
	cd common && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_TARGET) fuzz/corpus/$(FUZZ_TARGET) $(FUZZ_SEEDS) -- -dict=$(FUZZ_DICT) -runs=$(FUZZ_RUNS)

## The tracker in the foreground with the shipped config (127.0.0.100:5000).
run_tracker:
	$(CARGO) build --release -p tracker
	RUST_LOG=$${RUST_LOG:-info} ./target/release/tracker --config install/tracker/config.ini

## Download benchmark: 1 GiB, 4 seeders -> 1 leecher, separate processes.
## BENCH_MIB=4096 for the memory variant.
bench-download:
	$(CARGO) build --release -p tracker
	$(CARGO) bench -p peer --bench download

## Swarm benchmark: 1 capped seeder, SWARM_N leechers (8; "2,4,8,16"
## sweeps), separate processes, against libtorrent in the same run.
bench-swarm:
	$(CARGO) build --release -p tracker
	@/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || apt-get install -y python3-libtorrent || sudo apt-get install -y python3-libtorrent
	$(CARGO) bench -p peer --bench swarm

## LAN mode: time for 5 peers to find each other by multicast, and
## search latency through a 4-hop chain of neighbours (loopback).
bench-lan:
	$(CARGO) bench -p peer --bench lan

## Frame time of the app with 10,000 files and 20 downloads, under Xvfb.
bench-frame:
	bash scripts/xvfb.sh $(CARGO) bench -p peer-gui --bench frame

## Screenshots of the app under Xvfb against a small live network.
screenshot: build
	bash scripts/screenshot.sh

## The tracker's status page in headless Chromium after a few peers
## announced (docs/screenshots/tracker.png; installs chromium if root).
screenshot-tracker:
	CARGO="$(CARGO)" bash scripts/screenshot-tracker.sh

## The tracker in the background and every peer's window; closing the
## window stops everything it started.
run: build
	bash scripts/run.sh

## A launcher entry and icons for the current user, running this
## checkout's build (menus, double-click); the package does it system-wide.
# (eirb2share-peer.desktop: the entry's name before the packages.)
install-desktop: build
	mkdir -p "$(HOME)/.local/share/applications" "$(HOME)/.local/share/icons"
	rm -f "$(HOME)/.local/share/applications/eirb2share-peer.desktop"
	sed -e 's|^Exec=peer-gui|Exec="$(CURDIR)/target/release/peer-gui"|' install/eirb2share.desktop > "$(HOME)/.local/share/applications/eirb2share.desktop"
	cp -r install/icons/hicolor "$(HOME)/.local/share/icons/"
	@echo "installed $(HOME)/.local/share/applications/eirb2share.desktop"

## Every peer of PEERS_CONFIG in one app, one tab each; with
## PEERS_CONFIG=install/peers/config-distributed.ini they need no tracker.
PEERS_CONFIG ?= install/peers/config.ini
run_peers: build
	./target/release/peer-gui --config $(PEERS_CONFIG)

## Debian packages of the tracker (a systemd service) and of the app, in
## target/debian/; installs cargo-deb (and dpkg-dev) when missing.
deb:
	CARGO="$(CARGO)" bash scripts/deb.sh

## Builds the packages, inspects them, installs them, checks what they
## installed and removes them again (the install part needs root).
test-deb:
	CARGO="$(CARGO)" bash scripts/test-deb.sh

## The PNG icons, from install/icons/hicolor/scalable/apps/eirb2share.svg.
icons:
	bash scripts/icons.sh

clean:
	$(CARGO) clean

## Tracker load benchmark (figures in the README).
bench-tracker:
	RUST_LOG=warn $(CARGO) bench -p tracker --bench load

## The tracker's memory with 1,000,000 files: what each structure holds
## (in process), then peak RSS, look times and memory given back after
## the peers expire, with the tracker as its own process.
bench-tracker-memory:
	$(CARGO) bench -p tracker --bench footprint
	BENCH_ONLY_MILLION=1 RUST_LOG=warn $(CARGO) bench -p tracker --bench load
