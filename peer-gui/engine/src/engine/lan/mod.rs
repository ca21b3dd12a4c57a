//! The distributed mode (PROTOCOL.md section 10): no tracker; peers of a
//! local network find each other (`discovery`), join as neighbours over
//! TCP (`links`) and flood searches hop by hop (`flood`). The coordinator
//! thread (`peer{id}-lan`) serves the same requests as the tracker client
//! (search, the holders of a key), so downloads, the app and the headless
//! command work alike in both modes. It owns the neighbours and the
//! searches under way; the server hands it what neighbours send
//! ([`Input`]), discovery (`peer{id}-discovery`) the peers it heard of.
//! Joins run on short-lived `peer{id}-join` threads; answers to origins
//! that are not neighbours go out from `peer{id}-answer`.

pub mod discovery;
pub mod flood;
pub mod links;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::FileKey;
use common::protocol::{Criterion, FileEntry, FileName, LanMessage, Limits, PeerAddr, Search};
use crossbeam_channel::{Receiver, Sender, after, never, select, tick};
use parking_lot::Mutex;

use self::flood::{Collector, Held, Seen, Step};
use self::links::{Answers, JoinError, Link};
use super::events::{Event, Events};
use super::library::Library;
use super::settings::{Lan, Settings};
use super::tracker_client::{Request, SearchResult, TrackerError};

/// Messages waiting for the coordinator at most; beyond, searches and
/// answers are dropped.
pub const QUEUE: usize = 4096;
/// How often links are read and checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Sources learnt from an answer this recent are used as they are; older
/// ones are searched for again (when the name is known).
const FRESH: Duration = Duration::from_secs(10);
/// Neighbours at most, joined by us or joining us.
const MAX_NEIGHBOURS: usize = 32;
/// Files whose sources are remembered at most.
const MAX_KNOWN: usize = 10_000;

/// What the server, discovery and joins tell the coordinator.
#[derive(Debug)]
pub enum Input {
    /// `announce listen PORT` arrived from this address (the
    /// connection's IP and the announced port).
    Arrived(SocketAddr),
    /// The connection it arrived on closed.
    Left(SocketAddr),
    /// A search, from a neighbour (its listening address) or from the
    /// connection's address.
    Look { search: Search, from: SocketAddr },
    /// `file at ...`: an answer to a search of ours.
    Answer(LanMessage),
    /// A discovery answer from this peer.
    Heard(SocketAddr),
    /// A join ended.
    Joined { addr: SocketAddr, how: How, result: Result<Link, JoinError> },
}

/// How a neighbour came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// It answered our discovery.
    Discovered,
    /// It is in `peerX_neighbours`.
    Listed,
    /// It joined us.
    JoinedUs,
}

/// A neighbour as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourInfo {
    pub addr: SocketAddr,
    pub since: SystemTime,
    pub how: How,
}

/// Whether discovery runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryState {
    /// `discovery_port = 0`: static neighbours only.
    Off,
    On {
        group: SocketAddrV4,
    },
    /// The socket could not be opened (the reason).
    Failed(String),
}

/// What the status bar and the neighbours view show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanStatus {
    /// Sorted by address.
    pub neighbours: Vec<NeighbourInfo>,
    pub discovery: DiscoveryState,
}

