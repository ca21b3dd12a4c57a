//! One download: a coordinator thread that owns the scheduler, the
//! progress and the manifest, and links (one per peer, on the download
//! pool) that fetch and verify pieces. Links talk to the coordinator only
//! through events, so no lock is held across network or disk I/O.

pub mod aligned;
pub mod error;
pub mod link;
pub mod progress;
pub mod scheduler;
mod sources;
pub mod storage;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::hashing::{PieceHash, hash_piece};
use common::protocol::FileEntry;
use common::{BufferMap, Layout};
use crossbeam_channel::{Receiver, Sender, bounded, select, tick, unbounded};
use parking_lot::Mutex;

pub use self::error::{Asked, DownloadError};
use self::link::{Event, Failure, Gone, Link};
pub use self::progress::{DownloadState, DownloadStatus, Received, Times};
use self::scheduler::{LinkId, Scheduler};
pub(crate) use self::sources::find_peers;
use self::sources::{check_controls, discover, fetch_hashes, first_peers};
use self::storage::Storage;
use super::events::{self, Events};
use super::library::{Library, LocalFile};
use super::pool::Pool;
use super::rate::RateLimits;
use super::settings::Settings;
use super::stats::Stats;
use super::tracker_client::Request;

/// Commands for a running download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
    /// The engine stops: pause, keep everything for the next run, end.
    Stop,
}

/// Bad pieces (wrong hash, unasked) a peer may send before it is dropped.
const MAX_BAD_PIECES: u32 = 2;
/// Replies holding none of the pieces asked for before a peer is dropped.
const MAX_EMPTY_REPLIES: u32 = 4;

/// A peer's strikes in one download, of each kind apart (PROTOCOL.md
/// section 9): a peer that once had nothing to send and once sent a bad
/// piece is not dropped.
#[derive(Debug, Default, Clone, Copy)]
struct Strikes {
    /// Pieces that failed their hash, or were sent unasked.
    bad: u32,
    /// Replies with none of the pieces asked for.
    empty: u32,
}
/// How often peers are asked for again while links are missing: leechers
/// that start together find each other within this.
const REDISCOVER: Duration = Duration::from_secs(2);

pub struct Context {
    pub settings: Settings,
    pub library: Arc<Library>,
    pub tracker: Sender<Request>,
    pub pool: Arc<Pool>,
    pub status: Arc<Mutex<DownloadStatus>>,
    pub controls: Receiver<Control>,
    /// Pieces verified by an earlier run (from the manifest).
    pub resume: Option<BufferMap>,
    pub events: Events,
    pub stats: Stats,
    /// The download budget, shared with every other download.
    pub limits: Arc<RateLimits>,
    /// A Pause that arrived while the download was starting.
    pub pause_when_started: std::cell::Cell<bool>,
}

/// Runs a download to its end (done, cancelled or failed).
pub fn run(ctx: Context) {
    let outcome = Coordinator::start(&ctx).and_then(|c| c.drive(&ctx));
    let state = match outcome {
        Ok(state) => state,
        Err(DownloadError::Cancelled) => {
            // Cancelled while starting: what an earlier run left goes too.
            let entry = ctx.status.lock().entry.clone();
            if ctx.library.get(&entry.key).is_some_and(|f| f.partial.is_some()) {
                ctx.library.remove(&entry.key);
                ctx.events.send(events::Event::FilesChanged);
            }
            let (part, manifest) = storage::paths(&ctx.settings.dir, &entry.name, &entry.key);
            let _ = std::fs::remove_file(part);
            let _ = std::fs::remove_file(manifest);
            DownloadState::Cancelled
        }
        Err(why) => {
            log::warn!("download of {} failed: {why}", ctx.status.lock().entry.name);
            DownloadState::Error(why)
        }
    };
    ctx.status.lock().peers = 0;
    set_state(&ctx, state);
}

struct LinkState {
    peer: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Dropped with the state: wakes the link from an idle wait.
    _wake: Sender<()>,
    /// The link's socket, shut down to interrupt a blocking read.
    socket: Arc<Mutex<Option<std::net::TcpStream>>>,
}

