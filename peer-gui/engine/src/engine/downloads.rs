//! The transfers list: running downloads (each with its coordinator
//! thread) and ended ones (done, failed, cancelled), from this run and,
//! through the history, from earlier runs. The facade's download
//! commands live here: start, control, remove, retry, clear.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use common::FileKey;
use common::protocol::FileEntry;
use crossbeam_channel::{Sender, unbounded};
use parking_lot::Mutex;

use super::download::{self, Control, DownloadError, DownloadState, DownloadStatus};
use super::events::Event;
use super::tracker_client;
use super::{Engine, history};

struct Handle {
    status: Arc<Mutex<DownloadStatus>>,
    /// `None` for a download restored from the history (no thread).
    controls: Option<Sender<Control>>,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    fn id(&self) -> u64 {
        self.status.lock().id
    }

    fn state(&self) -> DownloadState {
        self.status.lock().state.clone()
    }
}

/// The list the snapshot shows, shared with the download threads (an
/// ended download records itself in the history).
pub(super) struct Downloads {
    handles: Mutex<Vec<Handle>>,
    /// Above every id in the list and in the history: ids never repeat
    /// within a run, and never take one a restored entry holds.
    next_id: AtomicU64,
    dir: PathBuf,
    /// Held while the history is formatted and written, so saves do not
    /// interleave and the last one written has the latest list.
    saving: Mutex<()>,
    /// Threads of downloads no longer in the list (removed, or replaced
    /// by a retry), joined when the engine stops.
    retired: Mutex<Vec<JoinHandle<()>>>,
}

impl Downloads {
    /// The list with the ended downloads of earlier runs.
    pub(super) fn open(dir: PathBuf) -> Self {
        let restored = history::load(&dir);
        let next = restored.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let handles = restored
            .into_iter()
            .map(|s| Handle { status: Arc::new(Mutex::new(s)), controls: None, thread: None })
            .collect();
        Self {
            handles: Mutex::new(handles),
            next_id: AtomicU64::new(next),
            dir,
            saving: Mutex::new(()),
            retired: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn statuses(&self) -> Vec<DownloadStatus> {
        self.handles.lock().iter().map(|d| d.status.lock().clone()).collect()
    }

    /// Writes the ended downloads of the list to the history.
    fn save_history(&self) {
        let _saving = self.saving.lock();
        let ended: Vec<DownloadStatus> =
            self.handles.lock().iter().map(|d| d.status.lock().clone()).filter(|s| s.state.is_finished()).collect();
        if let Err(e) = history::save(&self.dir, &ended) {
            log::warn!(
                "cannot save the transfers history in {}: {e}; the list will be incomplete after a restart (check the folder's space and permissions)",
                self.dir.display()
            );
        }
    }

    /// Tells every running download to stop (kept resumable) and joins
    /// every download thread. The list itself stays: a download that
    /// ends meanwhile still records itself in the history.
    pub(super) fn stop_all(&self) {
        let mut threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.retired.lock());
        for d in self.handles.lock().iter_mut() {
            if let Some(c) = &d.controls {
                let _ = c.send(Control::Stop);
            }
            threads.extend(d.thread.take());
        }
        for t in threads {
            let _ = t.join();
        }
    }

    /// Keeps a thread to join at the end; forgets those already ended.
    fn retire(&self, thread: Option<JoinHandle<()>>) {
        let mut retired = self.retired.lock();
        retired.retain(|t| !t.is_finished());
        retired.extend(thread);
    }
}

/// The id of the download of `key` that has not ended, if any.
fn running(handles: &[Handle], key: &FileKey) -> Option<u64> {
    handles.iter().find_map(|d| {
        let s = d.status.lock();
        (s.entry.key == *key && !s.state.is_finished()).then_some(s.id)
    })
}

impl Engine {
    /// Starts downloading `entry` into the shared folder and returns its
    /// id. A failed or cancelled download of the same key in the list is
    /// started again in its place, with its id (see [`Engine::retry`]);
    /// verified pieces a manifest lists are picked up.
    pub fn download(&self, entry: FileEntry) -> Result<u64, DownloadError> {
        self.start_download(entry, None, None)
    }

