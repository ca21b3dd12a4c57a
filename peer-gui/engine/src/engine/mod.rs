//! The peer engine, usable without any GUI. The facade [`Engine`] takes
//! commands (search, download, pause, resume, cancel, rescan) and hands
//! out owned snapshots (local files, downloads, tracker status, transfer
//! statistics) and a stream of events saying when they change.
//!
//! Threads, each owning its part: the server (`server`: a readiness
//! thread and a pool of worker threads serving at most 64 peers), the
//! tracker client (`tracker_client`: the tracker connection), the scanner
//! (this module: periodic rescans of the shared folder, which hash new
//! files in parallel), the statistics sampler (`stats`), one coordinator
//! per download (`download`) and the download pool (`pool`) running the
//! links that move piece bytes.

pub mod download;
pub mod events;
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::protocol::{Criterion, FileEntry};
use crossbeam_channel::{Receiver, Sender, bounded, select, tick, unbounded};
use parking_lot::Mutex;

pub use self::download::{Asked, Control, DownloadError, DownloadState, DownloadStatus, Received};
pub use self::events::{Event, Events};
use self::library::Library;
pub use self::library::LibraryError;
pub use self::rate::{RateLimit, RateLimits};
pub use self::settings::Settings;
pub use self::stats::{Activity, ConnectionInfo, Direction, FileUploads, Flow, Transfers};
pub use self::tracker_client::{TrackerError, TrackerStatus};

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
    pub tracker: TrackerStatus,
    pub transfers: Arc<Transfers>,
    /// The rate limits in force, bytes per second (0: none).
    pub limits: LimitsInfo,
}

/// Upload and download limits, bytes per second (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsInfo {
    pub upload: u64,
    pub download: u64,
}

