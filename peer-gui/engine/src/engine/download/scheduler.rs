//! Which piece to ask which peer for.
//!
//! States of a piece and their transitions:
//!
//! ```text
//! Missing --assign--> Requested(links) --verified--> Verified
//!    ^                    |  failed hash / lost link / not sent
//!    +--------------------+
//! ```
//!
//! `assign` hands a link the rarest Missing pieces it holds (rarest
//! first, counted over the buffermaps of connected links). In the end
//! game, when nothing is Missing, a link may also get pieces Requested
//! from others, so one slow peer cannot hold up the last pieces; the
//! first verified copy wins.

use std::collections::HashMap;

use common::BufferMap;

pub type LinkId = usize;

#[derive(Debug)]
pub struct Scheduler {
    verified: BufferMap,
    requested: HashMap<u32, Vec<LinkId>>,
    maps: HashMap<LinkId, BufferMap>,
    availability: Vec<u16>,
}

impl Scheduler {
    /// Starts from the pieces already verified (on resume).
    pub fn new(verified: BufferMap) -> Self {
        let n = verified.pieces() as usize;
        Self { verified, requested: HashMap::new(), maps: HashMap::new(), availability: vec![0; n] }
    }

    pub fn verified(&self) -> &BufferMap {
        &self.verified
    }

    pub fn is_complete(&self) -> bool {
        self.verified.is_complete()
    }

    /// A link's buffermap arrived or changed.
    pub fn set_map(&mut self, link: LinkId, map: BufferMap) {
        if map.pieces() != self.verified.pieces() {
            return;
        }
        if let Some(old) = self.maps.remove(&link) {
            old.iter_set().for_each(|i| self.availability[i as usize] -= 1);
        }
        map.iter_set().for_each(|i| self.availability[i as usize] += 1);
        self.maps.insert(link, map);
    }

    /// A link is gone: its requests return to Missing.
    pub fn drop_link(&mut self, link: LinkId) {
        if let Some(old) = self.maps.remove(&link) {
            old.iter_set().for_each(|i| self.availability[i as usize] -= 1);
        }
        self.requested.retain(|_, links| {
            links.retain(|&l| l != link);
            !links.is_empty()
        });
    }

    /// Up to `max` pieces for `link` to request, now Requested by it.
    pub fn assign(&mut self, link: LinkId, max: usize) -> Vec<u32> {
        let Some(map) = self.maps.get(&link) else { return Vec::new() };
        let wanted = |i: &u32| map.has(*i) && !self.verified.has(*i);
        let mut fresh: Vec<u32> =
            (0..self.verified.pieces()).filter(wanted).filter(|i| !self.requested.contains_key(i)).collect();
        let endgame = fresh.is_empty();
        if endgame {
            let nothing_missing =
                (0..self.verified.pieces()).all(|i| self.verified.has(i) || self.requested.contains_key(&i));
            if !nothing_missing {
                return Vec::new();
            }
            fresh = (0..self.verified.pieces())
                .filter(wanted)
                .filter(|i| self.requested.get(i).is_some_and(|links| !links.contains(&link)))
                .collect();
        }
        // Rarest first; among equals, spread links over different pieces.
        fresh.sort_by_key(|&i| {
            (self.availability[i as usize], (i as usize).wrapping_mul(2654435761).wrapping_add(link) % 1024)
        });
        fresh.truncate(max);
        for &i in &fresh {
            self.requested.entry(i).or_default().push(link);
        }
        fresh
    }

    /// `link` delivered a piece that matched its hash. True if it was new.
    pub fn on_verified(&mut self, index: u32) -> bool {
        self.requested.remove(&index);
        let new = !self.verified.has(index);
        self.verified.set(index);
        new
    }

    /// A request of `link` failed (bad hash, not sent): back to Missing.
    pub fn on_failed(&mut self, link: LinkId, index: u32) {
        if let Some(links) = self.requested.get_mut(&index) {
            links.retain(|&l| l != link);
            if links.is_empty() {
                self.requested.remove(&index);
            }
        }
    }

    /// Pieces currently asked of `link`.
    #[cfg(test)]
    pub fn in_flight(&self, link: LinkId) -> usize {
        self.requested.values().filter(|l| l.contains(&link)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pieces: u32, held: &[u32]) -> BufferMap {
        let mut m = BufferMap::empty(pieces);
        held.iter().for_each(|&i| m.set(i));
        m
    }

    #[test]
    fn rarest_first_and_only_what_the_link_holds() {
        let mut s = Scheduler::new(BufferMap::empty(4));
        s.set_map(1, map(4, &[0, 1, 2, 3]));
        s.set_map(2, map(4, &[0, 1, 2]));
        // Piece 3 is held by one link only: it goes first.
        assert_eq!(s.assign(1, 1), vec![3]);
        let got = s.assign(2, 10);
        assert_eq!(got.len(), 3);
        assert!(!got.contains(&3), "link 2 does not hold piece 3");
    }

    #[test]
    fn failed_and_lost_pieces_are_requeued() {
        let mut s = Scheduler::new(BufferMap::empty(2));
        s.set_map(1, map(2, &[0, 1]));
        s.set_map(2, map(2, &[0, 1]));
        let a = s.assign(1, 2);
        assert_eq!(a.len(), 2);
        s.on_failed(1, a[0]);
        assert_eq!(s.assign(2, 1), vec![a[0]], "a failed piece goes to another link");
        s.drop_link(1);
        assert_eq!(s.assign(2, 5), vec![a[1]], "a lost link's pieces return");
        assert!(s.on_verified(a[0]) && s.on_verified(a[1]));
        assert!(!s.on_verified(a[1]), "a second copy is not new");
        assert!(s.is_complete());
        assert!(s.assign(2, 5).is_empty());
    }

    #[test]
    fn end_game_duplicates_only_when_nothing_is_missing() {
        let mut s = Scheduler::new(BufferMap::empty(2));
        s.set_map(1, map(2, &[0, 1]));
        s.set_map(2, map(2, &[0]));
        assert_eq!(s.assign(2, 1), vec![0]);
        assert!(s.assign(2, 1).is_empty(), "piece 1 is still Missing: no end game yet");
        assert_eq!(s.assign(1, 2), vec![1], "link 1 takes the Missing piece");
        assert_eq!(s.assign(1, 2), vec![0], "end game: link 1 duplicates piece 0");
        assert!(s.on_verified(0));
        assert_eq!(s.in_flight(2), 0, "the first copy settles it for every link");
        assert!(s.assign(2, 5).is_empty());
    }

    #[test]
    fn resume_starts_from_verified_pieces() {
        let mut s = Scheduler::new(map(3, &[0, 2]));
        s.set_map(7, map(3, &[0, 1, 2]));
        assert_eq!(s.assign(7, 10), vec![1]);
    }
}
