//! Transfer statistics end to end: what a seeder reports having sent to
//! each peer matches what each downloader reports having received.

mod support;
use std::net::SocketAddr;

use std::time::Duration;

use common::protocol::{Limits, PeerMessage};
use peer::engine::{Activity, Direction, DownloadState, Settings};
use support::*;

fn leecher(id: u32, ip: &str, tracker: SocketAddr) -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let mut s: Settings = settings(id, tracker, dir.path());
    s.listen = format!("{ip}:0").parse().unwrap();
    // One source each: every piece it verifies was sent once, to it.
    s.max_peers = 1;
    Peer::with_settings(s, dir)
}

#[test]
fn a_seeder_reports_what_it_sent_each_leecher_and_the_leechers_agree() {
    let tracker = Tracker::start();
    let data = random_bytes(3 << 20, 21);
    let seeder = seeder_with(tracker.addr, 1, "shared.bin", &data);
    let (a, b) = (leecher(2, "127.0.0.2", tracker.addr), leecher(3, "127.0.0.3", tracker.addr));
    let entry = a.find("shared.bin");
    let ids = [a.engine.download(entry.clone()).unwrap(), b.engine.download(entry.clone()).unwrap()];
    let peers = [&a, &b];
    for (p, id) in peers.iter().zip(ids) {
        p.wait("the download done", |e| e.download_status(id).is_some_and(|s| s.state.is_finished()));
        assert_eq!(p.engine.download_status(id).unwrap().state, DownloadState::Done);
    }
    let by_addr = |addr: SocketAddr| {
        [&seeder, &a, &b].into_iter().find(|p| p.engine.settings().listen == addr).expect("a source we started")
    };
    let mut from_seeder = 0;
    for (p, id) in peers.iter().zip(ids) {
        let status = p.engine.download_status(id).unwrap();
        let me = p.engine.settings().listen.ip();
        let got: u64 = status.sources.values().map(|r| r.bytes).sum();
        assert_eq!(got, data.len() as u64, "every verified byte has its source");
        p.wait("the leecher's totals", |e| e.transfers().downloaded >= got);
        for (&addr, received) in &status.sources {
            let source = by_addr(addr);
            from_seeder += u64::from(addr == seeder.engine.settings().listen);
            let sent = |e: &peer::engine::Engine| {
                e.transfers().uploads.get(&entry.key).and_then(|u| u.peers.get(&me).copied()).unwrap_or(0)
            };
            // Published by the source's sampler within half a second.
            source.wait("the source's count", |e| sent(e) >= received.bytes);
            let sent = sent(&source.engine);
            assert!(
                sent.abs_diff(received.bytes) <= entry.piece_size,
                "{addr} sent {sent} bytes to {me}, which verified {} from it",
                received.bytes
            );
        }
    }
    assert!(from_seeder >= 1, "the seeder served someone");
    let uploads = seeder.engine.transfers().uploads.get(&entry.key).cloned().unwrap_or_default();
    assert_eq!(uploads.name.as_ref().map(|n| n.as_str()), Some("shared.bin"));
    assert_eq!(uploads.bytes, uploads.peers.values().sum::<u64>());
    assert!(seeder.engine.transfers().uploaded >= uploads.bytes);
}

#[test]
fn a_downloading_connection_shows_its_source_bytes_and_activity() {
    let tracker = Tracker::start();
    let data = std::sync::Arc::new(random_bytes(1 << 20, 22));
    let digest = digest_of(&data);
    let quiet =
        fake::FakePeer::start(tracker.addr, "q.bin", data.clone(), digest.clone(), fake::Behaviour::ServeThenHold);
    let l = leecher(2, "127.0.0.2", tracker.addr);
    l.engine.download(l.find("q.bin")).unwrap();
    // The source answered once and holds the connection open: the link
    // stays, with what it received.
    l.wait("the source listed with what it sent", |e| {
        let t = e.transfers();
        let source = t.sources_of(&digest.key).find(|c| c.peer == quiet.addr).cloned();
        source.is_some_and(|c| {
            c.down.pieces > 0
                && c.down.bytes == c.down.pieces * u64::from(digest.layout.piece_size())
                && c.activity() == Activity::Downloading
                && c.file.as_ref().is_some_and(|f| f.as_str() == "q.bin")
        }) && t.downloaded > 0
            && t.down_rate > 0.0
    });
}

#[test]
fn a_serving_connection_shows_the_file_bytes_and_peer_then_leaves_its_totals() {
    let tracker = Tracker::start();
    let data = random_bytes(1 << 20, 23);
    let seeder = seeder_with(tracker.addr, 1, "s.bin", &data);
    let entry = seeder.find("s.bin");
    let client_ip: std::net::IpAddr = "127.0.0.4".parse().unwrap();
    let stream =
        peer::engine::net::connect_from(client_ip, seeder.engine.settings().listen, Duration::from_secs(3)).unwrap();
    let key = entry.key.clone();
    let layout = common::Layout::new(entry.length, entry.piece_size).unwrap();
    let layouts = move |k: &common::FileKey| (*k == key).then_some(layout);
    let mut wire = peer::engine::wire::Wire::new(stream, Limits::default());
    wire.send(&PeerMessage::GetPieces { key: entry.key.clone(), indices: vec![0, 1] }).unwrap();
    let (reply, used) = wire.recv(&layouts).unwrap();
    assert!(matches!(reply, PeerMessage::Data { ref pieces, .. } if pieces.len() == 2));
    wire.consume(used);
    let sent = 2 * entry.piece_size;
    let serving = |e: &peer::engine::Engine| {
        e.transfers().connections.iter().any(|c| {
            c.direction == Direction::Incoming
                && c.peer.ip() == client_ip
                && c.file.as_ref().is_some_and(|f| f.as_str() == "s.bin")
                && (c.up.pieces, c.up.bytes) == (2, sent)
                && c.activity() == Activity::Uploading
        })
    };
    seeder.wait("the serving connection listed", serving);
    drop(wire);
    seeder.wait("the connection gone", |e| e.transfers().connections.iter().all(|c| c.peer.ip() != client_ip));
    let t = seeder.engine.transfers();
    let uploads = &t.uploads[&entry.key];
    assert_eq!((uploads.bytes, uploads.pieces, uploads.peers[&client_ip]), (sent, 2, sent));
    assert!(t.uploaded >= sent);
}
