//! One download: a coordinator thread that owns the scheduler, the
//! progress and the manifest, and links (one per peer, on the download
//! pool) that fetch and verify pieces. Links talk to the coordinator only
//! through events, so no lock is held across network or disk I/O.

pub mod aligned;
pub mod link;
pub mod progress;
pub mod scheduler;
pub mod storage;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::hashing::{PieceHash, hash_piece, hashes_match};
use common::protocol::{FileEntry, PeerAddr, PeerMessage};
use common::{BufferMap, FileKey, Layout};
use crossbeam_channel::{Receiver, Sender, bounded, select, tick, unbounded};
use parking_lot::Mutex;

use self::link::{Event, Failure, Link};
pub use self::progress::{DownloadState, DownloadStatus};
use self::scheduler::{LinkId, Scheduler};
use self::storage::Storage;
use super::library::{Library, LocalFile};
use super::net::connect_from;
use super::pool::Pool;
use super::settings::Settings;
use super::tracker_client::Request;
use super::wire::Wire;

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
/// How often peers are asked for again while links are missing.
const REDISCOVER: Duration = Duration::from_secs(5);

pub struct Context {
    pub settings: Settings,
    pub library: Arc<Library>,
    pub tracker: Sender<Request>,
    pub pool: Arc<Pool>,
    pub status: Arc<Mutex<DownloadStatus>>,
    pub controls: Receiver<Control>,
    /// Pieces verified by an earlier run (from the manifest).
    pub resume: Option<BufferMap>,
    /// Called after every status change (the UI repaints).
    pub notify: Arc<dyn Fn() + Send + Sync>,
}

/// Runs a download to its end (done, cancelled or failed).
pub fn run(ctx: Context) {
    let outcome = Coordinator::start(&ctx).and_then(|c| c.drive(&ctx));
    let mut status = ctx.status.lock();
    match outcome {
        Ok(state) => status.state = state,
        Err(why) => {
            log::warn!("download of {} failed: {why}", status.entry.name);
            status.state = DownloadState::Error(why);
        }
    }
    status.peers = 0;
    drop(status);
    (ctx.notify)();
}

struct LinkState {
    peer: SocketAddr,
    stop: Arc<AtomicBool>,
    /// The link's socket, shut down to interrupt a blocking read.
    socket: Arc<Mutex<Option<std::net::TcpStream>>>,
}

