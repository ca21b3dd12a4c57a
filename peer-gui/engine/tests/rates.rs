//! Rate limits between real engines: a capped seeder, a capped leecher,
//! and a limit changed while bytes move. Bounds are loose and one-sided
//! where the machine's speed matters: a limit can only make a transfer
//! slower, so "not faster than the limit" holds on any machine.

mod support;
use std::time::Instant;

use peer::engine::DownloadState;
use support::*;

const RATE: u64 = 1_000_000;

/// The shortest time `bytes` can take at `rate`, less what the limiter
/// lets go before it is paid for (a quantum per connection; a few
/// connections at most here) and 5%.
fn fastest(bytes: usize, rate: u64) -> f64 {
    let ahead = 4 * (rate / 50) as usize;
    (bytes - ahead) as f64 / rate as f64 * 0.95
}

#[test]
fn a_capped_seeder_serves_no_faster_than_its_limit() {
    let tracker = Tracker::start();
    let data = random_bytes(3 << 20, 31);
    let seeder = capped_seeder(tracker.addr, 1, "capped.bin", &data, RATE);
    let leecher = Peer::start(2, tracker.addr);
    let entry = leecher.find("capped.bin");
    let started = Instant::now();
    let status = leecher.download_and_wait(entry);
    let took = started.elapsed().as_secs_f64();
    assert_eq!(status.state, DownloadState::Done);
    assert!(std::fs::read(leecher.dir.path().join("capped.bin")).unwrap() == data);
    assert!(took >= fastest(data.len(), RATE), "3 MiB at 1 MB/s in {took:.2} s");
    // Loose: the limit, not the machine, sets the pace (3.1 s here).
    assert!(took <= 3.0 * data.len() as f64 / RATE as f64 + 5.0, "3 MiB at 1 MB/s took {took:.2} s");
    // Its statistics, sampled twice a second, catch up.
    seeder.wait("the seeder counted what it sent", |e| e.transfers().uploaded >= data.len() as u64);
}

#[test]
fn a_capped_leecher_receives_no_faster_than_its_limit() {
    let tracker = Tracker::start();
    let data = random_bytes(3 << 20, 32);
    let _seeders: Vec<Peer> = (1..=2).map(|i| seeder_with(tracker.addr, i, "in.bin", &data)).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(3, tracker.addr, dir.path());
    s.max_download_rate = RATE;
    let leecher = Peer::with_settings(s, dir);
    let entry = leecher.find("in.bin");
    let started = Instant::now();
    let status = leecher.download_and_wait(entry);
    let took = started.elapsed().as_secs_f64();
    assert_eq!(status.state, DownloadState::Done);
    assert!(std::fs::read(leecher.dir.path().join("in.bin")).unwrap() == data);
    // Two seeders, one budget: together no faster than the limit.
    assert!(took >= fastest(data.len(), RATE), "3 MiB at 1 MB/s from two seeders in {took:.2} s");
}

#[test]
fn a_limit_lifted_at_run_time_applies_to_the_running_download() {
    let tracker = Tracker::start();
    // 8 MiB at 100 kB/s would take 80 s, far past the test's timeout.
    let data = random_bytes(8 << 20, 33);
    let _seeder = seeder_with(tracker.addr, 1, "slow.bin", &data);
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(2, tracker.addr, dir.path());
    s.max_download_rate = 100_000;
    let leecher = Peer::with_settings(s, dir);
    assert_eq!(leecher.engine.rate_limits().download.rate(), 100_000);
    let id = leecher.engine.download(leecher.find("slow.bin")).unwrap();
    leecher.wait("a first piece", |e| e.download_status(id).is_some_and(|s| s.fetched_pieces > 0));
    assert!(!leecher.engine.download_status(id).unwrap().state.is_finished());
    leecher.engine.rate_limits().download.set_rate(0);
    leecher.wait("the download finished", |e| e.download_status(id).is_some_and(|s| s.state.is_finished()));
    assert_eq!(leecher.engine.download_status(id).unwrap().state, DownloadState::Done);
    assert!(std::fs::read(leecher.dir.path().join("slow.bin")).unwrap() == data);
}

#[test]
fn a_limit_lowered_while_bytes_move_does_not_hold_the_download() {
    let tracker = Tracker::start();
    let data = random_bytes(6 << 20, 34);
    let _seeder = capped_seeder(tracker.addr, 1, "busy.bin", &data, 2_000_000);
    let leecher = Peer::start(2, tracker.addr);
    let id = leecher.engine.download(leecher.find("busy.bin")).unwrap();
    let fetched = |e: &peer::engine::Engine| e.download_status(id).map_or(0, |s| s.fetched_pieces);
    leecher.wait("a first piece", |e| fetched(e) > 0);
    // Lowered, then lifted while bytes move: the download goes on at once
    // (what a read in flight books at the new rate is bounded: see the
    // limiter's own tests).
    leecher.engine.rate_limits().download.set_rate(10_000);
    let before = fetched(&leecher.engine);
    leecher.wait("a piece under the low limit", |e| fetched(e) > before);
    leecher.engine.rate_limits().download.set_rate(0);
    leecher.wait("the download finished", |e| e.download_status(id).is_some_and(|s| s.state.is_finished()));
    assert!(std::fs::read(leecher.dir.path().join("busy.bin")).unwrap() == data);
}
