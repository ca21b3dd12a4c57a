//! What one address may hold: connections, peers, files. Beyond each
//! limit its requests get an `error` naming the limit, other addresses
//! are served as usual, and once its peers expire the cache is empty.

mod support;
use std::io::{BufRead, Write};
use std::time::Duration;
use support::*;

fn files(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("f{i} {i} 1024 {i:032x}")).collect::<Vec<_>>().join(" ")
}

#[test]
fn connections_beyond_the_limit_are_refused_and_closed() {
    let t = TestTracker::with(|c| c.max_connections_per_ip = 3);
    let mut open: Vec<Client> = (0..3).map(|_| t.client_from(71)).collect();
    for c in &mut open {
        assert_eq!(c.ask("look []"), "list []");
    }
    let mut extra = t.client_from(71);
    let refused = extra.recv();
    assert!(refused.starts_with("error ") && refused.contains("tracker_max_connections_per_ip"), "{refused}");
    assert!(extra.is_closed());
    assert_eq!(t.client_from(72).ask("look []"), "list []", "another address is served");
    // One closes: room for one more, once the tracker has seen it go.
    drop(open.pop());
    assert!(eventually(|| {
        // A refused try may be reset rather than read: not a failure.
        let mut c = t.client_from(71);
        let mut reply = String::new();
        let sent = c.reader.get_mut().write_all(b"look []\n").is_ok();
        sent && c.reader.read_line(&mut reply).is_ok() && reply == "list []\n"
    }));
    assert_eq!(open[0].ask("look []"), "list []");
}

#[test]
fn peers_and_files_beyond_the_limits_are_refused() {
    let t = TestTracker::with(|c| {
        c.max_peers_per_ip = 2;
        c.max_files_per_ip = 10;
    });
    let mut flood = t.client_from(73);
    let mut honest = t.client_from(74);
    assert_eq!(flood.ask(&format!("announce listen 1 seed [{}] leech []", files(0, 6))), "ok");
    assert_eq!(flood.ask(&format!("announce listen 2 seed [{}] leech []", files(6, 4))), "ok");
    let third = flood.ask("announce listen 3 seed [] leech []");
    assert!(third.starts_with("error ") && third.contains("tracker_max_peers_per_ip"), "{third}");
    let four: Vec<String> = (6..10).map(|i| format!("{i:032x}")).collect();
    let more = flood.ask(&format!("update seed [{}] leech [{:032x}]", four.join(" "), 100));
    assert!(more.starts_with("error ") && more.contains("tracker_max_files_per_ip"), "{more}");
    let again = format!("announce listen 1 seed [{}] leech [{:032x}]", files(0, 6), 100);
    assert!(flood.ask(&again).starts_with("error "), "an announce too");
    assert_eq!(honest.ask(&format!("announce listen 1 seed [{}] leech []", files(20, 10))), "ok");
    assert_eq!(honest.ask("look [filename=\"f25\"]"), format!("list [f25 25 1024 {:032x}]", 25));
    assert_eq!(honest.ask(&format!("getfile {:032x}", 100)), format!("peers {:032x} []", 100), "refused, not held");
    assert_eq!(t.sizes().peers, 3);
}

#[test]
fn a_flood_is_bounded_and_leaves_nothing_once_expired() {
    // Long enough a time-to-live that nobody expires before the counts
    // are checked, on a loaded machine too.
    let t = TestTracker::with(|c| {
        c.peer_ttl = Duration::from_secs(2);
        c.interval = Duration::from_millis(50);
    });
    let mut honest = t.client_from(76);
    assert_eq!(honest.ask(&format!("announce listen 1 seed [{}] leech []", files(1 << 20, 3))), "ok");
    // 80 connections from one address, each a peer with 1,000 files. They
    // are accepted in order: the first 64 are served, the others told why
    // and closed.
    let mut flood: Vec<Client> = (0..80).map(|_| t.client_from(75)).collect();
    for c in &mut flood[64..] {
        let refused = c.recv();
        assert!(refused.starts_with("error ") && refused.contains("tracker_max_connections_per_ip"), "{refused}");
        assert!(c.is_closed());
    }
    flood.truncate(64);
    for (i, c) in flood.iter_mut().enumerate() {
        c.send(format!("announce listen {} seed [{}] leech []\n", 1000 + i, files(i * 1000, 1000)));
    }
    let replies: Vec<String> = flood.iter_mut().map(|c| c.recv()).collect();
    assert_eq!(replies.iter().filter(|r| *r == "ok").count(), 16);
    assert!(replies.iter().filter(|r| *r != "ok").all(|r| r.contains("tracker_max_peers_per_ip")), "{replies:?}");
    let full = t.sizes();
    assert_eq!((full.peers, full.files, full.addresses), (17, 16_003, 2));
    assert_eq!(honest.ask(&format!("look [filename=\"f{}\"]", (1 << 20) + 1)).matches(" 1024 ").count(), 1);
    drop(flood);
    drop(honest);
    // Nobody refreshes: every peer expires, and the tables shrink.
    let mut pace = t.client_from(77);
    assert!(eventually(|| pace.ask("look []") == "list []" && t.sizes().peers == 0));
    let empty = t.sizes();
    assert_eq!((empty.files, empty.names, empty.addresses, empty.disputes, empty.unheld), (0, 0, 0, 0, 0));
    assert!(empty.capacity < 1024, "the tables kept room for {} entries after the flood", empty.capacity);
}
