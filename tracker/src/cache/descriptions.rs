//! Which name, length and piece size `look` gives for a key.
//!
//! A key names one content, but the description that comes with it is
//! whatever each seeder says: if the first announce decided for everyone,
//! anyone who learnt a key could name it `report.pdf 999999999` before
//! its owner announced it, or after the owner's peer expired. So every
//! seeder's description counts, and `look` gives the one that seeders at
//! the most IP addresses give (one vote per address, since one address
//! may open many peers); ties go to the description given first. A
//! seeder that gives no description (an `update` with bare keys) stands
//! for the description `look` gave when it began seeding: it got the
//! file by that one.
//!
//! Almost always every seeder gives the same description: the record's
//! `desc` is then all there is. Only when seeders disagree does the file
//! get a `Dispute` in a map of its own, listing each description with
//! its seeders, and it goes back to the record alone once they agree
//! again. A file that no peer seeds has no voter left: the next seeder
//! that describes it names it, as for a new file.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::net::IpAddr;

use smallvec::SmallVec;

use super::HashMap;
use super::files::{Desc, FileNo, FileRecord};
use super::holders::Holders;
use super::names::Names;
use super::peers::{PeerNo, Peers};
use super::search::Search;

/// The descriptions of one file's seeders, when they disagree.
#[derive(Debug)]
pub struct Dispute {
    /// In the order they were first given; never fewer than two, none
    /// without a seeder.
    variants: Vec<Variant>,
    /// The one `look` gives.
    winner: usize,
}

#[derive(Debug)]
struct Variant {
    desc: Desc,
    seeders: Holders<PeerNo>,
}

impl Dispute {
    /// `peer` gives `given`, or stands for the winner if it gives nothing
    /// and had no description here. True if anything moved.
    fn give(&mut self, peer: PeerNo, given: Option<Desc>) -> bool {
        let at = self.variants.iter().position(|v| v.seeders.contains(&peer));
        let to = match given {
            None if at.is_some() => return false,
            None => self.winner,
            Some(given) => match self.variants.iter().position(|v| v.desc == given) {
                Some(to) => to,
                None => {
                    self.variants.push(Variant { desc: given, seeders: Holders::default() });
                    self.variants.len() - 1
                }
            },
        };
        if at == Some(to) {
            return false;
        }
        if let Some(at) = at {
            self.variants[at].seeders.remove(&peer);
        }
        self.variants[to].seeders.insert(peer);
        self.variants.retain(|v| !v.seeders.is_empty());
        true
    }

    /// `peer` no longer seeds the file. True if it had a description here.
    fn take(&mut self, peer: &PeerNo) -> bool {
        let Some(at) = self.variants.iter().position(|v| v.seeders.contains(peer)) else { return false };
        self.variants[at].seeders.remove(peer);
        self.variants.retain(|v| !v.seeders.is_empty());
        true
    }

    /// The most voted, the earliest among equals.
    fn most_voted(&self, peers: &Peers) -> usize {
        (0..self.variants.len()).max_by_key(|&i| (votes(&self.variants[i].seeders, peers), Reverse(i))).unwrap_or(0)
    }
}

/// The addresses among `seeders`.
fn votes(seeders: &Holders<PeerNo>, peers: &Peers) -> usize {
    const SCAN_UP_TO: usize = 16;
    let ips = seeders.iter().filter_map(|&p| peers.addr(p)).map(|a| a.ip());
    if seeders.len() <= SCAN_UP_TO {
        let mut seen: SmallVec<[IpAddr; SCAN_UP_TO]> = SmallVec::new();
        for ip in ips {
            if !seen.contains(&ip) {
                seen.push(ip);
            }
        }
        seen.len()
    } else {
        ips.collect::<HashSet<IpAddr>>().len()
    }
}

/// One file's record and what its description touches besides.
pub struct Describe<'a> {
    pub record: &'a mut FileRecord,
    pub no: FileNo,
    pub names: &'a mut Names,
    pub search: &'a mut Search,
    pub disputes: &'a mut HashMap<FileNo, Dispute>,
    /// For their addresses: votes are counted by address.
    pub peers: &'a Peers,
}

impl Describe<'_> {
    /// `peer` seeds the file, a new seeder or one that stays, and gives
    /// `given` as its description, or none.
    pub fn seed(mut self, peer: PeerNo, given: Option<Desc>) {
        self.record.seeders.insert(peer);
        if self.record.disputed {
            if self.disputes.get_mut(&self.no).is_some_and(|d| d.give(peer, given)) {
                self.settle();
            }
            return;
        }
        let Some(given) = given else { return };
        match &self.record.desc {
            Some(desc) if *desc == given => {}
            Some(desc) if self.record.seeders.len() > 1 => {
                // The others stand for the description the file has.
                let mut others = self.record.seeders.clone();
                others.remove(&peer);
                let mut mine = Holders::default();
                mine.insert(peer);
                let variants =
                    vec![Variant { desc: desc.clone(), seeders: others }, Variant { desc: given, seeders: mine }];
                self.disputes.insert(self.no, Dispute { variants, winner: 0 });
                self.record.disputed = true;
                self.settle();
            }
            // Nobody else stands for the description it had, if any.
            _ => self.set_desc(given),
        }
    }

    /// `peer` no longer seeds the file.
    pub fn unseed(mut self, peer: PeerNo) {
        self.record.seeders.remove(&peer);
        if self.record.disputed && self.disputes.get_mut(&self.no).is_some_and(|d| d.take(&peer)) {
            self.settle();
        }
    }

    /// Gives the record the winner's description, or drops the dispute
    /// once one description is left (or none: the file keeps its last one).
    fn settle(&mut self) {
        let Some(dispute) = self.disputes.get_mut(&self.no) else { return };
        if dispute.variants.len() > 1 {
            dispute.winner = dispute.most_voted(self.peers);
            let desc = &dispute.variants[dispute.winner].desc;
            if self.record.desc.as_ref() != Some(desc) {
                let desc = desc.clone();
                self.set_desc(desc);
            }
            return;
        }
        let last = self.disputes.remove(&self.no).and_then(|d| d.variants.into_iter().next());
        self.record.disputed = false;
        if let Some(last) = last
            && self.record.desc.as_ref() != Some(&last.desc)
        {
            self.set_desc(last.desc);
        }
    }

    fn set_desc(&mut self, desc: Desc) {
        let record = &mut *self.record;
        match &record.desc {
            Some(old) if old.name == desc.name => {}
            Some(old) => {
                self.names.remove(&old.name, self.no);
                self.search.remove(record.search_at);
                self.names.insert(&desc.name, self.no);
                record.search_at = self.search.insert(&desc.name, self.no);
            }
            None => {
                self.names.insert(&desc.name, self.no);
                record.search_at = self.search.insert(&desc.name, self.no);
            }
        }
        record.desc = Some(desc);
    }
}
