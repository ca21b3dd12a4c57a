//! `make bench-lan`: the distributed (trackerless) mode over loopback,
//! engines in this process, each on its own 127.0.0.X and temp folder.
//!
//! 1. Discovery: 5 peers (127.0.0.51-55) started at once on one UDP port
//!    and a multicast group of their own; the time from just before the
//!    first engine starts until every engine lists at least one
//!    neighbour, then all 4 others. `LAN_RUNS` runs (10): min / median /
//!    max.
//! 2. Search latency: 5 peers A-B-C-D-E (127.0.0.61-65) in a chain of
//!    static neighbours (no discovery), a small file only E has. The
//!    bench is the search's origin (127.0.0.69): it writes `look
//!    [filename="NAME" filesize<"N"] 5 ORIGIN` on a connection to A,
//!    which the chain forwards to E, and E answers by connecting to the
//!    origin. Timed from the write to the answer line read at the origin;
//!    alternating with the same sent to E directly (the per-hop cost is
//!    the difference over 4). `LAN_SEARCHES` searches each (200): min /
//!    median / p99 / max. `Engine::search_report` cannot time this: it
//!    returns after the whole collect time.
//!
//! Peers take 20 searches a second from one connection and drop the same
//! search (origin and criteria) for 2 s: searches go out at most one per
//! `LAN_GAP_MS` (60) and each has its own `filesize<"N"`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};
use peer::engine::{Engine, Event, Events, Lan, Network, Settings};
use tempfile::TempDir;

/// Longest wait for anything (neighbours, an answer).
const TIMEOUT: Duration = Duration::from_secs(30);
const PEERS: u8 = 5;
const FILE: &str = "bench-lan.txt";
const FILE_SIZE: usize = 1000;
/// Searches sent before those timed.
const WARM_UP: usize = 10;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An engine, its events (subscribed before it started) and its folder.
struct Peer {
    engine: Engine,
    changes: Receiver<Event>,
    _dir: TempDir,
}

fn settings(id: u32, dir: &TempDir, lan: Lan) -> Settings {
    Settings {
        id,
        listen: "127.0.0.1:0".parse().unwrap(),
        network: Network::Lan(lan),
        update_interval: Duration::from_secs(30),
        dir: dir.path().to_owned(),
        max_peers: 16,
        max_message: 1 << 20,
        download_threads: 2,
        hash_threads: 1,
        piece_size: common::PieceSize::Auto,
        max_upload_rate: 0,
        max_download_rate: 0,
    }
}

fn bind(ip: [u8; 4]) -> TcpListener {
    TcpListener::bind(SocketAddr::from((ip, 0))).unwrap()
}

fn start(id: u32, listener: TcpListener, dir: TempDir, lan: Lan) -> Peer {
    let events = Events::default();
    let changes = events.subscribe();
    let engine = Engine::with_listener(settings(id, &dir, lan), listener, events).unwrap();
    Peer { engine, changes, _dir: dir }
}

fn neighbours(p: &Peer) -> Vec<SocketAddr> {
    p.engine.snapshot().lan().unwrap().neighbours.iter().map(|n| n.addr).collect()
}

/// Stops the engines side by side (each takes up to a discovery poll).
fn shutdown(peers: Vec<Peer>) {
    std::thread::scope(|s| {
        for p in peers {
            s.spawn(move || p.engine.shutdown());
        }
    });
}

