//! Helpers for hostile clients: a sharing `peer` process under a lowered
//! file-descriptor limit, what `/proc` says about it, and raw connections
//! that speak the peer protocol by hand.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::protocol::{Limits, PeerMessage};
use common::{FileKey, Layout};
use crossbeam_channel::{Receiver, bounded};
use peer::engine::wire::Wire;

use super::support::TIMEOUT;

/// `peer --peer 1 share` in its own process, killed when dropped.
pub struct SharingProcess {
    child: Child,
    lines: Receiver<String>,
    pub addr: SocketAddr,
    /// Its shared folder, removed with it.
    _dir: tempfile::TempDir,
}

impl SharingProcess {
    /// Shares `name` holding `data`, announced to `tracker`, with at most
    /// `fd_limit` open descriptors. `extra` is added to the configuration
    /// (`key = value` lines).
    pub fn start(tracker: SocketAddr, name: &str, data: &[u8], fd_limit: u32, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join(name), data).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("peers.ini");
        std::fs::write(
            &config,
            format!(
                "tracker_ip = {}\ntracker_port = {}\n{extra}\npeer1_ip = 127.0.0.1\npeer1_port = {port}\n\
                 peer1_directory_path = {}\npeer1_interval = 1000\n",
                tracker.ip(),
                tracker.port(),
                shared.display()
            ),
        )
        .unwrap();
        // The shell lowers the limit and becomes the peer (`exec`), so the
        // child's id is the peer's: no unsafe `pre_exec` needed.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("ulimit -n {fd_limit} && exec \"$0\" \"$@\"")])
            .arg(env!("CARGO_BIN_EXE_peer"))
            .arg("--config")
            .arg(&config)
            .args(["--peer", "1", "share"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = bounded(100_000);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.try_send(line);
            }
        });
        let p = Self { child, lines, addr: SocketAddr::from(([127, 0, 0, 1], port)), _dir: dir };
        p.wait_line("announced 1 file(s)");
        p
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_line(&self, needle: &str) -> String {
        loop {
            let line = self.lines.recv_timeout(TIMEOUT).unwrap_or_else(|_| panic!("no line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SharingProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number field of `/proc/PID/status` (0 once the process is gone).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Samples `measure` until the returned sender is dropped or sent to; the
/// handle gives the largest value seen.
pub fn sample_max(
    mut measure: impl FnMut() -> u64 + Send + 'static,
) -> (crossbeam_channel::Sender<()>, std::thread::JoinHandle<u64>) {
    let (stop, stopped) = bounded::<()>(1);
    let handle = std::thread::spawn(move || {
        let mut most = measure();
        while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_millis(20)) {
            most = most.max(measure());
        }
        most.max(measure())
    });
    (stop, handle)
}

/// Connections opened at once, without waiting for each handshake: a
/// server that stopped accepting cannot slow the burst down.
pub fn burst(addr: SocketAddr, count: usize) -> Vec<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    (0..count)
        .map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            match s.connect(&addr.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => panic!("connect: {e}"),
            }
            s
        })
        .collect()
}

/// A client speaking the peer protocol to one server.
pub struct Client {
    pub wire: Wire,
    key: FileKey,
    layout: Layout,
}

impl Client {
    pub fn connect(addr: SocketAddr, key: &FileKey, layout: Layout) -> Self {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Self { wire: Wire::new(stream, Limits::default()), key: key.clone(), layout }
    }

    /// Asks for `indices`; the reply as (pieces with their bytes) or the
    /// error text.
    pub fn get_pieces(&mut self, indices: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, String> {
        self.wire.send(&PeerMessage::GetPieces { key: self.key.clone(), indices: indices.to_vec() }).unwrap();
        let (key, layout) = (self.key.clone(), self.layout);
        let layouts = move |k: &FileKey| (*k == key).then_some(layout);
        let (reply, used) = self.wire.recv(&layouts).unwrap();
        let out = match reply {
            PeerMessage::Data { pieces, .. } => Ok(pieces.iter().map(|p| (p.index, p.bytes.to_vec())).collect()),
            PeerMessage::Error(text) => Err(text),
            other => panic!("unexpected reply {other:?}"),
        };
        self.wire.consume(used);
        out
    }
}

/// The bytes of piece `index` of `data`.
pub fn piece_of(data: &[u8], layout: Layout, index: u32) -> &[u8] {
    let at = layout.offset(index) as usize;
    &data[at..at + layout.piece_len(index).unwrap() as usize]
}
