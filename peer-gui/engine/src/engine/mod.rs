//! The peer engine, usable without any GUI. The facade [`Engine`] takes
//! commands (search, download, pause, resume, cancel, rescan) and hands
//! out owned snapshots (local files, downloads, tracker status).
//!
//! Threads, each owning its part: the server (`server`: listening socket
//! and one thread per connected peer), the tracker client
//! (`tracker_client`: the tracker connection), the scanner (this module:
//! periodic rescans of the shared folder, which hash new files in
//! parallel), one coordinator per download (`download`) and the download
//! pool (`pool`) running the links that move piece bytes.

pub mod download;
pub mod library;
pub mod net;
pub mod pool;
pub mod server;
pub mod settings;
pub mod tracker_client;
pub mod tracker_link;
pub mod wire;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::protocol::{Criterion, FileEntry};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use parking_lot::Mutex;

pub use self::download::{Control, DownloadState, DownloadStatus};
use self::library::Library;
pub use self::settings::Settings;
pub use self::tracker_client::TrackerStatus;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot listen on {addr}: {source} (is another peer using it?)")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot use the shared folder {dir}: {source}")]
    Folder { dir: std::path::PathBuf, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// A local file as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFileInfo {
    pub entry: FileEntry,
    /// Still downloading (only verified pieces are served).
    pub partial: bool,
}

/// Everything the UI draws, owned. The file list is shared and rebuilt
/// only when the folder changes: a frame costs no copy of 10,000 files.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub files: Arc<[LocalFileInfo]>,
    pub downloads: Vec<DownloadStatus>,
    pub tracker: TrackerStatus,
    pub last_results: Vec<FileEntry>,
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
    /// Dropped to stop the tracker client and the scanner: their
    /// receivers see the channel disconnect.
    stop: Option<Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    server: Option<server::Server>,
    pool: Arc<pool::Pool>,
    downloads: Mutex<Vec<DownloadHandle>>,
    next_id: AtomicU64,
    last_results: Mutex<Vec<FileEntry>>,
    notify: Arc<dyn Fn() + Send + Sync>,
    /// The file list of the library version it was built from.
    files_cache: Mutex<(u64, Arc<[LocalFileInfo]>)>,
    rescanning: Arc<std::sync::atomic::AtomicBool>,
}

