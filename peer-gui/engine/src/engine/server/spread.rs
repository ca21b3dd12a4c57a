//! What a seeder advertises to leechers that exchange buffermaps: of the
//! pieces the asker lacks, those this peer has sent least often (the
//! idea of BitTorrent's super-seeding). A seeder's upload is what a swarm
//! waits on; spent on pieces no leecher has yet, each byte of it reaches
//! every leecher through the others, instead of the same piece leaving
//! the seeder once per leecher.
//!
//! Only for complete files, and only to peers that sent `have`: such a
//! peer exchanges maps again and serves what it holds (our links do,
//! every 250 ms while transferring), and takes a reply that holds part of what it asked
//! (PROTOCOL.md section 9). Its `have` is answered with the pieces it
//! lacks that went out least often, and a `getpieces` with the asked
//! pieces that went out least often: maps are a moment old, the counts
//! are not. `interested`, a first contact or a client that never asks
//! again, gets the full map and every piece it asks for. The asker always
//! sees at least one piece it lacks and always gets at least one piece,
//! so it never waits on pieces whose other holders left.

use std::collections::HashMap;

use common::{BufferMap, FileKey};
use parking_lot::Mutex;

/// Times each piece of each complete file was sent (saturating).
#[derive(Debug, Default)]
pub struct Spread {
    files: Mutex<HashMap<FileKey, Vec<u8>>>,
}

impl Spread {
    /// Counts `pieces` of `key` (a file of `count` pieces) as sent.
    pub fn sent(&self, key: &FileKey, count: u32, pieces: impl Iterator<Item = u32>) {
        let mut files = self.files.lock();
        let sent = files.entry(key.clone()).or_insert_with(|| vec![0; count as usize]);
        for i in pieces {
            if let Some(n) = sent.get_mut(i as usize) {
                *n = n.saturating_add(1);
            }
        }
    }

    /// Keeps, of `asked` pieces of `key`, those sent least often: a piece
    /// another leecher got meanwhile is left out of the reply (the asker
    /// takes it from that leecher), and at least one piece always goes.
    pub fn keep_least_sent<T>(&self, key: &FileKey, asked: &mut Vec<T>, index: impl Fn(&T) -> u32) {
        let files = self.files.lock();
        let Some(sent) = files.get(key) else { return };
        let times = |t: &T| sent.get(index(t) as usize).copied().unwrap_or(0);
        if let Some(least) = asked.iter().map(times).min() {
            asked.retain(|t| times(t) == least);
        }
    }

    /// The map to advertise to a peer holding `theirs` of a complete file
    /// of `count` pieces: the pieces it lacks that were sent least often.
    pub fn offer(&self, key: &FileKey, count: u32, theirs: &BufferMap) -> BufferMap {
        let files = self.files.lock();
        let (Some(sent), true) = (files.get(key), theirs.pieces() == count) else {
            return BufferMap::full(count);
        };
        let lacking = || (0..count).filter(|&i| !theirs.has(i));
        let Some(least) = lacking().map(|i| sent[i as usize]).min() else {
            return BufferMap::full(count);
        };
        let mut map = BufferMap::empty(count);
        for i in lacking().filter(|&i| sent[i as usize] == least) {
            map.set(i);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FileKey {
        FileKey::parse("cd".repeat(16).as_bytes()).unwrap()
    }

    fn map(count: u32, set: &[u32]) -> BufferMap {
        let mut m = BufferMap::empty(count);
        set.iter().for_each(|&i| m.set(i));
        m
    }

    #[test]
    fn pieces_not_sent_yet_come_first() {
        let spread = Spread::default();
        let nothing = BufferMap::empty(4);
        assert_eq!(spread.offer(&key(), 4, &nothing), BufferMap::full(4), "nothing sent: everything");
        spread.sent(&key(), 4, [0, 1].into_iter());
        assert_eq!(spread.offer(&key(), 4, &nothing), map(4, &[2, 3]));
        spread.sent(&key(), 4, [2, 3, 3].into_iter());
        // Piece 3 went out twice: the others first.
        assert_eq!(spread.offer(&key(), 4, &nothing), map(4, &[0, 1, 2]));
    }

    #[test]
    fn a_reply_keeps_the_asked_pieces_sent_least() {
        let spread = Spread::default();
        let mut asked = vec![0u32, 1, 2];
        spread.keep_least_sent(&key(), &mut asked, |&i| i);
        assert_eq!(asked, [0, 1, 2], "nothing sent yet: all of them");
        spread.sent(&key(), 4, [0, 1, 1].into_iter());
        spread.keep_least_sent(&key(), &mut asked, |&i| i);
        assert_eq!(asked, [2]);
        let mut asked = vec![0u32, 1];
        spread.keep_least_sent(&key(), &mut asked, |&i| i);
        assert_eq!(asked, [0], "never an empty reply");
    }

    #[test]
    fn an_asker_always_sees_a_piece_it_lacks() {
        let spread = Spread::default();
        spread.sent(&key(), 4, [0, 0, 1, 2].into_iter());
        // It holds the least-sent pieces: the next least sent it lacks.
        assert_eq!(spread.offer(&key(), 4, &map(4, &[1, 2, 3])), map(4, &[0]));
        // Complete: nothing to hide.
        assert_eq!(spread.offer(&key(), 4, &BufferMap::full(4)), BufferMap::full(4));
        // A map of another size is not this file's: the full map.
        assert_eq!(spread.offer(&key(), 4, &BufferMap::empty(9)), BufferMap::full(4));
    }
}
