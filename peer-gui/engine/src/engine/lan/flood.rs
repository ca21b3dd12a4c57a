//! The search flood's rules, without I/O (PROTOCOL.md section 10): what a
//! peer does with a `look` it receives ([`on_look`]), which searches it
//! has already seen ([`Seen`]), and how a searcher gathers the answers
//! ([`Collector`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::{Criterion, FileEntry, LanMessage, Search};

/// A search seen within this is a duplicate (it came by another path: a
/// flood crosses a LAN in milliseconds). The protocol has no search id,
/// so the same search sent again later is a new one; its origin waits
/// [`REPEAT_AFTER`] before sending the same criteria again.
pub const SEEN_FOR: Duration = Duration::from_secs(2);
/// [`SEEN_FOR`] and a margin for the time a search takes to reach a peer.
pub const REPEAT_AFTER: Duration = Duration::from_secs(3);
/// Searches remembered at most; the oldest go first. At 20 searches a
/// second from each of 64 connections, 2 s would be 2,560.
const MAX_SEEN: usize = 10_000;

/// Searches and answers taken per second from one IP address, and in a
/// burst.
pub const LOOKS_PER_SECOND: u32 = 20;

/// Lines of this mode are short: a search holds a name and a few
/// criteria, an answer a few addresses. Longer ones are refused, so a
/// search forwarded to every neighbour cannot weigh a megabyte.
pub const LAN_LIMITS: common::protocol::Limits =
    common::protocol::Limits { max_line: 16 * 1024, max_items: 256, max_message: 16 * 1024 };

/// Criteria in a search at most (more are dropped unanswered).
pub const MAX_CRITERIA: usize = 8;

/// A token bucket bounding the searches taken from one connection.
#[derive(Debug, Clone)]
pub struct LookBudget {
    tokens: f64,
    at: Instant,
    /// Searches dropped since the last one logged.
    pub dropped: u64,
    logged: Option<Instant>,
}

impl LookBudget {
    pub fn new(now: Instant) -> Self {
        Self { tokens: f64::from(LOOKS_PER_SECOND), at: now, dropped: 0, logged: None }
    }

    /// Takes one search; false when over the bound (the search is dropped).
    pub fn take(&mut self, now: Instant) -> bool {
        let rate = f64::from(LOOKS_PER_SECOND);
        self.tokens = (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        self.dropped += 1;
        false
    }

    /// Refilled: as good as a new one.
    pub fn is_full(&self, now: Instant) -> bool {
        let rate = f64::from(LOOKS_PER_SECOND);
        self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate >= rate
    }

    /// Whether to log the drops now: at most once a second.
    pub fn log_now(&mut self, now: Instant) -> bool {
        let due = self.logged.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if due {
            self.logged = Some(now);
        }
        due
    }
}

/// A local file as a search sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub entry: FileEntry,
    /// Still downloading: this peer answers as a leecher.
    pub partial: bool,
}

/// What to do with a received `look`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these answers to the origin (this peer holds the file).
    Answer(Vec<LanMessage>),
    /// Send the search on, one hop fewer left, to the other neighbours.
    Forward(Search),
    /// Out of hops here: tell the origin (`file at ME`).
    Notice(LanMessage),
    /// Neither answered nor forwarded.
    Drop(Dropped),
}

/// Why a search is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// It came back to the peer that started it.
    Ours,
    /// Seen within [`SEEN_FOR`], by another path or sent again.
    Duplicate,
    /// No `filename="NAME"`: this mode answers exact names only.
    NotExactName,
    /// More than [`MAX_CRITERIA`] criteria.
    TooManyCriteria,
    /// An origin no peer could be: unspecified, multicast, broadcast, or
    /// loopback seen from a peer that is not on loopback (answers would
    /// go to a service of the answering host).
    BadOrigin,
}

/// The step for `search`, received by the peer listening at `me` that
/// holds `held` (the local files matching its criteria).
pub fn on_look(search: &Search, me: SocketAddr, held: &[Held], seen: &mut Seen, now: Instant) -> Step {
    if search.origin == me {
        return Step::Drop(Dropped::Ours);
    }
    if !origin_ok(search.origin, me) {
        return Step::Drop(Dropped::BadOrigin);
    }
    if search.exact_name().is_none() {
        return Step::Drop(Dropped::NotExactName);
    }
    if search.criteria.len() > MAX_CRITERIA {
        return Step::Drop(Dropped::TooManyCriteria);
    }
    if !seen.first_time(search, now) {
        return Step::Drop(Dropped::Duplicate);
    }
    if !held.is_empty() {
        return Step::Answer(held.iter().map(|h| answer(me, h)).collect());
    }
    match search.ttl.saturating_sub(1) {
        0 => Step::Notice(LanMessage::NotFound { at: me }),
        ttl => Step::Forward(Search { ttl, ..search.clone() }),
    }
}

/// Whether answers may be sent to `origin`, for a peer listening at `me`.
fn origin_ok(origin: SocketAddr, me: SocketAddr) -> bool {
    let ip = origin.ip();
    let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
    let unusable = ip.is_unspecified() || ip.is_multicast() || broadcast || origin.port() == 0;
    !unusable && (!ip.is_loopback() || me.ip().is_loopback() || me.ip().is_unspecified())
}

