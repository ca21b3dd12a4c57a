//! Many connected clients on a small pool: all are answered, idle ones do
//! not starve new ones, and a slowloris is cut off while others are served.

mod support;
use std::time::Duration;
use support::*;

fn raise_fd_limit() {
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
}

/// Client `i` of many, from one of 200 addresses as on a LAN: one
/// address may open 64 connections and 16 peers.
fn spread(t: &TestTracker, i: usize) -> Client {
    t.client_from(2 + (i % 200) as u8)
}

#[test]
fn hundreds_of_concurrent_clients_are_all_answered() {
    let t = TestTracker::with(|c| c.workers = 2);
    let mut clients: Vec<Client> = (0..400).map(|i| spread(&t, i)).collect();
    // Everyone is connected at once; each asks, then everyone reads.
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(format!("announce listen {} seed [f{i} {i} 1 {i:032x}] leech []\n", 1000 + i));
    }
    for c in clients.iter_mut() {
        assert_eq!(c.recv(), "ok");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(format!("look [filename=\"f{i}\"]\n"));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.recv(), format!("list [f{i} {i} 1 {i:032x}]"));
    }
}

#[test]
fn thousands_of_idle_connections_do_not_block_a_new_client() {
    raise_fd_limit();
    let t = TestTracker::with(|c| c.workers = 2);
    let mut idle: Vec<Client> = (0..3000).map(|i| spread(&t, i)).collect();
    assert_eq!(t.client().ask("look []"), "list []");
    // And the idle ones are still served when they speak.
    assert_eq!(idle[0].ask("look []"), "list []");
    assert_eq!(idle[2999].ask("look []"), "list []");
}

#[test]
fn slowloris_is_closed_while_others_are_served() {
    let t = TestTracker::with(|c| {
        // The pause that would answer the unfinished line never comes
        // first: the connection holds it for the whole timeout.
        c.partial_timeout = Duration::from_millis(300);
        c.line_pause = Duration::from_secs(60);
    });
    let mut slow = t.client();
    slow.send("announce listen 22 seed [a 1");
    let mut idle_at_boundary = t.client();
    assert_eq!(idle_at_boundary.ask("look []"), "list []");
    let mut other = t.client();
    assert_eq!(other.ask("look []"), "list []");
    assert!(slow.is_closed(), "an unfinished line held past the timeout closes the connection");
    assert_eq!(other.ask("look []"), "list []");
    assert_eq!(idle_at_boundary.ask("look []"), "list []", "idle at a line boundary is kept");
}

#[test]
fn shutdown_returns_cleanly_with_connections_open() {
    let t = TestTracker::start();
    let mut c = t.client();
    assert_eq!(c.ask("look []"), "list []");
    t.stop().unwrap();
    assert!(c.is_closed());
}
