//! Several peers at once: many seeders, swarming through a leecher, and
//! peers that corrupt, disconnect or lie.

mod support;
use std::sync::Arc;

use peer::engine::DownloadState;
use support::fake::{Behaviour, FakePeer};
use support::*;

#[test]
fn four_seeders_each_serve_the_leecher() {
    let tracker = Tracker::start();
    let data = random_bytes(16 << 20, 4);
    let seeders: Vec<Peer> = (1..=4).map(|i| seeder_with(tracker.addr, i, "big.bin", &data)).collect();
    let leecher = Peer::start(9, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("big.bin"));
    assert_eq!(status.state, DownloadState::Done);
    assert!(std::fs::read(leecher.dir.path().join("big.bin")).unwrap() == data);
    for s in &seeders {
        let addr = s.engine.settings().listen;
        assert!(
            status.sources.get(&addr).is_some_and(|s| s.pieces >= 1),
            "seeder {addr} served nothing: {:?}",
            status.sources
        );
    }
}

#[test]
fn a_second_leecher_gets_pieces_from_the_first() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(2 << 20, 5));
    let digest = digest_of(&data);
    // The only seeder holds the even pieces: the first leecher can only
    // get half the file and stays a partial leecher.
    let _even = FakePeer::start(tracker.addr, "half.bin", data.clone(), digest.clone(), Behaviour::EvenOnly);
    let first = Peer::start(11, tracker.addr);
    let entry = first.find("half.bin");
    let first_id = first.engine.download(entry.clone()).unwrap();
    let half = u64::from(digest.layout.piece_count().div_ceil(2));
    first.wait("first leecher holds the even pieces", |e| {
        e.download_status(first_id).is_some_and(|s| s.fetched_pieces == half)
    });

    let second = Peer::start(12, tracker.addr);
    let second_id = second.engine.download(entry).unwrap();
    let from_first = first.engine.settings().listen;
    second.wait("second leecher got pieces from the first", |e| {
        e.download_status(second_id).is_some_and(|s| s.sources.get(&from_first).is_some_and(|s| s.pieces >= 1))
    });
}

#[test]
fn corrupt_disconnecting_and_lying_peers_are_dropped() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(3 << 20, 6));
    let digest = digest_of(&data);
    let corrupt = FakePeer::start(tracker.addr, "x.bin", data.clone(), digest.clone(), Behaviour::Corrupt);
    let liar = FakePeer::start(tracker.addr, "x.bin", data.clone(), digest.clone(), Behaviour::LyingMap);
    let flaky = FakePeer::start(tracker.addr, "x.bin", data.clone(), digest.clone(), Behaviour::DisconnectAfter(3));
    let honest = seeder_with(tracker.addr, 1, "x.bin", &data);
    let leecher = Peer::start(2, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("x.bin"));
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert!(std::fs::read(leecher.dir.path().join("x.bin")).unwrap() == *data, "the file must be exact");
    assert!(corrupt.served.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the corrupt peer was asked");
    assert!(status.dropped.contains(&corrupt.addr), "corrupt peer not dropped: {:?}", status.dropped);
    let bans = |peer| status.dropped.iter().filter(|&&p| p == peer).count();
    assert!(status.dropped.iter().all(|&p| bans(p) == 1), "a peer dropped more than once: {:?}", status.dropped);
    assert_eq!(status.sources.get(&corrupt.addr), None, "no corrupt piece was accepted");
    assert_eq!(status.sources.get(&liar.addr), None);
    assert!(status.sources.contains_key(&honest.engine.settings().listen));
    let _ = flaky;
}

#[test]
fn a_piece_list_that_does_not_match_the_key_is_refused() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(200_000, 9));
    let liar = FakePeer::start(tracker.addr, "w.bin", data.clone(), digest_of(&data), Behaviour::WrongHashes);
    let leecher = Peer::start(2, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("w.bin"));
    let refused = peer::engine::Asked { mismatched: 1, ..Default::default() };
    assert_eq!(status.state, DownloadState::Error(peer::engine::DownloadError::NoPieceList(refused)));
    assert_eq!(liar.served.load(std::sync::atomic::Ordering::SeqCst), 0, "no piece taken on a refused list");
    assert!(!leecher.dir.path().join("w.bin").exists(), "nothing under the final name");
}

/// PROTOCOL.md section 9: two bad pieces, or four empty replies, drop a
/// peer; one of each does not (they were counted together).
#[test]
fn an_empty_reply_and_one_bad_piece_do_not_drop_a_peer() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(100_000, 10));
    let digest = digest_of(&data);
    let only = FakePeer::start(tracker.addr, "s.bin", data.clone(), digest, Behaviour::EmptyThenOneBad);
    let leecher = Peer::start(2, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("s.bin"));
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert!(!status.dropped.contains(&only.addr), "dropped: {:?}", status.dropped);
    assert!(std::fs::read(leecher.dir.path().join("s.bin")).unwrap() == *data);
}

#[test]
fn resume_does_not_fetch_verified_pieces_again() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 7));
    let digest = digest_of(&data);
    let total = u64::from(digest.layout.piece_count());
    let stingy = FakePeer::start(tracker.addr, "r.bin", data.clone(), digest.clone(), Behaviour::ServeOnly(40));
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().to_owned();
    let leecher = Peer::in_dir(3, tracker.addr, dir);
    let id = leecher.engine.download(leecher.find("r.bin")).unwrap();
    leecher.wait("40 pieces verified", |e| e.download_status(id).is_some_and(|s| s.fetched_pieces == 40));
    // Stop the engine mid-download; its folder stays.
    let Peer { engine, dir, .. } = leecher;
    engine.shutdown();
    drop(stingy);
    let seeder = seeder_with(tracker.addr, 1, "r.bin", &data);
    let again = Peer::in_dir(3, tracker.addr, dir);
    again.wait("resumed download done", |e| {
        e.snapshot().downloads.first().is_some_and(|s| s.state == DownloadState::Done)
    });
    let status = again.engine.snapshot().downloads.remove(0);
    assert_eq!(status.fetched_pieces, total - 40, "pieces verified before the restart were fetched again");
    assert!(std::fs::read(dir_path.join("r.bin")).unwrap() == *data);
    drop(seeder);
}

