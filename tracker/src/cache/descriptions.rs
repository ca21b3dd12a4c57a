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
//! `entry` is then all there is. Only when seeders disagree does the key
//! get a `Dispute` in a map of its own, listing each description with
//! its seeders, and it goes back to the record alone once they agree
//! again. A file that no peer seeds has no voter left: the next seeder
//! that describes it names it, as for a new file.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::HashSet;
use std::net::IpAddr;

use common::protocol::FileEntry;
use smallvec::SmallVec;

use super::files::FileRecord;
use super::holders::Holders;
use super::key::Key;
use super::names::Names;
use super::{HashMap, PeerId};

/// The descriptions of one key's seeders, when they disagree.
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
    entry: FileEntry,
    seeders: Holders,
}

impl Dispute {
    /// `peer` gives `given`, or stands for the winner if it gives nothing
    /// and had no description here. True if anything moved.
    fn give(&mut self, peer: PeerId, given: Option<Cow<'_, FileEntry>>) -> bool {
        let at = self.variants.iter().position(|v| v.seeders.contains(&peer));
        let to = match given {
            None if at.is_some() => return false,
            None => self.winner,
            Some(given) => match self.variants.iter().position(|v| v.entry == *given) {
                Some(to) => to,
                None => {
                    self.variants.push(Variant { entry: given.into_owned(), seeders: Holders::default() });
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
    fn take(&mut self, peer: &PeerId) -> bool {
        let Some(at) = self.variants.iter().position(|v| v.seeders.contains(peer)) else { return false };
        self.variants[at].seeders.remove(peer);
        self.variants.retain(|v| !v.seeders.is_empty());
        true
    }

    /// The most voted, the earliest among equals.
    fn most_voted(&self) -> usize {
        (0..self.variants.len()).max_by_key(|&i| (votes(&self.variants[i].seeders), Reverse(i))).unwrap_or(0)
    }
}

/// The addresses among `seeders`.
fn votes(seeders: &Holders) -> usize {
    const SCAN_UP_TO: usize = 16;
    if seeders.len() <= SCAN_UP_TO {
        let mut seen: SmallVec<[IpAddr; SCAN_UP_TO]> = SmallVec::new();
        for ip in seeders.iter().map(|p| p.ip()) {
            if !seen.contains(&ip) {
                seen.push(ip);
            }
        }
        seen.len()
    } else {
        seeders.iter().map(|p| p.ip()).collect::<HashSet<IpAddr>>().len()
    }
}

/// One file's record and what its description touches besides.
pub struct Describe<'a> {
    pub record: &'a mut FileRecord,
    pub key: &'a Key,
    pub names: &'a mut Names,
    pub disputes: &'a mut HashMap<Key, Dispute>,
}

impl Describe<'_> {
    /// `peer` seeds the file, a new seeder or one that stays, and gives
    /// `given` as its description, or none.
    pub fn seed(self, peer: PeerId, given: Option<Cow<'_, FileEntry>>) {
        let Self { record, key, names, disputes } = self;
        record.seeders.insert(peer);
        if record.disputed {
            if disputes.get_mut(key).is_some_and(|d| d.give(peer, given)) {
                settle(record, key, names, disputes);
            }
            return;
        }
        let Some(given) = given else { return };
        match &record.entry {
            Some(entry) if *entry == *given => {}
            Some(entry) if record.seeders.len() > 1 => {
                // The others stand for the description the file has.
                let mut others = record.seeders.clone();
                others.remove(&peer);
                let variants = vec![
                    Variant { entry: entry.clone(), seeders: others },
                    Variant { entry: given.into_owned(), seeders: Holders::default() },
                ];
                let mut dispute = Dispute { variants, winner: 0 };
                dispute.variants[1].seeders.insert(peer);
                disputes.insert(key.clone(), dispute);
                record.disputed = true;
                settle(record, key, names, disputes);
            }
            // Nobody else stands for the description it had, if any.
            _ => set_entry(record, key, names, given.into_owned()),
        }
    }

    /// `peer` no longer seeds the file.
    pub fn unseed(self, peer: &PeerId) {
        let Self { record, key, names, disputes } = self;
        record.seeders.remove(peer);
        if record.disputed && disputes.get_mut(key).is_some_and(|d| d.take(peer)) {
            settle(record, key, names, disputes);
        }
    }
}

/// Gives the record the winner's description, or drops the dispute once
/// one description is left (or none: the file keeps its last one).
fn settle(record: &mut FileRecord, key: &Key, names: &mut Names, disputes: &mut HashMap<Key, Dispute>) {
    let Some(dispute) = disputes.get_mut(key) else { return };
    if dispute.variants.len() > 1 {
        dispute.winner = dispute.most_voted();
        let entry = &dispute.variants[dispute.winner].entry;
        if record.entry.as_ref() != Some(entry) {
            set_entry(record, key, names, entry.clone());
        }
        return;
    }
    let last = disputes.remove(key).and_then(|d| d.variants.into_iter().next());
    record.disputed = false;
    if let Some(last) = last
        && record.entry.as_ref() != Some(&last.entry)
    {
        set_entry(record, key, names, last.entry);
    }
}

fn set_entry(record: &mut FileRecord, key: &Key, names: &mut Names, entry: FileEntry) {
    match &record.entry {
        Some(old) if old.name == entry.name => {}
        Some(old) => {
            names.remove(&old.name, key);
            names.insert(&entry.name, key);
        }
        None => names.insert(&entry.name, key),
    }
    record.entry = Some(entry);
}
