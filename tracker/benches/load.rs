//! `make bench-tracker`: N persistent connections (1, 64, 1,000, 10,000)
//! run a closed loop of a realistic request mix against a populated
//! tracker, then against a null responder (a minimal single-threaded mio
//! server answering `ok` to every line) under the same load; prints
//! requests/s, p50/p99 latency, the least-served connection's share, the
//! server's CPU time per request and the tracker/null ratio. Then `look`
//! by exact name and by part of a name over 1,000,000 files, with the
//! tracker's memory (`million`).
//!
//! The generator runs in this process; both servers are child processes,
//! all on loopback. `BENCH_SECS` sets the time per run (default 2),
//! `BENCH_CONNS` the list of N, `BENCH_ROUNDS` the rounds per N (default
//! 9; a round runs both servers, in alternating order; the median round
//! is printed, every round too with `BENCH_EACH=1`). Many short rounds
//! rather than a few long ones: the machine's speed drifts over tens of
//! seconds, and each round's ratio compares two runs a few seconds apart.
//! `BENCH_NO_LOOK=1` skips the million-file phase, `BENCH_ONLY_MILLION=1`
//! runs only that.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

mod million;
mod mix;

mod null_server {
    use super::*;

    /// Answers `ok\n` to every line, on one thread, until the flag is set.
    pub fn run(listener: std::net::TcpListener, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        listener.set_nonblocking(true).unwrap();
        let mut listener = TcpListener::from_std(listener);
        let mut poll = Poll::new().unwrap();
        poll.registry().register(&mut listener, Token(usize::MAX), Interest::READABLE).unwrap();
        let mut conns: Vec<Option<TcpStream>> = Vec::new();
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 16384];
        let mut out = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            poll.poll(&mut events, Some(Duration::from_millis(50))).unwrap();
            for ev in events.iter() {
                if ev.token() == Token(usize::MAX) {
                    loop {
                        match listener.accept() {
                            Ok((mut s, _)) => {
                                poll.registry().register(&mut s, Token(conns.len()), Interest::READABLE).unwrap();
                                conns.push(Some(s));
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                eprintln!("null responder: accept: {e}");
                                break;
                            }
                        }
                    }
                    continue;
                }
                let Some(Some(s)) = conns.get_mut(ev.token().0) else { continue };
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => {
                            conns[ev.token().0] = None;
                            break;
                        }
                        Ok(n) => {
                            out.clear();
                            for _ in buf[..n].iter().filter(|&&b| b == b'\n') {
                                out.extend_from_slice(b"ok\n");
                            }
                            let _ = s.write_all(&out);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            // Reset by the generator closing mid-reply.
                            conns[ev.token().0] = None;
                            break;
                        }
                    }
                }
            }
        }
    }
}

struct Conn {
    stream: TcpStream,
    port: u16,
    inbuf: Vec<u8>,
    sent_at: Instant,
    served: u64,
    seq: u64,
}

fn request(conn: &Conn, id: usize, n: usize, rng: &mut fastrand::Rng) -> String {
    if conn.seq == 0 { mix::announce(id, conn.port) } else { mix::next(id, conn.port, n, rng) }
}

struct Report {
    rps: f64,
    p50: Duration,
    p99: Duration,
    least_share: f64,
    /// The server's CPU time (all threads, user and kernel) per request:
    /// steadier than requests/s, which also depends on how much of the
    /// two cores the generator gets.
    cpu_per_request: Duration,
}

/// CPU time used so far by process `pid`, all threads, from /proc.
fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold
    // blanks: utime and stime are the 14th and 15th fields of the line.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let ticks: Vec<u64> = after.split_whitespace().skip(11).take(2).filter_map(|t| t.parse().ok()).collect();
    let [user, system] = ticks[..] else { return Err(io::Error::other("unreadable /proc/PID/stat")) };
    let per_second = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_secs_f64((user + system) as f64 / per_second as f64))
}

fn connect(addr: SocketAddr, i: usize) -> io::Result<TcpStream> {
    // Spread sources over 127.0.0.2..=127.0.0.201: each is a distinct
    // peer to the tracker, and ephemeral ports never run out.
    let source = IpAddr::from([127, 0, 0, 2 + (i % 200) as u8]);
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::new(source, 0).into())?;
    s.set_tcp_nodelay(true)?;
    s.set_nonblocking(true)?;
    match s.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}

