//! A downloader facing peers that stall, drip or die: it still finishes
//! from the honest ones, stops when told, and says what is going on.

mod support;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use peer::engine::{Control, DownloadState};
use support::fake::{Behaviour, FakePeer};
use support::*;

#[test]
fn peers_that_drip_their_piece_list_do_not_hold_the_download() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 31));
    let digest = digest_of(&data);
    // Three of the four holders never finish their piece list: asked one
    // at a time, the download would wait on them for good.
    let _drips: Vec<FakePeer> = (0..3)
        .map(|_| FakePeer::start(tracker.addr, "d.bin", data.clone(), digest.clone(), Behaviour::DripHashes))
        .collect();
    let _honest = seeder_with(tracker.addr, 2, "d.bin", &data);
    let leecher = Peer::start(3, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("d.bin"));
    assert_eq!(status.state, DownloadState::Done);
    assert!(std::fs::read(leecher.dir.path().join("d.bin")).unwrap() == *data);
}

#[test]
fn stopping_while_a_peer_drips_its_piece_list_is_prompt() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 32));
    let drip = FakePeer::start(tracker.addr, "s.bin", data.clone(), digest_of(&data), Behaviour::DripHashes);
    let leecher = Peer::start(4, tracker.addr);
    let id = leecher.engine.download(leecher.find("s.bin")).unwrap();
    leecher.wait("the piece list asked for", |_| drip.served.load(Ordering::SeqCst) > 0);
    let Peer { engine, changes: _changes, dir: _dir } = leecher;
    assert!(engine.download_status(id).is_some_and(|s| s.state == DownloadState::Connecting));
    let (done, stopped) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        engine.shutdown();
        let _ = done.send(());
    });
    // Bounded wait, not a timing claim: before, the engine waited for
    // the list as long as the peer kept dripping.
    assert!(stopped.recv_timeout(Duration::from_secs(20)).is_ok(), "the engine did not stop");
}

#[test]
fn a_download_whose_peers_all_left_says_it_is_stalled() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 33));
    let digest = digest_of(&data);
    // It answers once, then goes quiet until the link gives it up.
    let gone = FakePeer::start(tracker.addr, "g.bin", data.clone(), digest.clone(), Behaviour::ServeThenHold);
    let leecher = Peer::start(5, tracker.addr);
    let id = leecher.engine.download(leecher.find("g.bin")).unwrap();
    leecher.wait("some pieces, then no peer", |e| {
        e.download_status(id).is_some_and(|s| s.fetched_pieces > 0 && matches!(s.state, DownloadState::Stalled(_)))
    });
    let _ = gone;
    leecher.engine.control(id, Control::Cancel);
}

#[test]
fn a_peer_flooding_an_endless_data_reply_is_dropped_once_not_retried() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 34));
    let digest = digest_of(&data);
    let flood = FakePeer::start(tracker.addr, "f.bin", data.clone(), digest.clone(), Behaviour::FloodData);
    // The honest peer holds its pieces back until the leecher has asked
    // the tracker again (its first link gave up, a new one came): by
    // then, a flooding peer not dropped would have been connected again.
    let honest = FakePeer::start(tracker.addr, "f.bin", data.clone(), digest.clone(), Behaviour::FirstOnly);
    honest.gate.set(false);
    let leecher = Peer::start(7, tracker.addr);
    let id = leecher.engine.download(leecher.find("f.bin")).unwrap();
    leecher.wait("a second link to the honest peer", |_| honest.links.load(Ordering::SeqCst) >= 2);
    honest.gate.set(true);
    leecher.wait("done", |e| e.download_status(id).is_some_and(|s| s.state.is_finished()));
    let status = leecher.engine.download_status(id).unwrap();
    assert_eq!(status.state, DownloadState::Done);
    assert!(std::fs::read(leecher.dir.path().join("f.bin")).unwrap() == *data);
    assert_eq!(status.dropped, vec![flood.addr], "the flooding peer, dropped once");
    assert_eq!(flood.links.load(Ordering::SeqCst), 1, "never connected to again for this download");
}

#[test]
fn cancelling_a_download_that_is_still_starting_removes_what_it_left() {
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 35));
    let digest = digest_of(&data);
    let drip = FakePeer::start(tracker.addr, "c.bin", data.clone(), digest.clone(), Behaviour::DripHashes);
    // An earlier run left this download: the engine resumes it at start.
    let dir = tempfile::tempdir().unwrap();
    let entry = common::protocol::FileEntry {
        name: common::protocol::FileName::new("c.bin").unwrap(),
        length: data.len() as u64,
        piece_size: u64::from(digest.layout.piece_size()),
        key: digest.key.clone(),
    };
    let left = peer::engine::download::storage::Storage::open(dir.path(), &entry).unwrap();
    let (part, manifest) = (left.part.clone(), left.manifest.clone());
    drop(left);
    let leecher = Peer::in_dir(8, tracker.addr, dir);
    let id = leecher.engine.find_download(&digest.key).expect("resumed at start");
    leecher.wait("the piece list asked for", |_| drip.served.load(Ordering::SeqCst) > 0);
    leecher.engine.control(id, Control::Cancel);
    leecher.wait("cancelled", |e| e.download_status(id).is_some_and(|s| s.state == DownloadState::Cancelled));
    assert!(!part.exists() && !manifest.exists(), "what the earlier run left is gone");
}

#[test]
fn a_tracker_that_stops_shows_as_lost_before_the_next_update() {
    let tracker = Tracker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(1, tracker.addr, dir.path());
    // No update comes within the test's timeout: only the liveness check
    // of the idle connection can notice.
    s.update_interval = std::time::Duration::from_secs(3600);
    let peer = Peer::with_settings(s, dir);
    peer.wait_connected();
    drop(tracker);
    peer.wait("the tracker shown as lost", |e| !e.snapshot().tracker().unwrap().connected);
    assert!(peer.engine.snapshot().tracker().unwrap().last_error.is_some());
}
