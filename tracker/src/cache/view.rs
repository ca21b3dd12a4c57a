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

impl Cache {
    /// Up to `limit` (at most [`MAX_PAGE`]) peers from `cursor` on.
    pub fn peers_page(&self, cursor: u64, limit: usize) -> Page<PeerRow> {
        let rows = self.peers.iter().map(|(addr, p)| PeerRow {
            addr: *addr,
            seeded: p.seed.len(),
            leeched: p.leech.len(),
            last_seen: p.last_seen,
        });
        page(rows, self.peers.len(), cursor, limit)
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) files from `cursor` on; with
    /// `search`, only those whose name contains it, ignoring case (as
    /// `filename~` does).
    pub fn files_page(&self, search: Option<&str>, cursor: u64, limit: usize) -> Page<FileRow> {
        let needle = search.map(str::to_lowercase);
        let rows = self.files.rows().filter(|row| needle.as_ref().is_none_or(|n| row.name.to_lowercase().contains(n)));
        if needle.is_none() {
            return page(rows, self.files.len(), cursor, limit);
        }
        let all: Vec<FileRow> = rows.collect();
        let total = all.len();
        page(all.into_iter(), total, cursor, limit)
    }
}

fn page<T>(rows: impl Iterator<Item = T>, total: usize, cursor: u64, limit: usize) -> Page<T> {
    let (skip, limit) = (usize::try_from(cursor).unwrap_or(usize::MAX), limit.min(MAX_PAGE));
    let mut rows = rows.skip(skip);
    let taken: Vec<T> = rows.by_ref().take(limit).collect();
    let more = rows.next().is_some();
    let next = more.then(|| (skip + taken.len()) as u64);
    Page { rows: taken, total, next }
}
