//! `make bench-swarm`: one seeder capped at `SWARM_RATE` bytes/s (40 MB/s,
//! what a shared 1 Gbit/s link leaves), N leechers (`SWARM_N`, a comma
//! list for a sweep; 8) started together with `peer download --seed`, one
//! random file (`SWARM_MIB`, 256 MiB); every peer and the tracker a
//! separate process on 127.0.0.X. Prints the time until every leecher
//! holds the verified file, that time over the ideal (size / seeder
//! rate), the seeder's upload over the file size and each leecher's
//! share of bytes received from other leechers. Then the same swarm with
//! libtorrent (`scripts/bench_swarm_libtorrent.py`, Debian's
//! python3-libtorrent), in the same run, so the ratio holds on a noisy
//! machine. `SWARM_MAX_PEERS` sets every peer's `max_peers` (default 5).

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Kill, free_port, random_file, same_file, start_tracker, terminate, wait_for, watch};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One swarm's figures.
struct Outcome {
    secs: f64,
    seeder_sent: u64,
    /// Per leecher: bytes received from other leechers / bytes received.
    shares: Vec<f64>,
}

fn main() {
    let mib: u64 = env("SWARM_MIB", 256);
    let rate: u64 = env("SWARM_RATE", 40_000_000);
    let counts: Vec<usize> =
        env("SWARM_N", "8".to_owned()).split(',').map(|n| n.trim().parse().expect("SWARM_N: counts")).collect();
    let peer_bin = PathBuf::from(env!("CARGO_BIN_EXE_peer"));
    let tracker_bin = peer_bin.with_file_name("tracker");
    assert!(tracker_bin.exists(), "build the tracker first (make bench-swarm does)");
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into())).unwrap();
    let original = dir.path().join("big.bin");
    random_file(&original, mib);
    let size = mib << 20;
    let ideal = size as f64 / rate as f64;
    println!("{mib} MiB file, seeder capped at {:.0} MB/s: ideal {ideal:.2} s", rate as f64 / 1e6);
    let mut rows = Vec::new();
    for &n in &counts {
        let ours = swarm(&peer_bin, &tracker_bin, dir.path(), &original, n, rate);
        report("eirb2share", n, size, ideal, &ours);
        let theirs = libtorrent(&original, n, rate);
        match &theirs {
            Ok(t) => report("libtorrent", n, size, ideal, t),
            Err(why) => println!("libtorrent: not run: {why}"),
        }
        rows.push((n, ours.secs, theirs.ok().map(|t| t.secs)));
    }
    println!("\n| leechers | eirb2share (s, × ideal) | libtorrent (s, × ideal) |\n| --- | --- | --- |");
    for (n, ours, theirs) in rows {
        let theirs = theirs.map_or("-".to_owned(), |t| format!("{t:.1} ({:.2})", t / ideal));
        println!("| {n} | {ours:.1} ({:.2}) | {theirs} |", ours / ideal);
    }
}

fn report(who: &str, n: usize, size: u64, ideal: f64, o: &Outcome) {
    let shares: Vec<String> = o.shares.iter().map(|s| format!("{:.0}%", s * 100.0)).collect();
    println!(
        "{who}: {n} leechers done in {:.2} s ({:.2} × ideal); seeder sent {:.2} × the file; from other leechers: {}",
        o.secs,
        o.secs / ideal,
        o.seeder_sent as f64 / size as f64,
        shares.join(" ")
    );
}