struct Coordinator {
    entry: FileEntry,
    layout: Layout,
    hashes: Arc<Vec<PieceHash>>,
    storage: Arc<Storage>,
    /// Taken (dropped) at the end so the writer drains and stops.
    writes: Option<Sender<writer::Write>>,
    /// Pieces the writer has taken but not yet reported.
    writing: Arc<std::sync::atomic::AtomicUsize>,
    scheduler: Scheduler,
    shared_map: Arc<Mutex<BufferMap>>,
    events: (Sender<Event>, Receiver<Event>),
    links: HashMap<LinkId, LinkState>,
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
    fn start(ctx: &Context) -> Result<Self, String> {
        let entry = ctx.status.lock().entry.clone();
        let layout =
            Layout::new(entry.length, entry.piece_size).map_err(|e| format!("cannot download this file: {e}"))?;
        set_state(ctx, DownloadState::Connecting);
        let peers = first_peers(ctx, &entry.key)?;
        let hashes = fetch_hashes(ctx, &entry, &layout, &peers)?;
        let storage = Storage::open(&ctx.settings.dir, &entry).map_err(|e| disk_error(&ctx.settings, e))?;
        // Pieces a previous run verified are checked again: the data may
        // not have reached the disk before a crash.
        let mut verified = BufferMap::empty(layout.piece_count());
        if let Some(old) = &ctx.resume {
            let mut buf = Vec::new();
            for (n, i) in old.iter_set().enumerate() {
                if n % 64 == 0 && stopping(ctx) {
                    return Err("stopped while checking the pieces already on disk".into());
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
        let _ = ctx.tracker.send(Request::UpdateNow);
        {
            let mut s = ctx.status.lock();
            s.verified_bytes = verified.iter_set().filter_map(|i| layout.piece_len(i)).map(u64::from).sum();
        }
        let events = unbounded();
        let writing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writes = writer::spawn(storage.clone(), layout, events.0.clone(), writing.clone())
            .map_err(|e| format!("cannot start the writer: {e}"))?;
        let mut c = Self {
            entry,
            layout,
            hashes,
            storage,
            writes: Some(writes),
            writing,
            scheduler: Scheduler::new(verified),
            shared_map,
            events,
            links: HashMap::new(),
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

    fn drive(mut self, ctx: &Context) -> Result<DownloadState, String> {
        let ticker = tick(Duration::from_millis(250));
        let mut last_discovery = Instant::now();
        // Discovery (tracker round trip, name resolution) runs on a helper
        // thread: this loop keeps answering its links meanwhile.
        let mut discovery: Option<Receiver<Result<Vec<SocketAddr>, String>>> = None;
        let never = crossbeam_channel::never();
        let mut manifest_dirty = false;
        let mut last_manifest = Instant::now() - Duration::from_secs(1);
        let events = self.events.1.clone();
        let mut last_notified: Option<(u64, DownloadState, usize)> = None;
        let mut moving = false;
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
                    let seen = {
                        let mut s = ctx.status.lock();
                        s.tick();
                        (s.verified_bytes, s.state.clone(), s.peers)
                    };
                    if manifest_dirty && last_manifest.elapsed() >= Duration::from_secs(1) {
                        self.save_manifest();
                        manifest_dirty = false;
                        last_manifest = Instant::now();
                    }
                    if !self.paused
                        && discovery.is_none()
                        && self.links.len() < ctx.settings.max_peers
                        && last_discovery.elapsed() >= REDISCOVER
                    {
                        last_discovery = Instant::now();
                        discovery = Some(discover(ctx.tracker.clone(), ctx.settings.listen, self.entry.key.clone()));
                    }
                    // Repaint only while something moves (the speed shown
                    // decays to 0 with one more repaint after it stops).
                    if last_notified.as_ref() != Some(&seen) || moving {
                        moving = last_notified.as_ref().is_some_and(|l| l.0 != seen.0);
                        last_notified = Some(seen);
                        (ctx.notify)();
                    }
                }
            }
        }
    }

    /// Returns true when a piece was newly verified.
    fn on_event(&mut self, ctx: &Context, event: Event) -> Result<bool, String> {
        match event {
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
                if self.scheduler.on_verified(index) {
                    self.shared_map.lock().set(index);
                    let len = u64::from(self.layout.piece_len(index).unwrap_or(0));
                    let mut s = ctx.status.lock();
                    s.add_verified(len, self.peer_of.get(&link).copied());
                    if !matches!(s.state, DownloadState::Downloading) && !self.paused {
                        s.state = DownloadState::Downloading;
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
                        self.save_manifest();
                        return Err(disk_error(&ctx.settings, e));
                    }
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
                self.scheduler.drop_link(link);
                if let Some(l) = self.links.remove(&link) {
                    log::debug!("{}: link to {} ended: {why}", self.entry.name, l.peer);
                }
                self.connected.remove(&link);
                ctx.status.lock().peers = self.connected.len();
            }
        }
        Ok(false)
    }

    fn connect(&mut self, ctx: &Context, peers: &[SocketAddr]) {
        for &peer in peers {
            if self.links.len() >= ctx.settings.max_peers {
                break;
            }
            if self.banned.contains(&peer) || self.links.values().any(|l| l.peer == peer) {
                continue;
            }
            let id = self.next_link;
            self.next_link += 1;
            let stop = Arc::new(AtomicBool::new(false));
            let socket = Arc::new(Mutex::new(None));
            let link = Link {
                id,
                peer,
                source: ctx.settings.listen.ip(),
                entry: self.entry.clone(),
                layout: self.layout,
                hashes: self.hashes.clone(),
                ours: self.shared_map.clone(),
                writes: match &self.writes {
                    Some(w) => w.clone(),
                    None => return,
                },
                limits: ctx.settings.limits(),
                events: self.events.0.clone(),
                stop: stop.clone(),
                socket: socket.clone(),
            };
            self.links.insert(id, LinkState { peer, stop, socket });
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
            if let Some(s) = l.socket.lock().as_ref() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        self.scheduler.drop_link(link);
    }

    fn stop_all(&mut self) {
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in ids {
            self.stop_link(id);
        }
    }

    fn pause(&mut self, ctx: &Context) {
        self.paused = true;
        self.stop_all();
        self.drain_writes();
        self.save_manifest();
        set_state(ctx, DownloadState::Paused);
    }

    fn cancel(mut self, ctx: &Context) -> DownloadState {
        self.stop_all();
        ctx.library.remove(&self.entry.key);
        let _ = ctx.tracker.send(Request::UpdateNow);
        // Links still running hold the storage; removing the files by
        // path is safe, their writes go to the unlinked inode.
        let (part, manifest) = (self.storage.part.clone(), self.storage.manifest.clone());
        let _ = std::fs::remove_file(part);
        let _ = std::fs::remove_file(manifest);
        DownloadState::Cancelled
    }

    /// Lets the writer finish what links handed it, so the manifest saved
    /// next lists every piece on disk (bounded by the stall timeout).
    fn drain_writes(&mut self) {
        let deadline = Instant::now() + link::STALL;
        while self.writer_busy() || !self.events.1.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.events.1.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(Event::Verified(_, index)) => {
                    if self.scheduler.on_verified(index) {
                        self.shared_map.lock().set(index);
                    }
                }
                Ok(Event::Need(_, reply)) => drop(reply.send(Vec::new())),
                Ok(Event::Gone(link, _)) => {
                    self.links.remove(&link);
                }
                Ok(_) | Err(_) => {}
            }
        }
    }

    fn writer_busy(&self) -> bool {
        self.writes.as_ref().is_some_and(|w| !w.is_empty()) || self.writing.load(Ordering::SeqCst) > 0
    }

    fn save_manifest(&self) {
        if let Err(e) = self.storage.save_manifest(&self.entry, self.scheduler.verified()) {
            log::warn!("{}: cannot save the manifest: {e}", self.entry.name);
        }
    }

    fn finish(mut self, ctx: &Context) -> Result<DownloadState, String> {
        self.stop_all();
        self.writes.take();
        // Wait for the links to let go of the storage (bounded by STALL).
        let deadline = Instant::now() + link::STALL + Duration::from_secs(2);
        while Arc::strong_count(&self.storage) > 1 && Instant::now() < deadline {
            if let Ok(Event::Need(_, reply)) = self.events.1.recv_timeout(Duration::from_millis(100)) {
                let _ = reply.send(Vec::new());
            }
        }
        self.save_manifest();
        let storage = Arc::try_unwrap(self.storage)
            .map_err(|_| "a link did not stop; the download stays resumable".to_owned())?;
        let part = storage.part.clone();
        let target = storage.finish().map_err(|e| format!("cannot finish {}: {e}", part.display()))?;
        ctx.library.adopt(LocalFile::new(self.entry.clone(), self.layout, target.clone(), self.hashes.clone(), None));
        let _ = ctx.tracker.send(Request::UpdateNow);
        log::info!("{}: complete, saved as {}", self.entry.name, target.display());
        ctx.status.lock().path = Some(target);
        Ok(DownloadState::Done)
    }
}

fn set_state(ctx: &Context, state: DownloadState) {
    ctx.status.lock().state = state;
    (ctx.notify)();
}

fn disk_error(settings: &Settings, e: std::io::Error) -> String {
    if e.raw_os_error() == Some(28) {
        format!("disk full: free some space in {} and resume; verified pieces are kept", settings.dir.display())
    } else {
        format!("cannot write in {}: {e}", settings.dir.display())
    }
}

/// The first peers of a download: retried for a while, since the tracker
/// connection may still be coming up (a resumed download starts with the
/// engine) and a seeder may be announcing.
fn first_peers(ctx: &Context, key: &FileKey) -> Result<Vec<SocketAddr>, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut wait = Duration::from_millis(100);
    loop {
        let found = find_peers(ctx, key);
        match &found {
            Ok(peers) if !peers.is_empty() => return found,
            _ if Instant::now() >= deadline => {
                return match found {
                    Ok(_) => Err("no peer has this file right now; try again later".into()),
                    Err(e) => Err(e),
                };
            }
            _ => {}
        }
        match ctx.controls.recv_timeout(wait) {
            Ok(Control::Cancel | Control::Stop) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err("stopped before any peer was found".into());
            }
            _ => {}
        }
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

/// [`find_peers`] on a helper thread; the answer arrives on the channel.
fn discover(tracker: Sender<Request>, me: SocketAddr, key: FileKey) -> Receiver<Result<Vec<SocketAddr>, String>> {
    let (tx, rx) = bounded(1);
    let spawned = std::thread::Builder::new().name("discover".into()).spawn(move || {
        let _ = tx.send(find_peers_with(&tracker, me, &key));
    });
    if let Err(e) = spawned {
        log::warn!("cannot start peer discovery: {e}");
    }
    rx
}

/// Asks the tracker who holds `key` (never this peer); resolves names.
fn find_peers(ctx: &Context, key: &FileKey) -> Result<Vec<SocketAddr>, String> {
    find_peers_with(&ctx.tracker, ctx.settings.listen, key)
}

fn find_peers_with(tracker: &Sender<Request>, me: SocketAddr, key: &FileKey) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = bounded(1);
    tracker.send(Request::GetFile(key.clone(), tx)).map_err(|_| "the engine is stopping".to_owned())?;
    let peers = rx.recv_timeout(Duration::from_secs(15)).map_err(|_| "the tracker did not answer".to_owned())??;
    Ok(peers
        .into_iter()
        .filter_map(|p| match p {
            PeerAddr::Ip(a) => Some(a),
            PeerAddr::Name { host, port } => {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_ref(), port)).ok().and_then(|mut a| a.next())
            }
        })
        .filter(|a| *a != me)
        .collect())
}

