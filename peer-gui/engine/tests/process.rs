//! End to end with real processes: the tracker binary and two headless
//! peers on their own loopback addresses. `search` prints the result line,
//! `download` of that line exits 0 and the file matches.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};

const TIMEOUT: Duration = Duration::from_secs(30);

struct Proc {
    /// Taken by `terminate`.
    child: Option<Child>,
    lines: Receiver<String>,
}

impl Proc {
    /// SIGTERM, then its exit status (within the timeout).
    fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        assert!(Command::new("kill").arg(child.id().to_string()).status().unwrap().success());
        let (tx, exited) = bounded(1);
        std::thread::spawn(move || tx.send(child.wait()).unwrap());
        exited.recv_timeout(TIMEOUT).expect("the process did not stop").unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(mut cmd: Command) -> Proc {
    let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let (tx, rx) = bounded(10_000);
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.try_send(line);
        }
    });
    Proc { child: Some(child), lines: rx }
}

/// Waits for a stderr line containing `needle`; returns it.
fn wait_line(p: &Proc, needle: &str) -> String {
    loop {
        let line = p.lines.recv_timeout(TIMEOUT).unwrap_or_else(|_| panic!("no line with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// The tracker binary of this build (another package's binary is not
/// given to tests, so build it; a no-op when up to date).
fn tracker_binary() -> std::path::PathBuf {
    let peer = Path::new(env!("CARGO_BIN_EXE_peer"));
    let profile_dir = peer.parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "-q", "-p", "tracker", "--bin", "tracker"]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(build.status().unwrap().success(), "cannot build the tracker");
    profile_dir.join("tracker")
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

fn peer(config: &Path, n: u32, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peer"));
    cmd.arg("--config").arg(config).args(["--peer", &n.to_string()]).args(args);
    cmd
}

fn run(mut cmd: Command) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(child.wait_with_output()).unwrap());
    rx.recv_timeout(TIMEOUT).expect("the command did not finish").unwrap()
}

/// The tracker binary on 127.0.0.1, an ephemeral port; its process and port.
fn start_tracker(dir: &Path) -> (Proc, u16) {
    let tracker_dir = dir.join("t");
    std::fs::create_dir_all(&tracker_dir).unwrap();
    std::fs::write(
        tracker_dir.join("config.ini"),
        "tracker_ip = 127.0.0.1\ntracker_port = 5000\ntracker_http_port = 0\n",
    )
    .unwrap();
    let tracker = spawn({
        let mut c = Command::new(tracker_binary());
        c.arg("--config").arg(tracker_dir.join("config.ini")).args(["--port", "0"]).env("RUST_LOG", "info");
        c
    });
    let line = wait_line(&tracker, "listening on");
    let port: u16 = line.rsplit_once("listening on ").unwrap().1.split([' ', ':']).nth(1).unwrap().parse().unwrap();
    (tracker, port)
}

/// A peers' file for peers 1..=n on 127.0.0.2X, each with its folder
/// `pX` in `dir`; the file and the folders.
fn peers_config(dir: &Path, tracker_port: u16, n: u32) -> (std::path::PathBuf, Vec<std::path::PathBuf>) {
    let mut text = format!("tracker_ip = 127.0.0.1\ntracker_port = {tracker_port}\n");
    let mut folders = Vec::new();
    for x in 1..=n {
        let (ip, folder) = (format!("127.0.0.2{x}"), dir.join(format!("p{x}")));
        std::fs::create_dir_all(&folder).unwrap();
        text += &format!(
            "peer{x}_ip = {ip}\npeer{x}_port = {}\npeer{x}_directory_path = {}\npeer{x}_interval = 1000\n",
            free_port(&ip),
            folder.display()
        );
        folders.push(folder);
    }
    let config = dir.join("peers.ini");
    std::fs::write(&config, text).unwrap();
    (config, folders)
}

fn movie() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

#[test]
fn tracker_and_two_headless_peers() {
    let dir = tempfile::tempdir().unwrap();
    let (tracker, port) = start_tracker(dir.path());
    let (config, folders) = peers_config(dir.path(), port, 2);
    let (d1, d2) = (folders[0].clone(), folders[1].clone());
    let data = movie();
    std::fs::write(d1.join("movie.bin"), &data).unwrap();

    let mut share = peer(&config, 1, &["share"]);
    share.env("RUST_LOG", "info");
    let seeder = spawn(share);
    // Hashing runs after the first (empty) announce: wait for the file's.
    wait_line(&seeder, "announced 1 file(s)");
    // The tracker saw the seeder's own address.
    wait_line(&tracker, "announce from 127.0.0.21:");

    let key = run(peer(&config, 1, &["hash", d1.join("movie.bin").to_str().unwrap()]));
    let key = String::from_utf8(key.stdout).unwrap();
    // A download of it left by an earlier run: a search must not resume it.
    let left = d2.join(format!(".movie.bin.{}.manifest", &key.trim()[..16]));
    std::fs::write(
        &left,
        format!("eirb2share-manifest 2\nmovie.bin 3000000 4096 {}\n{}\n", key.trim(), "0".repeat(184)),
    )
    .unwrap();
    let mut search = peer(&config, 2, &["search", "filename=\"movie.bin\""]);
    search.env("RUST_LOG", "info");
    let found = run(search);
    assert!(found.status.success(), "{}", String::from_utf8_lossy(&found.stderr));
    assert!(!String::from_utf8_lossy(&found.stderr).contains("resuming"), "a search resumed a download");
    let names: Vec<String> =
        std::fs::read_dir(&d2).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".part") && n != "movie.bin"), "{names:?}");
    let stdout = String::from_utf8(found.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    // 3,000,000 bytes: our rule picks 4 KiB pieces.
    assert_eq!(lines[0], format!("movie.bin 3000000 4096 {}", key.trim()));

    let got = run(peer(&config, 2, &["download", lines[0]]));
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert!(std::fs::read(d2.join("movie.bin")).unwrap() == data, "downloaded file differs");

    // Downloading it again is refused: it exists, it is never overwritten.
    let again = run(peer(&config, 2, &["download", lines[0]]));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"), "{}", String::from_utf8_lossy(&again.stderr));
    // A name that would escape the folder is refused before anything runs.
    let evil = run(peer(&config, 2, &["download", &format!("../evil 1 1 {}", key.trim())]));
    assert!(!evil.status.success());
}

#[test]
fn a_seeding_download_keeps_sharing_until_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, port) = start_tracker(dir.path());
    let (config, folders) = peers_config(dir.path(), port, 3);
    let data = movie();
    std::fs::write(folders[0].join("movie.bin"), &data).unwrap();
    let mut share = peer(&config, 1, &["share"]);
    share.env("RUST_LOG", "info");
    let seeder = spawn(share);
    wait_line(&seeder, "announced 1 file(s)");
    let line = format!(
        "movie.bin 3000000 4096 {}",
        common::hashing::digest_reader(&data[..], common::Layout::new(3_000_000, 4096).unwrap()).unwrap().key
    );
    let leecher = spawn(peer(&config, 2, &["download", "--seed", &line]));
    wait_line(&leecher, "movie.bin complete");
    wait_line(&leecher, "sharing");
    // The first seeder leaves: the third peer gets the file from the second.
    drop(seeder);
    let got = run(peer(&config, 3, &["download", &line]));
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert!(std::fs::read(folders[2].join("movie.bin")).unwrap() == data);
    // SIGTERM ends the seeding cleanly.
    let status = leecher.terminate();
    assert!(status.success(), "{status:?}");
}