/// Starts discovery and the coordinator with `lan`, this peer's
/// distributed settings; they end when `stop` closes.
pub fn spawn(
    (settings, lan): (&Settings, &Lan),
    library: Arc<Library>,
    (inputs_tx, inputs): (Sender<Input>, Receiver<Input>),
    requests: Receiver<Request>,
    stop: Receiver<()>,
    status: Arc<Mutex<LanStatus>>,
    events: Events,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let count = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    if lan.config.discovery_port != 0 {
        let config = discovery::Config {
            peer: settings.id,
            me: settings.listen,
            port: lan.config.discovery_port,
            group: lan.config.discovery_group,
            rediscover: lan.rediscover,
            max_neighbours: lan.config.max_neighbours,
        };
        match discovery::open(&config) {
            Ok(socket) => {
                status.lock().discovery = DiscoveryState::On {
                    group: SocketAddrV4::new(lan.config.discovery_group, lan.config.discovery_port),
                };
                let (count, tx, stop) = (count.clone(), inputs_tx.clone(), stop.clone());
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("peer{}-discovery", settings.id))
                        .spawn(move || discovery::run(&socket, &config, &count, &tx, &stop))?,
                );
            }
            Err(e) => {
                let why = format!("cannot listen for discovery on UDP port {}: {e}", lan.config.discovery_port);
                log::warn!(
                    "peer {}: {why}; only listed neighbours (peer{}_neighbours) are joined",
                    settings.id,
                    settings.id
                );
                status.lock().discovery = DiscoveryState::Failed(why);
            }
        }
    }
    let answers = Answers::spawn(settings.id, settings.listen)?;
    let mut c = Coordinator {
        id: settings.id,
        listen: settings.listen,
        lan: lan.clone(),
        limits: flood::LAN_LIMITS,
        library,
        inputs_tx,
        neighbours: BTreeMap::new(),
        joining: HashSet::new(),
        seen: Seen::default(),
        searches: Vec::new(),
        sent: HashMap::new(),
        known: HashMap::new(),
        answers,
        count,
        status,
        events,
    };
    threads.push(
        std::thread::Builder::new()
            .name(format!("peer{}-lan", settings.id))
            .spawn(move || c.run(&requests, &inputs, &stop))?,
    );
    Ok(threads)
}

struct Neighbour {
    since: SystemTime,
    how: How,
    /// Ours, to send on; `None` while joining back a peer that joined us.
    link: Option<Link>,
    /// Its connections to us that announced (it may have several).
    inbound: u32,
}

/// A search of ours under way.
struct Running {
    collector: Collector,
    /// Not sent yet: the same criteria went out less than
    /// [`flood::REPEAT_AFTER`] ago (peers would drop it as a duplicate).
    pending: Option<(Instant, LanMessage)>,
    deadline: Instant,
    reply: Reply,
}

enum Reply {
    Look(Sender<Result<SearchResult, TrackerError>>),
    /// Sources for a download: answered at the first answer with the key.
    Sources(FileKey, Sender<Result<Vec<PeerAddr>, TrackerError>>),
}

/// What answers taught about a file.
#[derive(Default)]
struct Known {
    name: Option<FileName>,
    sources: BTreeSet<SocketAddr>,
    /// When an answer last listed sources.
    at: Option<Instant>,
}

struct Coordinator {
    id: u32,
    listen: SocketAddr,
    lan: Lan,
    limits: Limits,
    library: Arc<Library>,
    inputs_tx: Sender<Input>,
    neighbours: BTreeMap<SocketAddr, Neighbour>,
    joining: HashSet<SocketAddr>,
    seen: Seen,
    searches: Vec<Running>,
    /// When each search of ours last went out, by criteria.
    sent: HashMap<Vec<Criterion>, Instant>,
    known: HashMap<FileKey, Known>,
    answers: Answers,
    /// Neighbours linked, for discovery.
    count: Arc<AtomicUsize>,
    status: Arc<Mutex<LanStatus>>,
    events: Events,
}

impl Coordinator {
    fn run(&mut self, requests: &Receiver<Request>, inputs: &Receiver<Input>, stop: &Receiver<()>) {
        let checks = tick(CHECK_EVERY);
        let rejoin = tick(self.lan.rediscover);
        self.join_listed();
        loop {
            let deadline = self.searches.iter().map(|s| s.pending.as_ref().map_or(s.deadline, |p| p.0)).min();
            let expiry = deadline.map_or_else(never, |d| after(d.saturating_duration_since(Instant::now())));
            select! {
                recv(stop) -> _ => return,
                recv(requests) -> r => match r {
                    Ok(r) => self.request(r),
                    Err(_) => return,
                },
                recv(inputs) -> i => if let Ok(i) = i { self.input(i) },
                recv(checks) -> _ => self.check_links(),
                recv(rejoin) -> _ => self.join_listed(),
                recv(expiry) -> _ => self.finish_due(Instant::now()),
            }
        }
    }