/// Drives `n` connections of `server` in a closed loop for `secs`.
fn drive(server: &Server, n: usize, secs: f64) -> io::Result<Report> {
    let addr = server.addr;
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = connect(addr, i)?;
        poll.registry().register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        conns.push(Conn {
            stream,
            port: 10_000 + i as u16 % 50_000,
            inbuf: Vec::new(),
            sent_at: Instant::now(),
            served: 0,
            seq: 0,
        });
    }
    let mut rng = fastrand::Rng::with_seed(7);
    let mut events = Events::with_capacity(4096);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut buf = vec![0u8; 65536];
    let mut started = vec![false; n];
    // Measure `secs` once every connection has had a reply (warm-up: the
    // connects and first turns of 10,000 connections take a while).
    let start = Instant::now();
    let mut warm: Option<Instant> = None;
    let mut cpu_at_warm = Duration::ZERO;
    let done = |warm: Option<Instant>| match warm {
        Some(w) => w.elapsed().as_secs_f64() >= secs,
        None => start.elapsed() > Duration::from_secs(60),
    };
    while !done(warm) {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            if ev.is_writable() && !started[i] {
                started[i] = true;
                let req = request(c, i, n, &mut rng);
                c.stream.write_all(req.as_bytes())?;
                c.sent_at = Instant::now();
            }
            if !ev.is_readable() {
                continue;
            }
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return Err(io::Error::other(format!("connection {i} closed by the server"))),
                    Ok(k) => c.inbuf.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            while let Some(nl) = c.inbuf.iter().position(|&b| b == b'\n') {
                c.inbuf.drain(..=nl);
                let now = Instant::now();
                // Count once every connection had a first turn (warm-up).
                if warm.is_some() {
                    latencies.push(now.duration_since(c.sent_at).as_micros().min(u32::MAX as u128) as u32);
                    c.served += 1;
                }
                c.seq += 1;
                let req = request(c, i, n, &mut rng);
                c.stream.write_all(req.as_bytes())?;
                c.sent_at = now;
            }
        }
        if warm.is_none() && conns.iter().all(|c| c.seq > 0) {
            warm = Some(Instant::now());
            cpu_at_warm = cpu_time(server.child.id())?;
        }
    }
    let Some(warm) = warm else {
        let answered = conns.iter().filter(|c| c.seq > 0).count();
        return Err(io::Error::other(format!("only {answered} of {n} connections answered within 60 s")));
    };
    let measured = warm.elapsed().as_secs_f64();
    let cpu = cpu_time(server.child.id())?.saturating_sub(cpu_at_warm);
    latencies.sort_unstable();
    let pct = |p: f64| {
        Duration::from_micros(
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0) as u64,
        )
    };
    let total: u64 = conns.iter().map(|c| c.served).sum();
    let cpu_per_request = cpu / u32::try_from(total.max(1)).unwrap_or(u32::MAX);
    let least = conns.iter().map(|c| c.served).min().unwrap_or(0);
    let mean = total as f64 / n as f64;
    Ok(Report {
        rps: total as f64 / measured.max(1e-9),
        p50: pct(0.50),
        p99: pct(0.99),
        least_share: if mean > 0.0 { least as f64 / mean } else { 0.0 },
        cpu_per_request,
    })
}

fn micros(d: Duration) -> String {
    format!("{:.2}us", d.as_secs_f64() * 1e6)
}

