//! The peer engine, usable without any GUI. The facade [`Engine`] takes
//! commands (search, download, pause, resume, cancel, retry, remove,
//! rescan) and hands out owned snapshots (local files, the transfers
//! list, tracker status, transfer statistics) and a stream of events
//! saying when they change. The transfers list (`downloads`) keeps ended
//! downloads across restarts in a history file (`history`).
//!
//! Threads, each owning its part, all named `peer{id}-...` (the app files
//! log records under their peer by that prefix): the server (`server`:
//! `peer{id}-server`, a readiness thread, and `peer{id}-serve-{i}`, the
//! workers serving at most 64 peers), the tracker client
//! (`tracker_client`: `peer{id}-tracker`) or, in the distributed mode,
//! the LAN coordinator and discovery (`lan`: `peer{id}-lan`,
//! `peer{id}-discovery`, `peer{id}-join`, `peer{id}-answer`), the scanner (this module:
//! `peer{id}-scanner`, periodic rescans, and `peer{id}-rescan`, one asked
//! for; both hash new files on `{their name}-hash-{i}`), the statistics
//! sampler (`stats`: `peer{id}-stats`), one coordinator per download
//! (`download`: `peer{id}-download-{n}`, with its writer
//! `peer{id}-writer-{n}`, its piece-list askers `peer{id}-gethashes` and
//! its peer lookups `peer{id}-discover`) and the download pool (`pool`:
//! `peer{id}-link-{i}`) running the links that move piece bytes.

pub mod download;
mod downloads;
pub mod events;
mod history;
pub mod lan;
pub mod library;
pub mod net;
pub mod pool;
pub mod rate;
pub mod server;
pub mod settings;
pub mod stats;
pub mod tracker_client;
pub mod tracker_link;
pub mod wire;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::protocol::{Criterion, FileEntry};
use crossbeam_channel::{Receiver, Sender, bounded, select, tick, unbounded};
use parking_lot::Mutex;

pub use self::download::{Asked, Control, DownloadError, DownloadState, DownloadStatus, Received};
pub use self::events::{Event, Events};
pub use self::lan::{DiscoveryState, How, LanStatus, NeighbourInfo};
use self::library::Library;
pub use self::library::LibraryError;
pub use self::rate::{RateLimit, RateLimits};
pub use self::settings::{Lan, Network, Settings};
pub use self::stats::{Activity, ConnectionInfo, Direction, FileUploads, Flow, Transfers};
pub use self::tracker_client::{SearchResult, TrackerError, TrackerStatus};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot listen on {addr}: {source} (is another peer using it?)")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// What a starting engine does with the downloads an earlier run left
/// in the folder (their manifests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    LeftDownloads,
    Nothing,
}

/// A local file as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFileInfo {
    pub entry: FileEntry,
    /// Still downloading (only verified pieces are served).
    pub partial: bool,
}

/// Everything the UI draws, owned. The file list and the transfer
/// statistics are shared and rebuilt only when they change: a frame
/// costs no copy of 10,000 files.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub files: Arc<[LocalFileInfo]>,
    pub downloads: Vec<DownloadStatus>,
    /// The tracker connection, or the neighbours on the LAN.
    pub network: NetworkStatus,
    pub transfers: Arc<Transfers>,
    /// The rate limits in force, bytes per second (0: none).
    pub limits: LimitsInfo,
}

/// How this peer reaches the others, as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkStatus {
    Tracker(TrackerStatus),
    Lan(LanStatus),
}

impl Snapshot {
    /// The tracker connection, in the centralised mode.
    pub fn tracker(&self) -> Option<&TrackerStatus> {
        match &self.network {
            NetworkStatus::Tracker(t) => Some(t),
            NetworkStatus::Lan(_) => None,
        }
    }

    /// The neighbours, in the distributed mode.
    pub fn lan(&self) -> Option<&LanStatus> {
        match &self.network {
            NetworkStatus::Lan(l) => Some(l),
            NetworkStatus::Tracker(_) => None,
        }
    }
}

/// The live status behind [`NetworkStatus`].
#[derive(Debug, Clone)]
enum SharedStatus {
    Tracker(Arc<Mutex<TrackerStatus>>),
    Lan(Arc<Mutex<LanStatus>>),
}

