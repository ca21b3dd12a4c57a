//! What the tracker knows: which peer holds which file, with expiry.
//!
//! A peer is its connection's source IP plus the port it announced, and
//! belongs to the connection that announced it while that connection is
//! open (`owner`). Files are indexed by key, by exact name and by part
//! of the name, so no `look` tests every file one by one. All methods
//! are short, allocation-light and do no I/O, so one `parking_lot::Mutex`
//! around the cache is the right tool: critical sections are a few
//! microseconds and uncontended most of the time, which beats the
//! complexity of sharding or a lock-free map.
//!
//! Peers and files are numbered (`peers`, `files`): records sit in
//! slabs and refer to each other by 4-byte numbers, so a million files
//! take about a hundred and fifty megabytes (the README has the
//! breakdown). Under load a request's cost here is mostly cache misses,
//! one per pointer followed into a large table, so the layout also
//! avoids pointers: keys are packed inline (`key`), a file's few holders
//! sit in its record (`holders`), the name index holds hashes and file
//! numbers, not names (`names`), a search by part of a name scans one
//! buffer of names (`search`), a file's description is kept once however
//! many seeders give it (`descriptions`), a peer's new lists are compared
//! with its old ones so only the files that changed are touched, and
//! files left unheld are forgotten by the maintenance pass rather than at
//! once. (Measured under load: about 1 in 60 lock acquisitions waits.)
//!
//! What one IP address may hold is bounded (`limits`), and the pass
//! shrinks tables that became much emptier, so a flood of peers leaves
//! nothing behind once they expire.

use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::{Criterion, FileEntry, FileRef};

pub use self::files::MAX_UNHELD;
pub use self::limits::{Limits, Refused};
pub use self::owner::Owner;
pub use self::view::{FileRow, Footprint, MAX_MATCHES, MAX_PAGE, Page, PeerRow};

use self::files::{FileNo, Files};
use self::limits::AtIp;
use self::peers::{PeerEntry, PeerNo, Peers};

mod descriptions;
mod files;
mod holders;
mod key;
mod limits;
#[cfg(test)]
mod model;
mod names;
mod owner;
mod peers;
mod search;
#[cfg(test)]
mod tests;
mod view;

// foldhash, randomly seeded per map: SipHash was a tenth of the
// tracker's user-space time, and the seed still keeps peers from
// choosing keys that collide.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = StdHashSet<K, foldhash::fast::RandomState>;

/// A peer: source IP of its connection and the port it listens on.
pub type PeerId = SocketAddr;

#[derive(Debug, Default)]
pub struct Cache {
    peers: Peers,
    /// Peers by IP: what each address holds, for its limits, and for
    /// requests on connections that never announced (one connection per
    /// request in early course peers), where a scan of every peer per
    /// request did not scale to thousands.
    by_ip: HashMap<IpAddr, AtIp>,
    files: Files,
    limits: Limits,
}

/// How many entries the cache holds, and the room its tables keep: what
/// tests look at to see that memory is given back (`names` is a scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub peers: usize,
    pub files: usize,
    /// Files in the name index.
    pub names: usize,
    /// IP addresses with peers.
    pub addresses: usize,
    /// Files whose seeders disagree on the description.
    pub disputes: usize,
    /// Files waiting for the pass to forget them.
    pub unheld: usize,
    /// Entries the tables could hold without growing, summed.
    pub capacity: usize,
}

impl Cache {
    /// A cache without limits.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limits(limits: Limits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// Records a peer's files for the connection `owner`, replacing
    /// whatever the peer announced before.
    pub fn announce<K: AsRef<FileKey>>(
        &mut self,
        peer: PeerId,
        owner: &Owner,
        seed: Vec<FileEntry>,
        leech: impl IntoIterator<Item = K>,
        now: Instant,
    ) -> Result<(), Refused> {
        let leech: Vec<K> = leech.into_iter().collect();
        self.admit(peer, self.peers.find(&peer), owner, seed.len() + leech.len())?;
        let no = self.enter(peer, owner, now);
        let seed = seed.iter().map(|entry| self.files.seed_described(no, entry, &self.peers)).collect();
        let leech = leech.iter().map(|key| self.files.number(key.as_ref())).collect();
        self.replace_holdings(no, seed, leech);
        Ok(())
    }