struct Coordinator {
    entry: FileEntry,
    layout: Layout,
    hashes: Arc<Vec<PieceHash>>,
    storage: Arc<Storage>,
    /// Taken (dropped) at the end so the writer drains and stops.
    writes: Option<Sender<writer::Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
    scheduler: Scheduler,
    shared_map: Arc<Mutex<BufferMap>>,
    events: (Sender<Event>, Receiver<Event>),
    /// Links fetching for us (stopped ones leave at once).
    links: HashMap<LinkId, LinkState>,
    /// Links started and not yet reported `Gone`, stopped ones included:
    /// the storage is ours alone once this is empty.
    running: HashSet<LinkId>,
    /// Links that got as far as the peer's buffermap.
    connected: HashSet<LinkId>,
    /// Every link's peer, kept after the link ends: the writer reports
    /// pieces after the link that fetched them may be gone.
    peer_of: HashMap<LinkId, SocketAddr>,
    strikes: HashMap<SocketAddr, Strikes>,
    banned: HashSet<SocketAddr>,
    next_link: LinkId,
    paused: bool,
}

impl Coordinator {
    fn start(ctx: &Context) -> Result<Self, DownloadError> {
        let entry = ctx.status.lock().entry.clone();
        let layout = Layout::new(entry.length, entry.piece_size)?;
        set_state(ctx, DownloadState::Connecting);
        let peers = first_peers(ctx, &entry.key)?;
        let hashes = fetch_hashes(ctx, &entry, &layout, &peers)?;
        let storage = Storage::open(&ctx.settings.dir, &entry).map_err(|e| disk_error(&ctx.settings, &e))?;
        // Pieces a previous run verified are checked again: the data may
        // not have reached the disk before a crash.
        let mut verified = BufferMap::empty(layout.piece_count());
        if let Some(old) = &ctx.resume {
            let mut buf = Vec::new();
            for (n, i) in old.iter_set().enumerate() {
                if n % 64 == 0 {
                    check_controls(ctx)?;
                }
                if storage.read_piece(&layout, i, &mut buf).is_ok() && hash_piece(&buf) == hashes[i as usize] {
                    verified.set(i);
                }
            }
            log::info!(
                "{}: resuming with {} of {} pieces verified",
                entry.name,
                verified.count(),
                layout.piece_count()
            );
        }
        let storage = Arc::new(storage);
        let shared_map = Arc::new(Mutex::new(verified.clone()));
        let hashes = Arc::new(hashes);
        ctx.library.insert(LocalFile::new(
            entry.clone(),
            layout,
            storage.part.clone(),
            hashes.clone(),
            Some(shared_map.clone()),
        ));
        ctx.events.send(events::Event::FilesChanged);
        let _ = ctx.tracker.send(Request::UpdateNow);
        {
            let mut s = ctx.status.lock();
            s.verified_bytes = verified.iter_set().filter_map(|i| layout.piece_len(i)).map(u64::from).sum();
            s.pieces = Some(verified.clone());
        }
        let events = unbounded();
        let name = format!("peer{}-writer-{}", ctx.settings.id, ctx.status.lock().id);
        let (writes, writer) = writer::spawn(&name, storage.clone(), layout, events.0.clone())
            .map_err(|e| DownloadError::Thread(e.to_string()))?;
        let mut c = Self {
            entry,
            layout,
            hashes,
            storage,
            writes: Some(writes),
            writer: Some(writer),
            scheduler: Scheduler::new(verified),
            shared_map,
            events,
            links: HashMap::new(),
            running: HashSet::new(),
            connected: HashSet::new(),
            peer_of: HashMap::new(),
            strikes: HashMap::new(),
            banned: HashSet::new(),
            next_link: 0,
            paused: false,
        };
        c.connect(ctx, &peers);
        Ok(c)
    }

