//! What the tracker knows: which peer holds which file, with expiry.
//!
//! A peer is its connection's source IP plus the port it announced, and
//! belongs to the connection that announced it while that connection is
//! open (`owner`). Files are indexed by key, and by exact name so
//! `look [filename="x"]` does not scan every file (`files`). All methods
//! are short, allocation-light and do no I/O, so one `parking_lot::Mutex`
//! around the cache is the right tool: critical sections are a few
//! microseconds and uncontended most of the time, which beats the
//! complexity of sharding or a lock-free map.
//!
//! Under load a request's cost here is mostly cache misses, one per
//! pointer followed into a large table, so the layout avoids pointers:
//! keys are stored inline (`key`), a file's few holders sit in its record
//! (`holders`), the name index holds hashes and keys, not names
//! (`names`), a file's description is kept once however many seeders
//! give it (`descriptions`), a peer's new lists are compared with its old
//! ones so only the files that changed are touched, and files left
//! unheld are forgotten by the maintenance pass rather than at once.
//! (Measured under load: about 1 in 60 lock acquisitions waits.)
//!
//! What one IP address may hold is bounded (`limits`), and the pass
//! shrinks tables that became much emptier, so a flood of peers leaves
//! nothing behind once they expire.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::{Criterion, FileEntry, FileRef};

pub use self::limits::{Limits, Refused};
pub use self::owner::Owner;
pub use self::view::{FileRow, MAX_PAGE, Page, PeerRow};

use self::files::Files;
use self::key::Key;
use self::limits::AtIp;

mod descriptions;
mod files;
mod holders;
mod key;
mod limits;
mod names;
mod owner;
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

#[derive(Debug)]
struct PeerEntry {
    seed: Vec<Key>,
    leech: Vec<Key>,
    last_seen: Instant,
    /// The connection that speaks for it (`owner`).
    owner: Owner,
}

impl PeerEntry {
    fn files(&self) -> usize {
        self.seed.len() + self.leech.len()
    }
}

#[derive(Debug, Default)]
pub struct Cache {
    peers: HashMap<PeerId, PeerEntry>,
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
    /// Keys in the name index.
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
        let leech = keys(leech);
        self.admit(peer, self.peers.get(&peer), owner, seed.len() + leech.len())?;
        let seed = seed.into_iter().map(|entry| self.files.seed_described(peer, Cow::Owned(entry))).collect();
        self.replace_holdings(peer, owner, seed, leech, now);
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
        let known = self.peers.get(&peer).ok_or(Refused::NotAnnounced)?;
        self.admit(peer, Some(known), owner, seed.len() + leech.len())?;
        let seed = seed
            .iter()
            .map(|r| match r {
                FileRef::Key(key) => Key::from(key),
                FileRef::Described(entry) => self.files.seed_described(peer, Cow::Borrowed(entry)),
            })
            .collect();
        self.replace_holdings(peer, owner, seed, keys(leech), now);
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

    /// Moves the peer's roles from its old lists to the new ones, touching
    /// only the keys that changed (peers mostly announce what they had).
    /// Seeders that stay and give a description were described already
    /// (`Files::seed_described`). Files left unheld are forgotten later
    /// (see `Files::unheld`).
    fn replace_holdings(&mut self, peer: PeerId, owner: &Owner, seed: Vec<Key>, leech: Vec<Key>, now: Instant) {
        let (now_holds, old_seed, old_leech) = match self.peers.entry(peer) {
            Entry::Occupied(known) => {
                let known = known.into_mut();
                known.last_seen = now;
                if !known.owner.is(owner) {
                    known.owner = owner.clone();
                }
                let old = (std::mem::replace(&mut known.seed, seed), std::mem::replace(&mut known.leech, leech));
                (&*known, old.0, old.1)
            }
            Entry::Vacant(new) => {
                self.by_ip.entry(peer.ip()).or_default().peers.insert(peer);
                let new = new.insert(PeerEntry { seed, leech, last_seen: now, owner: owner.clone() });
                (&*new, vec![], vec![])
            }
        };
        let (before, after) = (old_seed.len() + old_leech.len(), now_holds.files());
        if before != after
            && let Some(at_ip) = self.by_ip.get_mut(&peer.ip())
        {
            at_ip.files = at_ip.files.saturating_sub(before) + after;
        }
        if old_seed == now_holds.seed && old_leech == now_holds.leech {
            return;
        }
        // Unheld files beyond `MAX_UNHELD`, forgotten once every role has
        // moved: a file going from seeded to leeched stays held.
        let mut forget_now = Vec::new();
        let lists = [(&old_seed, &now_holds.seed, true), (&old_leech, &now_holds.leech, false)];
        for (was, is, seeding) in lists {
            let (was_in, is_in) = (Members::new(was), Members::new(is));
            for key in was.iter().filter(|k| !is_in.contains(k)) {
                if self.files.release(key, &peer, seeding) {
                    forget_now.push(key);
                }
            }
            for key in is.iter().filter(|k| !was_in.contains(k)) {
                if seeding {
                    self.files.seed(key, peer);
                } else {
                    self.files.leech(key, peer);
                }
            }
        }
        for key in forget_now {
            self.files.drop_if_unheld(key);
        }
    }