    /// Replaces the keys a known peer seeds and leeches. A file described
    /// in the seed list (`NAME LENGTH PIECESIZE KEY`, as some course peers
    /// send it) is described as `announce` describes it; descriptions in
    /// the leech list are not used: the seeders' descriptions name a file.
    pub fn update(
        &mut self,
        peer: PeerId,
        owner: &Owner,
        seed: &[FileRef],
        leech: &[FileRef],
        now: Instant,
    ) -> Result<(), Refused> {
        let known = self.peers.find(&peer).ok_or(Refused::NotAnnounced)?;
        self.admit(peer, Some(known), owner, seed.len() + leech.len())?;
        let no = self.enter(peer, owner, now);
        let seed = seed
            .iter()
            .map(|r| match r {
                FileRef::Key(key) => self.files.number(key),
                FileRef::Described(entry) => self.files.seed_described(no, entry, &self.peers),
            })
            .collect();
        let leech = leech.iter().map(|r| self.files.number(r.as_ref())).collect();
        self.replace_holdings(no, seed, leech);
        Ok(())
    }

    /// Whether `owner` may give `peer` (`known`, if the cache knows it)
    /// lists of `files` keys: the peer is not another open connection's,
    /// and its address stays within its limits. Checked before anything
    /// changes; an address's counts are only read when it may grow.
    fn admit(&self, peer: PeerId, known: Option<&PeerEntry>, owner: &Owner, files: usize) -> Result<(), Refused> {
        if let Some(known) = known
            && !known.owner.is(owner)
            && known.owner.is_open()
        {
            return Err(Refused::Held(peer));
        }
        let before = known.map_or(0, PeerEntry::files);
        if known.is_some() && files <= before {
            return Ok(());
        }
        let ip = peer.ip();
        let at_ip = self.by_ip.get(&ip);
        if known.is_none() && at_ip.map_or(0, |at| at.peers.len()) >= self.limits.peers_per_ip {
            return Err(Refused::TooManyPeers { ip, limit: self.limits.peers_per_ip });
        }
        if at_ip.map_or(0, |at| at.files).saturating_sub(before) + files > self.limits.files_per_ip {
            return Err(Refused::TooManyFiles { ip, limit: self.limits.files_per_ip });
        }
        Ok(())
    }

    /// The number of `peer`, made known with empty lists if it was not,
    /// seen `now` and spoken for by `owner`.
    fn enter(&mut self, peer: PeerId, owner: &Owner, now: Instant) -> PeerNo {
        if let Some(no) = self.peers.number(&peer)
            && let Some(known) = self.peers.get_mut(no)
        {
            known.last_seen = now;
            if !known.owner.is(owner) {
                known.owner = owner.clone();
            }
            return no;
        }
        let entry = PeerEntry { addr: peer, seed: vec![], leech: vec![], last_seen: now, owner: owner.clone() };
        let no = self.peers.insert(entry);
        self.by_ip.entry(peer.ip()).or_default().peers.insert(no);
        no
    }

    /// Moves peer `no`'s roles from its old lists to the new ones,
    /// touching only the files that changed (peers mostly announce what
    /// they had). Seeders that stay and give a description were described
    /// already (`Files::seed_described`). Files left unheld are forgotten
    /// later (see `Files::unheld`).
    fn replace_holdings(&mut self, no: PeerNo, seed: Vec<FileNo>, leech: Vec<FileNo>) {
        let Some(entry) = self.peers.get_mut(no) else { return };
        let (old_seed, old_leech) =
            (std::mem::replace(&mut entry.seed, seed), std::mem::replace(&mut entry.leech, leech));
        let (before, after, ip) = (old_seed.len() + old_leech.len(), entry.files(), entry.addr.ip());
        if before != after
            && let Some(at_ip) = self.by_ip.get_mut(&ip)
        {
            at_ip.files = at_ip.files.saturating_sub(before) + after;
        }
        let Some(now_holds) = self.peers.get(no) else { return };
        if old_seed == now_holds.seed && old_leech == now_holds.leech {
            return;
        }
        // Unheld files beyond `MAX_UNHELD`, forgotten once every role has
        // moved: a file going from seeded to leeched stays held.
        let mut forget_now = Vec::new();
        let lists = [(&old_seed, &now_holds.seed, true), (&old_leech, &now_holds.leech, false)];
        for (was, is, seeding) in lists {
            let (was_in, is_in) = (Members::new(was), Members::new(is));
            for &file in was.iter().filter(|f| !is_in.contains(f)) {
                if self.files.release(file, no, seeding, &self.peers) {
                    forget_now.push(file);
                }
            }
            for &file in is.iter().filter(|f| !was_in.contains(f)) {
                if seeding {
                    self.files.seed(file, no, &self.peers);
                } else {
                    self.files.leech(file, no);
                }
            }
        }
        for file in forget_now {
            self.files.drop_if_unheld(file);
        }
    }