    fn drive(mut self, ctx: &Context) -> Result<DownloadState, DownloadError> {
        let ticker = tick(Duration::from_millis(250));
        let mut last_discovery = Instant::now();
        // Discovery (tracker round trip, name resolution) runs on a helper
        // thread: this loop keeps answering its links meanwhile.
        let mut discovery: Option<Receiver<sources::Found>> = None;
        let never = crossbeam_channel::never();
        let mut manifest_dirty = false;
        let mut last_manifest = Instant::now() - Duration::from_secs(1);
        let events = self.events.1.clone();
        let mut reported = u64::MAX;
        if ctx.pause_when_started.get() {
            self.pause(ctx);
        }
        loop {
            if self.scheduler.is_complete() {
                return self.finish(ctx);
            }
            select! {
                recv(events) -> e => {
                    let Ok(e) = e else { continue };
                    if self.on_event(ctx, e)? {
                        manifest_dirty = true;
                    }
                }
                recv(ctx.controls) -> c => match c {
                    Ok(Control::Pause) => self.pause(ctx),
                    Ok(Control::Resume) => {
                        self.paused = false;
                        set_state(ctx, DownloadState::Connecting);
                        last_discovery = Instant::now() - REDISCOVER;
                    }
                    Ok(Control::Cancel) => return Ok(self.cancel(ctx)),
                    // The engine is gone or stopping: keep the download.
                    Ok(Control::Stop) | Err(_) => {
                        self.pause(ctx);
                        return Ok(DownloadState::Paused);
                    }
                },
                recv(discovery.as_ref().unwrap_or(&never)) -> found => {
                    discovery = None;
                    match found {
                        Ok(Ok(peers)) if !self.paused => self.connect(ctx, &peers),
                        Ok(Err(e)) => log::info!("{}: {e}", self.entry.name),
                        _ => {}
                    }
                    if self.links.is_empty() && !self.paused {
                        set_state(ctx, DownloadState::Stalled("no peer reachable; still looking".into()));
                    }
                }
                recv(ticker) -> _ => {
                    let verified = {
                        let mut s = ctx.status.lock();
                        s.tick();
                        s.verified_bytes
                    };
                    if manifest_dirty && last_manifest.elapsed() >= Duration::from_secs(1) {
                        self.save_manifest();
                        manifest_dirty = false;
                        last_manifest = Instant::now();
                    }
                    // Leechers keep asking for peers while they have fewer
                    // than they may use: peers that started at the same
                    // time find each other.
                    if !self.paused
                        && discovery.is_none()
                        && self.links.len() < ctx.settings.max_peers
                        && last_discovery.elapsed() >= REDISCOVER
                    {
                        last_discovery = Instant::now();
                        discovery = Some(discover(
                            ctx.settings.id,
                            ctx.tracker.clone(),
                            ctx.settings.listen,
                            self.entry.key.clone(),
                        ));
                    }
                    // At most four progress events a second, only when it moved.
                    if verified != reported {
                        reported = verified;
                        let id = ctx.status.lock().id;
                        ctx.events.send(events::Event::DownloadProgress { id, verified_bytes: verified });
                    }
                }
            }
        }
    }

    /// Returns true when a piece was newly verified.
    fn on_event(&mut self, ctx: &Context, event: Event) -> Result<bool, DownloadError> {
        match event {
            // A stopped link's last map must not count again.
            Event::Map(link, _) if !self.links.contains_key(&link) => {}
            Event::Map(link, map) => {
                self.scheduler.set_map(link, map);
                if self.connected.insert(link) {
                    ctx.status.lock().peers = self.connected.len();
                }
            }
            Event::Need(link, reply) => {
                let want = if self.paused || !self.links.contains_key(&link) {
                    Vec::new()
                } else {
                    // No more than a fair share per request, so the first
                    // peer to answer cannot take the whole file.
                    let fair = (self.layout.piece_count() as usize).div_ceil(2 * ctx.settings.max_peers).max(1);
                    let per_request = ctx.settings.pieces_per_request(self.layout.piece_size()).min(fair);
                    self.scheduler.assign(link, per_request)
                };
                let _ = reply.send(want);
            }
            Event::Verified(link, index) => {
                if self.count_verified(ctx, link, index) {
                    let start = !matches!(ctx.status.lock().state, DownloadState::Downloading) && !self.paused;
                    if start {
                        set_state(ctx, DownloadState::Downloading);
                    }
                    return Ok(true);
                }
            }
            Event::Failed(link, index, failure) => {
                self.scheduler.on_failed(link, index);
                let peer = self.peer_of.get(&link).copied();
                match failure {
                    Failure::Disk(e) => {
                        self.pause(ctx);
                        return Err(disk_error(&ctx.settings, &e));
                    }
                    // A banned peer's last pieces in flight count no more.
                    _ if peer.is_some_and(|p| self.banned.contains(&p)) => {}
                    Failure::BadHash | Failure::Unasked => {
                        if let Some(peer) = peer {
                            let strikes = self.strikes.entry(peer).or_default();
                            strikes.bad += 1;
                            log::warn!("{}: {peer} sent a bad piece {index} ({failure:?})", self.entry.name);
                            if strikes.bad >= MAX_BAD_PIECES {
                                log::warn!("{}: dropping {peer}: too many bad pieces", self.entry.name);
                                self.ban(ctx, link, peer);
                            }
                        }
                    }
                    Failure::NotSent => {}
                    Failure::EmptyReply => {
                        if let Some(peer) = peer {
                            let strikes = self.strikes.entry(peer).or_default();
                            strikes.empty += 1;
                            if strikes.empty >= MAX_EMPTY_REPLIES {
                                log::warn!(
                                    "{}: dropping {peer}: it does not send what its buffermap claims",
                                    self.entry.name
                                );
                                self.ban(ctx, link, peer);
                            }
                        }
                    }
                }
            }
            Event::Gone(link, why) => {
                let peer = self.peer_of.get(&link).copied();
                if self.forget_link(ctx, link)
                    && let Some(peer) = peer
                {
                    match &why {
                        // Reconnecting would only bring the same bytes.
                        Gone::Violation(e) if !self.banned.contains(&peer) => {
                            log::warn!("{}: dropping {peer}: it broke the protocol ({e})", self.entry.name);
                            self.ban(ctx, link, peer);
                        }
                        _ => log::debug!("{}: link to {peer} ended: {why:?}", self.entry.name),
                    }
                }
                if self.links.is_empty() && !self.paused {
                    set_state(ctx, DownloadState::Stalled("no peer is sending; looking for others".into()));
                }
            }
        }
        Ok(false)
    }

