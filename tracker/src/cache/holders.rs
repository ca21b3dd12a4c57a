//! A set of peers: those holding one file in one role (as peer numbers),
//! or those at one IP address. Most files have one or two holders: those
//! sit inline in the file's record, 16 bytes in all, so serving `getfile`
//! or moving a peer between files reads no other memory. Beyond two, a
//! boxed hash set, so removing one of thousands never scans them. The set
//! shrinks once it is mostly empty: a flood of peers that expired must
//! not leave its memory behind.

use std::collections::HashSet;
use std::hash::Hash;

type Set<T> = HashSet<T, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
pub enum Holders<T> {
    /// At most two; the first `len` are the holders.
    Few {
        len: u8,
        items: [T; 2],
    },
    Many(Box<Set<T>>),
}

impl<T: Copy + Default> Default for Holders<T> {
    fn default() -> Self {
        Self::Few { len: 0, items: [T::default(); 2] }
    }
}

impl<T: Copy + Default + Eq + Hash> Holders<T> {
    /// Below this many a set gives its room back once mostly empty.
    const KEEP: usize = 16;

    pub fn insert(&mut self, peer: T) {
        match self {
            Self::Few { len, items } => {
                let held = &items[..usize::from(*len)];
                if held.contains(&peer) {
                    return;
                }
                if held.len() < items.len() {
                    items[held.len()] = peer;
                    *len += 1;
                    return;
                }
                let mut set: Set<T> = held.iter().copied().collect();
                set.insert(peer);
                *self = Self::Many(Box::new(set));
            }
            Self::Many(set) => {
                set.insert(peer);
            }
        }
    }

    pub fn remove(&mut self, peer: &T) {
        match self {
            Self::Few { len, items } => {
                let n = usize::from(*len);
                if let Some(at) = items[..n].iter().position(|p| p == peer) {
                    items.swap(at, n - 1);
                    *len -= 1;
                }
            }
            Self::Many(set) => {
                // Halving at an eighth keeps the cost of shrinking to a
                // constant per removal.
                if set.remove(peer) && set.capacity() > 8 * set.len().max(Self::KEEP) {
                    set.shrink_to(2 * set.len());
                }
                if set.is_empty() {
                    *self = Self::default();
                }
            }
        }
    }

    pub fn contains(&self, peer: &T) -> bool {
        match self {
            Self::Few { len, items } => items[..usize::from(*len)].contains(peer),
            Self::Many(set) => set.contains(peer),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Few { len, .. } => usize::from(*len),
            Self::Many(set) => set.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The only holder, if there is exactly one.
    pub fn sole(&self) -> Option<T> {
        match self {
            Self::Few { len: 1, items } => Some(items[0]),
            Self::Few { .. } => None,
            Self::Many(set) if set.len() == 1 => set.iter().next().copied(),
            Self::Many(_) => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        let (few, many) = match self {
            Self::Few { len, items } => (Some(items[..usize::from(*len)].iter()), None),
            Self::Many(set) => (None, Some(set.iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Heap bytes the set holds beyond its inline room (an estimate:
    /// a hash set's buckets and control bytes).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Self::Few { .. } => 0,
            Self::Many(set) => std::mem::size_of::<Set<T>>() + set.capacity() * (std::mem::size_of::<T>() + 1) * 8 / 7,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_set_below_and_above_the_spill() {
        let mut h = Holders::<u32>::default();
        let mut model = std::collections::BTreeSet::new();
        let mut rng = fastrand::Rng::with_seed(1);
        for step in 0..5000 {
            let p = rng.u32(..40);
            if rng.bool() {
                h.insert(p);
                model.insert(p);
            } else {
                h.remove(&p);
                model.remove(&p);
            }
            let mut got: Vec<_> = h.iter().copied().collect();
            got.sort();
            assert_eq!(got, model.iter().copied().collect::<Vec<_>>(), "step {step}");
            assert_eq!((h.is_empty(), h.len()), (model.is_empty(), model.len()));
            assert!(model.iter().all(|p| h.contains(p)) && !h.contains(&1000));
            assert_eq!(h.sole(), if model.len() == 1 { model.first().copied() } else { None });
        }
        assert!(matches!(h, Holders::Many(_)), "40 peers spilled into a set");
        assert_eq!(std::mem::size_of::<Holders<u32>>(), 16);
    }

    #[test]
    fn a_set_that_empties_gives_its_memory_back() {
        let mut h = Holders::<u32>::default();
        for n in 0..5000 {
            h.insert(n);
        }
        for n in 0..4990 {
            h.remove(&n);
        }
        let Holders::Many(set) = &h else { panic!("spilled") };
        assert!(set.capacity() < 8 * 16, "kept room for {} holders", set.capacity());
        assert_eq!(h.len(), 10);
        for n in 4990..5000 {
            h.remove(&n);
        }
        assert!(matches!(h, Holders::Few { len: 0, .. }), "an empty set is inline again");
    }
}