/// `file at ME have ...`: a seeder lists itself in `seeders`, a peer
/// still downloading in `leechers`.
pub fn answer(me: SocketAddr, held: &Held) -> LanMessage {
    let (seeders, leechers) = if held.partial { (Vec::new(), vec![me]) } else { (vec![me], Vec::new()) };
    LanMessage::Found { at: me, file: held.entry.clone(), seeders, leechers }
}

/// Searches seen lately, by a hash of their origin and criteria (the TTL
/// differs by path): a few bytes each, whatever a search holds.
#[derive(Debug, Default)]
pub struct Seen {
    hasher: std::hash::RandomState,
    at: HashMap<u64, Instant>,
    order: VecDeque<(Instant, u64)>,
}

impl Seen {
    /// Marks `search` seen now; false if it was seen within [`SEEN_FOR`].
    pub fn first_time(&mut self, search: &Search, now: Instant) -> bool {
        self.expire(now);
        let id = std::hash::BuildHasher::hash_one(&self.hasher, (search.origin, &search.criteria));
        if self.at.get(&id).is_some_and(|&t| now.duration_since(t) < SEEN_FOR) {
            return false;
        }
        self.at.insert(id, now);
        self.order.push_back((now, id));
        true
    }

    fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) < SEEN_FOR && self.order.len() < MAX_SEEN {
                break;
            }
            let Some((t, id)) = self.order.pop_front() else { break };
            // A later sighting of the same search has its own entry.
            if self.at.get(&id) == Some(&t) {
                self.at.remove(&id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

/// Files kept from the answers to one search, and notices.
const MAX_FILES: usize = 1000;
/// Addresses kept for one file.
const MAX_SOURCES: usize = 200;

/// The answers to one search: the files matching its criteria, merged by
/// key, with every address listed for each (bounded: a hostile peer may
/// answer anything).
#[derive(Debug)]
pub struct Collector {
    criteria: Vec<Criterion>,
    me: SocketAddr,
    found: BTreeMap<FileKey, (FileEntry, BTreeSet<SocketAddr>)>,
    /// Where the search ran out of hops (`file at ADDR` notices).
    pub notices: Vec<SocketAddr>,
    /// `have` answers taken, before merging.
    pub answers: usize,
}

impl Collector {
    pub fn new(criteria: Vec<Criterion>, me: SocketAddr) -> Self {
        Self { criteria, me, found: BTreeMap::new(), notices: Vec::new(), answers: 0 }
    }

    /// Takes `message` if it answers this search; false otherwise (a file
    /// that does not match, or not an answer).
    pub fn take(&mut self, message: &LanMessage) -> bool {
        match message {
            LanMessage::Found { at, file, seeders, leechers } => {
                if !self.criteria.iter().all(|c| c.matches(file)) {
                    return false;
                }
                self.answers += 1;
                let (_, sources) =
                    self.found.entry(file.key.clone()).or_insert_with(|| (file.clone(), BTreeSet::new()));
                let mut listed = seeders.iter().chain(leechers).peekable();
                if listed.peek().is_none() {
                    // Lists left empty: the answering peer is the source.
                    sources.insert(*at);
                }
                sources.extend(listed.filter(|&&a| a != self.me).take(MAX_SOURCES.saturating_sub(sources.len())));
                sources.remove(&self.me);
                true
            }
            LanMessage::NotFound { at } => {
                if self.notices.len() < MAX_FILES && !self.notices.contains(at) {
                    self.notices.push(*at);
                }
                true
            }
            _ => false,
        }
    }

    /// The files found, by key.
    pub fn files(&self) -> Vec<FileEntry> {
        self.found.values().map(|(entry, _)| entry.clone()).collect()
    }

    /// Every address listed for each file found.
    pub fn sources(&self) -> impl Iterator<Item = (&FileEntry, &BTreeSet<SocketAddr>)> {
        self.found.values().map(|(entry, sources)| (entry, sources))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::protocol::FileName;

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 5001))
    }

    fn entry(name: &str, key: char) -> FileEntry {
        FileEntry {
            name: FileName::new(name).unwrap(),
            length: 10,
            piece_size: 1024,
            key: FileKey::parse(key.to_string().repeat(32).as_bytes()).unwrap(),
        }
    }

    fn look(name: &str, ttl: u8) -> Search {
        Search { criteria: vec![Criterion::Name(FileName::new(name).unwrap())], ttl, origin: addr(1) }
    }

    #[test]
    fn a_holder_answers_as_seeder_or_leecher() {
        let (now, mut seen) = (Instant::now(), Seen::default());
        let held = [Held { entry: entry("a", 'a'), partial: false }, Held { entry: entry("a", 'b'), partial: true }];
        let Step::Answer(answers) = on_look(&look("a", 1), addr(4), &held, &mut seen, now) else { panic!() };
        assert_eq!(
            answers,
            [
                LanMessage::Found { at: addr(4), file: entry("a", 'a'), seeders: vec![addr(4)], leechers: vec![] },
                LanMessage::Found { at: addr(4), file: entry("a", 'b'), seeders: vec![], leechers: vec![addr(4)] },
            ]
        );
    }

    #[test]
    fn the_ttl_is_decremented_then_forwarded_or_noticed() {
        let now = Instant::now();
        let step = |ttl| on_look(&look("a", ttl), addr(2), &[], &mut Seen::default(), now);
        assert_eq!(step(3), Step::Forward(look("a", 2)));
        assert_eq!(step(2), Step::Forward(look("a", 1)));
        assert_eq!(step(1), Step::Notice(LanMessage::NotFound { at: addr(2) }));
        assert_eq!(step(0), Step::Notice(LanMessage::NotFound { at: addr(2) }));
    }

    #[test]
    fn a_search_is_handled_once_whatever_its_path_and_ttl() {
        let (now, mut seen) = (Instant::now(), Seen::default());
        assert!(matches!(on_look(&look("a", 5), addr(2), &[], &mut seen, now), Step::Forward(_)));
        let again = on_look(&look("a", 3), addr(2), &[], &mut seen, now + Duration::from_secs(1));
        assert_eq!(again, Step::Drop(Dropped::Duplicate));
        // Another name, or the same one 2 s later, is a new search.
        assert!(matches!(on_look(&look("b", 5), addr(2), &[], &mut seen, now), Step::Forward(_)));
        assert!(matches!(on_look(&look("a", 5), addr(2), &[], &mut seen, now + SEEN_FOR), Step::Forward(_)));
        // Entries expire.
        seen.first_time(&look("c", 1), now + SEEN_FOR * 3);
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn own_and_inexact_searches_are_dropped() {
        let (now, mut seen) = (Instant::now(), Seen::default());
        assert_eq!(on_look(&look("a", 5), addr(1), &[], &mut seen, now), Step::Drop(Dropped::Ours));
        let substring = Search { criteria: vec![Criterion::NameContains("a".into())], ttl: 5, origin: addr(1) };
        assert_eq!(on_look(&substring, addr(2), &[], &mut seen, now), Step::Drop(Dropped::NotExactName));
        let mut many = look("a", 5);
        many.criteria.extend((0..MAX_CRITERIA as u64).map(|n| Criterion::Size(common::protocol::Cmp::Gt, n)));
        assert_eq!(on_look(&many, addr(2), &[], &mut seen, now), Step::Drop(Dropped::TooManyCriteria));
        // Answers must not go to a service of the answering host, nor
        // to addresses no peer has.
        let lan_peer = SocketAddr::from(([192, 168, 1, 20], 5001));
        for origin in ["127.0.0.1:22", "0.0.0.0:5001", "224.0.0.1:5001", "255.255.255.255:5001", "192.168.1.9:0"] {
            let search = Search { origin: origin.parse().unwrap(), ..look("a", 5) };
            assert_eq!(on_look(&search, lan_peer, &[], &mut seen, now), Step::Drop(Dropped::BadOrigin), "{origin}");
        }
        // On one machine, loopback origins are the peers'.
        assert!(matches!(on_look(&look("a", 5), addr(2), &[], &mut seen, now), Step::Forward(_)));
        assert!(seen.len() == 1);
    }

    #[test]
    fn searches_are_bounded_per_second() {
        let now = Instant::now();
        let mut budget = LookBudget::new(now);
        let taken = (0..100).filter(|_| budget.take(now)).count();
        assert_eq!((taken, budget.dropped), (LOOKS_PER_SECOND as usize, 80));
        // Half a second refills half the bucket.
        let later = now + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| budget.take(later)).count(), LOOKS_PER_SECOND as usize / 2);
        assert!(budget.log_now(later) && !budget.log_now(later));
    }

    #[test]
    fn answers_merge_by_key_and_leave_out_the_searcher() {
        let mut c = Collector::new(vec![Criterion::Name(FileName::new("a").unwrap())], addr(1));
        let found = |at, seeders: Vec<SocketAddr>, leechers: Vec<SocketAddr>| LanMessage::Found {
            at,
            file: entry("a", 'a'),
            seeders,
            leechers,
        };
        assert!(c.take(&found(addr(3), vec![addr(3)], vec![])));
        assert!(c.take(&found(addr(4), vec![addr(3), addr(1)], vec![addr(4)])));
        // A course peer leaving the lists empty: the answerer is the source.
        assert!(c.take(&found(addr(5), vec![], vec![])));
        assert!(!c.take(&LanMessage::Found { at: addr(6), file: entry("b", 'b'), seeders: vec![], leechers: vec![] }));
        assert!(c.take(&LanMessage::NotFound { at: addr(7) }));
        assert_eq!(c.files(), [entry("a", 'a')]);
        let sources: Vec<_> = c.sources().flat_map(|(_, s)| s.iter().copied()).collect();
        assert_eq!(sources, [addr(3), addr(4), addr(5)]);
        assert_eq!((c.answers, c.notices.as_slice()), (3, [addr(7)].as_slice()));
    }
}
