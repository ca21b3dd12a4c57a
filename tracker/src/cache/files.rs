//! The files the cache knows: who seeds and who leeches each one, the
//! description `look` gives of it (`descriptions`), the index by exact
//! name, and the files waiting for the maintenance pass to forget them.

use std::borrow::Cow;

use common::FileKey;
use common::protocol::{Criterion, FileEntry};

use super::descriptions::{Describe, Dispute};
use super::holders::Holders;
use super::key::Key;
use super::names::Names;
use super::{HashMap, PeerId, shrink};

#[derive(Debug, Default)]
pub struct FileRecord {
    /// What `look` gives: the description its seeders give, or most of
    /// them (`descriptions`); `None` while it is known only by its key.
    pub(super) entry: Option<FileEntry>,
    pub(super) seeders: Holders,
    pub(super) leechers: Holders,
    /// In `Files::unheld`.
    listed: bool,
    /// Its seeders disagree: their descriptions are in `Files::disputes`.
    pub(super) disputed: bool,
}

impl FileRecord {
    fn is_held(&self) -> bool {
        !self.seeders.is_empty() || !self.leechers.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct Files {
    records: HashMap<Key, FileRecord>,
    by_name: Names,
    /// Rare, so kept apart: a file whose seeders agree pays nothing for it.
    disputes: HashMap<Key, Dispute>,
    /// Files that lost their last holder since the last pass, which
    /// forgets those still unheld. Forgetting at once cost more than the
    /// rest of an `update`: peers drop and take files back all the time,
    /// and each time the record, its name index and its sets were freed
    /// and allocated again. An unheld file answers like an unknown one.
    /// Each file is listed once (`listed`), and at most `MAX_UNHELD` are:
    /// beyond, files are forgotten at once, so a peer cycling through new
    /// keys cannot grow the cache between passes, nor make a pass long.
    unheld: Vec<Key>,
}

/// See `Files::unheld`: far more than normal churn between two passes,
/// a few milliseconds of work for the pass.
pub const MAX_UNHELD: usize = 1 << 16;

impl Files {
    /// `peer` seeds the file `entry` describes, as a new seeder or one
    /// that stays (see `descriptions`). Returns its key.
    pub fn seed_described(&mut self, peer: PeerId, entry: Cow<'_, FileEntry>) -> Key {
        let key = Key::from(&entry.key);
        self.describe(&key).seed(peer, Some(entry));
        key
    }

    /// `peer` seeds `key` without describing it: it stands for the
    /// description `look` gives. Nothing changes for a seeder that stays.
    pub fn seed(&mut self, key: &Key, peer: PeerId) {
        self.describe(key).seed(peer, None);
    }

    pub fn leech(&mut self, key: &Key, peer: PeerId) {
        self.records.entry(key.clone()).or_default().leechers.insert(peer);
    }

    /// `peer` no longer seeds (`seeding`) or leeches `key`. A file left
    /// unheld is listed for the pass; true if there is no room in the
    /// list: the caller drops it (`drop_if_unheld`) once every role has
    /// moved, since a file going from seeded to leeched stays held.
    pub fn release(&mut self, key: &Key, peer: &PeerId, seeding: bool) -> bool {
        let taken = take_role(&mut self.records, &mut self.by_name, &mut self.disputes, key, peer, seeding);
        let Some(record) = taken else { return false };
        if record.is_held() || record.listed {
            return false;
        }
        if self.unheld.len() < MAX_UNHELD {
            record.listed = true;
            self.unheld.push(key.clone());
            return false;
        }
        true
    }

    /// `release` for a peer being forgotten: a file it leaves unheld goes
    /// at once.
    pub fn forget_holder(&mut self, key: &Key, peer: &PeerId, seeding: bool) {
        if take_role(&mut self.records, &mut self.by_name, &mut self.disputes, key, peer, seeding).is_some() {
            self.drop_if_unheld(key);
        }
    }

    fn describe<'a>(&'a mut self, key: &'a Key) -> Describe<'a> {
        let record = self.records.entry(key.clone()).or_default();
        Describe { record, key, names: &mut self.by_name, disputes: &mut self.disputes }
    }

    pub fn drop_if_unheld(&mut self, key: &Key) {
        let Some(record) = self.records.get_mut(key) else { return };
        if record.is_held() {
            record.listed = false;
            return;
        }
        if let Some(entry) = &record.entry {
            self.by_name.remove(&entry.name, key);
        }
        if record.disputed {
            self.disputes.remove(key);
        }
        self.records.remove(key);
    }

    /// The maintenance pass: forgets the files still unheld, and gives
    /// back the memory of tables that became much emptier.
    pub fn forget_unheld(&mut self) {
        for key in std::mem::take(&mut self.unheld) {
            self.drop_if_unheld(&key);
        }
        shrink(&mut self.records);
        shrink(&mut self.disputes);
        self.by_name.shrink();
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
                .filter_map(|k| self.records.get(k))
                .filter(matches)
                .take(cap)
                .filter_map(|r| r.entry.clone())
                .collect(),
            None => self.records.values().filter(matches).take(cap).filter_map(|r| r.entry.clone()).collect(),
        };
        found.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key)));
        found
    }

    /// Peers holding all or part of `key`, never `requester`; beyond `cap`
    /// a random subset, so load spreads over every holder.
    pub fn getfile(&self, key: &FileKey, requester: Option<PeerId>, cap: usize) -> Vec<PeerId> {
        let Some(record) = self.records.get(&Key::from(key)) else { return Vec::new() };
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

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Every file someone holds, for the status page.
    pub fn rows(&self) -> impl Iterator<Item = super::view::FileRow> + '_ {
        self.records.iter().filter(|(_, r)| r.is_held()).map(|(key, r)| super::view::FileRow {
            name: r.entry.as_ref().map(|e| e.name.to_string()).unwrap_or_default(),
            length: r.entry.as_ref().map_or(0, |e| e.length),
            piece_size: r.entry.as_ref().map_or(0, |e| e.piece_size),
            key: key.to_string(),
            seeders: r.seeders.len(),
            leechers: r.leechers.len(),
        })
    }

    /// Names indexed, files whose seeders disagree, files listed unheld,
    /// and the room the tables keep.
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        let capacity = self.records.capacity() + self.disputes.capacity() + self.by_name.capacity();
        (self.by_name.len(), self.disputes.len(), self.unheld.len(), capacity)
    }

    #[cfg(test)]
    pub fn names(&self) -> &Names {
        &self.by_name
    }
}

/// Takes `peer` out of one role of `key`, with one lookup; the file's
/// record, if it has one. (The parts of `Files`, so that the caller may
/// still use the others.)
fn take_role<'a>(
    records: &'a mut HashMap<Key, FileRecord>,
    names: &mut Names,
    disputes: &mut HashMap<Key, Dispute>,
    key: &Key,
    peer: &PeerId,
    seeding: bool,
) -> Option<&'a mut FileRecord> {
    let record = records.get_mut(key)?;
    if seeding {
        Describe { record: &mut *record, key, names, disputes }.unseed(peer);
    } else {
        record.leechers.remove(peer);
    }
    Some(record)
}
