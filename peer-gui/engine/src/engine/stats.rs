//! Transfer statistics in both directions. The threads that move bytes
//! count them on their [`Connection`] (atomics, no lock per piece); a
//! sampler thread reads every counter twice a second and publishes an
//! immutable [`Transfers`] with rates over a sliding window, which the
//! engine's snapshot shares (a frame reads it without copying).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::FileName;
use parking_lot::Mutex;

use super::events::{Event, Events};

/// How often counters are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// Rates are averaged over this window.
const WINDOW: Duration = Duration::from_secs(3);

/// Who opened a connection, which says what flows on it: we fetch from
/// the peers we connect to, and serve those that connect to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// What a connection is doing now, from its rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Downloading,
    Uploading,
    Idle,
}

/// Bytes and pieces of one direction, and the rate over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flow {
    pub bytes: u64,
    pub pieces: u64,
    /// Bytes per second.
    pub rate: f64,
}

/// One connection to another peer, as the snapshot shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub direction: Direction,
    /// The file it last asked about or is fetched for.
    pub file: Option<FileName>,
    pub key: Option<FileKey>,
    pub down: Flow,
    pub up: Flow,
    /// In the distributed mode, a neighbour's link to us: the address it
    /// listens on (searches come this way; files on other connections).
    pub neighbour: Option<SocketAddr>,
}

impl ConnectionInfo {
    pub fn activity(&self) -> Activity {
        if self.down.rate > 0.0 {
            Activity::Downloading
        } else if self.up.rate > 0.0 {
            Activity::Uploading
        } else {
            Activity::Idle
        }
    }
}

/// What this peer uploaded of one of its files since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileUploads {
    pub name: Option<FileName>,
    pub bytes: u64,
    pub pieces: u64,
    /// Bytes sent to each peer (by address: an incoming connection's port
    /// is the peer's ephemeral one).
    pub peers: BTreeMap<IpAddr, u64>,
}

/// Every statistic at one sampling, shared as is by snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transfers {
    pub connections: Vec<ConnectionInfo>,
    /// Since the engine started.
    pub downloaded: u64,
    pub uploaded: u64,
    pub down_rate: f64,
    pub up_rate: f64,
    pub uploads: BTreeMap<FileKey, FileUploads>,
}

impl Transfers {
    /// Connections that fetch `key` for us.
    pub fn sources_of<'a>(&'a self, key: &'a FileKey) -> impl Iterator<Item = &'a ConnectionInfo> + 'a {
        self.connections.iter().filter(move |c| c.direction == Direction::Outgoing && c.key.as_ref() == Some(key))
    }

    pub fn is_moving(&self) -> bool {
        self.down_rate > 0.0 || self.up_rate > 0.0
    }
}

#[derive(Debug, Default)]
struct Counter {
    bytes: AtomicU64,
    pieces: AtomicU64,
}

impl Counter {
    fn add(&self, pieces: u64, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.pieces.fetch_add(pieces, Ordering::Relaxed);
    }

    fn read(&self) -> (u64, u64) {
        (self.bytes.load(Ordering::Relaxed), self.pieces.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Default)]
struct Shared {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Live>>>,
    down: Counter,
    up: Counter,
    uploads: Mutex<BTreeMap<FileKey, FileUploads>>,
}

#[derive(Debug)]
struct Live {
    opened: Instant,
    peer: SocketAddr,
    direction: Direction,
    file: Mutex<Option<(FileKey, FileName)>>,
    neighbour: Mutex<Option<SocketAddr>>,
    down: Counter,
    up: Counter,
}

/// The engine's counters; cheap to clone.
#[derive(Debug, Clone)]
pub struct Stats {
    shared: Arc<Shared>,
    events: Events,
}

/// Piece bytes moved since the engine started, counted to the last byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub downloaded: u64,
    pub uploaded: u64,
}

impl Stats {
    pub fn new(events: Events) -> Self {
        Self { shared: Arc::default(), events }
    }

    /// The counters now, not as last sampled.
    pub fn totals(&self) -> Totals {
        Totals { downloaded: self.shared.down.read().0, uploaded: self.shared.up.read().0 }
    }

    /// Registers a connection until the returned handle is dropped.
    pub fn open(&self, peer: SocketAddr, direction: Direction) -> Connection {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let live = Arc::new(Live {
            opened: Instant::now(),
            peer,
            direction,
            file: Mutex::default(),
            neighbour: Mutex::default(),
            down: Counter::default(),
            up: Counter::default(),
        });
        self.shared.live.lock().insert(id, live.clone());
        self.events.send(Event::PeerConnected { peer, direction });
        Connection { id, live, stats: self.clone() }
    }
}

/// A live connection's counters; deregisters itself when dropped.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    live: Arc<Live>,
    stats: Stats,
}

impl Connection {
    /// The file this connection is about now.
    pub fn set_file(&self, key: &FileKey, name: &FileName) {
        let mut file = self.live.file.lock();
        if file.as_ref().is_none_or(|(k, _)| k != key) {
            *file = Some((key.clone(), name.clone()));
        }
    }

    /// The connection is the link of the neighbour listening at `addr`.
    pub fn set_neighbour(&self, addr: SocketAddr) {
        *self.live.neighbour.lock() = Some(addr);
    }

    /// Piece bytes received (verified or not: they crossed the link).
    pub fn received(&self, pieces: u64, bytes: u64) {
        self.live.down.add(pieces, bytes);
        self.stats.shared.down.add(pieces, bytes);
    }