struct DownloadHandle {
    status: Arc<Mutex<DownloadStatus>>,
    controls: Sender<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub struct Engine {
    settings: Settings,
    library: Arc<Library>,
    tracker: Sender<tracker_client::Request>,
    tracker_status: Arc<Mutex<TrackerStatus>>,
    /// Dropped to stop the tracker client, the scanner and the sampler:
    /// their receivers see the channel disconnect.
    stop: Option<Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    server: Option<server::Server>,
    pool: Arc<pool::Pool>,
    downloads: Mutex<Vec<DownloadHandle>>,
    next_id: AtomicU64,
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
        let server = server::Server::start(listener, &settings, library.clone(), stats.clone(), limits.clone())
            .map_err(EngineError::Thread)?;
        let (tracker_tx, tracker_rx) = unbounded();
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let tracker_status = Arc::new(Mutex::new(TrackerStatus {
            addr: settings.tracker,
            connected: false,
            last_announce: None,
            last_error: None,
        }));
        let transfers = Arc::new(Mutex::new(Arc::new(Transfers::default())));
        let threads = vec![
            tracker_client::spawn(
                settings.clone(),
                library.clone(),
                tracker_status.clone(),
                tracker_rx,
                stop_rx.clone(),
                events.clone(),
            )
            .map_err(EngineError::Thread)?,
            spawn_scanner(&settings, library.clone(), tracker_tx.clone(), stop_rx.clone(), events.clone())?,
            spawn_sampler(&settings, stats.clone(), transfers.clone(), stop_rx, events.clone())?,
        ];
        let pool = Arc::new(
            pool::Pool::new(&format!("peer{}-link", settings.id), settings.download_threads)
                .map_err(EngineError::Thread)?,
        );
        let engine = Self {
            settings,
            library,
            tracker: tracker_tx,
            tracker_status,
            stop: Some(stop_tx),
            threads,
            server: Some(server),
            pool,
            downloads: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
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

    /// Asks the tracker which files match `criteria`.
    pub fn search(&self, criteria: Vec<Criterion>) -> Result<Vec<FileEntry>, TrackerError> {
        let (tx, rx) = bounded(1);
        self.tracker.send(tracker_client::Request::Look(criteria, tx)).map_err(|_| TrackerError::Stopping)?;
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

    /// Waits until the tracker connection is up, or its error once
    /// `timeout` passed.
    pub fn wait_for_tracker(&self, timeout: Duration) -> Result<(), TrackerError> {
        let changes = self.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.tracker_status.lock().clone();
            if status.connected {
                return Ok(());
            }
            if changes.recv_deadline(deadline).is_err() {
                return Err(status.last_error.unwrap_or(TrackerError::NoAnswer));
            }
        }
    }

    /// Starts downloading `entry` into the shared folder.
    pub fn download(&self, entry: FileEntry) -> Result<u64, DownloadError> {
        self.download_with(entry, None)
    }

    fn download_with(&self, entry: FileEntry, mut resume: Option<common::BufferMap>) -> Result<u64, DownloadError> {
        if entry.name.as_str().starts_with('.') {
            // Hidden names are not shared, and could collide with our own
            // bookkeeping files (key cache, manifests).
            return Err(DownloadError::HiddenName { name: entry.name });
        }
        if resume.is_none() {
            // A download that stopped (error, earlier run) picks up its pieces.
            let (_, manifest) = download::storage::paths(&self.settings.dir, &entry.name, &entry.key);
            resume = download::storage::read_manifest(&manifest).filter(|(e, _)| *e == entry).map(|(_, map)| map);
        }
        if let Some(have) = self.library.get(&entry.key)
            && have.partial.is_none()
        {
            return Err(DownloadError::AlreadyHave { name: have.entry.name.clone() });
        }
        // Checked and inserted under one lock: two clicks at once start
        // one download, never two writing one `.part` file.
        let mut downloads = self.downloads.lock();
        if let Some(id) = running_download(&downloads, &entry.key) {
            return Err(DownloadError::AlreadyDownloading { name: entry.name, id });
        }
        if self.settings.dir.join(entry.name.as_str()).exists() {
            return Err(DownloadError::NameExists { name: entry.name, dir: self.settings.dir.clone() });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let status = Arc::new(Mutex::new(DownloadStatus::new(id, entry)));
        let (controls_tx, controls_rx) = unbounded();
        let ctx = download::Context {
            settings: self.settings.clone(),
            library: self.library.clone(),
            tracker: self.tracker.clone(),
            pool: self.pool.clone(),
            status: status.clone(),
            controls: controls_rx,
            resume,
            events: self.events.clone(),
            stats: self.stats.clone(),
            limits: self.limits.clone(),
            pause_when_started: std::cell::Cell::new(false),
        };
        let thread = std::thread::Builder::new()
            .name(format!("peer{}-download-{id}", self.settings.id))
            .spawn(move || download::run(ctx))
            .map_err(|e| DownloadError::Thread(e.to_string()))?;
        downloads.push(DownloadHandle { status, controls: controls_tx, thread: Some(thread) });
        drop(downloads);
        self.events.send(Event::DownloadAdded(id));
        Ok(id)
    }

    /// The running download of `key`, if any.
    pub fn find_download(&self, key: &common::FileKey) -> Option<u64> {
        running_download(&self.downloads.lock(), key)
    }

    pub fn control(&self, id: u64, control: Control) {
        if let Some(d) = self.downloads.lock().iter().find(|d| d.status.lock().id == id) {
            let _ = d.controls.send(control);
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
            downloads: self.downloads.lock().iter().map(|d| d.status.lock().clone()).collect(),
            tracker: self.tracker_status.lock().clone(),
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

    pub fn download_status(&self, id: u64) -> Option<DownloadStatus> {
        self.downloads.lock().iter().map(|d| d.status.lock().clone()).find(|s| s.id == id)
    }

    fn resume_left_downloads(&self) {
        for path in download::storage::manifests(&self.settings.dir) {
            match download::storage::read_manifest(&path) {
                Some((entry, verified)) => {
                    log::info!("resuming the download of {}", entry.name);
                    if let Err(e) = self.download_with(entry, Some(verified)) {
                        log::warn!("cannot resume {}: {e}", path.display());
                    }
                }
                None => log::warn!("{}: unreadable manifest, ignored", path.display()),
            }
        }
    }

    /// Stops every thread; downloads in progress stay resumable.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        // Downloads pause and save their manifests before we return, so
        // the next start resumes them.
        let mut downloads = std::mem::take(&mut *self.downloads.lock());
        for d in &downloads {
            let _ = d.controls.send(Control::Stop);
        }
        for d in &mut downloads {
            if let Some(t) = d.thread.take() {
                let _ = t.join();
            }
        }
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

/// The id of the download of `key` that has not finished, if any.
fn running_download(downloads: &[DownloadHandle], key: &common::FileKey) -> Option<u64> {
    downloads.iter().find_map(|d| {
        let s = d.status.lock();
        (s.entry.key == *key && !s.state.is_finished()).then_some(s.id)
    })
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