impl SharedStatus {
    fn get(&self) -> NetworkStatus {
        match self {
            Self::Tracker(t) => NetworkStatus::Tracker(t.lock().clone()),
            Self::Lan(l) => NetworkStatus::Lan(l.lock().clone()),
        }
    }
}

/// Upload and download limits, bytes per second (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsInfo {
    pub upload: u64,
    pub download: u64,
}

pub struct Engine {
    settings: Settings,
    library: Arc<Library>,
    /// The tracker client, or the LAN coordinator: both take the same
    /// requests.
    tracker: Sender<tracker_client::Request>,
    status: SharedStatus,
    /// Dropped to stop the tracker client, the scanner and the sampler:
    /// their receivers see the channel disconnect.
    stop: Option<Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    server: Option<server::Server>,
    pool: Arc<pool::Pool>,
    downloads: Arc<downloads::Downloads>,
    events: Events,
    stats: stats::Stats,
    limits: Arc<RateLimits>,
    transfers: Arc<Mutex<Arc<Transfers>>>,
    /// The file list of the library version it was built from.
    files_cache: Mutex<(u64, Arc<[LocalFileInfo]>)>,
    rescanning: Arc<AtomicBool>,
}

/// Clears a flag when dropped (also if the thread panics).
struct ResetOnDrop(Arc<AtomicBool>);

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Engine {
    /// Starts a peer: binds its address, scans its folder (hashing in the
    /// background), connects to the tracker and resumes downloads left by
    /// an earlier run.
    pub fn start(settings: Settings) -> Result<Self, EngineError> {
        Self::start_with(settings, Resume::LeftDownloads)
    }

    /// Starts a peer, resuming the downloads an earlier run left or not
    /// (a one-off search must not start downloads).
    pub fn start_with(settings: Settings, resume: Resume) -> Result<Self, EngineError> {
        let listener = TcpListener::bind(settings.listen)
            .map_err(|source| EngineError::Listen { addr: settings.listen, source })?;
        Self::open(settings, listener, Events::default(), resume)
    }

    /// Like [`Engine::start`] with a bound listener (tests bind port 0)
    /// and the event hub to report to (subscribe before starting to see
    /// the first events).
    pub fn with_listener(settings: Settings, listener: TcpListener, events: Events) -> Result<Self, EngineError> {
        Self::open(settings, listener, events, Resume::LeftDownloads)
    }

    fn open(
        mut settings: Settings,
        listener: TcpListener,
        events: Events,
        resume: Resume,
    ) -> Result<Self, EngineError> {
        settings.listen =
            listener.local_addr().map_err(|source| EngineError::Listen { addr: settings.listen, source })?;
        let library = Arc::new(Library::open(&settings.dir, settings.piece_size)?);
        let stats = stats::Stats::new(events.clone());
        let limits = RateLimits::new(settings.max_upload_rate, settings.max_download_rate);
        // Bounded: a peer flooding faster than the coordinator works
        // loses its messages, not our memory.
        let (lan_tx, lan_rx) = bounded(lan::QUEUE);
        let lan_inputs = matches!(settings.network, Network::Lan(_)).then(|| lan_tx.clone());
        let server =
            server::Server::start(listener, &settings, library.clone(), stats.clone(), limits.clone(), lan_inputs)
                .map_err(EngineError::Thread)?;
        let (tracker_tx, tracker_rx) = unbounded();
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let transfers = Arc::new(Mutex::new(Arc::new(Transfers::default())));
        let mut threads = Vec::new();
        let status = match &settings.network {
            Network::Tracker(addr) => {
                let status = Arc::new(Mutex::new(TrackerStatus {
                    addr: *addr,
                    connected: false,
                    last_announce: None,
                    last_error: None,
                }));
                threads.push(
                    tracker_client::spawn(
                        settings.clone(),
                        *addr,
                        library.clone(),
                        status.clone(),
                        tracker_rx,
                        stop_rx.clone(),
                        events.clone(),
                    )
                    .map_err(EngineError::Thread)?,
                );
                SharedStatus::Tracker(status)
            }
            Network::Lan(lan) => {
                let status = Arc::new(Mutex::new(LanStatus { neighbours: Vec::new(), discovery: DiscoveryState::Off }));
                threads.extend(
                    lan::spawn(
                        (&settings, lan),
                        library.clone(),
                        (lan_tx, lan_rx),
                        tracker_rx,
                        stop_rx.clone(),
                        status.clone(),
                        events.clone(),
                    )
                    .map_err(EngineError::Thread)?,
                );
                SharedStatus::Lan(status)
            }
        };
        threads.push(spawn_scanner(&settings, library.clone(), tracker_tx.clone(), stop_rx.clone(), events.clone())?);
        threads.push(spawn_sampler(&settings, stats.clone(), transfers.clone(), stop_rx, events.clone())?);
        let pool = Arc::new(
            pool::Pool::new(&format!("peer{}-link", settings.id), settings.download_threads)
                .map_err(EngineError::Thread)?,
        );
        let downloads = Arc::new(downloads::Downloads::open(settings.dir.clone()));
        let engine = Self {
            settings,
            library,
            tracker: tracker_tx,
            status,
            stop: Some(stop_tx),
            threads,
            server: Some(server),
            pool,
            downloads,
            events,
            stats,
            limits,
            transfers,
            files_cache: Mutex::new((u64::MAX, Arc::from(Vec::new()))),
            rescanning: Arc::default(),
        };
        if resume == Resume::LeftDownloads {
            engine.resume_left_downloads();
        }
        Ok(engine)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The upload and download limits in force, shared by every
    /// connection; set them here to change them at run time (the
    /// settings keep the values the peer started with).
    pub fn rate_limits(&self) -> &RateLimits {
        &self.limits
    }

    /// A stream of what happens from now on (see [`Event`]).
    pub fn subscribe(&self) -> Receiver<Event> {
        self.events.subscribe()
    }

    /// Asks the tracker which files match `criteria`, or in the
    /// distributed mode the network (for the collection time: an exact
    /// name is needed).
    pub fn search(&self, criteria: Vec<Criterion>) -> Result<Vec<FileEntry>, TrackerError> {
        self.search_report(criteria).map(|r| r.files)
    }

    /// [`Engine::search`], with where a search of the distributed mode
    /// ran out of hops.
    pub fn search_report(&self, criteria: Vec<Criterion>) -> Result<SearchResult, TrackerError> {
        self.search_hops(criteria, None)
    }

    /// [`Engine::search_report`]; in the distributed mode the search
    /// travels `hops` instead of `look_ttl` (ignored with a tracker).
    pub fn search_hops(&self, criteria: Vec<Criterion>, hops: Option<u8>) -> Result<SearchResult, TrackerError> {
        let (tx, rx) = bounded(1);
        self.tracker.send(tracker_client::Request::Look(criteria, hops, tx)).map_err(|_| TrackerError::Stopping)?;
        // The tracker thread's own waits (a refused search, then
        // `look []`) come to 13 s at most, behind what is queued.
        rx.recv_timeout(Duration::from_secs(30)).map_err(|_| TrackerError::NoAnswer)?
    }

    /// The peers holding `key` (complete or in part) as the tracker lists
    /// them (`getfile`), never this peer, names resolved, sorted: a
    /// search result's availability. Blocks for the tracker's answer (up
    /// to 15 s behind what is queued): call it off the UI thread.
    pub fn holders(&self, key: &common::FileKey) -> Result<Vec<std::net::SocketAddr>, TrackerError> {
        let mut peers = download::find_peers(&self.tracker, self.settings.listen, key)?;
        peers.sort_unstable();
        Ok(peers)
    }

    /// Waits until the tracker connection is up (in the distributed
    /// mode: a neighbour is joined), or its error once `timeout` passed.
    pub fn wait_for_network(&self, timeout: Duration) -> Result<(), TrackerError> {
        let changes = self.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            let why = match self.status.get() {
                NetworkStatus::Tracker(t) if t.connected => return Ok(()),
                NetworkStatus::Tracker(t) => t.last_error.unwrap_or(TrackerError::NoAnswer),
                NetworkStatus::Lan(l) if !l.neighbours.is_empty() => return Ok(()),
                NetworkStatus::Lan(_) => TrackerError::NoNeighbours,
            };
            if changes.recv_deadline(deadline).is_err() {
                return Err(why);
            }
        }
    }

    /// Rescans the shared folder now (in the background); a rescan asked
    /// for while one runs is skipped (the running one sees the folder).
    pub fn rescan(&self) {
        if self.rescanning.swap(true, Ordering::SeqCst) {
            return;
        }
        let (library, threads, tracker, events) =
            (self.library.clone(), self.settings.hash_threads, self.tracker.clone(), self.events.clone());
        let running = self.rescanning.clone();
        let _ = std::thread::Builder::new().name(format!("peer{}-rescan", self.settings.id)).spawn(move || {
            let _done = ResetOnDrop(running);
            scan_once(&library, threads, &tracker, &events);
        });
    }

    pub fn snapshot(&self) -> Snapshot {
        let files = {
            let mut cache = self.files_cache.lock();
            let version = self.library.version();
            if cache.0 != version {
                let list: Vec<LocalFileInfo> = self
                    .library
                    .files()
                    .iter()
                    .map(|f| LocalFileInfo { entry: f.entry.clone(), partial: f.partial.is_some() })
                    .collect();
                *cache = (version, Arc::from(list));
            }
            cache.1.clone()
        };
        Snapshot {
            files,
            downloads: self.downloads.statuses(),
            network: self.status.get(),
            transfers: self.transfers.lock().clone(),
            limits: LimitsInfo { upload: self.limits.upload.rate(), download: self.limits.download.rate() },
        }
    }

    /// The latest transfer statistics (sampled twice a second).
    pub fn transfers(&self) -> Arc<Transfers> {
        self.transfers.lock().clone()
    }

    /// Bytes moved since start, up to now (a closing summary must not
    /// miss what moved since the last sample).
    pub fn totals(&self) -> stats::Totals {
        self.stats.totals()
    }

    /// Stops every thread; downloads in progress stay resumable.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        // Downloads pause and save their manifests before we return, so
        // the next start resumes them.
        self.downloads.stop_all();
        self.stop.take();
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// One rescan; the tracker hears of a change at once.
fn scan_once(library: &Library, threads: usize, tracker: &Sender<tracker_client::Request>, events: &Events) {
    match library.rescan(threads) {
        Ok(r) if !r.added.is_empty() || !r.removed.is_empty() => {
            log::info!("shared folder changed: {} added, {} removed", r.added.len(), r.removed.len());
            let _ = tracker.send(tracker_client::Request::UpdateNow);
            events.send(Event::FilesChanged);
        }
        Ok(_) => {}
        Err(e) => log::warn!("{e}"),
    }
}

/// Rescans the folder every few seconds so new, changed and removed files
/// reach the tracker on the next update.
fn spawn_scanner(
    settings: &Settings,
    library: Arc<Library>,
    tracker: Sender<tracker_client::Request>,
    stop: Receiver<()>,
    events: Events,
) -> Result<std::thread::JoinHandle<()>, EngineError> {
    let threads = settings.hash_threads;
    std::thread::Builder::new()
        .name(format!("peer{}-scanner", settings.id))
        .spawn(move || {
            // The first scan starts at once (new files are hashed here, not
            // on the caller's thread), then every few seconds.
            let mut wait = Duration::ZERO;
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(wait) {
                wait = Duration::from_secs(3);
                scan_once(&library, threads, &tracker, &events);
            }
        })
        .map_err(EngineError::Thread)
}

/// Samples the transfer counters twice a second into the shared
/// [`Transfers`]; tells subscribers while something moves, and once more
/// when it stops.
fn spawn_sampler(
    settings: &Settings,
    stats: stats::Stats,
    out: Arc<Mutex<Arc<Transfers>>>,
    stop: Receiver<()>,
    events: Events,
) -> Result<std::thread::JoinHandle<()>, EngineError> {
    std::thread::Builder::new()
        .name(format!("peer{}-stats", settings.id))
        .spawn(move || {
            let ticker = tick(stats::SAMPLE_EVERY);
            let mut sampler = stats::Sampler::new(Instant::now());
            let mut last = Transfers::default();
            loop {
                select! {
                    recv(stop) -> _ => return,
                    recv(ticker) -> now => {
                        let Ok(now) = now else { return };
                        let fresh = sampler.sample(&stats, now);
                        let changed = fresh != last;
                        last = fresh.clone();
                        *out.lock() = Arc::new(fresh);
                        if changed {
                            events.send(Event::Transfers);
                        }
                    }
                }
            }
        })
        .map_err(EngineError::Thread)
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("settings", &self.settings).finish_non_exhaustive()
    }
}