    /// Piece bytes of `key` sent to this connection's peer.
    pub fn sent(&self, key: &FileKey, name: &FileName, pieces: u64, bytes: u64) {
        self.set_file(key, name);
        self.live.up.add(pieces, bytes);
        self.stats.shared.up.add(pieces, bytes);
        let mut uploads = self.stats.shared.uploads.lock();
        let file = uploads.entry(key.clone()).or_default();
        file.name.get_or_insert_with(|| name.clone());
        file.bytes += bytes;
        file.pieces += pieces;
        *file.peers.entry(self.live.peer.ip()).or_default() += bytes;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stats.shared.live.lock().remove(&self.id);
        self.stats.events.send(Event::PeerDisconnected { peer: self.live.peer, direction: self.live.direction });
    }
}

/// Turns counters into rates: keeps recent samples of each connection.
#[derive(Debug)]
pub struct Sampler {
    /// (when, down bytes, up bytes), oldest first, per connection id;
    /// `u64::MAX` holds the totals.
    history: HashMap<u64, VecDeque<(Instant, u64, u64)>>,
}

const TOTALS: u64 = u64::MAX;

impl Sampler {
    /// Counting from `start`, when the counters were zero.
    pub fn new(start: Instant) -> Self {
        Self { history: HashMap::from([(TOTALS, VecDeque::from([(start, 0, 0)]))]) }
    }

    pub fn sample(&mut self, stats: &Stats, now: Instant) -> Transfers {
        let shared = &stats.shared;
        let live: Vec<(u64, Arc<Live>)> = shared.live.lock().iter().map(|(id, l)| (*id, l.clone())).collect();
        let ids: std::collections::HashSet<u64> = live.iter().map(|(id, _)| *id).collect();
        self.history.retain(|id, _| *id == TOTALS || ids.contains(id));
        let mut connections = Vec::with_capacity(live.len());
        for (id, l) in &live {
            let (down, up) = (l.down.read(), l.up.read());
            // What moved before the first sample counts from the opening.
            self.history.entry(*id).or_insert_with(|| VecDeque::from([(l.opened.min(now), 0, 0)]));
            let (down_rate, up_rate) = self.record(*id, now, down.0, up.0);
            let file = l.file.lock().clone();
            connections.push(ConnectionInfo {
                peer: l.peer,
                direction: l.direction,
                key: file.as_ref().map(|(k, _)| k.clone()),
                file: file.map(|(_, n)| n),
                down: Flow { bytes: down.0, pieces: down.1, rate: down_rate },
                up: Flow { bytes: up.0, pieces: up.1, rate: up_rate },
                neighbour: *l.neighbour.lock(),
            });
        }
        connections.sort_by_key(|c| (c.direction == Direction::Incoming, c.peer));
        let (downloaded, uploaded) = (shared.down.read().0, shared.up.read().0);
        let (down_rate, up_rate) = self.record(TOTALS, now, downloaded, uploaded);
        Transfers { connections, downloaded, uploaded, down_rate, up_rate, uploads: shared.uploads.lock().clone() }
    }

    /// Adds a sample; the rates since the window's oldest sample.
    fn record(&mut self, id: u64, now: Instant, down: u64, up: u64) -> (f64, f64) {
        let h = self.history.entry(id).or_default();
        h.push_back((now, down, up));
        while h.front().is_some_and(|(t, ..)| now.duration_since(*t) > WINDOW) {
            h.pop_front();
        }
        match h.front() {
            Some(&(t0, d0, u0)) if now > t0 => {
                let secs = now.duration_since(t0).as_secs_f64();
                ((down - d0) as f64 / secs, (up - u0) as f64 / secs)
            }
            _ => (0.0, 0.0),
        }
    }
}

/// Bytes as people read them, in binary units: `512 B`, `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_have_rates_too() {
        let stats = Stats::new(Events::default());
        let t0 = Instant::now();
        let mut sampler = Sampler::new(t0);
        sampler.sample(&stats, t0);
        let conn = stats.open("127.0.0.2:4000".parse().unwrap(), Direction::Outgoing);
        conn.received(1, 1000);
        let t = sampler.sample(&stats, t0 + Duration::from_secs(1));
        assert_eq!((t.downloaded, t.down_rate), (1000, 1000.0));
    }

    #[test]
    fn rates_come_from_the_window_and_fall_to_zero() {
        let stats = Stats::new(Events::default());
        let peer: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        let conn = stats.open(peer, Direction::Incoming);
        let key: FileKey = "ab".repeat(16).parse().unwrap();
        let name = FileName::new("a.bin").unwrap();
        let t0 = Instant::now();
        let mut sampler = Sampler::new(t0);
        assert_eq!(sampler.sample(&stats, t0).up_rate, 0.0);
        conn.sent(&key, &name, 2, 2000);
        let t = sampler.sample(&stats, t0 + Duration::from_secs(1));
        assert_eq!((t.up_rate, t.uploaded), (2000.0, 2000));
        // The connection counts from its opening, just before t0.
        assert!((1990.0..=2000.0).contains(&t.connections[0].up.rate), "{}", t.connections[0].up.rate);
        let c = &t.connections[0];
        assert_eq!((c.up.bytes, c.up.pieces, c.activity()), (2000, 2, Activity::Uploading));
        assert_eq!(t.uploads[&key].peers[&peer.ip()], 2000);
        // Nothing more sent: once the window has passed, rates are zero.
        let t = sampler.sample(&stats, t0 + Duration::from_secs(5));
        assert_eq!((t.up_rate, t.connections[0].activity()), (0.0, Activity::Idle));
        drop(conn);
        let t = sampler.sample(&stats, t0 + Duration::from_secs(6));
        assert!(t.connections.is_empty());
        assert_eq!(t.uploads[&key].bytes, 2000, "what a file uploaded outlives the connection");
    }
}
