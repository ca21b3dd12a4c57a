//! A set of peers: those holding one file in one role, or those at one
//! IP address. Most files have one or two holders: those sit inline in
//! the file's record, so serving `getfile` or moving a peer between files
//! reads no other memory. Up to 15 are a small vector, scanned; beyond,
//! a hash set, so removing one never scans thousands. The set is kept
//! while the file loses holders, but shrinks once it is mostly empty:
//! a flood of peers that expired must not leave its memory behind.

use std::collections::HashSet;

use smallvec::SmallVec;

use super::PeerId;

type Set = HashSet<PeerId, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
pub enum Holders {
    /// Fewer than `SPILL_AT`, unordered.
    Few(SmallVec<[PeerId; 2]>),
    Many(Set),
}

impl Default for Holders {
    fn default() -> Self {
        Self::Few(SmallVec::new())
    }
}

impl Holders {
    /// Beyond this many, a scan costs more than hashing.
    const SPILL_AT: usize = 16;

    pub fn insert(&mut self, peer: PeerId) {
        match self {
            Self::Few(few) if few.contains(&peer) => {}
            Self::Few(few) if few.len() + 1 < Self::SPILL_AT => few.push(peer),
            Self::Few(few) => {
                let mut set: Set = few.drain(..).collect();
                set.insert(peer);
                *self = Self::Many(set);
            }
            Self::Many(set) => {
                set.insert(peer);
            }
        }
    }

    pub fn remove(&mut self, peer: &PeerId) {
        match self {
            Self::Few(few) => {
                if let Some(at) = few.iter().position(|p| p == peer) {
                    few.swap_remove(at);
                }
            }
            Self::Many(set) => {
                // Halving at an eighth keeps the cost of shrinking to a
                // constant per removal.
                if set.remove(peer) && set.capacity() > 8 * set.len().max(Self::SPILL_AT) {
                    set.shrink_to(2 * set.len());
                }
            }
        }
    }

    pub fn contains(&self, peer: &PeerId) -> bool {
        match self {
            Self::Few(few) => few.contains(peer),
            Self::Many(set) => set.contains(peer),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Few(few) => few.len(),
            Self::Many(set) => set.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Self::Few(few) => few.is_empty(),
            Self::Many(set) => set.is_empty(),
        }
    }

    /// The only holder, if there is exactly one.
    pub fn sole(&self) -> Option<PeerId> {
        let mut all = self.iter();
        match (all.next(), all.next()) {
            (Some(p), None) => Some(*p),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &PeerId> {
        let (few, many) = match self {
            Self::Few(few) => (Some(few.iter()), None),
            Self::Many(set) => (None, Some(set.iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn peer(n: u16) -> PeerId {
        SocketAddr::from(([127, 0, 0, 1], n))
    }

    #[test]
    fn behaves_as_a_set_below_and_above_the_spill() {
        let mut h = Holders::default();
        let mut model = std::collections::BTreeSet::new();
        let mut rng = fastrand::Rng::with_seed(1);
        for step in 0..5000 {
            let p = peer(rng.u16(..40));
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
            assert!(model.iter().all(|p| h.contains(p)) && !h.contains(&peer(1000)));
            assert_eq!(h.sole(), if model.len() == 1 { model.first().copied() } else { None });
        }
        assert!(matches!(h, Holders::Many(_)), "40 peers spilled into a set");
    }

    #[test]
    fn a_set_that_empties_gives_its_memory_back() {
        let mut h = Holders::default();
        for n in 0..5000 {
            h.insert(peer(n));
        }
        for n in 0..4990 {
            h.remove(&peer(n));
        }
        let Holders::Many(set) = &h else { panic!("spilled") };
        assert!(set.capacity() < 8 * Holders::SPILL_AT, "kept room for {} holders", set.capacity());
        assert_eq!(h.len(), 10);
    }
}
