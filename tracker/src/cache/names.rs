//! Files by exact name, for `look [filename="x"]`.
//!
//! The index holds a 32-bit hash of each name beside the file's number,
//! 8 bytes a file: a lookup reads one table slot and follows no pointer
//! until a candidate's record, and the table can grow without reading
//! any record. A hash may be shared by other names, so the index only
//! gives candidates and `look` checks each one's name. The hash is
//! randomly seeded, so peers cannot choose names that collide.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::files::FileNo;

#[derive(Debug, Default)]
pub struct Names {
    seed: foldhash::fast::RandomState,
    /// (hash of the name, file); several files may share a name.
    table: HashTable<(u32, FileNo)>,
}

impl Names {
    pub fn insert(&mut self, name: &str, file: FileNo) {
        let hash = self.hash(name);
        self.table.insert_unique(spread(hash), (hash, file), |&(h, _)| spread(h));
    }

    pub fn remove(&mut self, name: &str, file: FileNo) {
        let hash = self.hash(name);
        if let Ok(slot) = self.table.find_entry(spread(hash), |&(h, f)| (h, f) == (hash, file)) {
            slot.remove();
        }
    }

    /// Files that may be named `name`, and of no other name unless their
    /// hashes collide.
    pub fn candidates(&self, name: &str) -> impl Iterator<Item = FileNo> + '_ {
        let hash = self.hash(name);
        self.table.iter_hash(spread(hash)).filter(move |(h, _)| *h == hash).map(|&(_, file)| file)
    }

    /// Files indexed, over all names.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Entries the index could hold without growing.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    pub fn bytes(&self) -> usize {
        self.table.allocation_size()
    }

    /// See `cache::shrink`.
    pub fn shrink(&mut self) {
        if self.table.capacity() > 4 * self.table.len().max(super::KEEP) {
            self.table.shrink_to(2 * self.table.len(), |&(h, _)| spread(h));
        }
    }

    fn hash(&self, name: &str) -> u32 {
        // The high half: foldhash mixes best there.
        (self.seed.hash_one(name) >> 32) as u32
    }
}

/// The table's 64-bit hash from the stored 32 bits: its control bytes
/// take the top 7 bits and its positions the low ones, so both come from
/// the 32 bits.
fn spread(hash: u32) -> u64 {
    u64::from(hash) << 32 | u64::from(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_files_may_share_a_name_and_leave_it_one_by_one() {
        let mut names = Names::default();
        names.insert("a.txt", 1);
        names.insert("a.txt", 2);
        names.insert("b.txt", 3);
        let of = |names: &Names, n: &str| {
            let mut found: Vec<FileNo> = names.candidates(n).collect();
            found.sort();
            found
        };
        assert_eq!(of(&names, "a.txt"), [1, 2]);
        assert_eq!(of(&names, "b.txt"), [3]);
        assert!(of(&names, "c.txt").is_empty());
        names.remove("a.txt", 3);
        names.remove("a.txt", 1);
        assert_eq!(of(&names, "a.txt"), [2]);
        names.remove("a.txt", 2);
        names.remove("b.txt", 3);
        assert!(of(&names, "a.txt").is_empty());
        assert_eq!(names.len(), 0, "no entry left behind");
    }
}
