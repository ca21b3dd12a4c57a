//! The files the cache knows, numbered: who seeds and who leeches each
//! one, the description `look` gives of it (`descriptions`), the indexes
//! by key, by exact name (`names`) and by part of the name (`search`),
//! and the files waiting for the maintenance pass to forget them.
//!
//! Records sit in one slab, 112 bytes each with the key packed inline
//! (`key`), the name inline when short (`CompactString`, 24 bytes) and
//! the holders as peer numbers (`holders`); the key index holds only
//! file numbers (4 bytes a slot), hashing a record's key when it grows.
//! That is what makes a million files fit in about a hundred and fifty
//! megabytes, where a map from boxed keys to records of boxed strings
//! and socket addresses took close to a kilobyte a file.

use std::hash::BuildHasher;

use common::FileKey;
use common::protocol::{Criterion, FileEntry, FileName};
use compact_str::CompactString;
use hashbrown::HashTable;
use slab::Slab;

use super::descriptions::{Describe, Dispute};
use super::holders::Holders;
use super::key::Key;
use super::names::Names;
use super::peers::{PeerNo, Peers};
use super::search::{Entry, Search};
use super::{HashMap, PeerId, shrink};

/// A file's number in [`Files`]; reused once the file is forgotten.
pub type FileNo = u32;

/// What `look` says of a file besides its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desc {
    pub name: CompactString,
    pub length: u64,
    pub piece_size: u64,
}

impl Desc {
    pub fn of(entry: &FileEntry) -> Self {
        Self { name: CompactString::from(entry.name.as_str()), length: entry.length, piece_size: entry.piece_size }
    }

    /// `Criterion::matches`, without building a `FileEntry`.
    fn matches(&self, criterion: &Criterion) -> bool {
        match criterion {
            Criterion::Name(name) => self.name == name.as_str(),
            Criterion::NameContains(part) => self.name.to_lowercase().contains(&part.to_lowercase()),
            Criterion::Size(cmp, n) => cmp.holds(self.length, *n),
            Criterion::PieceSize(cmp, n) => cmp.holds(self.piece_size, *n),
        }
    }
}

#[derive(Debug)]
pub struct FileRecord {
    key: Key,
    /// In `Files::unheld`.
    listed: bool,
    /// Its seeders disagree: their descriptions are in `Files::disputes`.
    pub(super) disputed: bool,
    /// Its name's entry in `Files::search`, while it has a description.
    pub(super) search_at: Entry,
    /// What `look` gives: the description its seeders give, or most of
    /// them (`descriptions`); `None` while it is known only by its key.
    pub(super) desc: Option<Desc>,
    pub(super) seeders: Holders<PeerNo>,
    pub(super) leechers: Holders<PeerNo>,
}

impl FileRecord {
    fn new(key: Key) -> Self {
        let (seeders, leechers) = Default::default();
        Self { key, listed: false, disputed: false, search_at: 0, desc: None, seeders, leechers }
    }