    fn record_verified(&mut self, index: u32) -> bool {
        let new = self.scheduler.on_verified(index);
        if new {
            self.shared_map.lock().set(index);
        }
        new
    }

    /// A piece on disk: recorded, and counted for its source. True if new.
    fn count_verified(&mut self, ctx: &Context, link: LinkId, index: u32) -> bool {
        let new = self.record_verified(index);
        if new {
            let len = u64::from(self.layout.piece_len(index).unwrap_or(0));
            let mut s = ctx.status.lock();
            s.add_verified(len, self.peer_of.get(&link).copied());
            if let Some(pieces) = &mut s.pieces {
                pieces.set(index);
            }
        }
        new
    }

    /// A link ended: its place, its requests and its map go. True if it
    /// was still one of ours (not stopped before).
    fn forget_link(&mut self, ctx: &Context, link: LinkId) -> bool {
        self.running.remove(&link);
        self.scheduler.drop_link(link);
        let ours = self.links.remove(&link).is_some();
        if self.connected.remove(&link) {
            ctx.status.lock().peers = self.connected.len();
        }
        ours
    }

    fn connect(&mut self, ctx: &Context, peers: &[SocketAddr]) {
        for &peer in peers {
            if self.links.len() >= ctx.settings.max_peers {
                break;
            }
            if self.banned.contains(&peer) || self.links.values().any(|l| l.peer == peer) {
                continue;
            }
            let Some(writes) = self.writes.clone() else { return };
            let id = self.next_link;
            self.next_link += 1;
            let stop = Arc::new(AtomicBool::new(false));
            let socket = Arc::new(Mutex::new(None));
            let (wake_tx, wake) = bounded(0);
            let link = Link {
                id,
                peer,
                source: ctx.settings.listen.ip(),
                entry: self.entry.clone(),
                layout: self.layout,
                hashes: self.hashes.clone(),
                ours: self.shared_map.clone(),
                writes,
                stats: ctx.stats.clone(),
                limits: ctx.settings.limits(),
                rates: ctx.limits.clone(),
                events: self.events.0.clone(),
                stop: stop.clone(),
                socket: socket.clone(),
                wake,
            };
            self.links.insert(id, LinkState { peer, stop, _wake: wake_tx, socket });
            self.running.insert(id);
            self.peer_of.insert(id, peer);
            ctx.pool.execute(move || link.run());
        }
    }

    fn ban(&mut self, ctx: &Context, link: LinkId, peer: SocketAddr) {
        self.banned.insert(peer);
        self.stop_link(link);
        ctx.status.lock().dropped.push(peer);
    }

    fn stop_link(&mut self, link: LinkId) {
        if let Some(l) = self.links.remove(&link) {
            l.stop.store(true, Ordering::SeqCst);
            match l.socket.lock().as_ref() {
                Some(s) => drop(s.shutdown(std::net::Shutdown::Both)),
                // Not connected yet (maybe still waiting for a pool
                // thread): it holds no piece and sees the flag first.
                None => drop(self.running.remove(&link)),
            }
        }
        self.scheduler.drop_link(link);
    }

