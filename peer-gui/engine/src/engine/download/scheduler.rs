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
//! first, counted over the buffermaps of connected links; ties broken at
//! random, so that the leechers of one scarce seeder fetch different
//! pieces from it). In the end game, when nothing is Missing, a link may
//! also get pieces Requested from others, so one slow peer cannot hold up
//! the last pieces; the first verified copy wins.
//!
//! A file may have 16 million pieces and links ask many times a second,
//! so no request walks the whole file: the picker's structures follow the
//! events instead. Invariants, for every piece `i`:
//!
//! - `avail[i]` is the number of links whose map holds `i`, whatever its
//!   state.
//! - `i` is Missing (neither verified nor in `requested`) iff
//!   `pos[i] != NONE`, and then `buckets[avail[i]][pos[i]] == i`: the
//!   buckets hold exactly the Missing pieces, by availability, in no
//!   particular order. `assign` walks a level from a random place with a
//!   random step prime to its length, which reaches every place once: a
//!   random sample, where shuffling the buckets themselves would cost a
//!   cache miss for every piece a new map moves.
//! - `held[k]` of a link counts the pieces of `buckets[k]` in its map, so
//!   `assign` passes in O(1) a level where the link has nothing (else a
//!   leecher next to a seeder would walk, on every request, all the
//!   pieces only the seeder has) and stops a level once it has them all.
//! - `requested` lists the links asking each Requested piece (never
//!   empty): it only holds what is in flight.
//!
//! Costs, for n pieces and L links (L is `max_peers`, a handful): 10
//! bytes a piece (`avail`, `pos`, a bucket slot), plus at most 4 of
//! spare bucket capacity; `set_map` and `drop_link` O(n/64 + L × pieces
//! that changed); a piece entering or leaving Missing O(L); `assign`
//! O(levels + pieces examined), which is `max` on a level all in the
//! link's map, about `max` over the link's share on a level it shares,
//! never more than the level's length; the end game O(R log R) for the
//! R pieces Requested.

use std::collections::HashMap;

use common::BufferMap;

pub type LinkId = usize;

/// `pos` of a piece that is not Missing.
const NONE: u32 = u32::MAX;

#[derive(Debug)]
struct Holder {
    map: BufferMap,
    held: Vec<u32>,
}

#[derive(Debug)]
pub struct Scheduler {
    verified: BufferMap,
    /// Pieces not verified yet.
    unverified: u32,
    requested: HashMap<u32, Vec<LinkId>>,
    links: HashMap<LinkId, Holder>,
    avail: Vec<u16>,
    buckets: Vec<Vec<u32>>,
    pos: Vec<u32>,
    rng: fastrand::Rng,
    /// Pieces looked at by `assign`, so tests bound its work untimed.
    #[cfg(test)]
    examined: usize,
}

impl Scheduler {
    /// Starts from the pieces already verified (on resume).
    pub fn new(verified: BufferMap) -> Self {
        let n = verified.pieces();
        let mut s = Self {
            requested: HashMap::new(),
            links: HashMap::new(),
            avail: vec![0; n as usize],
            buckets: Vec::new(),
            pos: vec![NONE; n as usize],
            rng: fastrand::Rng::new(),
            #[cfg(test)]
            examined: 0,
            unverified: n - verified.count(),
            verified,
        };
        for i in 0..n {
            if !s.verified.has(i) {
                s.enter(i, 0);
            }
        }
        s
    }

    pub fn verified(&self) -> &BufferMap {
        &self.verified
    }

    /// Checked after every event: a count, not a scan of the map.
    pub fn is_complete(&self) -> bool {
        self.unverified == 0
    }

    /// A link's buffermap arrived or changed.
    pub fn set_map(&mut self, link: LinkId, map: BufferMap) {
        // Availability is counted in a u16.
        let crowded = self.links.len() >= usize::from(u16::MAX) && !self.links.contains_key(&link);
        if map.pieces() != self.verified.pieces() || crowded {
            return;
        }
        let new = || Holder { map: BufferMap::empty(map.pieces()), held: Vec::new() };
        let mut me = self.links.remove(&link).unwrap_or_else(new);
        self.shift(&mut me.held, &me.map, &map);
        me.map = map;
        self.links.insert(link, me);
    }

