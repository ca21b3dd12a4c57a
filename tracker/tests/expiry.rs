//! Expiry with a short time-to-live: a silent peer vanishes from
//! `getfile` and `look`, a refreshing one stays, and so does one that
//! only asks (`look`, `getfile`) on the connection it announced on.

mod support;
use std::time::Duration;
use support::*;

#[test]
fn silent_peer_expires_refreshing_peer_stays() {
    let t = TestTracker::with(|c| {
        c.peer_ttl = Duration::from_millis(300);
        c.interval = Duration::from_millis(50);
    });
    let mut silent = t.client_from(41);
    let mut alive = t.client_from(42);
    let mut asker = t.client_from(43);
    assert_eq!(silent.ask(&format!("announce listen 1 seed [silent.dat 1 1 {KEY_A}] leech []")), "ok");
    assert_eq!(alive.ask(&format!("announce listen 2 seed [alive.dat 1 1 {KEY_B}] leech [{KEY_A}]")), "ok");
    assert_eq!(asker.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} [127.0.0.41:1 127.0.0.42:2]"));

    let expired = eventually(|| {
        // The refreshing peer keeps updating, as peers do every interval.
        assert_eq!(alive.ask(&format!("update seed [{KEY_B}] leech [{KEY_A}]")), "ok");
        asker.ask(&format!("getfile {KEY_A}")) == format!("peers {KEY_A} [127.0.0.42:2]")
    });
    assert!(expired, "the silent peer was never evicted");
    assert_eq!(asker.ask("look [filename=\"silent.dat\"]"), "list []");
    assert_eq!(asker.ask("look [filename=\"alive.dat\"]"), format!("list [alive.dat 1 1 {KEY_B}]"));
    assert_eq!(asker.ask(&format!("getfile {KEY_B}")), format!("peers {KEY_B} [127.0.0.42:2]"));
    // An evicted peer must announce again.
    assert!(silent.ask("update seed [] leech []").starts_with("error "));
}

#[test]
fn a_peer_that_only_asks_stays() {
    let ttl = Duration::from_millis(300);
    let t = TestTracker::with(|c| {
        c.peer_ttl = ttl;
        c.interval = Duration::from_millis(50);
    });
    let mut asking = t.client_from(44);
    let mut other = t.client_from(45);
    assert_eq!(asking.ask(&format!("announce listen 4 seed [] leech [{KEY_A}]")), "ok");
    // Three times the time-to-live, asking all along.
    let until = std::time::Instant::now() + 3 * ttl;
    while std::time::Instant::now() < until {
        assert_eq!(asking.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} []"));
        assert_eq!(asking.ask("look []"), "list []");
    }
    assert_eq!(other.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} [127.0.0.44:4]"));
}

/// Issue: a file a peer stopped sharing, forgotten by a maintenance
/// pass, then shared again, was never found again.
#[test]
fn a_file_moved_out_and_back_is_found_again() {
    let t = TestTracker::with(|c| c.interval = Duration::from_millis(20));
    let mut peer = t.client_from(46);
    let mut other = t.client_from(47);
    let both = format!("a.txt 3 1 {KEY_A} b.txt 4 1 {KEY_B}");
    assert_eq!(peer.ask(&format!("announce listen 5001 seed [{both}] leech []")), "ok");
    assert_eq!(peer.ask(&format!("update seed [{KEY_B}] leech []")), "ok");
    assert!(eventually(|| other.ask("look []") == format!("list [b.txt 4 1 {KEY_B}]") && t.sizes().files == 1));
    assert_eq!(peer.ask(&format!("announce listen 5001 seed [{both}] leech []")), "ok");
    assert_eq!(other.ask("look [filename=\"a.txt\"]"), format!("list [a.txt 3 1 {KEY_A}]"));
    // Taken back by key first, as before the peer's fix, then announced.
    assert_eq!(peer.ask(&format!("update seed [{KEY_B}] leech []")), "ok");
    assert!(eventually(|| other.ask("look []") == format!("list [b.txt 4 1 {KEY_B}]") && t.sizes().files == 1));
    assert_eq!(peer.ask(&format!("update seed [{KEY_A} {KEY_B}] leech []")), "ok");
    assert_eq!(peer.ask(&format!("announce listen 5001 seed [{both}] leech []")), "ok");
    assert_eq!(other.ask("look [filename=\"a.txt\"]"), format!("list [a.txt 3 1 {KEY_A}]"));
}