    /// Starts `entry`; `slot`: the id of the ended download to replace
    /// (else one of the same key that failed or was cancelled, if any).
    fn start_download(
        &self,
        entry: FileEntry,
        mut resume: Option<common::BufferMap>,
        slot: Option<u64>,
    ) -> Result<u64, DownloadError> {
        if entry.name.as_str().starts_with('.') {
            // Hidden names are not shared, and could collide with our own
            // bookkeeping files (key cache, manifests, history).
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
        let _ = self.tracker.send(tracker_client::Request::Wanted(entry.clone()));
        // Checked and inserted under one lock: two clicks at once start
        // one download, never two writing one `.part` file.
        let mut handles = self.downloads.handles.lock();
        if let Some(id) = running(&handles, &entry.key) {
            return Err(DownloadError::AlreadyDownloading { name: entry.name, id });
        }
        if self.settings.dir.join(entry.name.as_str()).exists() {
            return Err(DownloadError::NameExists { name: entry.name, dir: self.settings.dir.clone() });
        }
        let replaced = handles.iter().position(|d| {
            let s = d.status.lock();
            match slot {
                Some(id) => s.id == id && s.state.is_finished(),
                None => {
                    s.entry.key == entry.key && matches!(s.state, DownloadState::Cancelled | DownloadState::Error(_))
                }
            }
        });
        let id = match replaced {
            Some(i) => handles[i].id(),
            None => self.downloads.next_id.fetch_add(1, Ordering::Relaxed),
        };
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
        let (list, ended) = (self.downloads.clone(), status.clone());
        let thread = std::thread::Builder::new()
            .name(format!("peer{}-download-{id}", self.settings.id))
            .spawn(move || {
                download::run(ctx);
                // Paused by a stop, it resumes from its manifest instead.
                if ended.lock().state.is_finished() {
                    list.save_history();
                }
            })
            .map_err(|e| DownloadError::Thread(e.to_string()))?;
        let handle = Handle { status, controls: Some(controls_tx), thread: Some(thread) };
        match replaced {
            Some(i) => {
                let old = std::mem::replace(&mut handles[i], handle);
                drop(handles);
                self.downloads.retire(old.thread);
                // Running again, it is no longer history.
                self.downloads.save_history();
            }
            None => {
                handles.push(handle);
                drop(handles);
            }
        }
        self.events.send(Event::DownloadAdded(id));
        Ok(id)
    }

    /// Starts a failed or cancelled download again, in its place in the
    /// list and with its id (returned), picking up the pieces its manifest
    /// lists (a cancelled one starts afresh: cancelling removed them).
    /// Sends [`Event::DownloadAdded`]. Errors: `UnknownDownload` for an id
    /// not in the list, `NotRetryable` for a download still running or
    /// paused, done, or failed for a lasting reason (a bad name or
    /// layout); the errors of [`Engine::download`] otherwise.
    pub fn retry(&self, id: u64) -> Result<u64, DownloadError> {
        let entry = {
            let handles = self.downloads.handles.lock();
            let d = handles.iter().find(|d| d.id() == id).ok_or(DownloadError::UnknownDownload { id })?;
            let s = d.status.lock();
            if !s.can_retry() {
                return Err(DownloadError::NotRetryable { id, name: s.entry.name.clone() });
            }
            s.entry.clone()
        };
        self.start_download(entry, None, Some(id))
    }

    /// Forgets download `id`: it leaves the list and the history, and
    /// [`Event::DownloadRemoved`] is sent. A running or paused download
    /// is cancelled first, as [`Control::Cancel`] does: its `.part` file
    /// and manifest are deleted; so are those a failed download left (or
    /// the next start would resume what the user removed). A file already
    /// done stays on disk. `UnknownDownload` if it is not in the list.
    pub fn remove(&self, id: u64) -> Result<(), DownloadError> {
        let removed = {
            let mut handles = self.downloads.handles.lock();
            let i = handles.iter().position(|d| d.id() == id).ok_or(DownloadError::UnknownDownload { id })?;
            handles.remove(i)
        };
        let state = removed.state();
        if !state.is_finished()
            && let Some(c) = &removed.controls
        {
            let _ = c.send(Control::Cancel);
        }
        if matches!(state, DownloadState::Error(_)) {
            let entry = removed.status.lock().entry.clone();
            if self.library.get(&entry.key).is_some_and(|f| f.partial.is_some()) {
                self.library.remove(&entry.key);
                self.events.send(Event::FilesChanged);
            }
            let (part, manifest) = download::storage::paths(&self.settings.dir, &entry.name, &entry.key);
            let _ = std::fs::remove_file(part);
            let _ = std::fs::remove_file(manifest);
        }
        self.downloads.retire(removed.thread);
        self.downloads.save_history();
        self.events.send(Event::DownloadRemoved(id));
        Ok(())
    }

    /// Forgets every download that is done (completed), in the list and
    /// in the history, and returns how many; [`Event::DownloadRemoved`]
    /// is sent for each. Failed and cancelled ones stay: they can be
    /// retried, or removed one by one.
    pub fn clear_finished(&self) -> usize {
        let removed: Vec<u64> = {
            let mut handles = self.downloads.handles.lock();
            let (done, kept): (Vec<Handle>, Vec<Handle>) =
                std::mem::take(&mut *handles).into_iter().partition(|d| d.state() == DownloadState::Done);
            *handles = kept;
            done.iter().map(Handle::id).collect()
        };
        if !removed.is_empty() {
            self.downloads.save_history();
            for &id in &removed {
                self.events.send(Event::DownloadRemoved(id));
            }
        }
        removed.len()
    }

    /// The running download of `key`, if any (ended ones, restored from
    /// the history or not, do not count).
    pub fn find_download(&self, key: &FileKey) -> Option<u64> {
        running(&self.downloads.handles.lock(), key)
    }

    /// Pauses, resumes or cancels a running download; nothing for an id
    /// not in the list or a download that ended.
    pub fn control(&self, id: u64, control: Control) {
        if let Some(c) = self.downloads.handles.lock().iter().find(|d| d.id() == id).and_then(|d| d.controls.clone()) {
            let _ = c.send(control);
        }
    }

    /// A download of the list, running or ended (restored ones too).
    pub fn download_status(&self, id: u64) -> Option<DownloadStatus> {
        self.downloads.handles.lock().iter().map(|d| d.status.lock().clone()).find(|s| s.id == id)
    }

    /// Starts again the downloads an earlier run left (their manifests);
    /// one that is in the history as failed keeps its id.
    pub(super) fn resume_left_downloads(&self) {
        for path in download::storage::manifests(&self.settings.dir) {
            match download::storage::read_manifest(&path) {
                Some((entry, verified)) => {
                    log::info!("resuming the download of {}", entry.name);
                    if let Err(e) = self.start_download(entry, Some(verified), None) {
                        log::warn!("cannot resume {}: {e}", path.display());
                    }
                }
                None => log::warn!("{}: unreadable manifest, ignored", path.display()),
            }
        }
    }
}