    /// This peer's address as others reach it: the listening one, or
    /// when that is 0.0.0.0 the address a link leaves from.
    fn me(&self) -> SocketAddr {
        if !self.listen.ip().is_unspecified() {
            return self.listen;
        }
        self.neighbours
            .values()
            .find_map(|n| n.link.as_ref()?.local_addr())
            .map_or(self.listen, |a| SocketAddr::new(a.ip(), self.listen.port()))
    }

    fn linked(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.neighbours.iter().filter(|(_, n)| n.link.is_some()).map(|(a, _)| *a)
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Look(criteria, hops, reply) => {
                if !criteria.iter().any(|c| matches!(c, Criterion::Name(_))) {
                    let _ = reply.send(Err(TrackerError::ExactNameOnly));
                } else if self.linked().next().is_none() {
                    let _ = reply.send(Err(TrackerError::NoNeighbours));
                } else {
                    self.search(criteria, hops, Reply::Look(reply));
                }
            }
            Request::GetFile(key, reply) => {
                let known = self.known.get(&key);
                let fresh = known.and_then(|k| k.at).is_some_and(|t| t.elapsed() < FRESH);
                let name = known.and_then(|k| k.name.clone());
                let sources = self.known_sources(&key);
                let linked = self.linked().next().is_some();
                if let Some(name) = name.filter(|_| !fresh && linked) {
                    self.search(vec![Criterion::Name(name)], None, Reply::Sources(key, reply));
                } else if !fresh && !linked && sources.is_empty() {
                    let _ = reply.send(Err(TrackerError::NoNeighbours));
                } else {
                    let _ = reply.send(Ok(sources));
                }
            }
            Request::Wanted(entry) => self.learn_name(&entry),
            Request::UpdateNow => {}
        }
    }

    /// The addresses answers listed for `key` (none if never answered).
    fn known_sources(&self, key: &FileKey) -> Vec<PeerAddr> {
        self.known.get(key).map(|k| k.sources.iter().map(|&a| PeerAddr::Ip(a)).collect()).unwrap_or_default()
    }

    fn learn_name(&mut self, entry: &FileEntry) {
        self.trim_known();
        self.known.entry(entry.key.clone()).or_default().name = Some(entry.name.clone());
    }

    /// Keeps [`MAX_KNOWN`] files at most: the least recently answered go
    /// (names of downloads not yet answered first).
    fn trim_known(&mut self) {
        if self.known.len() < MAX_KNOWN {
            return;
        }
        let mut by_age: Vec<(Option<Instant>, FileKey)> = self.known.iter().map(|(k, v)| (v.at, k.clone())).collect();
        by_age.sort_unstable();
        for (_, key) in by_age.into_iter().take(MAX_KNOWN / 10) {
            self.known.remove(&key);
        }
    }

    fn search(&mut self, criteria: Vec<Criterion>, hops: Option<u8>, reply: Reply) {
        let now = Instant::now();
        self.sent.retain(|_, t| now.saturating_duration_since(*t) < flood::REPEAT_AFTER);
        let at = self.sent.get(&criteria).map_or(now, |t| *t + flood::REPEAT_AFTER);
        self.sent.insert(criteria.clone(), at);
        let search =
            Search { criteria: criteria.clone(), ttl: hops.unwrap_or(self.lan.config.look_ttl), origin: self.me() };
        let look = LanMessage::Look(search);
        let collector = Collector::new(criteria, self.me());
        let mut running = Running { collector, pending: Some((at, look)), deadline: at + self.lan.collect, reply };
        if at <= now {
            self.send_search(&mut running);
        }
        self.searches.push(running);
    }

    fn send_search(&mut self, running: &mut Running) {
        let Some((_, look)) = running.pending.take() else { return };
        if let LanMessage::Look(search) = &look {
            self.seen.first_time(search, Instant::now());
        }
        for addr in self.linked().collect::<Vec<_>>() {
            self.send(addr, &look);
        }
    }

    /// Sends on the link to `addr`; a link that fails drops the neighbour.
    fn send(&mut self, addr: SocketAddr, message: &LanMessage) -> bool {
        let Some(link) = self.neighbours.get_mut(&addr).and_then(|n| n.link.as_mut()) else { return false };
        match link.send(message) {
            Ok(()) => true,
            Err(e) => {
                self.drop_neighbour(addr, &format!("cannot send to it: {e}"));
                false
            }
        }
    }

    /// Answers go to the origin: on our link when it is a neighbour,
    /// otherwise on a connection of their own.
    fn send_to_origin(&mut self, origin: SocketAddr, messages: Vec<LanMessage>) {
        if self.neighbours.get(&origin).is_some_and(|n| n.link.is_some()) {
            let mut all = messages.iter();
            if all.all(|m| self.send(origin, m)) {
                return;
            }
        }
        if !self.answers.send(origin, messages) {
            log::warn!("peer {}: too many answers waiting; one to {origin} dropped", self.id);
        }
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Arrived(addr) => self.arrived(addr),
            Input::Left(addr) => {
                let Some(n) = self.neighbours.get_mut(&addr) else { return };
                n.inbound = n.inbound.saturating_sub(1);
                if n.inbound == 0 {
                    self.drop_neighbour(addr, "it closed its connection");
                }
            }
            Input::Look { search, from } => self.look(&search, from),
            Input::Answer(message) => self.answer(&message),
            Input::Heard(addr) => {
                let taken = self.linked().count() + self.joining.len();
                let known =
                    self.neighbours.get(&addr).is_some_and(|n| n.link.is_some()) || self.joining.contains(&addr);
                if !known && taken < self.lan.config.max_neighbours && !self.is_me(addr) {
                    self.join(addr, How::Discovered);
                }
            }
            Input::Joined { addr, how, result } => self.joined(addr, how, result),
        }
    }

    fn arrived(&mut self, addr: SocketAddr) {
        if self.is_me(addr) {
            return;
        }
        if !self.neighbours.contains_key(&addr) && self.neighbours.len() >= MAX_NEIGHBOURS {
            log::info!("peer {}: {addr} joined, but {MAX_NEIGHBOURS} neighbours are enough; not joined back", self.id);
            return;
        }
        let n = self.neighbours.entry(addr).or_insert_with(|| Neighbour {
            since: SystemTime::now(),
            how: How::JoinedUs,
            link: None,
            inbound: 0,
        });
        n.inbound += 1;
        if n.link.is_none() && !self.joining.contains(&addr) {
            self.join(addr, How::JoinedUs);
        }
    }

    fn join(&mut self, addr: SocketAddr, how: How) {
        self.joining.insert(addr);
        let (from, tx) = (self.me(), self.inputs_tx.clone());
        let spawned = std::thread::Builder::new().name(format!("peer{}-join", self.id)).spawn(move || {
            let _ = tx.send(Input::Joined { addr, how, result: Link::join(from, addr) });
        });
        if let Err(e) = spawned {
            self.joining.remove(&addr);
            log::warn!("peer {}: cannot start joining {addr}: {e}", self.id);
        }
    }

    fn joined(&mut self, addr: SocketAddr, how: How, result: Result<Link, JoinError>) {
        self.joining.remove(&addr);
        match result {
            Ok(link) => {
                let n = self.neighbours.entry(addr).or_insert_with(|| Neighbour {
                    since: SystemTime::now(),
                    how,
                    link: None,
                    inbound: 0,
                });
                n.link = Some(link);
                log::info!("peer {}: neighbour {addr} joined ({})", self.id, how_text(n.how));
                self.publish();
            }
            Err(e) => {
                let level = if how == How::JoinedUs { log::Level::Warn } else { log::Level::Info };
                log::log!(level, "peer {}: cannot join {addr}: {e}", self.id);
                if self.neighbours.get(&addr).is_some_and(|n| n.link.is_none() && n.inbound == 0) {
                    self.neighbours.remove(&addr);
                }
            }
        }
    }

    fn drop_neighbour(&mut self, addr: SocketAddr, why: &str) {
        if let Some(n) = self.neighbours.remove(&addr) {
            log::info!("peer {}: neighbour {addr} dropped: {why}", self.id);
            if n.link.is_some() {
                self.publish();
            }
        }
    }

    /// Joins the listed neighbours that are not (re)joined yet, and joins
    /// back again the peers that joined us when that failed.
    fn join_listed(&mut self) {
        for addr in self.lan.neighbours.clone() {
            let linked = self.neighbours.get(&addr).is_some_and(|n| n.link.is_some());
            if !linked && !self.joining.contains(&addr) && !self.is_me(addr) {
                self.join(addr, How::Listed);
            }
        }
        let unlinked: Vec<SocketAddr> = self
            .neighbours
            .iter()
            .filter(|(a, n)| n.link.is_none() && !self.joining.contains(a))
            .map(|(a, _)| *a)
            .collect();
        for addr in unlinked {
            self.join(addr, How::JoinedUs);
        }
    }

    /// Whether `addr` is this peer: its address, or with a listening IP of
    /// 0.0.0.0 its port on any address of this host.
    fn is_me(&self, addr: SocketAddr) -> bool {
        if addr == self.me() {
            return true;
        }
        self.listen.ip().is_unspecified() && addr.port() == self.listen.port() && is_local(addr.ip())
    }

    /// Reads what arrived on our links; drops the neighbours gone.
    fn check_links(&mut self) {
        let mut gone = Vec::new();
        let mut received = Vec::new();
        for (&addr, n) in &mut self.neighbours {
            let Some(link) = n.link.as_mut() else { continue };
            match link.poll(&self.limits) {
                Ok(messages) => received.extend(messages.into_iter().map(|m| (addr, m))),
                Err(e) => gone.push((addr, e)),
            }
        }
        for (addr, e) in gone {
            self.drop_neighbour(addr, &e.to_string());
        }
        for (addr, message) in received {
            match message {
                Ok(LanMessage::Look(search)) => self.look(&search, addr),
                Ok(m @ (LanMessage::Found { .. } | LanMessage::NotFound { .. })) => self.answer(&m),
                Ok(_) => {}
                Err(e) => log::info!("peer {}: neighbour {addr} sent a line that was dropped: {e}", self.id),
            }
        }
    }

    fn look(&mut self, search: &Search, from: SocketAddr) {
        let held: Vec<Held> = self
            .library
            .files()
            .iter()
            .filter(|f| search.criteria.iter().all(|c| c.matches(&f.entry)))
            .map(|f| Held { entry: f.entry.clone(), partial: f.partial.is_some() })
            .collect();
        match flood::on_look(search, self.me(), &held, &mut self.seen, Instant::now()) {
            Step::Answer(answers) => {
                log::info!("peer {}: answering {} for {}", self.id, search.origin, names(&held));
                self.send_to_origin(search.origin, answers);
            }
            Step::Notice(notice) => self.send_to_origin(search.origin, vec![notice]),
            Step::Forward(next) => {
                let look = LanMessage::Look(next);
                let to: Vec<SocketAddr> = self.linked().filter(|&a| a != from && a != search.origin).collect();
                for addr in to {
                    self.send(addr, &look);
                }
            }
            Step::Drop(why) => log::debug!("peer {}: a search from {from} dropped: {why:?}", self.id),
        }
    }

    fn answer(&mut self, message: &LanMessage) {
        let mut taken = false;
        for s in &mut self.searches {
            taken |= s.collector.take(message);
        }
        let LanMessage::Found { file, .. } = message else { return };
        if !taken {
            log::debug!("peer {}: an answer for {} that no search of ours asked for dropped", self.id, file.name);
            return;
        }
        let sources: BTreeSet<SocketAddr> = self
            .searches
            .iter()
            .flat_map(|s| s.collector.sources())
            .filter(|(entry, _)| entry.key == file.key)
            .flat_map(|(_, sources)| sources.iter().copied())
            .collect();
        self.trim_known();
        // The running searches' answers replace what older ones listed:
        // a peer that left is not a source for ever.
        let known = self.known.entry(file.key.clone()).or_default();
        known.name = Some(file.name.clone());
        known.sources = sources;
        known.at = Some(Instant::now());
        // A download waiting for sources starts at the first answer.
        let (ready, waiting): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.searches)
            .into_iter()
            .partition(|s| matches!(&s.reply, Reply::Sources(key, _) if *key == file.key));
        self.searches = waiting;
        for s in ready {
            self.finish(s);
        }
    }

    fn finish_due(&mut self, now: Instant) {
        let mut searches = std::mem::take(&mut self.searches);
        for s in &mut searches {
            if s.pending.as_ref().is_some_and(|p| p.0 <= now) {
                self.send_search(s);
            }
        }
        let (due, running): (Vec<Running>, Vec<Running>) = searches.into_iter().partition(|s| s.deadline <= now);
        self.searches.extend(running);
        for s in due {
            self.finish(s);
        }
    }

    fn finish(&mut self, s: Running) {
        let c = &s.collector;
        match s.reply {
            Reply::Look(reply) => {
                log::info!(
                    "peer {}: search: {} file(s) from {} answer(s); out of hops at {} peer(s)",
                    self.id,
                    c.files().len(),
                    c.answers,
                    c.notices.len()
                );
                let _ = reply.send(Ok(SearchResult {
                    files: c.files(),
                    ran_out_at: c.notices.clone(),
                    answers: c.answers,
                }));
            }
            Reply::Sources(key, reply) => {
                let _ = reply.send(Ok(self.known_sources(&key)));
            }
        }
    }

    fn publish(&self) {
        let neighbours: Vec<NeighbourInfo> = self
            .neighbours
            .iter()
            .filter(|(_, n)| n.link.is_some())
            .map(|(&addr, n)| NeighbourInfo { addr, since: n.since, how: n.how })
            .collect();
        self.count.store(neighbours.len(), Ordering::Relaxed);
        self.status.lock().neighbours = neighbours;
        self.events.send(Event::Neighbours);
    }
}

/// Whether `ip` is one of this host's addresses: a UDP socket "connected"
/// to it (no packet is sent) leaves from that very address.
fn is_local(ip: std::net::IpAddr) -> bool {
    let any =
        SocketAddr::new(if ip.is_ipv4() { [0, 0, 0, 0].into() } else { std::net::Ipv6Addr::UNSPECIFIED.into() }, 0);
    std::net::UdpSocket::bind(any)
        .and_then(|s| {
            s.connect((ip, 9))?;
            s.local_addr()
        })
        .is_ok_and(|local| local.ip() == ip)
}

fn how_text(how: How) -> &'static str {
    match how {
        How::Discovered => "found by discovery",
        How::Listed => "listed in the configuration",
        How::JoinedUs => "it joined us",
    }
}

fn names(held: &[Held]) -> String {
    held.iter().map(|h| h.entry.name.to_string()).collect::<Vec<_>>().join(", ")
}