    /// Marks a known peer as alive, if `owner` speaks for it.
    pub fn touch(&mut self, peer: PeerId, owner: &Owner, now: Instant) {
        if let Some(p) = self.peers.get_mut(&peer)
            && p.owner.is(owner)
        {
            p.last_seen = now;
        }
    }

    /// The one known peer at `ip`, for connections that did not announce:
    /// `getfile` leaves it out of its answer.
    pub fn sole_peer_at(&self, ip: IpAddr) -> Option<PeerId> {
        self.by_ip.get(&ip)?.peers.sole()
    }

    /// The peer a connection that did not announce speaks for, from `ip`:
    /// the only one there that no other open connection holds.
    pub fn speaker(&self, ip: IpAddr, owner: &Owner) -> Result<PeerId, Refused> {
        let Some(at_ip) = self.by_ip.get(&ip) else { return Err(Refused::NotAnnounced) };
        let free = |p: &&PeerId| self.peers.get(p).is_some_and(|e| e.owner.is(owner) || !e.owner.is_open());
        let mut free = at_ip.peers.iter().filter(free);
        match (free.next(), free.next(), at_ip.peers.sole()) {
            (Some(peer), None, _) => Ok(*peer),
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
        self.files.getfile(key, requester, cap)
    }

    /// The maintenance pass: forgets peers not seen for `ttl` and files
    /// nobody holds, and shrinks tables that became much emptier; returns
    /// the peers forgotten.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<PeerId> {
        let dead: Vec<PeerId> =
            self.peers.iter().filter(|(_, p)| now.duration_since(p.last_seen) > ttl).map(|(id, _)| *id).collect();
        for peer in &dead {
            self.forget(*peer);
        }
        self.files.forget_unheld();
        shrink(&mut self.peers);
        shrink(&mut self.by_ip);
        dead
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

    fn forget(&mut self, peer: PeerId) {
        let Some(old) = self.peers.remove(&peer) else { return };
        if let Some(at_ip) = self.by_ip.get_mut(&peer.ip()) {
            at_ip.peers.remove(&peer);
            at_ip.files = at_ip.files.saturating_sub(old.files());
            if at_ip.peers.is_empty() {
                self.by_ip.remove(&peer.ip());
            }
        }
        for key in &old.seed {
            self.files.forget_holder(key, &peer, true);
        }
        for key in &old.leech {
            self.files.forget_holder(key, &peer, false);
        }
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

fn keys<K: AsRef<FileKey>>(keys: impl IntoIterator<Item = K>) -> Vec<Key> {
    keys.into_iter().map(|k| Key::from(k.as_ref())).collect()
}

/// Membership in one of a peer's lists: a scan for the usual handful of
/// keys, a hash set for long ones (10,000 files in one announce must not
/// cost 10,000 x 10,000 comparisons).
enum Members<'a> {
    Few(&'a [Key]),
    Many(HashSet<&'a Key>),
}

impl<'a> Members<'a> {
    const SCAN_UP_TO: usize = 16;

    fn new(keys: &'a [Key]) -> Self {
        if keys.len() <= Self::SCAN_UP_TO { Self::Few(keys) } else { Self::Many(keys.iter().collect()) }
    }

    fn contains(&self, key: &Key) -> bool {
        match self {
            Self::Few(keys) => keys.contains(key),
            Self::Many(set) => set.contains(key),
        }
    }
}