/// Clears a flag when dropped (also if the thread panics).
struct ResetOnDrop(Arc<std::sync::atomic::AtomicBool>);

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
        let listener = TcpListener::bind(settings.listen)
            .map_err(|source| EngineError::Listen { addr: settings.listen, source })?;
        Self::with_listener(settings, listener, Arc::new(|| {}))
    }

    /// Like [`Engine::start`] with a bound listener (tests bind port 0)
    /// and a callback run after every change (the UI repaints).
    pub fn with_listener(
        mut settings: Settings,
        listener: TcpListener,
        notify: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Self, EngineError> {
        settings.listen =
            listener.local_addr().map_err(|source| EngineError::Listen { addr: settings.listen, source })?;
        let library = Arc::new(
            Library::open(&settings.dir).map_err(|source| EngineError::Folder { dir: settings.dir.clone(), source })?,
        );
        let server = server::Server::start(listener, &settings, library.clone()).map_err(EngineError::Thread)?;
        let (tracker_tx, tracker_rx) = unbounded();
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let tracker_status = Arc::new(Mutex::new(TrackerStatus {
            addr: settings.tracker,
            connected: false,
            last_announce: None,
            last_error: None,
        }));
        let mut threads = vec![
            tracker_client::spawn(
                settings.clone(),
                library.clone(),
                tracker_status.clone(),
                tracker_rx,
                stop_rx.clone(),
                notify.clone(),
            )
            .map_err(EngineError::Thread)?,
        ];
        threads.push(spawn_scanner(&settings, library.clone(), tracker_tx.clone(), stop_rx.clone(), notify.clone())?);
        let pool = Arc::new(
            pool::Pool::new(&format!("peer{}-download", settings.id), settings.download_threads)
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
            last_results: Mutex::new(Vec::new()),
            notify,
            files_cache: Mutex::new((u64::MAX, Arc::from(Vec::new()))),
            rescanning: Arc::default(),
        };
        engine.resume_left_downloads();
        Ok(engine)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Asks the tracker; the results replace the last search's.
    pub fn search(&self, criteria: Vec<Criterion>) -> Result<Vec<FileEntry>, String> {
        let (tx, rx) = bounded(1);
        self.tracker
            .send(tracker_client::Request::Look(criteria, tx))
            .map_err(|_| "the engine is stopping".to_owned())?;
        let results =
            // The tracker thread's own waits (a refused search, then
            // `look []`) come to 13 s at most, behind what is queued.
            rx.recv_timeout(Duration::from_secs(30)).map_err(|_| "the tracker did not answer in time".to_owned())??;
        *self.last_results.lock() = results.clone();
        (self.notify)();
        Ok(results)
    }

    /// Starts downloading `entry` into the shared folder.
    pub fn download(&self, entry: FileEntry) -> Result<u64, EngineError> {
        self.download_with(entry, None)
    }

    fn download_with(&self, entry: FileEntry, mut resume: Option<common::BufferMap>) -> Result<u64, EngineError> {
        if entry.name.as_str().starts_with('.') {
            // Hidden names are not shared, and could collide with our own
            // bookkeeping files (key cache, manifests).
            return Err(EngineError::Refused(format!(
                "{} is a hidden name; such files are not downloaded",
                entry.name
            )));
        }
        if resume.is_none() {
            // A download that stopped (error, earlier run) picks up its pieces.
            let (_, manifest) = download::storage::paths(&self.settings.dir, &entry.name, &entry.key);
            resume = download::storage::read_manifest(&manifest).filter(|(e, _)| *e == entry).map(|(_, map)| map);
        }
        if let Some(have) = self.library.get(&entry.key)
            && have.partial.is_none()
        {
            return Err(EngineError::Refused(format!("you already have this file as {}", have.entry.name)));
        }
        // Checked and inserted under one lock: two clicks at once start
        // one download, never two writing one `.part` file.
        let mut downloads = self.downloads.lock();
        if downloads.iter().any(|d| d.status.lock().entry.key == entry.key && !d.status.lock().state.is_finished()) {
            return Err(EngineError::Refused(format!("{} is already being downloaded", entry.name)));
        }
        let target = self.settings.dir.join(entry.name.as_str());
        if target.exists() {
            return Err(EngineError::Refused(format!(
                "a file named {} already exists in {}; it is never overwritten (rename or move it first)",
                entry.name,
                self.settings.dir.display()
            )));
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
            notify: self.notify.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("peer{}-download-{id}", self.settings.id))
            .spawn(move || download::run(ctx))
            .map_err(EngineError::Thread)?;
        downloads.push(DownloadHandle { status, controls: controls_tx, thread: Some(thread) });
        drop(downloads);
        (self.notify)();
        Ok(id)
    }

    /// The running download of `key`, if any.
    pub fn find_download(&self, key: &common::FileKey) -> Option<u64> {
        let downloads = self.downloads.lock();
        let running =
            downloads.iter().map(|d| d.status.lock().clone()).find(|s| s.entry.key == *key && !s.state.is_finished());
        running.map(|s| s.id)
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
        let (library, threads, tracker, notify) =
            (self.library.clone(), self.settings.hash_threads, self.tracker.clone(), self.notify.clone());
        let running = self.rescanning.clone();
        let _ = std::thread::Builder::new().name("rescan".into()).spawn(move || {
            let _done = ResetOnDrop(running);
            if let Ok(r) = library.rescan(threads)
                && (!r.added.is_empty() || !r.removed.is_empty())
            {
                let _ = tracker.send(tracker_client::Request::UpdateNow);
                notify();
            }
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
            last_results: self.last_results.lock().clone(),
        }
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

/// Rescans the folder every few seconds so new, changed and removed files
/// reach the tracker on the next update.
fn spawn_scanner(
    settings: &Settings,
    library: Arc<Library>,
    tracker: Sender<tracker_client::Request>,
    stop: Receiver<()>,
    notify: Arc<dyn Fn() + Send + Sync>,
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
                match library.rescan(threads) {
                    Ok(r) if !r.added.is_empty() || !r.removed.is_empty() => {
                        log::info!("shared folder changed: {} added, {} removed", r.added.len(), r.removed.len());
                        let _ = tracker.send(tracker_client::Request::UpdateNow);
                        notify();
                    }
                    Ok(_) => {}
                    Err(e) => log::warn!("cannot scan {}: {e}", library.dir().display()),
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
