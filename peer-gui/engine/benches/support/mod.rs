//! What the benchmarks share: child processes that die with the bench,
//! log lines awaited, free ports, a random file, file comparison.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

/// A child process killed (and reaped) when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the first stderr line of `child` containing `needle`; the
/// rest of its stderr is drained in the background.
pub fn wait_line(child: &mut Child, needle: &str) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let needle = needle.to_owned();
    std::thread::spawn(move || {
        let mut found = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !found && line.contains(&needle) {
                found = true;
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("the process did not start")
}

pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

/// Writes `mib` MiB of seeded random bytes to `path`.
pub fn random_file(path: &Path, mib: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut rng = fastrand::Rng::with_seed(42);
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        rng.fill(&mut block);
        out.write_all(&block).unwrap();
    }
}

pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a).unwrap(), std::fs::File::open(b).unwrap());
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = fa.read(&mut ba).unwrap();
        let nb = fb.read_exact(&mut bb[..na]).map(|()| na).unwrap_or(usize::MAX);
        if na != nb || ba[..na] != bb[..na] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

/// Every stderr line of `child`, with when it arrived.
pub fn watch(child: &mut Child) -> std::sync::mpsc::Receiver<(std::time::Instant, String)> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send((std::time::Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line from `lines` containing `needle`, and when it came.
pub fn wait_for(
    lines: &std::sync::mpsc::Receiver<(std::time::Instant, String)>,
    needle: &str,
    deadline: std::time::Instant,
) -> Option<(std::time::Instant, String)> {
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        let (at, line) = lines.recv_timeout(left).ok()?;
        if line.contains(needle) {
            return Some((at, line));
        }
    }
}

/// Asks a process to stop as SIGTERM does (the `kill` command: the
/// crate has no unsafe code for `libc::kill`).
pub fn terminate(child: &Child) {
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}

/// The `tracker` binary on 127.0.0.1 and a free port, its configuration
/// in `root`: the running process and its port.
pub fn start_tracker(tracker_bin: &Path, root: &Path) -> (Kill, String) {
    std::fs::write(root.join("tracker.ini"), "tracker_ip = 127.0.0.1\ntracker_port = 5000\ntracker_http_port = 0\n")
        .unwrap();
    let mut tracker = std::process::Command::new(tracker_bin)
        .arg("--config")
        .arg(root.join("tracker.ini"))
        .args(["--port", "0"])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = wait_line(&mut tracker, "listening on");
    let port = line.rsplit(':').next().unwrap().split_whitespace().next().unwrap().to_owned();
    (Kill(tracker), port)
}