    /// A link is gone: its requests return to Missing.
    pub fn drop_link(&mut self, link: LinkId) {
        if let Some(mut me) = self.links.remove(&link) {
            self.shift(&mut me.held, &me.map, &BufferMap::empty(me.map.pieces()));
        }
        let mut freed = Vec::new();
        self.requested.retain(|&i, links| {
            links.retain(|&l| l != link);
            if links.is_empty() {
                freed.push(i);
            }
            !links.is_empty()
        });
        freed.into_iter().for_each(|i| self.put(i));
    }

    /// Up to `max` pieces for `link` to request, now Requested by it.
    pub fn assign(&mut self, link: LinkId, max: usize) -> Vec<u32> {
        let Some(me) = self.links.get(&link) else { return Vec::new() };
        if self.buckets.iter().all(Vec::is_empty) {
            return self.end_game(link, max);
        }
        let mut picked = Vec::new();
        // Level 0 is in nobody's map.
        for (k, bucket) in self.buckets.iter().enumerate().skip(1) {
            let mut need = (me.held.get(k).copied().unwrap_or(0) as usize).min(max - picked.len());
            if need == 0 {
                continue;
            }
            let len = bucket.len();
            let (mut p, step) = (self.rng.usize(..len), stride(&mut self.rng, len));
            for _ in 0..len {
                if need == 0 {
                    break;
                }
                let i = bucket[p];
                p = (p + step) % len;
                #[cfg(test)]
                {
                    self.examined += 1;
                }
                if me.map.has(i) {
                    picked.push(i);
                    need -= 1;
                }
            }
        }
        for &i in &picked {
            self.take(i);
            self.requested.insert(i, vec![link]);
        }
        picked
    }

    fn end_game(&mut self, link: LinkId, max: usize) -> Vec<u32> {
        let map = &self.links[&link].map;
        #[cfg(test)]
        {
            self.examined += self.requested.len();
        }
        let mut options: Vec<(u16, u32, u32)> = (self.requested.iter())
            .filter(|&(&i, links)| map.has(i) && !links.contains(&link))
            .map(|(&i, _)| (self.avail[i as usize], self.rng.u32(..), i))
            .collect();
        options.sort_unstable();
        options.truncate(max);
        let picked: Vec<u32> = options.into_iter().map(|(_, _, i)| i).collect();
        picked.iter().for_each(|i| self.requested.entry(*i).or_default().push(link));
        picked
    }

    /// `link` delivered a piece that matched its hash. True if it was new.
    pub fn on_verified(&mut self, index: u32) -> bool {
        if index >= self.verified.pieces() || self.verified.has(index) {
            return false;
        }
        if self.requested.remove(&index).is_none() {
            self.take(index);
        }
        self.verified.set(index);
        self.unverified -= 1;
        true
    }

    /// A request of `link` failed (bad hash, not sent): back to Missing.
    pub fn on_failed(&mut self, link: LinkId, index: u32) {
        let Some(links) = self.requested.get_mut(&index) else { return };
        links.retain(|&l| l != link);
        if links.is_empty() {
            self.requested.remove(&index);
            self.put(index);
        }
    }

    /// Pieces currently asked of `link`.
    #[cfg(test)]
    pub fn in_flight(&self, link: LinkId) -> usize {
        self.requested.values().filter(|l| l.contains(&link)).count()
    }