    /// Marks a known peer as alive, if `owner` speaks for it.
    pub fn touch(&mut self, peer: PeerId, owner: &Owner, now: Instant) {
        if let Some(no) = self.peers.number(&peer)
            && let Some(p) = self.peers.get_mut(no)
            && p.owner.is(owner)
        {
            p.last_seen = now;
        }
    }

    /// The one known peer at `ip`, for connections that did not announce:
    /// `getfile` leaves it out of its answer.
    pub fn sole_peer_at(&self, ip: IpAddr) -> Option<PeerId> {
        self.peers.addr(self.by_ip.get(&ip)?.peers.sole()?)
    }

    /// The peer a connection that did not announce speaks for, from `ip`:
    /// the only one there that no other open connection holds.
    pub fn speaker(&self, ip: IpAddr, owner: &Owner) -> Result<PeerId, Refused> {
        let Some(at_ip) = self.by_ip.get(&ip) else { return Err(Refused::NotAnnounced) };
        let entries = at_ip.peers.iter().filter_map(|&no| self.peers.get(no));
        let mut free = entries.filter(|e| e.owner.is(owner) || !e.owner.is_open()).map(|e| e.addr);
        match (free.next(), free.next(), at_ip.peers.sole().and_then(|no| self.peers.addr(no))) {
            (Some(peer), None, _) => Ok(peer),
            (None, _, Some(held)) => Err(Refused::Held(held)),
            _ => Err(Refused::NotAnnounced),
        }
    }

    /// See `Files::look`.
    pub fn look(&self, criteria: &[Criterion], cap: usize) -> Vec<FileEntry> {
        self.files.look(criteria, cap)
    }

    /// See `Files::getfile`.
    pub fn getfile(&self, key: &FileKey, requester: Option<PeerId>, cap: usize) -> Vec<PeerId> {
        let requester = requester.and_then(|p| self.peers.number(&p));
        self.files.getfile(key, requester, cap, &self.peers)
    }

    /// The maintenance pass: forgets peers not seen for `ttl` and files
    /// nobody holds, and shrinks tables that became much emptier; returns
    /// the peers forgotten.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<PeerId> {
        let dead: Vec<PeerNo> =
            self.peers.iter().filter(|(_, p)| now.duration_since(p.last_seen) > ttl).map(|(no, _)| no).collect();
        let gone = dead.into_iter().filter_map(|no| self.forget(no)).collect();
        self.files.forget_unheld();
        self.peers.shrink();
        shrink(&mut self.by_ip);
        gone
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Files known; right after `expire`, files someone holds.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    pub fn sizes(&self) -> Sizes {
        let (names, disputes, unheld, capacity) = self.files.sizes();
        Sizes {
            peers: self.peers.len(),
            files: self.files.len(),
            names,
            addresses: self.by_ip.len(),
            disputes,
            unheld,
            capacity: capacity + self.peers.capacity() + self.by_ip.capacity(),
        }
    }

    /// Forgets peer `no` and its roles; its address, if it was known.
    fn forget(&mut self, no: PeerNo) -> Option<PeerId> {
        let old = self.peers.remove(no)?;
        let ip = old.addr.ip();
        if let Some(at_ip) = self.by_ip.get_mut(&ip) {
            at_ip.peers.remove(&no);
            at_ip.files = at_ip.files.saturating_sub(old.files());
            if at_ip.peers.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
        for &file in &old.seed {
            self.files.forget_holder(file, no, true, &self.peers);
        }
        for &file in &old.leech {
            self.files.forget_holder(file, no, false, &self.peers);
        }
        Some(old.addr)
    }
}

/// Below this many entries a table is never shrunk: small tables cost
/// little and would only grow again.
const KEEP: usize = 64;

/// Gives back the memory of a table less than a quarter full, keeping
/// room to double: a flood that expired must not hold its memory for good.
fn shrink<K: Eq + Hash, V, S: BuildHasher>(map: &mut StdHashMap<K, V, S>) {
    if map.capacity() > 4 * map.len().max(KEEP) {
        map.shrink_to(2 * map.len());
    }
}

/// Membership in one of a peer's lists: a scan for the usual handful of
/// keys, a hash set for long ones (10,000 files in one announce must not
/// cost 10,000 x 10,000 comparisons).
enum Members<'a> {
    Few(&'a [FileNo]),
    Many(HashSet<FileNo>),
}

impl<'a> Members<'a> {
    const SCAN_UP_TO: usize = 16;

    fn new(files: &'a [FileNo]) -> Self {
        if files.len() <= Self::SCAN_UP_TO { Self::Few(files) } else { Self::Many(files.iter().copied().collect()) }
    }

    fn contains(&self, file: &FileNo) -> bool {
        match self {
            Self::Few(files) => files.contains(file),
            Self::Many(set) => set.contains(file),
        }
    }
}
