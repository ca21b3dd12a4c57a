//! The real `tracker` binary: start-up, SIGTERM, and bounded memory under
//! hostile input.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};

const TIMEOUT: Duration = Duration::from_secs(10);

struct Running {
    child: Child,
    addr: SocketAddr,
    /// What it logged up to its start-up line.
    startup: Vec<String>,
    _log: Receiver<String>,
}

fn start() -> Running {
    start_with("tracker_http_port = 0\n")
}

/// A configuration on 127.0.0.1 with `extra` lines, in a folder of its
/// own (each test its own file); returns the file.
fn config_with(extra: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tracker-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.ini");
    std::fs::write(&config, format!("tracker_ip = 127.0.0.1\ntracker_port = 5000\n{extra}")).unwrap();
    config
}

/// The tracker with `extra` config lines.
fn start_with(extra: &str) -> Running {
    let config = config_with(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args(["--config", config.to_str().unwrap(), "--port", "0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = bounded(1024);
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.try_send(line);
        }
    });
    let mut startup = Vec::new();
    let addr = loop {
        let line = rx.recv_timeout(TIMEOUT).expect("tracker printed no start-up line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        startup.push(line);
    };
    Running { child, addr, startup, _log: rx }
}

fn ask(stream: &mut TcpStream, line: &[u8]) -> String {
    stream.write_all(line).unwrap();
    let mut reply = String::new();
    BufReader::new(stream.try_clone().unwrap()).read_line(&mut reply).unwrap();
    reply
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

fn wait_exit(mut child: Child) -> std::process::ExitStatus {
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(child.wait()).unwrap());
    rx.recv_timeout(TIMEOUT).expect("the tracker did not exit").unwrap()
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

#[test]
fn sigterm_stops_cleanly_with_exit_code_0() {
    let t = start();
    let mut c = connect(t.addr);
    assert_eq!(ask(&mut c, b"look []\n"), "list []\n");
    signal(&t.child, "TERM");
    let status = wait_exit(t.child);
    assert!(status.success(), "{status:?}");
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0, "closed with nothing half-written");
}

#[test]
fn sigint_stops_cleanly_too() {
    let t = start();
    signal(&t.child, "INT");
    assert!(wait_exit(t.child).success());
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn memory_stays_bounded_under_hostile_input() {
    let t = start();
    let mut conns: Vec<TcpStream> = Vec::new();
    for _ in 0..20 {
        // Each sends 2 MiB without a line end, then garbage.
        let mut c = connect(t.addr);
        c.write_all(&vec![b'z'; 2 << 20]).unwrap();
        c.write_all(&[0xff; 4096]).unwrap();
        conns.push(c);
    }
    let mut probe = connect(t.addr);
    let files: String = (0..10_000).map(|i| format!("f{i:05} {i} 1024 {i:032x} ")).collect();
    assert_eq!(ask(&mut probe, format!("announce listen 9 seed [{files}] leech []\n").as_bytes()), "ok\n");
    assert_eq!(ask(&mut probe, b"look [filename=\"f00001\"]\n"), format!("list [f00001 1 1024 {:032x}]\n", 1));
    let rss = rss_kib(t.child.id());
    assert!(rss < 128 * 1024, "tracker RSS {rss} KiB after 40 MiB of hostile input");
    signal(&t.child, "TERM");
    assert!(wait_exit(t.child).success());
}

#[test]
fn a_status_port_in_use_is_a_logged_error_and_the_protocol_is_served() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let t = start_with(&format!("tracker_http_port = {port}\n"));
    let mut c = connect(t.addr);
    assert_eq!(ask(&mut c, b"look []\n"), "list []\n", "the protocol is served");
    let said = t.startup.iter().find(|l| l.contains("tracker_http_port"));
    assert!(said.is_some_and(|l| l.contains("ERROR")), "the log names the key to change: {:?}", t.startup);
    signal(&t.child, "TERM");
    assert!(wait_exit(t.child).success());
}

/// Under systemd (stderr is the stream `JOURNAL_STREAM` names), lines
/// carry the journal's priority: a tracker that cannot start says why at
/// error priority, so `journalctl -p err` shows it.
#[test]
fn under_the_journal_a_fatal_error_has_error_priority() {
    use std::os::unix::fs::MetadataExt;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = config_with("tracker_http_port = 0\n");
    let dir = config.parent().unwrap();
    let stream = dir.join("journal");
    let file = std::fs::File::create(&stream).unwrap();
    let meta = file.metadata().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tracker"))
        .args(["--config", config.to_str().unwrap(), "--port", &port.to_string()])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    assert_eq!(wait_exit(child).code(), Some(1), "a taken port stops the tracker");
    let said = std::fs::read_to_string(&stream).unwrap();
    let line = said.lines().find(|l| l.contains("cannot listen"));
    assert!(line.is_some_and(|l| l.starts_with("<3>tracker: ")), "{said:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