    /// One link's map goes from `old` to `new`; `held` is that link's,
    /// taken out of `links`. Word by word, so an unchanged map is cheap.
    fn shift(&mut self, held: &mut Vec<u32>, old: &BufferMap, new: &BufferMap) {
        let (old, new) = (old.as_bytes(), new.as_bytes());
        for w in 0..old.len().div_ceil(8) {
            let (o, n) = (word(old, w), word(new, w));
            for (bits, up) in [(n & !o, true), (o & !n, false)] {
                for i in ones(w, bits) {
                    let a = usize::from(self.avail[i as usize]);
                    let b = if up { a + 1 } else { a - 1 };
                    self.avail[i as usize] = b as u16;
                    if self.pos[i as usize] != NONE {
                        self.leave(i, a);
                        self.enter(i, b);
                        tally(&mut self.links, i, a, false);
                        tally(&mut self.links, i, b, true);
                        if up { inc(held, b) } else { held[a] -= 1 }
                    }
                }
            }
        }
    }

    /// `i` becomes Missing.
    fn put(&mut self, i: u32) {
        let k = usize::from(self.avail[i as usize]);
        self.enter(i, k);
        tally(&mut self.links, i, k, true);
    }

    /// `i` stops being Missing.
    fn take(&mut self, i: u32) {
        let k = usize::from(self.avail[i as usize]);
        self.leave(i, k);
        tally(&mut self.links, i, k, false);
    }

    fn enter(&mut self, i: u32, k: usize) {
        if self.buckets.len() <= k {
            self.buckets.resize_with(k + 1, Vec::new);
        }
        self.pos[i as usize] = self.buckets[k].len() as u32;
        self.buckets[k].push(i);
    }

    fn leave(&mut self, i: u32, k: usize) {
        let bucket = &mut self.buckets[k];
        let p = std::mem::replace(&mut self.pos[i as usize], NONE) as usize;
        bucket.swap_remove(p);
        if let Some(&moved) = bucket.get(p) {
            self.pos[moved as usize] = p as u32;
        }
        // A seeder's map moves every piece up a level: without this, each
        // level would keep room for the whole file.
        if bucket.capacity() > 1024 && bucket.len() < bucket.capacity() / 2 {
            bucket.shrink_to(bucket.len() + bucket.len() / 2);
        }
    }
}

/// Missing piece `i`, of availability `k`, joins or leaves the counts of
/// the links holding it.
fn tally(links: &mut HashMap<LinkId, Holder>, i: u32, k: usize, up: bool) {
    for h in links.values_mut().filter(|h| h.map.has(i)) {
        if up { inc(&mut h.held, k) } else { h.held[k] -= 1 }
    }
}

fn inc(counts: &mut Vec<u32>, k: usize) {
    if counts.len() <= k {
        counts.resize(k + 1, 0);
    }
    counts[k] += 1;
}

/// Bits of pieces `64 w ..`, piece `64 w` the most significant.
fn word(bytes: &[u8], w: usize) -> u64 {
    let chunk = &bytes[8 * w..bytes.len().min(8 * w + 8)];
    let mut b = [0; 8];
    b[..chunk.len()].copy_from_slice(chunk);
    u64::from_be_bytes(b)
}

/// A step prime to `len`: from any place, `len` steps visit each place
/// once, in an order that differs from one scheduler to the next.
fn stride(rng: &mut fastrand::Rng, len: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b > 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    loop {
        let step = rng.usize(1..len.max(2));
        if gcd(step, len) == 1 {
            return step;
        }
    }
}