/// A child process serving on a free loopback port, killed on drop.
struct Server {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `command` with `--port P` and waits until P accepts.
fn spawn(mut command: std::process::Command) -> io::Result<Server> {
    let port = free_port()?;
    let child = command.args(["--port", &port.to_string()]).env("RUST_LOG", "warn").spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(io::Error::other("the server did not start"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(server)
}

fn main() -> io::Result<()> {
    rlimit::increase_nofile_limit(u64::MAX)?;
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--null-server") {
        let port: u16 = args.get(at + 2).and_then(|p| p.parse().ok()).expect("--null-server --port P");
        let listener = tracker::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        null_server::run(listener, Default::default());
        return Ok(());
    }
    let secs: f64 = std::env::var("BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(2.0);
    let only_million = std::env::var_os("BENCH_ONLY_MILLION").is_some();
    let ns: Vec<usize> = std::env::var("BENCH_CONNS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 64, 1000, 10_000]);

    let dir = std::env::temp_dir().join(format!("tracker-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.ini");
    let workers = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(std::thread::available_parallelism().map_or(2, usize::from));
    // 10,000 connections come from 200 addresses (50 peers each), and the
    // million files of the `look` run from one: lift the per-address
    // limits, which cost the same to check whatever they are.
    let limits = "tracker_max_connections_per_ip = 1000000\ntracker_max_peers_per_ip = 1000000\ntracker_max_files_per_ip = 100000000\n";
    std::fs::write(
        &config,
        format!(
            "tracker_ip = 127.0.0.1\ntracker_port = 5000\ntracker_http_port = 0\ntracker_workers = {workers}\n{limits}"
        ),
    )?;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tracker"));
    command.arg("--config").arg(&config);
    let tracker = spawn(command)?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("--null-server");
    let null = spawn(command)?;

    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(9).max(1);
    println!(
        "tracker process with {workers} workers; {secs} s per run; closed loop, one request in flight per connection"
    );
    println!(
        "{rounds} rounds per N, each running both servers, first one then the other (the machine's speed drifts); the median round by ratio, the range, and the rounds at 0.8 or above:"
    );
    println!(
        "{:>7} | {:>10} {:>9} {:>9} {:>6} {:>7} | {:>10} {:>9} {:>9} {:>7} | {:>5} {:>11} {:>5}",
        "conns",
        "tracker/s",
        "p50",
        "p99",
        "least",
        "cpu/req",
        "null/s",
        "p50",
        "p99",
        "cpu/req",
        "ratio",
        "range",
        ">=0.8"
    );
    for &n in ns.iter().filter(|_| !only_million) {
        let mut runs = Vec::with_capacity(rounds);
        for round in 1..=rounds {
            // Which goes first alternates too, so a drift within a round
            // does not always favour the same server.
            let (t, z) = if round % 2 == 1 {
                let t = drive(&tracker, n, secs);
                (t, drive(&null, n, secs))
            } else {
                let z = drive(&null, n, secs);
                (drive(&tracker, n, secs), z)
            };
            match (t, z) {
                (Ok(t), Ok(z)) => {
                    if std::env::var_os("BENCH_EACH").is_some() {
                        eprintln!(
                            "round {round}: tracker {:.0}/s {} cpu/req, null {:.0}/s {} cpu/req, ratio {:.2}",
                            t.rps,
                            micros(t.cpu_per_request),
                            z.rps,
                            micros(z.cpu_per_request),
                            t.rps / z.rps
                        );
                    }
                    runs.push((t.rps / z.rps, t, z))
                }
                (t, z) => {
                    let t = t.err().map(|e| format!("tracker: {e}"));
                    let e = t.or(z.err().map(|e| format!("null responder: {e}"))).unwrap_or_default();
                    eprintln!("{n} connections, round {round} left out: {e}");
                }
            }
        }
        if runs.is_empty() {
            continue;
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (low, high) = (runs[0].0, runs[runs.len() - 1].0);
        let (ratio, t, z) = &runs[runs.len() / 2];
        let above = runs.iter().filter(|r| r.0 >= 0.8).count();
        println!(
            "{n:>7} | {:>10.0} {:>9.2?} {:>9.2?} {:>5.0}% {:>7} | {:>10.0} {:>9.2?} {:>9.2?} {:>7} | {ratio:>5.2} {low:>5.2}-{high:<5.2} {:>5}",
            t.rps,
            t.p50,
            t.p99,
            t.least_share * 100.0,
            micros(t.cpu_per_request),
            z.rps,
            z.p50,
            z.p99,
            micros(z.cpu_per_request),
            format!("{above}/{}", runs.len()),
        );
    }
    if std::env::var_os("BENCH_NO_LOOK").is_none() {
        million::run(&dir, limits)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
