//! The peers the cache knows, numbered: files name their holders by
//! these 4-byte numbers rather than 32-byte socket addresses. A number
//! is reused once its peer is forgotten, and by then no file names it.

use std::net::SocketAddr;
use std::time::Instant;

use slab::Slab;

use super::files::FileNo;
use super::owner::Owner;
use super::{HashMap, PeerId};

/// A peer's number in [`Peers`].
pub type PeerNo = u32;

#[derive(Debug)]
pub struct PeerEntry {
    pub addr: PeerId,
    /// The files it seeds and leeches, by number.
    pub seed: Vec<FileNo>,
    pub leech: Vec<FileNo>,
    pub last_seen: Instant,
    /// The connection that speaks for it (`owner`).
    pub owner: Owner,
}

impl PeerEntry {
    pub fn files(&self) -> usize {
        self.seed.len() + self.leech.len()
    }
}

#[derive(Debug, Default)]
pub struct Peers {
    entries: Slab<PeerEntry>,
    numbers: HashMap<SocketAddr, PeerNo>,
}

impl Peers {
    pub fn number(&self, addr: &SocketAddr) -> Option<PeerNo> {
        self.numbers.get(addr).copied()
    }

    pub fn get(&self, no: PeerNo) -> Option<&PeerEntry> {
        self.entries.get(no as usize)
    }

    pub fn get_mut(&mut self, no: PeerNo) -> Option<&mut PeerEntry> {
        self.entries.get_mut(no as usize)
    }

    pub fn find(&self, addr: &SocketAddr) -> Option<&PeerEntry> {
        self.get(self.number(addr)?)
    }

    /// The address of peer `no`; numbers held by files always have one.
    pub fn addr(&self, no: PeerNo) -> Option<PeerId> {
        self.get(no).map(|p| p.addr)
    }

    pub fn insert(&mut self, entry: PeerEntry) -> PeerNo {
        let addr = entry.addr;
        // Peers are bounded by memory long before 2^32.
        let no = self.entries.insert(entry) as PeerNo;
        self.numbers.insert(addr, no);
        no
    }

    pub fn remove(&mut self, no: PeerNo) -> Option<PeerEntry> {
        let entry = self.entries.try_remove(no as usize)?;
        self.numbers.remove(&entry.addr);
        Some(entry)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (PeerNo, &PeerEntry)> {
        self.entries.iter().map(|(no, p)| (no as PeerNo, p))
    }

    /// From number `from` on: pages of the status page.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = (usize, &PeerEntry)> {
        (from..self.entries.capacity()).filter_map(|no| self.entries.get(no).map(|p| (no, p)))
    }

    pub fn capacity(&self) -> usize {
        self.entries.capacity() + self.numbers.capacity()
    }

    /// Bytes held, with the peers' lists.
    pub fn bytes(&self) -> usize {
        let lists: usize = self.entries.iter().map(|(_, p)| (p.seed.capacity() + p.leech.capacity()) * 4).sum();
        self.entries.capacity() * std::mem::size_of::<PeerEntry>()
            + self.numbers.capacity() * (std::mem::size_of::<(SocketAddr, PeerNo)>() + 1) * 8 / 7
            + lists
    }

    /// See `cache::shrink`.
    pub fn shrink(&mut self) {
        super::shrink(&mut self.numbers);
        if self.entries.capacity() > 4 * self.entries.len().max(super::KEEP) {
            // Only the free room after the last peer can go.
            self.entries.shrink_to_fit();
        }
    }
}