fn ones(w: usize, mut bits: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        let j = bits.leading_zeros();
        (bits != 0).then(|| {
            bits ^= 1 << (63 - j);
            64 * w as u32 + j
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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

    #[test]
    fn a_request_costs_its_size_not_the_files() {
        let n = 1 << 24;
        let mut s = Scheduler::new(BufferMap::empty(n));
        s.set_map(1, BufferMap::full(n));
        // A leecher with the even pieces: the odd ones, rarer, are all
        // the seeder's and must not be walked for the leecher.
        let mut even = BufferMap::empty(n);
        (0..n).step_by(2).for_each(|i| even.set(i));
        s.set_map(2, even.clone());
        s.set_map(2, even);
        let mut seen = HashSet::new();
        for round in 0..200 {
            let link = 1 + round % 2;
            let before = s.examined;
            let got = s.assign(link, 64);
            assert!(s.examined - before <= 128, "{} pieces examined", s.examined - before);
            assert_eq!(got.len(), 64);
            assert!(got.iter().all(|&i| (i % 2 == 1) == (link == 1)), "rarest first, held by the link");
            assert!(got.iter().all(|&i| seen.insert(i)), "distinct pieces");
        }
    }

    #[test]
    fn leechers_of_one_seeder_spread_over_its_pieces() {
        let mut a = Scheduler::new(BufferMap::empty(10_000));
        let mut b = Scheduler::new(BufferMap::empty(10_000));
        assert_ne!(a.rng, b.rng, "each scheduler draws its own seed");
        // Fixed seeds from here, so the test cannot fail by bad luck.
        for (s, seed) in [(&mut a, 1), (&mut b, 2)] {
            s.rng = fastrand::Rng::with_seed(seed);
            s.set_map(1, BufferMap::full(10_000));
        }
        let (a, b) = (a.assign(1, 16), b.assign(1, 16));
        assert!(a.iter().filter(|i| b.contains(i)).count() <= 2, "{a:?} and {b:?}");
    }

    /// The picker this one replaced, which scans every piece: the model.
    struct Reference {
        verified: BufferMap,
        requested: HashMap<u32, Vec<LinkId>>,
        maps: HashMap<LinkId, BufferMap>,
    }

    impl Reference {
        fn set_map(&mut self, link: LinkId, map: BufferMap) {
            if map.pieces() == self.verified.pieces() {
                self.maps.insert(link, map);
            }
        }

        fn drop_link(&mut self, link: LinkId) {
            self.maps.remove(&link);
            self.requested.retain(|_, links| {
                links.retain(|&l| l != link);
                !links.is_empty()
            });
        }

        fn on_verified(&mut self, index: u32) -> bool {
            self.requested.remove(&index);
            let new = !self.verified.has(index);
            self.verified.set(index);
            new
        }

        fn on_failed(&mut self, link: LinkId, index: u32) {
            if let Some(links) = self.requested.get_mut(&index) {
                links.retain(|&l| l != link);
                if links.is_empty() {
                    self.requested.remove(&index);
                }
            }
        }

        fn avail(&self, i: u32) -> usize {
            self.maps.values().filter(|m| m.has(i)).count()
        }

        fn missing(&self, i: u32) -> bool {
            !self.verified.has(i) && !self.requested.contains_key(&i)
        }

        /// What `link` may be given, rarest first, and whether in the end game.
        fn options(&self, link: LinkId) -> (bool, Vec<u32>) {
            let Some(map) = self.maps.get(&link) else { return (false, Vec::new()) };
            let all = 0..self.verified.pieces();
            let mut fresh: Vec<u32> = all.clone().filter(|&i| map.has(i) && self.missing(i)).collect();
            let end_game = !all.clone().any(|i| self.missing(i));
            if end_game {
                let theirs = |i: u32| self.requested.get(&i).is_some_and(|l| !l.contains(&link));
                fresh = all.filter(|&i| map.has(i) && theirs(i)).collect();
            }
            fresh.sort_by_key(|&i| self.avail(i));
            (end_game, fresh)
        }
    }

    fn trim(counts: &[u32]) -> &[u32] {
        &counts[..counts.iter().rposition(|&c| c > 0).map_or(0, |p| p + 1)]
    }

    fn check(s: &Scheduler, r: &Reference) {
        assert_eq!(s.verified, r.verified);
        let sorted = |m: &HashMap<u32, Vec<LinkId>>| {
            let mut v: Vec<_> = m.iter().map(|(&i, l)| (i, l.iter().copied().collect::<HashSet<_>>())).collect();
            v.sort_by_key(|e| e.0);
            v
        };
        assert_eq!(sorted(&s.requested), sorted(&r.requested));
        let mut held: HashMap<LinkId, Vec<u32>> = r.maps.keys().map(|&l| (l, Vec::new())).collect();
        let mut missing = 0;
        for i in 0..r.verified.pieces() {
            let a = r.avail(i);
            assert_eq!(usize::from(s.avail[i as usize]), a, "availability of {i}");
            assert_eq!(s.pos[i as usize] != NONE, r.missing(i), "{i} Missing");
            if r.missing(i) {
                missing += 1;
                assert_eq!(s.buckets[a][s.pos[i as usize] as usize], i);
                r.maps.iter().filter(|(_, m)| m.has(i)).for_each(|(l, _)| inc(held.get_mut(l).unwrap(), a));
            }
        }
        assert_eq!(s.buckets.iter().map(Vec::len).sum::<usize>(), missing);
        assert_eq!(s.links.len(), r.maps.len());
        for (l, h) in &s.links {
            assert_eq!(h.map, r.maps[l]);
            assert_eq!(trim(&h.held), trim(&held[l]), "held by {l}");
        }
    }

    fn random_map(rng: &mut fastrand::Rng, n: u32) -> BufferMap {
        let density = rng.u32(..100);
        let mut m = BufferMap::empty(n);
        (0..n).filter(|_| rng.u32(..100) < density).for_each(|i| m.set(i));
        m
    }

    #[test]
    fn matches_the_scanning_picker() {
        let mut rng = fastrand::Rng::with_seed(13);
        for _ in 0..150 {
            let n = rng.u32(1..150);
            let start = random_map(&mut rng, n);
            let mut s = Scheduler::new(start.clone());
            s.rng = fastrand::Rng::with_seed(rng.u64(..));
            let mut r = Reference { verified: start, requested: HashMap::new(), maps: HashMap::new() };
            for _ in 0..200 {
                let link = rng.usize(..5);
                let mut asked: Vec<u32> = r.requested.keys().copied().collect();
                asked.sort_unstable();
                let piece =
                    if asked.is_empty() || rng.u8(..4) == 0 { rng.u32(..n) } else { rng.choice(asked).unwrap() };
                match rng.u8(..10) {
                    0..=1 => {
                        // Usually the link's last map with a few more pieces.
                        let mut m = match r.maps.get(&link) {
                            Some(old) if rng.u8(..4) > 0 => old.clone(),
                            _ => random_map(&mut rng, n),
                        };
                        (0..rng.u32(..4)).for_each(|_| m.set(rng.u32(..n)));
                        let m = if rng.u8(..10) == 0 { BufferMap::full(n + 1) } else { m };
                        s.set_map(link, m.clone());
                        r.set_map(link, m);
                    }
                    2..=4 => {
                        let max = rng.usize(..6);
                        let (end_game, options) = r.options(link);
                        assert_eq!(s.buckets.iter().all(Vec::is_empty), !(0..n).any(|i| r.missing(i)));
                        let got = s.assign(link, max);
                        assert_eq!(got.len(), options.len().min(max), "{got:?} of {options:?}");
                        assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
                        for i in &got {
                            assert!(options.contains(i), "{got:?} of {options:?} (end game: {end_game})");
                            assert!(end_game || !r.requested.contains_key(i), "{i} requested twice");
                        }
                        let mut avail: Vec<usize> = got.iter().map(|&i| r.avail(i)).collect();
                        avail.sort_unstable();
                        let rarest: Vec<usize> = options[..got.len()].iter().map(|&i| r.avail(i)).collect();
                        assert_eq!(avail, rarest, "rarest first");
                        got.iter().for_each(|&i| r.requested.entry(i).or_default().push(link));
                    }
                    5..=6 => assert_eq!(s.on_verified(piece), r.on_verified(piece)),
                    7..=8 => {
                        let link = r.requested.get(&piece).filter(|_| rng.bool()).map_or(link, |l| l[0]);
                        s.on_failed(link, piece);
                        r.on_failed(link, piece);
                    }
                    _ => {
                        s.drop_link(link);
                        r.drop_link(link);
                    }
                }
                check(&s, &r);
            }
        }
    }
}