    fn is_held(&self) -> bool {
        !self.seeders.is_empty() || !self.leechers.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct Files {
    records: Slab<FileRecord>,
    /// Records by key, hashed with `seed`.
    by_key: HashTable<FileNo>,
    seed: foldhash::fast::RandomState,
    /// The whole text of keys longer than `Key` packs.
    long_keys: HashMap<FileNo, FileKey>,
    by_name: Names,
    search: Search,
    disputes: HashMap<FileNo, Dispute>,
    /// Files that lost their last holder since the last pass, which
    /// forgets those still unheld. Forgetting at once cost more than the
    /// rest of an `update`: peers drop and take files back all the time,
    /// and each time the record and its indexes were freed and made
    /// again. An unheld file answers like an unknown one. Each file is
    /// listed once (`listed`), and at most `MAX_UNHELD` are: beyond,
    /// files are forgotten at once, so a peer cycling through new keys
    /// cannot grow the cache between passes, nor make a pass long.
    unheld: Vec<FileNo>,
}

/// See `Files::unheld`: far more than normal churn between two passes,
/// a few milliseconds of work for the pass.
pub const MAX_UNHELD: usize = 1 << 16;

impl Files {
    /// The file `key` names, if known.
    pub fn find(&self, key: &FileKey) -> Option<FileNo> {
        let packed = Key::new(key);
        let Self { records, by_key, seed, long_keys, .. } = self;
        by_key
            .find(seed.hash_one(packed), |&no| {
                records.get(no as usize).is_some_and(|r| r.key == packed)
                    && (!packed.is_long() || long_keys.get(&no) == Some(key))
            })
            .copied()
    }

    /// The file `key` names, made known (without holders) if it was not.
    pub fn number(&mut self, key: &FileKey) -> FileNo {
        if let Some(no) = self.find(key) {
            return no;
        }
        let packed = Key::new(key);
        let Self { records, by_key, seed, long_keys, .. } = self;
        // Files are bounded by memory long before 2^32.
        let no = records.insert(FileRecord::new(packed)) as FileNo;
        if packed.is_long() {
            long_keys.insert(no, key.clone());
        }
        by_key
            .insert_unique(seed.hash_one(packed), no, |&n| records.get(n as usize).map_or(0, |r| seed.hash_one(r.key)));
        no
    }

    /// `peer` seeds the file `entry` describes, as a new seeder or one
    /// that stays (see `descriptions`). Returns its number.
    pub fn seed_described(&mut self, peer: PeerNo, entry: &FileEntry, peers: &Peers) -> FileNo {
        let no = self.number(&entry.key);
        if let Some(describe) = self.describe(no, peers) {
            describe.seed(peer, Some(Desc::of(entry)));
        }
        no
    }

    /// `peer` seeds file `no` without describing it: it stands for the
    /// description `look` gives. Nothing changes for a seeder that stays.
    pub fn seed(&mut self, no: FileNo, peer: PeerNo, peers: &Peers) {
        if let Some(describe) = self.describe(no, peers) {
            describe.seed(peer, None);
        }
    }

    pub fn leech(&mut self, no: FileNo, peer: PeerNo) {
        if let Some(record) = self.records.get_mut(no as usize) {
            record.leechers.insert(peer);
        }
    }

    /// `peer` no longer seeds (`seeding`) or leeches file `no`. A file
    /// left unheld is listed for the pass; true if there is no room in
    /// the list: the caller drops it (`drop_if_unheld`) once every role
    /// has moved, since a file going from seeded to leeched stays held.
    pub fn release(&mut self, no: FileNo, peer: PeerNo, seeding: bool, peers: &Peers) -> bool {
        self.take_role(no, peer, seeding, peers);
        let Some(record) = self.records.get_mut(no as usize) else { return false };
        if record.is_held() || record.listed {
            return false;
        }
        if self.unheld.len() < MAX_UNHELD {
            record.listed = true;
            self.unheld.push(no);
            return false;
        }
        true
    }

    /// `release` for a peer being forgotten: a file it leaves unheld goes
    /// at once.
    pub fn forget_holder(&mut self, no: FileNo, peer: PeerNo, seeding: bool, peers: &Peers) {
        self.take_role(no, peer, seeding, peers);
        self.drop_if_unheld(no);
    }

    fn take_role(&mut self, no: FileNo, peer: PeerNo, seeding: bool, peers: &Peers) {
        if seeding {
            if let Some(describe) = self.describe(no, peers) {
                describe.unseed(peer);
            }
        } else if let Some(record) = self.records.get_mut(no as usize) {
            record.leechers.remove(&peer);
        }
    }

    fn describe<'a>(&'a mut self, no: FileNo, peers: &'a Peers) -> Option<Describe<'a>> {
        let Self { records, by_name, search, disputes, .. } = self;
        let record = records.get_mut(no as usize)?;
        Some(Describe { record, no, names: by_name, search, disputes, peers })
    }

    pub fn drop_if_unheld(&mut self, no: FileNo) {
        let Some(record) = self.records.get_mut(no as usize) else { return };
        if record.is_held() {
            record.listed = false;
            return;
        }
        let record = self.records.remove(no as usize);
        if let Some(desc) = &record.desc {
            self.by_name.remove(&desc.name, no);
            self.search.remove(record.search_at);
        }
        if record.disputed {
            self.disputes.remove(&no);
        }
        if record.key.is_long() {
            self.long_keys.remove(&no);
        }
        if let Ok(slot) = self.by_key.find_entry(self.seed.hash_one(record.key), |&n| n == no) {
            slot.remove();
        }
    }

    /// The maintenance pass: forgets the files still unheld, and gives
    /// back the memory of tables that became much emptier.
    pub fn forget_unheld(&mut self) {
        for no in std::mem::take(&mut self.unheld) {
            self.drop_if_unheld(no);
        }
        if self.records.capacity() > 4 * self.records.len().max(super::KEEP) {
            // Only the free room after the last file can go.
            self.records.shrink_to_fit();
        }
        let Self { records, by_key, seed, .. } = self;
        if by_key.capacity() > 4 * by_key.len().max(super::KEEP) {
            by_key.shrink_to(2 * by_key.len(), |&n| records.get(n as usize).map_or(0, |r| seed.hash_one(r.key)));
        }
        shrink(&mut self.disputes);
        shrink(&mut self.long_keys);
        self.by_name.shrink();
        for (no, entry) in self.search.compact().into_iter().flatten() {
            if let Some(record) = self.records.get_mut(no as usize) {
                record.search_at = entry;
            }
        }
    }

    /// Files some peer seeds that match every criterion, unique by key,
    /// at most `cap`, sorted by name. (A file only leechers hold cannot be
    /// completed, so it is not offered.) An exact name is looked up in its
    /// index, a part of a name in the names' buffer; other criteria scan.
    pub fn look(&self, criteria: &[Criterion], cap: usize) -> Vec<FileEntry> {
        let mut found = Vec::new();
        if cap == 0 {
            return found;
        }
        let mut offer = |no: FileNo| {
            if let Some(entry) = self.offered(no, criteria) {
                found.push(entry);
            }
            found.len() < cap
        };
        let exact = criteria.iter().find_map(|c| if let Criterion::Name(n) = c { Some(n) } else { None });
        let part = criteria.iter().find_map(|c| if let Criterion::NameContains(p) = c { Some(p) } else { None });
        if let Some(name) = exact {
            self.by_name.candidates(name.as_str()).take_while(|&no| offer(no)).for_each(drop);
        } else if let Some(part) = part {
            self.search.find(part, offer);
        } else {
            self.records.iter().take_while(|&(no, _)| offer(no as FileNo)).for_each(drop);
        }
        found.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key)));
        found
    }

    /// File `no` as `look` gives it, if some peer seeds it and it matches
    /// every criterion.
    fn offered(&self, no: FileNo, criteria: &[Criterion]) -> Option<FileEntry> {
        let record = self.records.get(no as usize).filter(|r| !r.seeders.is_empty())?;
        let desc = record.desc.as_ref().filter(|d| criteria.iter().all(|c| d.matches(c)))?;
        Some(FileEntry {
            // Stored from a valid `FileName`.
            name: FileName::new(&desc.name).ok()?,
            length: desc.length,
            piece_size: desc.piece_size,
            key: self.key_of(no, record),
        })
    }

    fn key_of(&self, no: FileNo, record: &FileRecord) -> FileKey {
        record.key.to_file_key(self.long_keys.get(&no))
    }

    /// Peers holding all or part of `key`, never `requester`; beyond `cap`
    /// a random subset, so load spreads over every holder.
    pub fn getfile(&self, key: &FileKey, requester: Option<PeerNo>, cap: usize, peers: &Peers) -> Vec<PeerId> {
        let Some(record) = self.find(key).and_then(|no| self.records.get(no as usize)) else { return Vec::new() };
        let (seeders, leechers) = (&record.seeders, &record.leechers);
        let mut found: Vec<PeerId> = seeders
            .iter()
            .chain(leechers.iter().filter(|p| !seeders.contains(p)))
            .filter(|&&p| Some(p) != requester)
            .filter_map(|&p| peers.addr(p))
            .collect();
        if found.len() > cap {
            fastrand::shuffle(&mut found);
            found.truncate(cap);
        }
        found.sort();
        found
    }

    /// Files held, from number `from` on, with what the status page
    /// shows of them.
    pub fn rows_from(&self, from: usize) -> impl Iterator<Item = (usize, super::view::FileRow)> + '_ {
        (from..self.records.capacity())
            .filter_map(|no| self.records.get(no).filter(|r| r.is_held()).map(|r| (no, self.row(no as FileNo, r))))
    }

    /// The first `cap` files held whose name contains `part`, ignoring
    /// case, by number.
    pub fn matching(&self, part: &str, cap: usize) -> Vec<FileNo> {
        let mut found = Vec::new();
        self.search.find(part, |no| {
            if self.records.get(no as usize).is_some_and(FileRecord::is_held) {
                found.push(no);
            }
            found.len() < cap
        });
        found.sort_unstable();
        found
    }

    pub fn row_of(&self, no: FileNo) -> Option<super::view::FileRow> {
        self.records.get(no as usize).map(|r| self.row(no, r))
    }

    fn row(&self, no: FileNo, record: &FileRecord) -> super::view::FileRow {
        let desc = record.desc.as_ref();
        super::view::FileRow {
            name: desc.map(|d| d.name.to_string()).unwrap_or_default(),
            length: desc.map_or(0, |d| d.length),
            piece_size: desc.map_or(0, |d| d.piece_size),
            key: self.key_of(no, record).as_str().to_owned(),
            seeders: record.seeders.len(),
            leechers: record.leechers.len(),
        }
    }

    /// Files known (held, or unheld until the next pass).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Names indexed, files whose seeders disagree, files listed unheld,
    /// and the room the tables keep.
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        let capacity = self.records.capacity()
            + self.by_key.capacity()
            + self.disputes.capacity()
            + self.by_name.capacity()
            + self.search.entries();
        (self.by_name.len(), self.disputes.len(), self.unheld.len(), capacity)
    }

    /// What the files' tables hold (all but `peers`): a scan.
    pub fn footprint(&self) -> super::Footprint {
        let (mut names_heap, mut holders_heap) = (0, 0);
        for (_, r) in &self.records {
            names_heap += r.desc.as_ref().filter(|d| d.name.is_heap_allocated()).map_or(0, |d| d.name.capacity());
            holders_heap += r.seeders.heap_bytes() + r.leechers.heap_bytes();
        }
        let entry = |k: usize, v: usize| (k + v + 1) * 8 / 7;
        super::Footprint {
            records: self.records.capacity() * std::mem::size_of::<FileRecord>(),
            names_heap,
            holders_heap,
            key_index: self.by_key.allocation_size(),
            name_index: self.by_name.bytes(),
            search: self.search.bytes(),
            other: self.unheld.capacity() * 4
                + self.disputes.capacity() * entry(4, std::mem::size_of::<Dispute>())
                + self.long_keys.capacity() * entry(4, 16 + 128),
            peers: 0,
        }
    }

    #[cfg(test)]
    pub fn named(&self, name: &str) -> usize {
        self.by_name.candidates(name).count()
    }
}