    /// Stops every link and waits until each has ended (bounded by the
    /// stall timeout), taking what they finish meanwhile. False if a
    /// link did not end in time.
    fn stop_links_and_wait(&mut self, ctx: &Context) -> bool {
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in ids {
            self.stop_link(id);
        }
        let deadline = Instant::now() + link::STALL;
        while !self.running.is_empty() {
            match self.events.1.recv_deadline(deadline) {
                Ok(e) => self.settle(ctx, e),
                Err(_) => return false,
            }
        }
        true
    }

    /// An event while stopping: keep verified pieces, ask for nothing.
    fn settle(&mut self, ctx: &Context, event: Event) {
        match event {
            Event::Verified(link, index) => {
                self.count_verified(ctx, link, index);
            }
            Event::Need(_, reply) => drop(reply.send(Vec::new())),
            Event::Gone(link, _) => {
                self.forget_link(ctx, link);
            }
            Event::Map(..) | Event::Failed(..) => {}
        }
    }

    /// Waits until the writer has reported every piece queued so far, so
    /// the manifest saved next lists every piece on disk.
    fn flush_writer(&mut self, ctx: &Context) {
        let Some(writes) = &self.writes else { return };
        let (tx, done) = bounded(1);
        if writes.send(writer::Job::Flush(tx)).is_err() {
            return;
        }
        let deadline = crossbeam_channel::at(Instant::now() + link::STALL);
        let events = self.events.1.clone();
        loop {
            select! {
                recv(done) -> _ => break,
                recv(events) -> e => match e {
                    Ok(e) => self.settle(ctx, e),
                    Err(_) => break,
                },
                recv(deadline) -> _ => break,
            }
        }
        // The writer reported those pieces before answering the flush.
        while let Ok(e) = self.events.1.try_recv() {
            self.settle(ctx, e);
        }
    }

    fn pause(&mut self, ctx: &Context) {
        self.paused = true;
        self.stop_links_and_wait(ctx);
        self.flush_writer(ctx);
        self.save_manifest();
        set_state(ctx, DownloadState::Paused);
    }

    fn cancel(mut self, ctx: &Context) -> DownloadState {
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in ids {
            self.stop_link(id);
        }
        ctx.library.remove(&self.entry.key);
        ctx.events.send(events::Event::FilesChanged);
        let _ = ctx.tracker.send(Request::UpdateNow);
        // Links still running hold the storage; removing the files by
        // path is safe, their writes go to the unlinked inode.
        let (part, manifest) = (self.storage.part.clone(), self.storage.manifest.clone());
        let _ = std::fs::remove_file(part);
        let _ = std::fs::remove_file(manifest);
        DownloadState::Cancelled
    }

    fn save_manifest(&self) {
        if let Err(e) = self.storage.save_manifest(&self.entry, self.scheduler.verified()) {
            log::warn!("{}: cannot save the manifest: {e}", self.entry.name);
        }
    }

    fn finish(mut self, ctx: &Context) -> Result<DownloadState, DownloadError> {
        // Every piece is verified: links have nothing left to send.
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in ids {
            self.stop_link(id);
        }
        // The writer writes what it was given, then ends and lets go of
        // the storage, whatever links still hold a sender.
        if let Some(writes) = self.writes.take() {
            let _ = writes.send(writer::Job::Close);
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        while let Ok(e) = self.events.1.try_recv() {
            self.settle(ctx, e);
        }
        self.save_manifest();
        let storage = Arc::try_unwrap(self.storage).map_err(|_| DownloadError::LinkStuck)?;
        let part = storage.part.clone();
        let target = storage.finish().map_err(|e| disk_error(&ctx.settings, &e))?;
        ctx.library.adopt(LocalFile::new(self.entry.clone(), self.layout, target.clone(), self.hashes.clone(), None));
        ctx.events.send(events::Event::FilesChanged);
        let _ = ctx.tracker.send(Request::UpdateNow);
        log::info!("{}: complete, saved as {} (from {})", self.entry.name, target.display(), part.display());
        ctx.status.lock().path = Some(target);
        Ok(DownloadState::Done)
    }
}

fn set_state(ctx: &Context, state: DownloadState) {
    let id = {
        let mut s = ctx.status.lock();
        if s.state == state {
            return;
        }
        s.set_state(state.clone());
        s.id
    };
    ctx.events.send(events::Event::DownloadState { id, state });
}

fn disk_error(settings: &Settings, e: &std::io::Error) -> DownloadError {
    DownloadError::disk(settings.dir.clone(), e)
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
