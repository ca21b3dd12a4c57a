//! What the tracker knows: which peer holds which file, with expiry.
//!
//! A peer is its connection's source IP plus the port it announced. Files
//! are indexed by key, and by exact name so `look [filename="x"]` does not
//! scan every file. All methods are short, allocation-light and do no
//! I/O, so one `parking_lot::Mutex` around the cache is the right tool:
//! critical sections are a few microseconds and uncontended most of the
//! time, which beats the complexity of sharding or a lock-free map.
//!
//! Under load a request's cost here is mostly cache misses, one per
//! pointer followed into a large table, so the layout avoids pointers:
//! keys are stored inline (`key`), a file's few holders sit in its record
//! (`holders`), the name index holds hashes and keys, not names
//! (`names`), a peer's new lists are compared with its old ones so only
//! the files that changed are touched, and files left unheld are
//! forgotten by the maintenance pass rather than at once (`unheld`).
//! (Measured under load: about 1 in 60 lock acquisitions waits.)

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::FileKey;
#[cfg(test)]
use common::protocol::FileName;
use common::protocol::{Criterion, FileEntry, FileRef};

use self::holders::Holders;
use self::key::Key;
use self::names::Names;

mod holders;
mod key;
mod names;

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
}

#[derive(Debug, Default)]
struct FileRecord {
    /// Name, length and piece size from the announce that made the file
    /// known; `None` while it is known only from `leech`/`update` keys.
    entry: Option<FileEntry>,
    seeders: Holders,
    leechers: Holders,
    /// In `Cache::unheld`.
    listed: bool,
}

