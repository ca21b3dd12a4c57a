//! Who speaks for a peer: the connection that announced it, while that
//! connection is open. Another connection from the same address (a NAT,
//! a shared machine) can neither hide nor replace its files, and a
//! course peer that opens a connection per request takes its peer over
//! once the previous connection is closed.

mod support;
use support::*;

const PEER: u8 = 51;

fn listed(c: &mut Client) -> String {
    c.ask("look [filename=\"a.txt\"]")
}

#[test]
fn a_second_live_connection_cannot_hide_or_replace_a_peer() {
    let t = TestTracker::start();
    let mut owner = t.client_from(PEER);
    let mut intruder = t.client_from(PEER);
    let mut other = t.client_from(52);
    assert_eq!(owner.ask(&format!("announce listen 5001 seed [a.txt 3 1 {KEY_A}] leech []")), "ok");
    let a = format!("list [a.txt 3 1 {KEY_A}]");
    assert_eq!(listed(&mut other), a);

    let hide = intruder.ask("update seed [] leech []");
    assert!(hide.starts_with("error ") && hide.contains("127.0.0.51:5001"), "{hide}");
    let replace = intruder.ask(&format!("announce listen 5001 seed [b.txt 4 1 {KEY_B}] leech []"));
    assert!(replace.starts_with("error ") && replace.contains("another open connection"), "{replace}");
    assert_eq!(listed(&mut other), a, "the owner's files stay");
    assert_eq!(other.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} [127.0.0.51:5001]"));
    assert_eq!(other.ask("look [filename=\"b.txt\"]"), "list []");

    // Its own port is its own peer; the owner still speaks for its own.
    assert_eq!(intruder.ask(&format!("announce listen 5002 seed [b.txt 4 1 {KEY_B}] leech []")), "ok");
    assert_eq!(owner.ask(&format!("update seed [{KEY_A}] leech [{KEY_B}]")), "ok");
    let holders = other.ask(&format!("getfile {KEY_B}"));
    assert_eq!(holders, format!("peers {KEY_B} [127.0.0.51:5001 127.0.0.51:5002]"));
}

#[test]
fn a_course_peer_that_connects_per_request_takes_its_peer_over() {
    let t = TestTracker::start();
    let mut other = t.client_from(52);
    let once = |line: &str| {
        // One request per connection, closed before the next one opens.
        let mut c = t.client_from(PEER);
        c.ask(line)
    };
    assert_eq!(once(&format!("announce listen 5001 seed [a.txt 3 1 {KEY_A}] leech []")), "ok");
    assert_eq!(once(&format!("update seed [{KEY_A}] leech [{KEY_B}]")), "ok");
    assert_eq!(once("look [filename=\"a.txt\"]"), format!("list [a.txt 3 1 {KEY_A}]"));
    assert_eq!(once(&format!("getfile {KEY_A}")), format!("peers {KEY_A} []"), "never itself");
    assert_eq!(other.ask(&format!("getfile {KEY_B}")), format!("peers {KEY_B} [127.0.0.51:5001]"));

    // A connection that took the peer over holds it while it is open.
    let mut took = t.client_from(PEER);
    assert_eq!(took.ask(&format!("update seed [{KEY_A}] leech []")), "ok");
    assert!(once("update seed [] leech []").starts_with("error "));
    assert_eq!(listed(&mut other), format!("list [a.txt 3 1 {KEY_A}]"));
    drop(took);
    assert_eq!(once("update seed [] leech []"), "ok", "closed: the next connection speaks for it");
    assert_eq!(listed(&mut other), "list []");
    assert_eq!(once(&format!("announce listen 5001 seed [a.txt 3 1 {KEY_A}] leech []")), "ok");
    assert_eq!(listed(&mut other), format!("list [a.txt 3 1 {KEY_A}]"));
}
