//! `cargo bench -p tracker --bench handle`: what one request costs the
//! tracker in user space (parse, handle, write the reply), without
//! sockets, for each command of the load mix (`mix`) over 1,000 peers.
//!
//! - warm: one thread; the cache's memory stays in the CPU's caches.
//! - cold: between requests the thread writes 16 KiB elsewhere, as the
//!   kernel's network stack does in the server, so the cache's lines
//!   come from far away as they do there.
//! - 2 cold: two threads at once, as the server's two workers, sharing
//!   the cache's lock and lines.
//!
//! Only the request's own work is timed. The "2 cold" figure is close
//! to what this work costs in the server: there, answering with canned
//! replies instead of parsing and handling lowered the tracker's CPU time
//! per request by 1.6 us (by 1.1 us with requests still parsed). The
//! figures vary by about 10% from run to run.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::config::TrackerConfig;
use common::protocol::{Limits, LineEnding, TrackerRequest};
use tracker::handler::{Session, Shared, handle};

mod mix;

const PEERS: usize = 1000;
const REQUESTS: usize = 300_000;
const COMMANDS: [&str; 4] = ["look", "getfile", "update", "announce"];
/// Bytes written between two requests in the cold settings.
const POLLUTE: usize = 16 << 10;

fn peer_addr(id: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2 + (id % 200) as u8], 0))
}

fn port(id: usize) -> u16 {
    10_000 + id as u16
}

/// Time spent and requests served, per command.
type Tally = [(Duration, u32); COMMANDS.len()];

/// Serves `requests` from the peers owning `sessions`, as one worker.
fn serve(shared: &Shared, requests: &[(usize, String)], sessions: &mut [Session], cold: bool) -> Tally {
    let limits = Limits::default();
    let mut tally = Tally::default();
    let mut out = Vec::new();
    let mut junk = vec![0u8; 64 << 20];
    let mut at = 0;
    for (id, line) in requests {
        if cold {
            // One byte per line, read and written: a `fill` may bypass
            // the caches it is meant to flush.
            for byte in junk[at..at + POLLUTE].iter_mut().step_by(64) {
                *byte = byte.wrapping_add(1);
            }
            at = (at + POLLUTE) % junk.len();
        }
        let command = COMMANDS.iter().position(|c| line.starts_with(c)).unwrap_or(0);
        let start = Instant::now();
        let request = TrackerRequest::parse(line.trim_end().as_bytes(), &limits).expect("the mix parses");
        let reply = handle(request, peer_addr(*id), &mut sessions[*id], shared, start);
        out.clear();
        reply.write(&mut out, LineEnding::Lf).expect("writing to memory");
        drop(reply);
        tally[command].0 += start.elapsed();
        tally[command].1 += 1;
    }
    tally
}

/// Runs `threads` workers at once on a freshly populated cache.
fn run(threads: usize, cold: bool) -> Tally {
    let config = TrackerConfig::parse("bench.ini".as_ref(), "tracker_ip = 127.0.0.1\ntracker_port = 1\n");
    // With the shipped per-address limits: 1,000 peers from 200 addresses
    // stay within them, and their checks are part of what is measured.
    let shared = Shared::new(config.expect("a valid configuration"), Default::default());
    let limits = Limits::default();
    let mut sessions: Vec<Session> = (0..PEERS).map(|_| Session::default()).collect();
    for (id, session) in sessions.iter_mut().enumerate() {
        let request = TrackerRequest::parse(mix::announce(id, port(id)).trim_end().as_bytes(), &limits);
        handle(request.expect("the mix parses"), peer_addr(id), session, &shared, Instant::now());
    }
    // Each worker serves the peers of its own sessions.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut requests: Vec<Vec<(usize, String)>> = vec![Vec::new(); threads];
    for _ in 0..REQUESTS {
        let id = rng.usize(..PEERS);
        requests[id % threads].push((id, mix::next(id, port(id), PEERS, &mut rng)));
    }
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let workers: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(worker, mine)| {
                let mut own: Vec<Session> = (0..PEERS).map(|_| Session::default()).collect();
                for id in (worker..PEERS).step_by(threads) {
                    own[id] = std::mem::take(&mut sessions[id]);
                }
                let shared = &shared;
                scope.spawn(move || serve(shared, mine, &mut own, cold))
            })
            .collect();
        for worker in workers {
            let t = worker.join().expect("a worker panicked");
            for (sum, (time, count)) in tally.iter_mut().zip(t) {
                sum.0 += time;
                sum.1 += count;
            }
        }
    });
    tally
}

fn main() {
    println!("user-space time per request, parse + handle + reply, microseconds:");
    println!("{:>8} | {:>8} {:>8} {:>8} {:>8} | {:>6}", "", COMMANDS[0], COMMANDS[1], COMMANDS[2], COMMANDS[3], "mix");
    for (name, threads, cold) in [("warm", 1, false), ("cold", 1, true), ("2 cold", 2, true)] {
        let tally = run(threads, cold);
        let micros = |(time, count): (Duration, u32)| time.as_secs_f64() * 1e6 / f64::from(count.max(1));
        let total = tally.iter().fold((Duration::ZERO, 0), |(t, c), (time, count)| (t + *time, c + count));
        let each: Vec<String> = tally.iter().map(|t| format!("{:>8.2}", micros(*t))).collect();
        println!("{name:>8} | {} | {:>6.2}", each.join(" "), micros(total));
    }
}
