//! What the tracker knows: which peer holds which file, with expiry.
//!
//! A peer is its connection's source IP plus the port it announced. Files
//! are indexed by key, and by exact name so `look [filename="x"]` does not
//! scan every file. All methods are short, allocation-light and do no
//! I/O, so one `parking_lot::Mutex` around the cache is the right tool:
//! critical sections are a few microseconds and uncontended most of the
//! time, which beats the complexity of sharding or a lock-free map.

use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::{Criterion, FileEntry, FileName};

// foldhash, randomly seeded per map: SipHash was a tenth of the
// tracker's user-space time, and the seed still keeps peers from
// choosing keys that collide.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = StdHashSet<K, foldhash::fast::RandomState>;

/// A peer: source IP of its connection and the port it listens on.
pub type PeerId = SocketAddr;

#[derive(Debug)]
struct PeerEntry {
    seed: Vec<FileKey>,
    leech: Vec<FileKey>,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct FileRecord {
    /// Name, length and piece size as first announced; `None` while the
    /// file is known only from `leech`/`update` keys.
    entry: Option<FileEntry>,
    seeders: HashSet<PeerId>,
    leechers: HashSet<PeerId>,
}

impl FileRecord {
    fn is_held(&self) -> bool {
        !self.seeders.is_empty() || !self.leechers.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct Cache {
    peers: HashMap<PeerId, PeerEntry>,
    files: HashMap<FileKey, FileRecord>,
    by_name: HashMap<FileName, Vec<FileKey>>,
}

/// `update` from a peer the tracker does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnnounced;

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a peer's files, replacing whatever it announced before.
    pub fn announce(&mut self, peer: PeerId, seed: Vec<FileEntry>, leech: Vec<FileKey>, now: Instant) {
        let mut seed_keys = Vec::with_capacity(seed.len());
        for entry in seed {
            let key = entry.key.clone();
            let record = self.files.entry(key.clone()).or_default();
            if record.entry.is_none() {
                self.by_name.entry(entry.name.clone()).or_default().push(key.clone());
                record.entry = Some(entry);
            }
            seed_keys.push(key);
        }
        self.replace_holdings(peer, seed_keys, leech, now);
    }

    /// Replaces the keys a known peer seeds and leeches.
    pub fn update(
        &mut self,
        peer: PeerId,
        seed: Vec<FileKey>,
        leech: Vec<FileKey>,
        now: Instant,
    ) -> Result<(), NotAnnounced> {
        if !self.peers.contains_key(&peer) {
            return Err(NotAnnounced);
        }
        self.replace_holdings(peer, seed, leech, now);
        Ok(())
    }

    /// Drops the old roles, takes the new ones, and only then forgets
    /// files nobody holds, so a file that stays held never loses its name
    /// and size.
    fn replace_holdings(&mut self, peer: PeerId, seed: Vec<FileKey>, leech: Vec<FileKey>, now: Instant) {
        let old = self.peers.insert(peer, PeerEntry { seed, leech, last_seen: now });
        let old_keys = old.map(|o| [o.seed, o.leech]).unwrap_or_default();
        for key in old_keys.iter().flatten() {
            if let Some(record) = self.files.get_mut(key) {
                record.seeders.remove(&peer);
                record.leechers.remove(&peer);
            }
        }
        let held = &self.peers[&peer];
        for (keys, seeding) in [(&held.seed, true), (&held.leech, false)] {
            for key in keys {
                // Look up before `entry`: most keys are known, and `entry`
                // would clone (allocate) the key just to find that out.
                let record = match self.files.get_mut(key) {
                    Some(record) => record,
                    None => self.files.entry(key.clone()).or_default(),
                };
                if seeding {
                    record.seeders.insert(peer)
                } else {
                    record.leechers.insert(peer)
                };
            }
        }
        for key in old_keys.into_iter().flatten() {
            self.drop_if_unheld(key);
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
        let mut found = self.peers.keys().filter(|p| p.ip() == ip);
        match (found.next(), found.next()) {
            (Some(p), None) => Some(*p),
            _ => None,
        }
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
                .get(name)
                .into_iter()
                .flatten()
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
        let Some(record) = self.files.get(key) else { return Vec::new() };
        let mut peers: Vec<PeerId> =
            record.seeders.union(&record.leechers).copied().filter(|p| Some(*p) != requester).collect();
        if peers.len() > cap {
            fastrand::shuffle(&mut peers);
            peers.truncate(cap);
        }
        peers.sort();
        peers
    }

    /// Forgets peers not seen for `ttl`; returns them.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<PeerId> {
        let dead: Vec<PeerId> =
            self.peers.iter().filter(|(_, p)| now.duration_since(p.last_seen) > ttl).map(|(id, _)| *id).collect();
        for peer in &dead {
            self.forget(*peer);
        }
        dead
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    fn forget(&mut self, peer: PeerId) {
        let Some(old) = self.peers.remove(&peer) else { return };
        for key in old.seed.into_iter().chain(old.leech) {
            if let Some(record) = self.files.get_mut(&key) {
                record.seeders.remove(&peer);
                record.leechers.remove(&peer);
            }
            self.drop_if_unheld(key);
        }
    }

    fn drop_if_unheld(&mut self, key: FileKey) {
        let Some(record) = self.files.get(&key) else { return };
        if record.is_held() {
            return;
        }
        if let Some(entry) = &record.entry
            && let Some(keys) = self.by_name.get_mut(&entry.name)
        {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_name.remove(&entry.name);
            }
        }
        self.files.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        c.announce(peer(1), vec![file("a", 10, 'a'), file("b", 20, 'b')], vec![], t0);
        c.announce(peer(2), vec![], vec![key('a')], t0);
        assert_eq!(c.getfile(&key('a'), Some(peer(2)), 10), vec![peer(1)]);
        assert_eq!(c.getfile(&key('a'), None, 10), vec![peer(1), peer(2)]);
        assert_eq!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10), vec![file("b", 20, 'b')]);
        // Announcing again replaces the lists: b is gone.
        c.announce(peer(1), vec![file("a", 10, 'a')], vec![], t0);
        assert!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10).is_empty());
        assert_eq!(c.file_count(), 1);
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
        assert_eq!(c.update(peer(9), vec![], vec![], t0), Err(NotAnnounced));
        for n in 1..=20 {
            c.announce(peer(n), vec![file("a", 10, 'a')], vec![], t0);
        }
        assert_eq!(c.getfile(&key('a'), None, 5).len(), 5);
        assert_eq!(c.look(&[], 1).len(), 1);
        // A sole holder updating keeps its file's name and size.
        c.announce(peer(30), vec![file("solo", 3, 'd')], vec![], t0);
        c.update(peer(30), vec![key('d')], vec![], t0).unwrap();
        assert_eq!(c.look(&[Criterion::Name(FileName::new("solo").unwrap())], 5), vec![file("solo", 3, 'd')]);
        c.update(peer(1), vec![key('c')], vec![], t0).unwrap();
        assert_eq!(c.getfile(&key('c'), None, 5), vec![peer(1)]);
        assert_eq!(c.sole_peer_at(peer(3).ip()), Some(peer(3)));
    }
}
