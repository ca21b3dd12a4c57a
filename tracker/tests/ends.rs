//! Clients that end badly: they close right behind a request, send urgent
//! data, stop reading, or never end a line. Each is served or cut off,
//! and none holds a worker or a socket for good.

mod support;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use support::*;

fn connect(t: &TestTracker) -> TcpStream {
    let s = TcpStream::connect_timeout(&t.addr, TIMEOUT).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Everything the tracker sends until it closes; fails if it never does.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("the tracker closes the connection");
    String::from_utf8(all).unwrap()
}

/// Sends `bytes` and the end of the stream, corked: one segment carries
/// both, so the tracker sees them in one readiness event.
fn send_and_end(s: &mut TcpStream, bytes: &[u8], corked: bool) {
    rustix::net::sockopt::set_tcp_cork(&*s, corked).unwrap();
    s.write_all(bytes).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
}

/// On `tries` fresh connections, half of them corked: sends `bytes` and
/// the end; each gets `reply`, then the close.
fn each_try_gets(tries: usize, bytes: &[u8], reply: &str) {
    let t = TestTracker::start();
    for i in 0..tries {
        let mut s = connect(&t);
        send_and_end(&mut s, bytes, i % 2 == 0);
        assert_eq!(read_to_close(&mut s), reply, "try {i}");
    }
}

#[test]
fn a_request_then_the_end_is_answered_then_closed() {
    each_try_gets(40, b"look []\n", "list []\n");
}

#[test]
fn a_request_without_line_end_then_the_end_is_answered() {
    each_try_gets(20, b"look []", "list []\r\n");
}

#[test]
fn a_blank_line_then_the_end_is_closed() {
    // Nothing to answer, but the socket is closed.
    each_try_gets(40, b"\n", "");
}

#[test]
fn requests_around_urgent_data_are_all_answered() {
    let t = TestTracker::start();
    let mut s = connect(&t);
    rustix::net::sockopt::set_tcp_cork(&s, true).unwrap();
    s.write_all(b"look []\n").unwrap();
    rustix::net::send(&s, b"!", rustix::net::SendFlags::OOB).unwrap();
    s.write_all(b"look []\n").unwrap();
    rustix::net::sockopt::set_tcp_cork(&s, false).unwrap();
    let mut replies = [0u8; 16];
    s.read_exact(&mut replies).expect("both requests answered");
    assert_eq!(&replies, b"list []\nlist []\n");
}

#[test]
fn shutdown_is_prompt_while_clients_do_not_read() {
    let t = TestTracker::with(|c| c.workers = 1);
    let mut seeder = t.client();
    let files: String = (0..1000).map(|i| format!("{}{i:04} {i} 1 {i:032x} ", "n".repeat(200))).collect();
    assert_eq!(seeder.ask(&format!("announce listen 1000 seed [{}] leech []", files.trim_end())), "ok");
    // Each asks for ~200 KiB of replies many times over and never reads:
    // the one worker ends up stuck writing to them.
    let stuck: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(&t);
            s.write_all("look []\n".repeat(200).as_bytes()).unwrap();
            s
        })
        .collect();
    // Replies reach the first one: the worker is writing to it, and 40 MiB
    // of replies do not fit in the socket buffers.
    stuck[0].peek(&mut [0u8; 1]).unwrap();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(t.stop().is_ok()).unwrap());
    // The bound is generous; before, this took 15 s per stuck client.
    assert_eq!(done.recv_timeout(Duration::from_secs(5)), Ok(true), "shutdown waited on clients that do not read");
    drop(stuck);
}

#[test]
fn a_flood_without_line_end_is_cut_off() {
    let t = TestTracker::with(|c| {
        c.partial_timeout = Duration::from_millis(300);
        c.max_line = 1024;
    });
    let mut s = connect(&t);
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let chunk = [b'x'; 4096];
        // Never an end of line, never a pause: only the tracker closing
        // the connection stops this.
        while s.write_all(&chunk).is_ok() {}
        done_tx.send(()).unwrap();
    });
    assert!(done.recv_timeout(TIMEOUT).is_ok(), "a connection that never ends its line is closed");
    let mut other = t.client();
    assert_eq!(other.ask("look []"), "list []");
}