/// Runs our swarm of `n` leechers in `root/ours-N`.
fn swarm(peer_bin: &Path, tracker_bin: &Path, root: &Path, original: &Path, n: usize, rate: u64) -> Outcome {
    let root = root.join(format!("ours-{n}"));
    let dirs: Vec<PathBuf> = (0..=n).map(|i| root.join(format!("peer{}", i + 1))).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::hard_link(original, dirs[0].join("big.bin")).unwrap();
    let (_tracker, port) = start_tracker(tracker_bin, &root);
    let mut config = format!("tracker_ip = 127.0.0.1\ntracker_port = {port}\npeer1_max_upload_rate = {rate}\n");
    if let Ok(m) = std::env::var("SWARM_MAX_PEERS") {
        for i in 1..=n + 1 {
            config += &format!("peer{i}_max_peers = {m}\n");
        }
    }
    let mut addrs = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        // The seeder on 127.0.0.2, leechers from 127.0.0.10.
        let ip = if i == 0 { "127.0.0.2".to_owned() } else { format!("127.0.0.{}", 9 + i) };
        let port = free_port(&ip);
        addrs.push(SocketAddr::new(ip.parse().unwrap(), port));
        config +=
            &format!("peer{n}_ip = {ip}\npeer{n}_port = {port}\npeer{n}_directory_path = {}\n", d.display(), n = i + 1);
    }
    let config_path = root.join("peers.ini");
    std::fs::write(&config_path, config).unwrap();
    let peer = |id: usize| {
        let mut c = Command::new(peer_bin);
        c.arg("--config").arg(&config_path).args(["--peer", &id.to_string()]).env("RUST_LOG", "info");
        c
    };
    let mut seeder = peer(1).arg("share").stderr(Stdio::piped()).spawn().unwrap();
    let seeder_lines = watch(&mut seeder);
    let up = Instant::now() + Duration::from_secs(120);
    wait_for(&seeder_lines, "announced 1 file(s)", up).expect("the seeder did not announce");
    let seeder = Kill(seeder);
    let search = peer(2).args(["search", "filename=\"big.bin\""]).output().unwrap();
    let result = String::from_utf8(search.stdout).unwrap().lines().next().expect("big.bin is listed").to_owned();

    let start = Instant::now();
    let mut leechers = Vec::new();
    for id in 2..=n + 1 {
        let mut child = peer(id).args(["download", "--seed", &result]).stderr(Stdio::piped()).spawn().unwrap();
        let lines = watch(&mut child);
        leechers.push((Kill(child), lines));
    }
    let deadline = start + Duration::from_secs(600);
    let mut last = start;
    let mut shares = Vec::new();
    for (_, lines) in &leechers {
        let (done, _) = wait_for(lines, "big.bin complete", deadline).expect("a leecher did not finish");
        last = last.max(done);
        let (_, from) = wait_for(lines, "received from:", deadline).expect("a leecher's sources");
        let from = received_from(&from);
        let total: u64 = from.values().sum();
        let others: u64 = from.iter().filter(|(a, _)| **a != addrs[0]).map(|(_, b)| b).sum();
        shares.push(others as f64 / total.max(1) as f64);
    }
    let secs = (last - start).as_secs_f64();
    terminate(&seeder.0);
    let (_, stopping) = wait_for(&seeder_lines, "stopping:", Instant::now() + Duration::from_secs(30))
        .expect("the seeder's closing summary");
    let seeder_sent = uploaded(&stopping);
    for (child, _) in &leechers {
        terminate(&child.0);
    }
    for d in &dirs[1..] {
        assert!(same_file(original, &d.join("big.bin")), "{} differs", d.display());
    }
    drop(leechers);
    let _ = std::fs::remove_dir_all(&root);
    Outcome { secs, seeder_sent, shares }
}

/// `... received from: 127.0.0.2:5001 1048576 B (8 pieces), ...`
fn received_from(line: &str) -> BTreeMap<SocketAddr, u64> {
    let list = line.split_once("received from: ").map_or("", |(_, l)| l);
    list.split(", ")
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

/// `stopping: 1.0 GiB (1073741824 B) uploaded, ...`
fn uploaded(line: &str) -> u64 {
    let before = line.split(" B) uploaded").next().unwrap_or("");
    before.rsplit('(').next().and_then(|n| n.parse().ok()).expect("an uploaded byte count")
}

/// The same swarm with libtorrent, from its script's `RESULT {json}` line.
fn libtorrent(original: &Path, n: usize, rate: u64) -> Result<Outcome, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench_swarm_libtorrent.py");
    let mut command = Command::new("/usr/bin/python3");
    command.arg(&script);
    // Settings for libtorrent's sessions, `KEY=VALUE` separated by blanks
    // (for example its request queue depth: see the README).
    for set in std::env::var("SWARM_LT_SET").unwrap_or_default().split_whitespace() {
        command.args(["--set", set]);
    }
    let out = command
        .arg("--file")
        .arg(original)
        .args(["--leechers", &n.to_string(), "--rate", &rate.to_string(), "--piece-size", "131072"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let result = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("no RESULT line (exit {}; is python3-libtorrent installed?)", out.status))?;
    let number = |key: &str| -> Result<f64, String> {
        let at = result.find(&format!("\"{key}\"")).ok_or(format!("no {key}"))?;
        let rest = result[at..].split_once(':').ok_or(format!("bad {key}"))?.1.trim_start();
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-')).unwrap_or(rest.len());
        rest[..end].parse().map_err(|_| format!("bad {key}"))
    };
    let shares = result
        .split_once("\"shares\"")
        .and_then(|(_, r)| r.split_once('[')?.1.split_once(']').map(|(list, _)| list.to_owned()))
        .unwrap_or_default();
    Ok(Outcome {
        secs: number("time_s")?,
        seeder_sent: number("seeder_upload_bytes")? as u64,
        shares: shares.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
    })
}
