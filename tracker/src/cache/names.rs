//! Files by exact name, for `look [filename="x"]`.
//!
//! Indexed by a hash of the name rather than the name: a lookup then
//! reads one table entry and follows no pointer, where a stored name and
//! a list of keys on the heap were two cache misses more per `look`. A
//! hash may be shared by other names, so the index only gives candidates
//! and `look` checks each one's name. The hash is randomly seeded, so
//! peers cannot choose names that collide.

use std::collections::HashMap;
use std::hash::BuildHasher;

use common::protocol::FileName;
use smallvec::SmallVec;

use super::key::Key;

#[derive(Debug, Default)]
pub struct Names {
    seed: foldhash::fast::RandomState,
    /// Almost every name has one file.
    keys: HashMap<u64, SmallVec<[Key; 1]>, foldhash::fast::RandomState>,
}

impl Names {
    pub fn insert(&mut self, name: &FileName, key: &Key) {
        let hash = self.hash(name);
        self.keys.entry(hash).or_default().push(key.clone());
    }

    pub fn remove(&mut self, name: &FileName, key: &Key) {
        let hash = self.hash(name);
        if let Some(keys) = self.keys.get_mut(&hash) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.keys.remove(&hash);
            }
        }
    }

    /// Keys of the files that may be named `name`, and of no other name
    /// unless their hashes collide.
    pub fn candidates(&self, name: &FileName) -> &[Key] {
        self.keys.get(&self.hash(name)).map_or(&[], |keys| keys.as_slice())
    }

    /// Keys indexed, over all names (a scan: for tests and sizes).
    pub fn len(&self) -> usize {
        self.keys.values().map(|keys| keys.len()).sum()
    }

    /// Entries the index could hold without growing.
    pub fn capacity(&self) -> usize {
        self.keys.capacity()
    }

    /// See `cache::shrink`.
    pub fn shrink(&mut self) {
        super::shrink(&mut self.keys);
    }

    fn hash(&self, name: &FileName) -> u64 {
        self.seed.hash_one(name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use common::FileKey;

    use super::*;

    fn key(c: char) -> Key {
        Key::from(&FileKey::parse(c.to_string().repeat(32).as_bytes()).unwrap())
    }

    #[test]
    fn several_files_may_share_a_name_and_leave_it_one_by_one() {
        let (a, b) = (FileName::new("a.txt").unwrap(), FileName::new("b.txt").unwrap());
        let mut names = Names::default();
        names.insert(&a, &key('1'));
        names.insert(&a, &key('2'));
        names.insert(&b, &key('3'));
        assert_eq!(names.candidates(&a), [key('1'), key('2')]);
        assert_eq!(names.candidates(&b), [key('3')]);
        assert!(names.candidates(&FileName::new("c.txt").unwrap()).is_empty());
        names.remove(&a, &key('3'));
        names.remove(&a, &key('1'));
        assert_eq!(names.candidates(&a), [key('2')]);
        names.remove(&a, &key('2'));
        names.remove(&b, &key('3'));
        assert!(names.candidates(&a).is_empty());
        assert!(names.keys.is_empty(), "no empty entry left behind");
    }
}
