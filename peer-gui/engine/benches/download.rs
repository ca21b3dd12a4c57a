//! `make bench-download`: a random file (1 GiB; `BENCH_MIB` to change),
//! 4 seeders and 1 leecher as separate `peer` processes on 127.0.0.11-15
//! with the `tracker` binary; timed from the `download` command to the
//! verified, renamed file. Prints MB/s and the leecher's peak RSS.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Kill, free_port, random_file, same_file, start_tracker, wait_line};

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mib: u64 = std::env::var("BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let peer_bin = PathBuf::from(env!("CARGO_BIN_EXE_peer"));
    let tracker_bin = peer_bin.with_file_name("tracker");
    assert!(tracker_bin.exists(), "build the tracker first (make bench-download does)");
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into())).unwrap();
    let root = dir.path();

    // The file, written once and hard-linked into each seeder's folder.
    let seed_dirs: Vec<PathBuf> = (1..=4).map(|i| root.join(format!("seed{i}"))).collect();
    let leech_dir = root.join("leech");
    for d in seed_dirs.iter().chain([&leech_dir]) {
        std::fs::create_dir_all(d).unwrap();
    }
    let original = seed_dirs[0].join("big.bin");
    random_file(&original, mib);
    for d in &seed_dirs[1..] {
        std::fs::hard_link(&original, d.join("big.bin")).unwrap();
    }

    let (_tracker, port) = start_tracker(&tracker_bin, root);
    let mut config = format!("tracker_ip = 127.0.0.1\ntracker_port = {port}\n");
    for (i, d) in seed_dirs.iter().chain([&leech_dir]).enumerate() {
        let ip = format!("127.0.0.{}", 11 + i);
        config += &format!(
            "peer{n}_ip = {ip}\npeer{n}_port = {}\npeer{n}_directory_path = {}\n",
            free_port(&ip),
            d.display(),
            n = i + 1
        );
    }
    let config_path = root.join("peers.ini");
    std::fs::write(&config_path, config).unwrap();
    let peer = |n: u32| {
        let mut c = Command::new(&peer_bin);
        c.arg("--config").arg(&config_path).args(["--peer", &n.to_string()]);
        c
    };

    let t0 = Instant::now();
    let mut seeders = Vec::new();
    for n in 1..=4 {
        let mut child = peer(n).arg("share").env("RUST_LOG", "info").stderr(Stdio::piped()).spawn().unwrap();
        wait_line(&mut child, "announced 1 file(s)");
        seeders.push(Kill(child));
    }
    println!("{mib} MiB file; 4 seeders up (hashing included) in {:.1} s", t0.elapsed().as_secs_f64());
    let search = peer(5).args(["search", "filename=\"big.bin\""]).output().unwrap();
    let result = String::from_utf8(search.stdout).unwrap();
    let result = result.lines().next().expect("the tracker lists big.bin").to_owned();

    let start = Instant::now();
    let mut leecher = peer(5).args(["download", &result]).stderr(Stdio::null()).spawn().unwrap();
    let pid = leecher.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = leecher.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "the download failed");
    let got = leech_dir.join("big.bin");
    assert_eq!(std::fs::metadata(&got).unwrap().len(), mib << 20);
    assert!(same_file(&original, &got), "the downloaded file differs");
    println!(
        "download: {:.0} MB/s ({} MiB in {:.2} s, 4 seeders -> 1 leecher), leecher peak RSS {:.1} MiB",
        (mib << 20) as f64 / secs / 1e6,
        mib,
        secs,
        peak as f64 / 1024.0
    );
}