impl FileRecord {
    fn is_held(&self) -> bool {
        !self.seeders.is_empty() || !self.leechers.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct Cache {
    peers: HashMap<PeerId, PeerEntry>,
    /// Peers by IP, for requests on connections that never announced
    /// (one connection per request in early course peers): a scan of
    /// every peer per request did not scale to thousands.
    by_ip: HashMap<IpAddr, Holders>,
    files: HashMap<Key, FileRecord>,
    by_name: Names,
    /// Files that lost their last holder since the last `expire`, which
    /// forgets those still unheld. Forgetting at once cost more than the
    /// rest of an `update`: peers drop and take files back all the time,
    /// and each time the record, its name index and its sets were freed
    /// and allocated again. An unheld file answers like an unknown one.
    /// Each file is listed once (`listed`), and at most `MAX_UNHELD` are:
    /// beyond, files are forgotten at once, so a peer cycling through new
    /// keys cannot grow the cache between passes, nor make a pass long.
    unheld: Vec<Key>,
}

/// See `Cache::unheld`: far more than normal churn between two passes,
/// a few milliseconds of work for the pass.
const MAX_UNHELD: usize = 1 << 16;

/// `update` from a peer the tracker does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnnounced;

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a peer's files, replacing whatever it announced before.
    pub fn announce<K: AsRef<FileKey>>(
        &mut self,
        peer: PeerId,
        seed: Vec<FileEntry>,
        leech: impl IntoIterator<Item = K>,
        now: Instant,
    ) {
        let seed_keys = seed.into_iter().map(|entry| self.record_description(Cow::Owned(entry))).collect();
        self.replace_holdings(peer, seed_keys, keys(leech), now);
    }

    /// Replaces the keys a known peer seeds and leeches. A file described
    /// in the seed list (`NAME LENGTH PIECESIZE KEY`, as some course peers
    /// send it) is named as `announce` names it; descriptions in the leech
    /// list are not used: the seeders' descriptions name a file.
    pub fn update(
        &mut self,
        peer: PeerId,
        seed: &[FileRef],
        leech: &[FileRef],
        now: Instant,
    ) -> Result<(), NotAnnounced> {
        if !self.peers.contains_key(&peer) {
            return Err(NotAnnounced);
        }
        let seed_keys = seed
            .iter()
            .map(|r| match r {
                FileRef::Key(key) => Key::from(key),
                FileRef::Described(entry) => self.record_description(Cow::Borrowed(entry)),
            })
            .collect();
        self.replace_holdings(peer, seed_keys, keys(leech), now);
        Ok(())
    }

    /// Records the name and size a seeder gives for a file the cache has
    /// no description of, or whose holders all left (see below); a file
    /// held by someone keeps the description it has. The caller makes
    /// the peer a holder of the returned key.
    fn record_description(&mut self, entry: Cow<'_, FileEntry>) -> Key {
        let key = Key::from(&entry.key);
        let record = self.files.entry(key.clone()).or_default();
        // A file nobody holds any more only waits for the pass that
        // forgets it (`unheld`): its name and size are not kept,
        // though mostly it comes back as it was.
        let stale = record.listed && !record.is_held();
        match &record.entry {
            None => {
                self.by_name.insert(&entry.name, &key);
                record.entry = Some(entry.into_owned());
            }
            Some(old) if stale && *old != *entry => {
                if old.name != entry.name {
                    self.by_name.remove(&old.name, &key);
                    self.by_name.insert(&entry.name, &key);
                }
                record.entry = Some(entry.into_owned());
            }
            Some(_) => {}
        }
        key
    }

    /// Moves the peer's roles from its old lists to the new ones, touching
    /// only the keys that changed (peers mostly announce what they had).
    /// Files left unheld are forgotten later (see `unheld`), so a file
    /// that stays held never loses its name and size.
    fn replace_holdings(&mut self, peer: PeerId, seed: Vec<Key>, leech: Vec<Key>, now: Instant) {
        let held = PeerEntry { seed, leech, last_seen: now };
        let (old, held) = match self.peers.entry(peer) {
            Entry::Occupied(known) => {
                let slot = known.into_mut();
                (std::mem::replace(slot, held), &*slot)
            }
            Entry::Vacant(new) => {
                self.by_ip.entry(peer.ip()).or_default().insert(peer);
                (PeerEntry { seed: vec![], leech: vec![], last_seen: now }, &*new.insert(held))
            }
        };
        if old.seed == held.seed && old.leech == held.leech {
            return;
        }
        // Unheld files beyond `MAX_UNHELD`, forgotten once every role has
        // moved: a file going from seeded to leeched stays held.
        let mut forget_now = Vec::new();
        for (was, is, seeding) in [(&old.seed, &held.seed, true), (&old.leech, &held.leech, false)] {
            let (was_in, is_in) = (Members::new(was), Members::new(is));
            for key in was.iter().filter(|k| !is_in.contains(k)) {
                if let Some(record) = self.files.get_mut(key) {
                    let set = if seeding { &mut record.seeders } else { &mut record.leechers };
                    set.remove(&peer);
                    if !record.is_held() && !record.listed {
                        if self.unheld.len() < MAX_UNHELD {
                            record.listed = true;
                            self.unheld.push(key.clone());
                        } else {
                            forget_now.push(key);
                        }
                    }
                }
            }
            for key in is.iter().filter(|k| !was_in.contains(k)) {
                let record = self.files.entry(key.clone()).or_default();
                let set = if seeding { &mut record.seeders } else { &mut record.leechers };
                set.insert(peer);
            }
        }
        for key in forget_now {
            Self::drop_if_unheld(&mut self.files, &mut self.by_name, key);
        }
    }

    /// Marks a known peer as alive.
    pub fn touch(&mut self, peer: PeerId, now: Instant) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.last_seen = now;
        }
    }

    /// The one known peer at `ip`, for connections that did not announce.
    pub fn sole_peer_at(&self, ip: IpAddr) -> Option<PeerId> {
        self.by_ip.get(&ip)?.sole()
    }

    /// Files some peer seeds that match every criterion, unique by key,
    /// at most `cap`, sorted by name. (A file only leechers hold cannot be
    /// completed, so it is not offered.)
    pub fn look(&self, criteria: &[Criterion], cap: usize) -> Vec<FileEntry> {
        let exact = criteria.iter().find_map(|c| match c {
            Criterion::Name(n) => Some(n),
            _ => None,
        });
        let matches = |r: &&FileRecord| {
            !r.seeders.is_empty() && r.entry.as_ref().is_some_and(|e| criteria.iter().all(|c| c.matches(e)))
        };
        let mut found: Vec<FileEntry> = match exact {
            Some(name) => self
                .by_name
                .candidates(name)
                .iter()
                .filter_map(|k| self.files.get(k))
                .filter(matches)
                .take(cap)
                .filter_map(|r| r.entry.clone())
                .collect(),
            None => self.files.values().filter(matches).take(cap).filter_map(|r| r.entry.clone()).collect(),
        };
        found.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key)));
        found
    }

    /// Peers holding all or part of `key`, never `requester`; beyond `cap`
    /// a random subset, so load spreads over every holder.
    pub fn getfile(&self, key: &FileKey, requester: Option<PeerId>, cap: usize) -> Vec<PeerId> {
        let Some(record) = self.files.get(&Key::from(key)) else { return Vec::new() };
        let (seeders, leechers) = (&record.seeders, &record.leechers);
        let mut peers: Vec<PeerId> = seeders
            .iter()
            .chain(leechers.iter().filter(|p| !seeders.contains(p)))
            .copied()
            .filter(|p| Some(*p) != requester)
            .collect();
        if peers.len() > cap {
            fastrand::shuffle(&mut peers);
            peers.truncate(cap);
        }
        peers.sort();
        peers
    }

    /// Forgets peers not seen for `ttl`, and files nobody holds; returns
    /// the peers.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<PeerId> {
        let dead: Vec<PeerId> =
            self.peers.iter().filter(|(_, p)| now.duration_since(p.last_seen) > ttl).map(|(id, _)| *id).collect();
        for peer in &dead {
            self.forget(*peer);
        }
        for key in std::mem::take(&mut self.unheld) {
            Self::drop_if_unheld(&mut self.files, &mut self.by_name, &key);
        }
        dead
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Files known; right after `expire`, files someone holds.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    fn forget(&mut self, peer: PeerId) {
        let Some(old) = self.peers.remove(&peer) else { return };
        if let Some(at_ip) = self.by_ip.get_mut(&peer.ip()) {
            at_ip.remove(&peer);
            if at_ip.is_empty() {
                self.by_ip.remove(&peer.ip());
            }
        }
        for key in old.seed.iter().chain(&old.leech) {
            if let Some(record) = self.files.get_mut(key) {
                record.seeders.remove(&peer);
                record.leechers.remove(&peer);
            }
            Self::drop_if_unheld(&mut self.files, &mut self.by_name, key);
        }
    }

    /// Takes the maps rather than `self` so callers may hold keys
    /// borrowed from a peer's lists.
    fn drop_if_unheld(files: &mut HashMap<Key, FileRecord>, by_name: &mut Names, key: &Key) {
        let Some(record) = files.get_mut(key) else { return };
        if record.is_held() {
            record.listed = false;
            return;
        }
        if let Some(entry) = &record.entry {
            by_name.remove(&entry.name, key);
        }
        files.remove(key);
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

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [FileKey; 0] = [];

    fn refs(keys: impl IntoIterator<Item = FileKey>) -> Vec<FileRef> {
        keys.into_iter().map(FileRef::Key).collect()
    }

    fn key(c: char) -> FileKey {
        FileKey::parse(c.to_string().repeat(32).as_bytes()).unwrap()
    }
    fn file(name: &str, len: u64, k: char) -> FileEntry {
        FileEntry { name: FileName::new(name).unwrap(), length: len, piece_size: 1024, key: key(k) }
    }
    fn peer(n: u8) -> PeerId {
        SocketAddr::from(([127, 0, 0, n], 5001))
    }

    #[test]
    fn announce_replaces_and_expiry_forgets() {
        let t0 = Instant::now();
        let mut c = Cache::new();
        c.announce(peer(1), vec![file("a", 10, 'a'), file("b", 20, 'b')], NONE, t0);
        c.announce(peer(2), vec![], vec![key('a')], t0);
        assert_eq!(c.getfile(&key('a'), Some(peer(2)), 10), vec![peer(1)]);
        assert_eq!(c.getfile(&key('a'), None, 10), vec![peer(1), peer(2)]);
        assert_eq!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10), vec![file("b", 20, 'b')]);
        // Announcing again replaces the lists: b is gone.
        c.announce(peer(1), vec![file("a", 10, 'a')], NONE, t0);
        assert!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10).is_empty());
        assert!(c.getfile(&key('b'), None, 10).is_empty());
        assert_eq!(c.expire(t0, Duration::from_secs(6)), vec![]);
        assert_eq!(c.file_count(), 1, "b, held by nobody, is forgotten by the maintenance pass");
        // peer 2 refreshes, peer 1 stays silent.
        c.touch(peer(2), t0 + Duration::from_secs(5));
        let gone = c.expire(t0 + Duration::from_secs(8), Duration::from_secs(6));
        assert_eq!(gone, vec![peer(1)]);
        assert_eq!(c.getfile(&key('a'), None, 10), vec![peer(2)]);
        // Only a leecher holds part of it: not offered by look.
        assert!(c.look(&[], 10).is_empty());
        assert_eq!(c.file_count(), 1);
        c.expire(t0 + Duration::from_secs(20), Duration::from_secs(6));
        assert!(c.look(&[], 10).is_empty() && c.file_count() == 0, "nobody holds it any more");
    }

    #[test]
    fn update_requires_announce_and_caps_apply() {
        let t0 = Instant::now();
        let mut c = Cache::new();
        assert_eq!(c.update(peer(9), &[], &[], t0), Err(NotAnnounced));
        for n in 1..=20 {
            c.announce(peer(n), vec![file("a", 10, 'a')], NONE, t0);
        }
        assert_eq!(c.getfile(&key('a'), None, 5).len(), 5);
        assert_eq!(c.look(&[], 1).len(), 1);
        // A sole holder updating keeps its file's name and size.
        c.announce(peer(30), vec![file("solo", 3, 'd')], NONE, t0);
        c.update(peer(30), &refs([key('d')]), &[], t0).unwrap();
        assert_eq!(c.look(&[Criterion::Name(FileName::new("solo").unwrap())], 5), vec![file("solo", 3, 'd')]);
        c.update(peer(1), &refs([key('c')]), &[], t0).unwrap();
        assert_eq!(c.getfile(&key('c'), None, 5), vec![peer(1)]);
        assert_eq!(c.sole_peer_at(peer(3).ip()), Some(peer(3)));
    }

    #[test]
    fn update_descriptions_name_files_as_announce_does() {
        let t0 = Instant::now();
        let mut c = Cache::new();
        let described = |e: FileEntry| FileRef::Described(e);
        c.announce(peer(1), vec![file("a", 10, 'a')], NONE, t0);
        c.update(peer(1), &refs([key('a'), key('b')]), &[], t0).unwrap();
        assert_eq!(c.look(&[], 10), vec![file("a", 10, 'a')], "b is known by its key only");
        let seed = [described(file("b", 20, 'b')), described(file("renamed", 99, 'a')), FileRef::Key(key('c'))];
        c.update(peer(1), &seed, &[described(file("leeched", 5, 'f'))], t0).unwrap();
        assert_eq!(c.look(&[], 10), vec![file("a", 10, 'a'), file("b", 20, 'b')], "a held file keeps its name");
        assert_eq!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10), vec![file("b", 20, 'b')]);
        // A leecher's description does not name the file for its seeders.
        c.announce(peer(2), vec![file("seeded", 7, 'f')], NONE, t0);
        assert_eq!(c.look(&[Criterion::Name(FileName::new("seeded").unwrap())], 10), vec![file("seeded", 7, 'f')]);
        // Like announce, a description replaces that of a file whose
        // holders all left and which is not forgotten yet.
        c.announce(peer(3), vec![file("old", 3, 'e')], NONE, t0);
        c.announce(peer(3), vec![], NONE, t0);
        c.update(peer(1), &[described(file("new", 4, 'e'))], &[], t0).unwrap();
        assert_eq!(c.look(&[Criterion::Name(FileName::new("new").unwrap())], 10), vec![file("new", 4, 'e')]);
        assert!(c.look(&[Criterion::Name(FileName::new("old").unwrap())], 10).is_empty());
        assert_eq!(c.update(peer(9), &seed, &[], t0), Err(NotAnnounced));
    }

    #[test]
    fn the_sole_peer_at_an_address_follows_announces_and_expiry() {
        let t0 = Instant::now();
        let mut c = Cache::new();
        let (a, b) = (peer(1), SocketAddr::from(([127, 0, 0, 1], 6000)));
        assert_eq!(c.sole_peer_at(a.ip()), None);
        c.announce(a, vec![], NONE, t0);
        c.announce(a, vec![], NONE, t0);
        assert_eq!(c.sole_peer_at(a.ip()), Some(a), "announcing again is still one peer");
        c.announce(b, vec![], NONE, t0 + Duration::from_secs(5));
        assert_eq!(c.sole_peer_at(a.ip()), None, "two peers: ambiguous");
        assert_eq!(c.expire(t0 + Duration::from_secs(8), Duration::from_secs(6)), vec![a]);
        assert_eq!(c.sole_peer_at(a.ip()), Some(b));
        c.expire(t0 + Duration::from_secs(20), Duration::from_secs(6));
        assert_eq!(c.sole_peer_at(a.ip()), None);
        assert!(c.by_ip.is_empty(), "no entry left behind");
    }

    #[test]
    fn unheld_files_answer_like_unknown_ones_until_the_pass_forgets_them() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut c = Cache::new();
        c.announce(peer(1), vec![file("a", 10, 'a'), file("b", 20, 'b')], vec![key('c')], t0);
        c.update(peer(1), &refs([key('a')]), &[], t0).unwrap();
        assert!(c.getfile(&key('b'), None, 10).is_empty() && c.getfile(&key('c'), None, 10).is_empty());
        assert!(c.look(&[], 10).iter().all(|f| f.key == key('a')));
        // b is taken back before the pass: it stays, with its name.
        c.update(peer(1), &refs([key('a'), key('b')]), &[], t0).unwrap();
        c.expire(t0, ttl);
        assert_eq!(c.file_count(), 2, "c is forgotten, a and b stay");
        assert_eq!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10), vec![file("b", 20, 'b')]);
        // Lost again after having been listed once: forgotten by the next pass.
        c.update(peer(1), &refs([key('a')]), &[], t0).unwrap();
        c.expire(t0, ttl);
        assert_eq!(c.file_count(), 1);
    }

    #[test]
    fn long_lists_change_by_difference() {
        let t0 = Instant::now();
        let mut c = Cache::new();
        let k = |i: u32| FileKey::parse(format!("{i:032x}").as_bytes()).unwrap();
        let files = (0..40).map(|i| FileEntry { key: k(i), ..file(&format!("f{i}"), 1, 'a') }).collect();
        c.announce(peer(1), files, (100..140).map(k), t0);
        // Seeds 0..20 and 40..60, leeches 120..160: every kind of change.
        c.update(peer(1), &refs((0..20).chain(40..60).map(k)), &refs((120..160).map(k)), t0).unwrap();
        for i in 0..160 {
            let held = (0..20).contains(&i) || (40..60).contains(&i) || (120..160).contains(&i);
            assert_eq!(c.getfile(&k(i), None, 10).len(), usize::from(held), "file {i}");
        }
        c.expire(t0, Duration::from_secs(60));
        assert_eq!(c.file_count(), 80);
    }

    #[test]
    fn a_file_announced_again_after_its_holders_left_takes_the_new_name() {
        let t0 = Instant::now();
        let mut c = Cache::new();
        c.announce(peer(1), vec![file("old", 10, 'a')], NONE, t0);
        c.announce(peer(1), vec![], NONE, t0);
        c.announce(peer(2), vec![file("new", 99, 'a')], NONE, t0);
        let name = |n: &str| [Criterion::Name(FileName::new(n).unwrap())];
        assert!(c.look(&name("old"), 10).is_empty());
        assert_eq!(c.look(&name("new"), 10), vec![file("new", 99, 'a')]);
        // Held by someone: the first name stays.
        c.announce(peer(3), vec![file("other", 5, 'a')], NONE, t0);
        assert_eq!(c.look(&[], 10), vec![file("new", 99, 'a')]);
        assert_eq!(c.by_name.len(), 1, "no stale name index");
        assert_eq!(c.by_name.candidates(&FileName::new("new").unwrap()).len(), 1);
        // Same name, another size.
        c.announce(peer(2), vec![], NONE, t0);
        c.announce(peer(3), vec![], NONE, t0);
        c.announce(peer(4), vec![file("new", 7, 'a')], NONE, t0);
        assert_eq!(c.look(&name("new"), 10), vec![file("new", 7, 'a')]);
        assert_eq!(c.by_name.candidates(&FileName::new("new").unwrap()).len(), 1);
        assert_eq!(c.by_name.len(), 1);
    }

    #[test]
    fn unheld_files_beyond_the_bound_are_forgotten_at_once() {
        let t0 = Instant::now();
        let mut c = Cache::new();
        let n = MAX_UNHELD + 100;
        let k = |i: usize| FileKey::parse(format!("{i:x}").as_bytes()).unwrap();
        c.announce(peer(1), vec![], (0..n).map(k), t0);
        c.update(peer(1), &[], &[], t0).unwrap();
        assert_eq!(c.unheld.len(), MAX_UNHELD);
        assert_eq!(c.file_count(), MAX_UNHELD, "the other 100 went at once");
        // Beyond the bound, a file moving from seeded to leeched stays.
        c.announce(peer(2), vec![file("moved", 3, 'e')], NONE, t0);
        c.update(peer(2), &[], &refs([key('e')]), t0).unwrap();
        c.announce(peer(3), vec![file("other", 4, 'e')], NONE, t0);
        assert_eq!(c.look(&[], 10), vec![file("moved", 3, 'e')], "held all along: its name stays");
        c.expire(t0, Duration::from_secs(60));
        assert_eq!(c.file_count(), 1);
    }
}
