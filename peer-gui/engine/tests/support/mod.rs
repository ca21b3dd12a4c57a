//! Test helpers: an in-process tracker, engines on 127.0.0.1:0 in temp
//! folders, and waiting on engine changes (no sleeps).

#![allow(dead_code)]

pub mod course_tracker;
pub mod fake;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::protocol::{Criterion, FileEntry, FileName};
use crossbeam_channel::Receiver;
use peer::engine::{Engine, Event, Events, Settings};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Tracker {
    pub addr: SocketAddr,
    shutdown: tracker::Shutdown,
    handle: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Tracker {
    pub fn start() -> Self {
        Self::with_settings("")
    }

    /// A tracker with extra `tracker_*` lines in its configuration.
    pub fn with_settings(extra: &str) -> Self {
        let _ = env_logger::builder().is_test(true).try_init();
        let text = format!("tracker_ip = 127.0.0.1\ntracker_port = 1\n{extra}");
        let config = common::config::TrackerConfig::parse(Path::new("t.ini"), &text).unwrap();
        let listener = tracker::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = tracker::Shutdown::new();
        let s = shutdown.clone();
        let handle = Some(std::thread::spawn(move || tracker::run(listener, config, s)));
        Self { addr, shutdown, handle }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub fn settings(id: u32, tracker: SocketAddr, dir: &Path) -> Settings {
    Settings {
        id,
        listen: "127.0.0.1:0".parse().unwrap(),
        network: peer::engine::Network::Tracker(tracker),
        update_interval: Duration::from_millis(300),
        dir: dir.to_owned(),
        max_peers: 5,
        max_message: 1 << 20,
        download_threads: 8,
        hash_threads: 2,
        piece_size: common::PieceSize::Auto,
        max_upload_rate: 0,
        max_download_rate: 0,
    }
}

/// An engine and its events, subscribed before it started.
pub struct Peer {
    pub engine: Engine,
    pub changes: Receiver<Event>,
    pub dir: tempfile::TempDir,
}

impl Peer {
    pub fn start(id: u32, tracker: SocketAddr) -> Self {
        Self::in_dir(id, tracker, tempfile::tempdir().unwrap())
    }

    pub fn in_dir(id: u32, tracker: SocketAddr, dir: tempfile::TempDir) -> Self {
        Self::with_settings(settings(id, tracker, dir.path()), dir)
    }

    /// A peer with its own settings (their `dir` is the folder used).
    pub fn with_settings(settings: Settings, dir: tempfile::TempDir) -> Self {
        let events = Events::default();
        let changes = events.subscribe();
        let listener = TcpListener::bind(SocketAddr::new(settings.listen.ip(), 0)).unwrap();
        let engine = Engine::with_listener(settings, listener, events).unwrap();
        Self { engine, changes, dir }
    }

    /// Waits until `check` holds, re-checking on every engine event, and
    /// at least every 250 ms for what no event announces (another peer's
    /// announce reaching the tracker).
    pub fn wait(&self, what: &str, mut check: impl FnMut(&Engine) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !check(&self.engine) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for: {what}");
            let _ = self.changes.recv_timeout(left.min(Duration::from_millis(250)));
        }
    }

    pub fn wait_connected(&self) {
        self.wait("tracker connection", |e| e.snapshot().tracker().unwrap().connected);
    }

    /// Waits until the folder is scanned and the tracker has been told
    /// (hashing runs in the background, after the first announce).
    pub fn wait_sharing(&self) {
        self.wait("the first scan", |e| !e.snapshot().files.is_empty());
        let scanned = std::time::SystemTime::now();
        self.wait("an announce after the scan", |e| {
            e.snapshot().tracker().unwrap().last_announce.is_some_and(|t| t >= scanned)
        });
    }

    /// Searches until the tracker lists `name` (the seeder's announce is
    /// asynchronous), waiting on this engine's changes between tries.
    pub fn find(&self, name: &str) -> FileEntry {
        let criteria = vec![Criterion::Name(FileName::new(name).unwrap())];
        let mut found = None;
        self.wait(&format!("{name} listed by the tracker"), |e| {
            found = e.search(criteria.clone()).ok().and_then(|r| r.into_iter().next());
            found.is_some()
        });
        found.unwrap()
    }

    pub fn download_and_wait(&self, entry: FileEntry) -> peer::engine::DownloadStatus {
        let id = self.engine.download(entry).unwrap();
        let mut last = None;
        self.wait("download finished", |e| {
            last = e.download_status(id);
            last.as_ref().is_some_and(|s| s.state.is_finished())
        });
        last.unwrap()
    }
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// The layout, piece hashes and key our rule gives `data`.
pub fn digest_of(data: &[u8]) -> Arc<common::hashing::FileDigest> {
    let layout = common::Layout::for_length(data.len() as u64).unwrap();
    Arc::new(common::hashing::digest_reader(data, layout).unwrap())
}

/// A peer sharing one file `name` with `data`, announced to the tracker.
pub fn seeder_with(tracker: SocketAddr, id: u32, name: &str, data: &[u8]) -> Peer {
    capped_seeder(tracker, id, name, data, 0)
}

/// The same, sending at most `rate` bytes per second (0: no limit).
pub fn capped_seeder(tracker: SocketAddr, id: u32, name: &str, data: &[u8], rate: u64) -> Peer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), data).unwrap();
    let mut s = settings(id, tracker, dir.path());
    s.max_upload_rate = rate;
    let p = Peer::with_settings(s, dir);
    p.wait_sharing();
    p
}

/// Announces `entry` to the tracker as held at `port` on 127.0.0.1; the
/// tracker lists it while the returned connection stays open.
pub fn announce_at(tracker: SocketAddr, port: u16, entry: &FileEntry) -> TcpStream {
    let mut t = TcpStream::connect(tracker).unwrap();
    writeln!(t, "announce listen {port} seed [{entry}] leech []").unwrap();
    let mut reply = String::new();
    BufReader::new(&t).read_line(&mut reply).unwrap();
    assert_eq!(reply, "ok\n");
    t
}

/// A port nothing listens on: bound to get a free one, then let go.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn entry_of(name: &str, data: &[u8]) -> FileEntry {
    let digest = digest_of(data);
    FileEntry {
        name: FileName::new(name).unwrap(),
        length: data.len() as u64,
        piece_size: u64::from(digest.layout.piece_size()),
        key: digest.key.clone(),
    }
}
