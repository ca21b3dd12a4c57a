//! What the status page and its JSON API read: rows copied out of the
//! cache a page at a time, so the lock is held only while a page is
//! copied and formatting happens outside it.
//!
//! Pages are walked with an opaque cursor: `0` starts, and each page
//! gives the cursor of the next one, if any.

use std::net::SocketAddr;
use std::time::Instant;

use super::Cache;

/// Most rows one page may hold: a page is copied under the cache lock.
pub const MAX_PAGE: usize = 1000;

/// Most files a search of the status page counts and pages through:
/// counting a million matches held the lock for 46 ms, ten thousand
/// take half a millisecond.
pub const MAX_MATCHES: usize = 10_000;

/// One peer, as the status page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    pub addr: SocketAddr,
    pub seeded: usize,
    pub leeched: usize,
    pub last_seen: Instant,
}

/// One file some peer holds, as the status page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Empty while only leechers know the file (nobody described it).
    pub name: String,
    pub length: u64,
    pub piece_size: u64,
    /// Lower-case hex, as `look` gives it.
    pub key: String,
    pub seeders: usize,
    pub leechers: usize,
}

/// Rows from a cursor on, and how many rows the whole listing has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// Rows over all pages (for a search, the files that match).
    pub total: usize,
    /// The cursor of the next page, if there are more rows.
    pub next: Option<u64>,
}

/// Bytes each of the cache's structures holds, for the status page and
/// the README's breakdown: what the tables allocated (room they keep
/// included, untouched room excepted by the kernel), not what the
/// allocator adds around it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// File records: key, flags, description, holders.
    pub records: usize,
    /// Names longer than a record holds inline (24 bytes).
    pub names_heap: usize,
    /// Files with more than two seeders or leechers.
    pub holders_heap: usize,
    pub key_index: usize,
    pub name_index: usize,
    /// Lower-cased names for `filename~`.
    pub search: usize,
    /// Peers, their lists and the index by address.
    pub peers: usize,
    /// Disputed descriptions, long keys, files waiting to be forgotten.
    pub other: usize,
}

impl Footprint {
    pub fn total(&self) -> usize {
        self.records
            + self.names_heap
            + self.holders_heap
            + self.key_index
            + self.name_index
            + self.search
            + self.peers
            + self.other
    }
}

impl Cache {
    /// Up to `limit` (at most [`MAX_PAGE`]) peers from `cursor` on.
    pub fn peers_page(&self, cursor: u64, limit: usize) -> Page<PeerRow> {
        let from = usize::try_from(cursor).unwrap_or(usize::MAX);
        let rows = self.peers.iter_from(from).map(|(no, p)| {
            (no, PeerRow { addr: p.addr, seeded: p.seed.len(), leeched: p.leech.len(), last_seen: p.last_seen })
        });
        page(rows, self.peers.len(), limit)
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) files someone holds from
    /// `cursor` on; with `search`, only those whose name contains it,
    /// ignoring case (as `filename~` does). `total` counts files held
    /// and unheld ones the next pass forgets, or the matches, at most
    /// [`MAX_MATCHES`].
    pub fn files_page(&self, search: Option<&str>, cursor: u64, limit: usize) -> Page<FileRow> {
        let from = usize::try_from(cursor).unwrap_or(usize::MAX);
        let Some(part) = search else { return page(self.files.rows_from(from), self.files.len(), limit) };
        let matching = self.files.matching(part, MAX_MATCHES);
        let total = matching.len();
        let rows = matching.into_iter().filter(|&no| no as usize >= from).filter_map(|no| {
            let row = self.files.row_of(no)?;
            Some((no as usize, row))
        });
        page(rows, total, limit)
    }

    /// What each structure holds (a scan of every file: a few
    /// milliseconds for a million).
    pub fn footprint(&self) -> Footprint {
        let by_ip = self.by_ip.capacity() * (std::mem::size_of::<(std::net::IpAddr, super::AtIp)>() + 1) * 8 / 7;
        Footprint { peers: self.peers.bytes() + by_ip, ..self.files.footprint() }
    }
}

/// The first `limit` rows (numbered), and the cursor after the last.
fn page<T>(rows: impl Iterator<Item = (usize, T)>, total: usize, limit: usize) -> Page<T> {
    let mut rows = rows.peekable();
    let mut taken = Vec::new();
    while taken.len() < limit.min(MAX_PAGE) {
        let Some((_, row)) = rows.next() else { break };
        taken.push(row);
    }
    let next = rows.peek().map(|(no, _)| *no as u64);
    Page { rows: taken, total, next }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use common::FileKey;
    use common::protocol::{FileEntry, FileName};

    use super::*;
    use crate::cache::Owner;

    fn entry(name: &str, i: u32) -> FileEntry {
        let key = FileKey::parse(format!("{i:032x}").as_bytes()).unwrap();
        FileEntry { name: FileName::new(name).unwrap(), length: 10, piece_size: 4, key }
    }

    #[test]
    fn pages_walk_every_row_once_and_searches_count_their_matches() {
        let mut c = Cache::new();
        let now = Instant::now();
        for p in 0..5u16 {
            let files = (0..30)
                .map(|i| entry(&format!("{}{p}_{i}", if i % 3 == 0 { "Song" } else { "doc" }), 100 * u32::from(p) + i));
            c.announce(
                SocketAddr::from(([127, 0, 0, 1], 7000 + p)),
                &Owner::new(),
                files.collect(),
                Vec::<FileKey>::new(),
                now,
            )
            .unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let page = c.files_page(None, cursor, 7);
            assert!(page.rows.len() <= 7);
            assert_eq!(page.total, 150);
            seen.extend(page.rows.into_iter().map(|r| r.name));
            let Some(next) = page.next else { break };
            cursor = next;
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 150, "every file once");
        assert_eq!(c.files_page(Some("doc"), 0, 10).total, 100.min(MAX_MATCHES));
        let songs = c.files_page(Some("sOnG"), 0, 1000);
        assert_eq!((songs.total, songs.rows.len(), songs.next), (50, 50, None));
        assert!(songs.rows.iter().all(|r| r.name.starts_with("Song") && r.seeders == 1 && r.key.len() == 32));
        let half = c.files_page(Some("song"), 0, 25);
        let rest = c.files_page(Some("song"), half.next.unwrap(), 1000);
        assert_eq!((half.rows.len(), rest.rows.len(), rest.total), (25, 25, 50));
        let peers = c.peers_page(0, 3);
        assert_eq!((peers.rows.len(), peers.total), (3, 5));
        let more = c.peers_page(peers.next.unwrap(), 3);
        assert_eq!((more.rows.len(), more.next), (2, None));
        assert!(peers.rows.iter().chain(&more.rows).all(|p| (p.seeded, p.leeched) == (30, 0)));
        assert!(c.footprint().total() > 0);
    }
}
