//! The million-file phase of `make bench-tracker` (alone with
//! `BENCH_ONLY_MILLION=1`, or `make bench-tracker-memory`): a tracker
//! process of its own, with a short peer time-to-live, receives
//! 1,000,000 files from 100 peers (10,000 each); then `look` by exact
//! name and by part of a name are timed on one connection, and the
//! tracker's memory is read from /proc before the peers come, once they
//! have announced (and its peak), and after they expired.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Server, spawn};

const PEERS: usize = 100;
const FILES_PER_PEER: usize = 10_000;
/// Long enough for the lookups (peers are kept alive between phases),
/// short enough to wait for.
const TTL: Duration = Duration::from_secs(20);
const INTERVAL: Duration = Duration::from_secs(1);

/// VmRSS and VmHWM (peak) of process `pid`, in bytes.
fn memory(pid: u32) -> io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<u64> {
        let value = status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next());
        Ok(value.and_then(|kb| kb.parse::<u64>().ok()).ok_or_else(|| io::Error::other(format!("no {name}")))? * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// A connection that sends one line and reads one reply at a time.
struct Line {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    reply: String,
}

impl Line {
    fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self { reader: BufReader::new(stream.try_clone()?), stream, reply: String::new() })
    }

    fn ask(&mut self, line: &str) -> io::Result<&str> {
        self.stream.write_all(line.as_bytes())?;
        self.reply.clear();
        self.reader.read_line(&mut self.reply)?;
        Ok(&self.reply)
    }
}

/// Times `n` lookups of the lines `query` makes; p50 and p99.
fn time(on: &mut Line, n: usize, mut query: impl FnMut() -> String) -> io::Result<String> {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let line = query();
        let t = Instant::now();
        let reply = on.ask(&line)?;
        lat.push(t.elapsed());
        if !reply.starts_with("list [") {
            return Err(io::Error::other(format!("{line:?} answered {reply:?}")));
        }
    }
    lat.sort();
    Ok(format!("p50 {:?}, p99 {:?} ({n} lookups)", lat[n / 2], lat[n * 99 / 100]))
}

/// A peer's connection marks it alive when it asks something.
fn keep_alive(peers: &mut [Line]) -> io::Result<()> {
    peers.iter_mut().try_for_each(|p| p.ask("look [filename=\"nothing\"]\n").map(drop))
}

pub fn run(dir: &Path, limits: &str) -> io::Result<()> {
    let config = dir.join("million.ini");
    std::fs::write(
        &config,
        format!(
            "tracker_ip = 127.0.0.1\ntracker_port = 5000\ntracker_http_port = 0\ntracker_peer_ttl = {}\ntracker_interval = {}\n{limits}",
            TTL.as_millis(),
            INTERVAL.as_millis()
        ),
    )?;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tracker"));
    command.arg("--config").arg(&config);
    let tracker: Server = spawn(command)?;
    let pid = tracker.child.id();
    let (before, _) = memory(pid)?;

    let t0 = Instant::now();
    let mut peers = Vec::with_capacity(PEERS);
    for p in 0..PEERS {
        let mut peer = Line::connect(tracker.addr)?;
        let files: String = (0..FILES_PER_PEER)
            .map(|j| format!("m{p}_{j} {j} 4096 {:064x} ", (p * FILES_PER_PEER + j) as u128 + (1u128 << 100)))
            .collect();
        let reply = peer.ask(&format!("announce listen {} seed [{files}] leech []\n", 20_000 + p))?;
        if reply != "ok\n" {
            return Err(io::Error::other(format!("populating: {reply}")));
        }
        peers.push(peer);
    }
    let populated = t0.elapsed();
    let (full, peak) = memory(pid)?;
    println!(
        "1,000,000 files from 100 peers: populated in {:.1} s; RSS before {}, after populating {} ({:.0} bytes per file), peak {}",
        populated.as_secs_f64(),
        mib(before),
        mib(full),
        (full - before) as f64 / 1e6,
        mib(peak)
    );

    let mut rng = fastrand::Rng::with_seed(3);
    let mut on = Line::connect(tracker.addr)?;
    let mut name = || format!("m{}_{}", rng.usize(..PEERS), rng.usize(..FILES_PER_PEER));
    let exact = time(&mut on, 20_000, || format!("look [filename=\"{}\"]\n", name()))?;
    keep_alive(&mut peers)?;
    let some = time(&mut on, 2_000, || format!("look [filename~\"{}\"]\n", name()))?;
    keep_alive(&mut peers)?;
    let mut n = 0u32;
    let none = time(&mut on, 2_000, || {
        n += 1;
        format!("look [filename~\"zq{n}\"]\n")
    })?;
    println!("look by exact name: {exact}");
    println!("look filename~ matching about 11 files: {some}");
    println!("look filename~ matching none: {none}");

    // Closing does not forget a peer; expiry does.
    drop(peers);
    let deadline = Instant::now() + TTL + Duration::from_secs(15);
    while on.ask("look [filename=\"m0_0\"]\n")? != "list []\n" {
        if Instant::now() > deadline {
            return Err(io::Error::other("the peers did not expire"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The pass that forgot them has given back what it frees; a few
    // more passes, in case anything is left for the next one.
    let mut after = memory(pid)?.0;
    for _ in 0..3 {
        std::thread::sleep(INTERVAL);
        after = after.min(memory(pid)?.0);
    }
    println!(
        "after the peers expired: RSS {} ({:+.0}% against before they came)",
        mib(after),
        100.0 * (after as f64 / before as f64 - 1.0)
    );
    Ok(())
}
