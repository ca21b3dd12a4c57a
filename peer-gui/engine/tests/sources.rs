//! Who holds a file: the facade counts the holders the tracker lists,
//! and a download whose holders cannot be reached says so (refused, not
//! "no valid piece list").

mod support;
use std::net::{SocketAddr, TcpListener};

use peer::engine::{Asked, DownloadError, DownloadState};
use support::*;

fn failure(status: &peer::engine::DownloadStatus) -> DownloadError {
    match &status.state {
        DownloadState::Error(e) => e.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn holders_that_refuse_the_connection_are_reported_as_unreachable() {
    let tracker = Tracker::start();
    let entry = entry_of("u.bin", &random_bytes(100_000, 41));
    let _ghosts = [announce_at(tracker.addr, closed_port(), &entry), announce_at(tracker.addr, closed_port(), &entry)];
    let leecher = Peer::start(2, tracker.addr);
    leecher.wait_connected();
    let status = leecher.download_and_wait(entry);
    assert_eq!(failure(&status), DownloadError::Unreachable(Asked { refused: 2, ..Asked::default() }));
    assert!(failure(&status).is_retryable(), "worth a retry once a holder is back");
}

#[test]
fn a_holder_that_accepts_and_stays_silent_is_not_called_unreachable() {
    let tracker = Tracker::start();
    let entry = entry_of("s.bin", &random_bytes(100_000, 42));
    // The kernel accepts into the backlog; nobody ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let _holders = [
        announce_at(tracker.addr, closed_port(), &entry),
        announce_at(tracker.addr, silent.local_addr().unwrap().port(), &entry),
    ];
    let leecher = Peer::start(3, tracker.addr);
    leecher.wait_connected();
    let status = leecher.download_and_wait(entry);
    assert_eq!(failure(&status), DownloadError::NoPieceList(Asked { refused: 1, silent: 1, ..Asked::default() }));
}

#[test]
fn holders_are_the_peers_the_tracker_lists_without_us() {
    let tracker = Tracker::start();
    let data = random_bytes(50_000, 43);
    let seeders = [seeder_with(tracker.addr, 1, "h.bin", &data), seeder_with(tracker.addr, 2, "h.bin", &data)];
    let asker = Peer::start(3, tracker.addr);
    let key = asker.find("h.bin").key;
    let mut expected: Vec<SocketAddr> = seeders.iter().map(|s| s.engine.settings().listen).collect();
    expected.sort_unstable();
    let mut holders = Vec::new();
    // The second seeder's announce may reach the tracker after the first.
    asker.wait("both seeders listed", |e| {
        holders = e.holders(&key).unwrap();
        holders.len() == 2
    });
    assert_eq!(holders, expected);
    let own = seeders[0].engine.holders(&key).unwrap();
    assert_eq!(own, vec![seeders[1].engine.settings().listen], "a holder does not list itself");
    let unknown = common::FileKey::parse("ab".repeat(16).as_bytes()).unwrap();
    assert_eq!(asker.engine.holders(&unknown).unwrap(), Vec::<SocketAddr>::new());
}
