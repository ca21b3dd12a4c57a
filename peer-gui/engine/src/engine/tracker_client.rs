//! The tracker client thread. What it owns: the one connection to the
//! tracker (`tracker_link`). It announces on every (re)connection, sends
//! `update` every interval, serves `look`/`getfile` for the rest of the
//! engine, and reconnects with back-off when the tracker is down or
//! restarted. It works with course trackers too: a refused search
//! becomes `look []` filtered here, an unanswered `update` is
//! replaced by `announce`, and this peer is never its own source.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::FileKey;
use common::protocol::{Criterion, FileEntry, FileRef, PeerAddr, TrackerReply, TrackerRequest};
use crossbeam_channel::{Receiver, Sender, after, select};
use parking_lot::Mutex;

use super::events::{Event, Events};
use super::library::Library;
use super::net::connect_from;
use super::settings::Settings;
use super::tracker_link::{Expect, Link, shown};

/// How long an `update` waits for its `ok`: some course trackers never
/// send it, and searches queue behind the wait.
const UPDATE_WAIT: Duration = Duration::from_millis(500);
/// How long a search waits before it is taken as refused: one course
/// tracker answers nothing to a search it refuses.
const LOOK_WAIT: Duration = Duration::from_secs(3);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often an idle tracker connection is checked: a tracker that
/// stopped shows as lost within this, not at the next update.
const LIVENESS: Duration = Duration::from_secs(1);

/// What the status bar shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerStatus {
    pub addr: SocketAddr,
    pub connected: bool,
    /// The tracker knows every file this peer shared at this time (when
    /// the last acknowledged announce or update was written).
    pub last_announce: Option<SystemTime>,
    pub last_error: Option<TrackerError>,
}

/// Why the tracker could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error(
        "tracker unreachable at {addr}: {message}; retrying (check that the tracker runs and tracker_ip/tracker_port)"
    )]
    Unreachable { addr: SocketAddr, message: String },
    #[error("lost the tracker at {addr}: {message}; reconnecting")]
    Lost { addr: SocketAddr, message: String },
    #[error("the tracker at {addr} did not take our announce: {reply}; retrying")]
    AnnounceRefused { addr: SocketAddr, reply: String },
    /// It answered `error ...` or something we cannot use.
    #[error("the tracker answered: {0}")]
    Refused(String),
    #[error("the tracker did not answer in time")]
    NoAnswer,
    #[error("the peer is stopping")]
    Stopping,
    /// The distributed mode searches by exact name only.
    #[error(
        "a search on the local network needs the whole file name (filename=\"NAME\"); other criteria only narrow it"
    )]
    ExactNameOnly,
    /// The distributed mode has no neighbour to ask yet.
    #[error(
        "no neighbour yet: no other peer found on the local network; check that other peers run with mode = distributed on the same discovery_port and discovery_group, or list some in peerX_neighbours"
    )]
    NoNeighbours,
}

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResult {
    pub files: Vec<FileEntry>,
    /// In the distributed mode, the peers where the search ran out of
    /// hops (their `file at ADDR` notices); empty with a tracker.
    pub ran_out_at: Vec<SocketAddr>,
    /// In the distributed mode, the answers received (several may list
    /// one file); 0 with a tracker.
    pub answers: usize,
}

#[derive(Debug)]
pub enum Request {
    /// A search; in the distributed mode, with this many hops instead of
    /// `look_ttl`.
    Look(Vec<Criterion>, Option<u8>, Sender<Result<SearchResult, TrackerError>>),
    GetFile(FileKey, Sender<Result<Vec<PeerAddr>, TrackerError>>),
    /// Tell the tracker what we hold now (a file appeared or completed).
    UpdateNow,
    /// A download of this file starts: in the distributed mode its name
    /// is what a search for its sources asks for.
    Wanted(FileEntry),
}