#[test]
fn a_peer_answering_part_of_each_request_is_kept() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(200_000, 8));
    let digest = digest_of(&data);
    let partial = FakePeer::start(tracker.addr, "p.bin", data.clone(), digest, Behaviour::FirstOnly);
    let leecher = Peer::start(4, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("p.bin"));
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert!(status.dropped.is_empty(), "dropped for a legal partial answer: {:?}", status.dropped);
    assert_eq!(status.sources.get(&partial.addr).map(|s| s.pieces), Some(status.entry.length.div_ceil(4096)));
    assert!(std::fs::read(leecher.dir.path().join("p.bin")).unwrap() == *data);
}

#[test]
fn hidden_names_are_never_downloaded() {
    // `.eirb2share-keys.tmp` would be truncated by our own cache save.
    let tracker = Tracker::start();
    let leecher = Peer::start(5, tracker.addr);
    let entry =
        common::protocol::FileEntry::parse_line(&format!(".eirb2share-keys.tmp 10 4096 {}", "ab".repeat(32))).unwrap();
    let err = leecher.engine.download(entry).unwrap_err();
    assert!(matches!(err, peer::engine::DownloadError::HiddenName { .. }), "{err:?}");
}

#[test]
fn nothing_moving_means_no_change_notifications() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 12));
    let _stingy = FakePeer::start(tracker.addr, "q.bin", data.clone(), digest_of(&data), Behaviour::ServeOnly(5));
    let leecher = Peer::start(6, tracker.addr);
    let id = leecher.engine.download(leecher.find("q.bin")).unwrap();
    leecher.wait("5 pieces", |e| e.download_status(id).is_some_and(|s| s.fetched_pieces == 5));
    leecher.engine.control(id, peer::engine::Control::Pause);
    leecher.wait("paused", |e| e.download_status(id).is_some_and(|s| s.state == DownloadState::Paused));
    // Let the last events of the change through (rates fall to zero over
    // a few seconds), then expect none.
    for _ in 0..20 {
        if leecher.changes.recv_timeout(std::time::Duration::from_millis(600)).is_err() {
            break;
        }
    }
    assert!(
        leecher.changes.recv_timeout(std::time::Duration::from_millis(1500)).is_err(),
        "a paused download keeps asking the UI to repaint"
    );
}

#[test]
fn leechers_that_start_together_find_each_other() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 6));
    let digest = digest_of(&data);
    // The only seeder answers one request per connection, then goes
    // quiet: each leecher gets a random share of the pieces from it.
    let _quiet = FakePeer::start(tracker.addr, "slow.bin", data.clone(), digest.clone(), Behaviour::ServeThenHold);
    let (a, b) = (Peer::start(21, tracker.addr), Peer::start(22, tracker.addr));
    let entry = a.find("slow.bin");
    let first = a.engine.download(entry.clone()).unwrap();
    // When a asked the tracker first, b was not downloading yet: a only
    // learns of b by asking again while it has fewer sources than it may.
    a.wait("a connected to the seeder", |e| e.download_status(first).is_some_and(|s| s.fetched_pieces > 0));
    let second = b.engine.download(entry).unwrap();
    let b_addr = b.engine.settings().listen;
    a.wait("a got pieces from b", |e| {
        e.download_status(first).is_some_and(|s| s.sources.get(&b_addr).is_some_and(|r| r.pieces > 0))
    });
    assert!(b.engine.download_status(second).is_some_and(|s| s.fetched_pieces > 0));
}

#[test]
fn leechers_of_a_capped_seeder_carry_the_load() {
    let tracker = Tracker::start();
    let data = random_bytes(4 << 20, 41);
    // The seeder's link is the bottleneck: 2 s for one copy.
    let seeder = capped_seeder(tracker.addr, 1, "swarm.bin", &data, 2_000_000);
    let leechers: Vec<Peer> = (2..=4).map(|i| Peer::start(i, tracker.addr)).collect();
    let entry = leechers[0].find("swarm.bin");
    let ids: Vec<u64> = leechers.iter().map(|l| l.engine.download(entry.clone()).unwrap()).collect();
    let seeder_addr = seeder.engine.settings().listen;
    for (l, &id) in leechers.iter().zip(&ids) {
        l.wait("the download finished", |e| e.download_status(id).is_some_and(|s| s.state.is_finished()));
        let status = l.engine.download_status(id).unwrap();
        assert_eq!(status.state, DownloadState::Done);
        assert!(std::fs::read(l.dir.path().join("swarm.bin")).unwrap() == data);
        let from_leechers: u64 = status.sources.iter().filter(|(a, _)| **a != seeder_addr).map(|(_, r)| r.bytes).sum();
        assert!(from_leechers > 0, "nothing from the other leechers: {:?}", status.sources);
    }
    // Client-server would take three copies from the seeder.
    seeder.wait("the seeder's statistics", |e| e.transfers().uploaded > 0 && !e.transfers().is_moving());
    let sent = seeder.engine.transfers().uploaded;
    assert!(sent < 2 * data.len() as u64, "the seeder sent {sent} bytes for a {} byte file", data.len());
}