/// A free UDP port and a multicast group of our own derived from it.
fn discovery() -> (u16, Ipv4Addr) {
    let port = UdpSocket::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
    (port, Ipv4Addr::new(239, 255, (port >> 8) as u8, port as u8))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The value at rank ceil(q * n) of `sorted` (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() {
    let _ = env_logger::builder().try_init();
    let runs: usize = env("LAN_RUNS", 10);
    let searches: usize = env("LAN_SEARCHES", 200);
    let gap = Duration::from_millis(env("LAN_GAP_MS", 60));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("LAN mode benchmark, in-process engines over loopback; {cores} core(s)");
    discovery_bench(runs);
    search_bench(searches, gap);
}

/// Figures of one discovery run.
struct Found {
    /// Until the 5 engines were started (`Engine::with_listener` returned).
    started: Duration,
    /// Until every engine had a neighbour.
    one: Duration,
    /// Until every engine listed the 4 others.
    all: Duration,
}

fn discovery_bench(runs: usize) {
    let others = usize::from(PEERS) - 1;
    println!(
        "\n1. Discovery: {PEERS} peers on 127.0.0.51-{} started at once, one UDP port, multicast on loopback, \
         max_neighbours {others}; from just before the first start until every engine lists 1 / all {others} \
         others as neighbours ({runs} runs)",
        50 + PEERS
    );
    let mut found = Vec::new();
    for run in 1..=runs {
        match discovery_run() {
            Ok(f) => {
                println!(
                    "  run {run:2}: started {:6.2} ms, each has one {:7.2} ms, all {others} each {:7.2} ms",
                    ms(f.started),
                    ms(f.one),
                    ms(f.all)
                );
                found.push(f);
            }
            Err(why) => println!("  run {run:2}: FAILED: {why}"),
        }
    }
    if found.is_empty() {
        println!("  no run completed");
        return;
    }
    for (what, mut times) in [
        ("engines started".to_owned(), found.iter().map(|f| f.started).collect::<Vec<_>>()),
        ("each has a neighbour".to_owned(), found.iter().map(|f| f.one).collect()),
        (format!("each lists all {others}"), found.iter().map(|f| f.all).collect()),
    ] {
        times.sort();
        println!(
            "  {what:>22}: min {:7.2} ms  median {:7.2} ms  max {:7.2} ms  ({} of {runs} runs)",
            ms(times[0]),
            ms(quantile(&times, 0.5)),
            ms(times[times.len() - 1]),
            times.len()
        );
    }
}

fn discovery_run() -> Result<Found, String> {
    let others = usize::from(PEERS) - 1;
    let (port, group) = discovery();
    let config = common::config::Lan {
        discovery_port: port,
        discovery_group: group,
        max_neighbours: others,
        ..Default::default()
    };
    let lan = Lan::new(config, Vec::new());
    // Folders and sockets first: the clock covers the engines only.
    let ready: Vec<(TcpListener, TempDir)> =
        (1..=PEERS).map(|i| (bind([127, 0, 0, 50 + i]), tempfile::tempdir().unwrap())).collect();
    let t0 = Instant::now();
    let peers: Vec<Peer> =
        ready.into_iter().zip(1..).map(|((listener, dir), id)| start(id, listener, dir, lan.clone())).collect();
    let started = t0.elapsed();
    let mut select = Select::new();
    for p in &peers {
        select.recv(&p.changes);
    }
    let deadline = t0 + TIMEOUT;
    let mut one = None;
    let mut at = Instant::now();
    let result = loop {
        let counts: Vec<usize> = peers.iter().map(|p| neighbours(p).len()).collect();
        if one.is_none() && counts.iter().all(|&n| n >= 1) {
            one = Some(at - t0);
        }
        if counts.iter().all(|&n| n == others) {
            break Ok(Found { started, one: one.unwrap_or(at - t0), all: at - t0 });
        }
        match select.select_deadline(deadline) {
            Ok(op) => {
                at = Instant::now();
                let i = op.index();
                let _ = op.recv(&peers[i].changes);
            }
            Err(_) => {
                let lists: Vec<String> =
                    peers.iter().map(|p| format!("{} -> {:?}", p.engine.settings().listen, neighbours(p))).collect();
                break Err(format!("not all neighbours after {} s: {}", TIMEOUT.as_secs(), lists.join("; ")));
            }
        }
    };
    shutdown(peers);
    result
}

/// Answer lines reaching `origin`, with when each was read; one
/// connection per answer, read in turn.
fn answers_at(origin: TcpListener) -> Receiver<(Instant, String)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for stream in origin.incoming() {
            let Ok(stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(TIMEOUT));
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Latencies of `count` timed searches (after [`WARM_UP`]) sent on a
/// connection to each of `firsts`, in turn (so both see the same machine
/// noise), all answered by `holder`; each search's criteria are new.
/// Searches left unanswered are counted, not timed.
fn time_searches(
    firsts: &[SocketAddr],
    holder: SocketAddr,
    origin: SocketAddr,
    answers: &Receiver<(Instant, String)>,
    (count, gap): (usize, Duration),
) -> Vec<(Vec<Duration>, usize)> {
    let mut to: Vec<TcpStream> = firsts
        .iter()
        .map(|&a| {
            let s = TcpStream::connect(a).unwrap();
            s.set_nodelay(true).unwrap();
            s
        })
        .collect();
    let expected = format!("file at {holder} have ");
    let mut out = vec![(Vec::with_capacity(count), 0); firsts.len()];
    let mut next = Instant::now();
    let mut n = 0;
    for i in 0..WARM_UP + count {
        for (stream, (times, lost)) in to.iter_mut().zip(&mut out) {
            // Paced: a peer takes at most 20 searches a second per connection.
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next = Instant::now() + gap;
            n += 1;
            let look = format!("look [filename=\"{FILE}\" filesize<\"{}\"] 5 {origin}\n", FILE_SIZE + n);
            let sent = Instant::now();
            stream.write_all(look.as_bytes()).unwrap();
            let answer = loop {
                match answers.recv_deadline(sent + Duration::from_secs(5)) {
                    Ok((at, line)) if line.starts_with(&expected) && line.contains(FILE) => break Some(at),
                    Ok((_, line)) => println!("  unexpected line at the origin: {line}"),
                    Err(_) => break None,
                }
            };
            match answer {
                Some(at) if i >= WARM_UP => times.push(at - sent),
                Some(_) => {}
                None => {
                    println!("  no answer within 5 s to: {}", look.trim_end());
                    *lost += 1;
                }
            }
        }
    }
    out
}

fn search_bench(count: usize, gap: Duration) {
    let listeners: Vec<TcpListener> = (1..=PEERS).map(|i| bind([127, 0, 0, 60 + i])).collect();
    let at: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let last = at.len() - 1;
    // Each peer lists the one before it and the one after it.
    let chain = |i: usize| -> Vec<SocketAddr> {
        [i.checked_sub(1), Some(i + 1).filter(|&j| j <= last)].into_iter().flatten().map(|j| at[j]).collect()
    };
    let peers: Vec<Peer> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let config = common::config::Lan { discovery_port: 0, look_ttl: 5, ..Default::default() };
            let lan = Lan::new(config, chain(i));
            let dir = tempfile::tempdir().unwrap();
            if i == last {
                std::fs::write(dir.path().join(FILE), vec![b'x'; FILE_SIZE]).unwrap();
            }
            start(i as u32 + 1, listener, dir, lan)
        })
        .collect();
    // E's file scanned, the chain's links all up.
    let deadline = Instant::now() + TIMEOUT;
    for (i, p) in peers.iter().enumerate() {
        let want = chain(i);
        let files = usize::from(i == last);
        while neighbours(p) != want || p.engine.snapshot().files.len() != files {
            if p.changes.recv_deadline(deadline).is_err() {
                println!("\n2. Search: the chain never formed: {} lists {:?}, want {want:?}", at[i], neighbours(p));
                shutdown(peers);
                return;
            }
        }
    }
    let origin = bind([127, 0, 0, 69]);
    let o = origin.local_addr().unwrap();
    let answers = answers_at(origin);
    println!(
        "\n2. Search latency: chain A-B-C-D-E on {}..{} (static neighbours), a {FILE_SIZE}-byte file only E has; \
         the bench is the origin {o}; from writing `look` to reading E's `file at ... have` at the origin; \
         {count} searches each after {WARM_UP} untimed, the two alternating, one per {} ms",
        at[0],
        at[last],
        gap.as_millis()
    );
    let whats = ["via A (5 peers, 4 forwards)", "to E directly (1 peer, 0 forwards)"];
    let results = time_searches(&[at[0], at[last]], at[last], o, &answers, (count, gap));
    let mut rows = Vec::new();
    for (what, (mut times, lost)) in whats.into_iter().zip(results) {
        times.sort();
        if times.is_empty() {
            println!("  {what}: no answer ({lost} lost)");
            continue;
        }
        println!(
            "  {what:>34}: min {:7.1} us  median {:7.1} us  p99 {:7.1} us  max {:7.1} us  ({} timed, {lost} unanswered)",
            us(times[0]),
            us(quantile(&times, 0.5)),
            us(quantile(&times, 0.99)),
            us(times[times.len() - 1]),
            times.len()
        );
        rows.push(quantile(&times, 0.5));
    }
    println!(
        "  via A, the search makes 5 TCP hops (origin->A->B->C->D->E, each on an open connection) and passes \
         through 5 peers (A..E, E answering); the answer is 1 more TCP hop, a new connection E->origin. \
         Directly: 1 TCP hop to E, the same answer connection."
    );
    if let [chain, direct] = rows[..] {
        println!("  per forward (median difference / 4): {:.1} us", (us(chain) - us(direct)) / f64::from(PEERS - 1));
    }
    shutdown(peers);
}