/// A Stop or Cancel arrived (checked during long start-up steps).
fn stopping(ctx: &Context) -> bool {
    matches!(
        ctx.controls.try_recv(),
        Ok(Control::Stop | Control::Cancel) | Err(crossbeam_channel::TryRecvError::Disconnected)
    )
}

/// Gets the piece hashes from the first peer whose list matches the key.
fn fetch_hashes(
    ctx: &Context,
    entry: &FileEntry,
    layout: &Layout,
    peers: &[SocketAddr],
) -> Result<Vec<PieceHash>, String> {
    let key = entry.key.clone();
    let layouts = |k: &FileKey| (*k == key).then_some(*layout);
    for &peer in peers {
        if stopping(ctx) {
            return Err("stopped before the piece list arrived".into());
        }
        let attempt = || -> Result<Vec<PieceHash>, String> {
            let stream =
                connect_from(ctx.settings.listen.ip(), peer, Duration::from_secs(3)).map_err(|e| e.to_string())?;
            stream.set_read_timeout(Some(link::STALL)).map_err(|e| e.to_string())?;
            let mut wire = Wire::new(stream, ctx.settings.limits());
            wire.send(&PeerMessage::GetHashes { key: entry.key.clone() }).map_err(|e| e.to_string())?;
            // A peer that keeps talking without ever sending the list
            // must not hold the download (or a shutdown) forever.
            let deadline = Instant::now() + link::STALL;
            loop {
                if Instant::now() > deadline {
                    return Err("no piece list in time".into());
                }
                let (message, used) = wire.recv(&layouts).map_err(|e| e.to_string())?;
                let found = match message {
                    PeerMessage::Hashes { key, hashes } if key == entry.key => Some(Ok(hashes)),
                    PeerMessage::Error(text) => Some(Err(text)),
                    _ => None,
                };
                wire.consume(used);
                if let Some(found) = found {
                    return found;
                }
            }
        };
        match attempt() {
            Ok(hashes) if hashes_match(&entry.key, layout, &hashes) => return Ok(hashes),
            Ok(_) => log::warn!("{}: {peer} sent a piece list that does not match the key", entry.name),
            Err(e) => log::info!("{}: no piece list from {peer}: {e}", entry.name),
        }
    }
    Err("no peer sent a valid piece list for this key (is it one of our SHA-256 keys?)".into())
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