pub fn spawn(
    settings: Settings,
    tracker: SocketAddr,
    library: Arc<Library>,
    status: Arc<Mutex<TrackerStatus>>,
    requests: Receiver<Request>,
    stop: Receiver<()>,
    events: Events,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("peer{}-tracker", settings.id)).spawn(move || {
        let mut backoff = Duration::from_millis(100);
        loop {
            let lost = match Session::open(&settings, tracker, &library) {
                Ok(mut session) => {
                    backoff = Duration::from_millis(100);
                    {
                        let mut s = status.lock();
                        s.connected = true;
                        s.last_announce = Some(session.told_at);
                        s.last_error = None;
                    }
                    events.send(Event::Tracker { connected: true });
                    match session.serve(&settings, &library, &requests, &stop, &status, &events) {
                        Ok(()) => return,
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            log::warn!("peer {}: {lost}", settings.id);
            {
                let mut s = status.lock();
                s.connected = false;
                s.last_error = Some(lost);
            }
            events.send(Event::Tracker { connected: false });
            // Disconnected: answer requests with the error, retry later.
            let deadline = after(backoff);
            loop {
                select! {
                    recv(stop) -> _ => return,
                    recv(requests) -> r => match r {
                        Ok(r) => refuse(r, status.lock().last_error.clone().unwrap_or(TrackerError::NoAnswer)),
                        Err(_) => return,
                    },
                    recv(deadline) -> _ => break,
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

fn refuse(request: Request, why: TrackerError) {
    match request {
        Request::Look(_, _, reply) => drop(reply.send(Err(why))),
        Request::GetFile(_, reply) => drop(reply.send(Err(why))),
        Request::UpdateNow | Request::Wanted(_) => {}
    }
}

struct Session {
    link: Link,
    tracker: SocketAddr,
    /// Keys the tracker has the name and size of (from our announces).
    announced: std::collections::HashSet<FileKey>,
    /// The tracker refused a `filename~` search: leave that criterion
    /// out of searches and apply it here.
    no_substring: bool,
    /// The tracker left an `update` unanswered (some course trackers do).
    update_unanswered: bool,
    /// The tracker listed this peer among the holders of a file.
    listed_us: bool,
    /// When the library was read for the last announce or update: the
    /// tracker knows every file shared before then (a file found while
    /// the request was on its way is not in it).
    told_at: SystemTime,
}

impl Session {
    fn open(settings: &Settings, tracker: SocketAddr, library: &Library) -> Result<Self, TrackerError> {
        let unreachable = |e: std::io::Error| TrackerError::Unreachable { addr: tracker, message: e.to_string() };
        let stream = connect_from(settings.listen.ip(), tracker, Duration::from_secs(3)).map_err(unreachable)?;
        let link = Link::new(stream, tracker).map_err(unreachable)?;
        let mut session = Self {
            link,
            tracker,
            announced: Default::default(),
            no_substring: false,
            update_unanswered: false,
            listed_us: false,
            told_at: SystemTime::now(),
        };
        session.announce(settings, library).map_err(|e| match e {
            TrackerError::Lost { addr, message } => TrackerError::AnnounceRefused { addr, reply: message },
            other => other,
        })?;
        Ok(session)
    }

    /// The connection failed: the session ends.
    fn lost(&self, e: std::io::Error) -> TrackerError {
        TrackerError::Lost { addr: self.tracker, message: e.to_string() }
    }

    fn announce(&mut self, settings: &Settings, library: &Library) -> Result<(), TrackerError> {
        let read_at = SystemTime::now();
        let (seed, leech) = library.seed_and_leech();
        let keys: std::collections::HashSet<FileKey> = seed.iter().map(|e| e.key.clone()).collect();
        let leech = leech.into_iter().map(FileRef::Key).collect();
        let request = TrackerRequest::Announce { port: settings.listen.port(), seed, leech };
        match self.link.ask_owed(&request, Expect::Ok).map_err(|e| self.lost(e))? {
            TrackerReply::Ok => {
                log::info!("peer {}: announced {} file(s) to the tracker at {}", settings.id, keys.len(), self.tracker);
                self.announced = keys;
                self.told_at = read_at;
                Ok(())
            }
            other => Err(TrackerError::AnnounceRefused { addr: self.tracker, reply: shown(&other) }),
        }
    }

    /// Sends `update`, or `announce` when the tracker cannot know a file
    /// we seed (`update` carries keys only), has forgotten us, or once
    /// left an `update` unanswered (its answer, if it ever came, would be
    /// taken for another request's).
    fn update(&mut self, settings: &Settings, library: &Library) -> Result<(), TrackerError> {
        let read_at = SystemTime::now();
        let (seed, leech) = library.seed_and_leech();
        // A file we stopped seeding may be forgotten by the tracker, name
        // and size included (update carries keys only): if it comes back,
        // it is announced again.
        self.announced.retain(|k| seed.iter().any(|e| e.key == *k));
        if self.update_unanswered || seed.iter().any(|e| !self.announced.contains(&e.key)) {
            return self.announce(settings, library);
        }
        let seed = seed.into_iter().map(|e| FileRef::Key(e.key)).collect();
        let leech = leech.into_iter().map(FileRef::Key).collect();
        match self.link.ask(&TrackerRequest::Update { seed, leech }, Expect::Ok, UPDATE_WAIT) {
            Ok(Some(TrackerReply::Ok)) => {
                self.told_at = read_at;
                Ok(())
            }
            // Forgotten (expired or restarted): announce again.
            Ok(Some(_)) => self.announce(settings, library),
            Ok(None) => {
                self.update_unanswered = true;
                log::warn!(
                    "peer {}: the tracker at {} did not answer update within {} ms (some course trackers never do); announcing instead from now on",
                    settings.id,
                    self.tracker,
                    UPDATE_WAIT.as_millis()
                );
                Ok(())
            }
            Err(e) => Err(self.lost(e)),
        }
    }

    /// Searches. A tracker that refuses a search (course trackers refuse
    /// our `filename~` extension, one any name with a dot) by an error,
    /// a text or silence is asked for `look []` instead, and the criteria
    /// are applied here; after a refused `filename~`, that criterion is
    /// no longer sent on this connection. Every list is filtered here.
    /// The outer error ends the session, the inner one is the answer.
    fn look(&mut self, criteria: Vec<Criterion>) -> Result<Result<Vec<FileEntry>, TrackerError>, TrackerError> {
        let filter =
            |files: Vec<FileEntry>| files.into_iter().filter(|f| criteria.iter().all(|c| c.matches(f))).collect();
        let substring = |c: &Criterion| matches!(c, Criterion::NameContains(_));
        let sent: Vec<Criterion> = criteria.iter().filter(|c| !(self.no_substring && substring(c))).cloned().collect();
        if !sent.is_empty() {
            let with_substring = sent.iter().any(substring);
            let request = TrackerRequest::Look { criteria: sent };
            let refusal = match self.link.ask(&request, Expect::List, LOOK_WAIT).map_err(|e| self.lost(e))? {
                // Filtered again: a late answer to an earlier search may
                // be taken for this one (it is a list too).
                Some(TrackerReply::List(files)) => return Ok(Ok(filter(files))),
                Some(other) => shown(&other),
                None => format!("no answer within {} s", LOOK_WAIT.as_secs()),
            };
            log::warn!(
                "the tracker at {} refused a search ({refusal}); searching with look [] and filtering here (only among the files it lists for look [])",
                self.tracker
            );
            self.no_substring |= with_substring;
        }
        let everything = TrackerRequest::Look { criteria: Vec::new() };
        Ok(match self.link.ask_owed(&everything, Expect::List).map_err(|e| self.lost(e))? {
            TrackerReply::List(files) => Ok(filter(files)),
            other => Err(TrackerError::Refused(shown(&other))),
        })
    }

    fn getfile(
        &mut self,
        listen: SocketAddr,
        key: FileKey,
    ) -> Result<Result<Vec<PeerAddr>, TrackerError>, TrackerError> {
        // As the tracker sees this peer: the connection's address (the
        // listening one may be 0.0.0.0) with the listening port.
        let me = SocketAddr::new(self.link.local_ip().unwrap_or(listen.ip()), listen.port());
        let request = TrackerRequest::GetFile { key: key.clone() };
        Ok(match self.link.ask_owed(&request, Expect::Peers(&key)).map_err(|e| self.lost(e))? {
            TrackerReply::Peers { peers, .. } => {
                if peers.contains(&PeerAddr::Ip(me)) && !std::mem::replace(&mut self.listed_us, true) {
                    log::warn!(
                        "the tracker at {} lists this peer ({me}) among the holders of a file it asks for; skipped",
                        self.tracker
                    );
                }
                Ok(peers.into_iter().filter(|p| *p != PeerAddr::Ip(me) && *p != PeerAddr::Ip(listen)).collect())
            }
            other => Err(TrackerError::Refused(shown(&other))),
        })
    }

    fn serve(
        &mut self,
        settings: &Settings,
        library: &Library,
        requests: &Receiver<Request>,
        stop: &Receiver<()>,
        status: &Mutex<TrackerStatus>,
        events: &Events,
    ) -> Result<(), TrackerError> {
        let mut next_update = Instant::now() + settings.update_interval;
        let alive = crossbeam_channel::tick(LIVENESS);
        loop {
            let tick = after(next_update.saturating_duration_since(Instant::now()));
            let request = select! {
                recv(stop) -> _ => return Ok(()),
                recv(requests) -> r => match r { Ok(r) => Some(r), Err(_) => return Ok(()) },
                recv(tick) -> _ => None,
                recv(alive) -> _ => {
                    self.link.check_alive().map_err(|e| self.lost(e))?;
                    continue;
                }
            };
            let asked = request.is_some();
            match request {
                Some(Request::Look(criteria, _, reply)) => {
                    let found = self.look(criteria)?;
                    let _ = reply.send(found.map(|files| SearchResult { files, ..SearchResult::default() }));
                }
                Some(Request::Wanted(_)) => {}
                Some(Request::GetFile(key, reply)) => {
                    let _ = reply.send(self.getfile(settings.listen, key)?);
                }
                Some(Request::UpdateNow) | None => {
                    self.update(settings, library)?;
                    status.lock().last_announce = Some(self.told_at);
                    // Told when the tracker learns of a change; the
                    // periodic update changes nothing worth a repaint.
                    if asked {
                        events.send(Event::Tracker { connected: true });
                    }
                    next_update = Instant::now() + settings.update_interval;
                }
            }
        }
    }
}
