//! `/api/peers?cursor=&limit=` and `/api/files?search=&cursor=&limit=`:
//! the status page's tables as JSON, a page at a time. Each answer is
//! `{"total": N, "next": cursor or null, "peers" or "files": [...]}`;
//! pass `next` back as `cursor` for the following page. Bad parameters
//! get `400` with `{"error": "..."}`.

use std::time::Instant;

use serde::Serialize;

use super::{Query, Reply};
use crate::cache::MAX_PAGE;
use crate::handler::Shared;

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;

#[derive(Serialize)]
struct Peer {
    addr: String,
    seeded: usize,
    leeched: usize,
    /// Seconds since the peer was last heard from.
    last_seen_secs: f64,
}

#[derive(Serialize)]
struct File<'a> {
    name: &'a str,
    length: u64,
    piece_size: u64,
    key: &'a str,
    seeders: usize,
    leechers: usize,
}

#[derive(Serialize)]
struct PeersPage {
    total: usize,
    next: Option<u64>,
    peers: Vec<Peer>,
}

#[derive(Serialize)]
struct FilesPage<'a> {
    total: usize,
    next: Option<u64>,
    files: Vec<File<'a>>,
}

pub(super) fn peers(shared: &Shared, query: Query) -> Reply {
    let (cursor, limit) = match paging(query) {
        Ok(p) => p,
        Err(why) => return bad(&why),
    };
    let page = shared.cache.lock().peers_page(cursor, limit);
    let now = Instant::now();
    let peers = page
        .rows
        .into_iter()
        .map(|p| Peer {
            addr: p.addr.to_string(),
            seeded: p.seeded,
            leeched: p.leeched,
            last_seen_secs: now.saturating_duration_since(p.last_seen).as_secs_f64(),
        })
        .collect();
    json(&PeersPage { total: page.total, next: page.next, peers })
}

pub(super) fn files(shared: &Shared, query: Query) -> Reply {
    let (cursor, limit) = match paging(query) {
        Ok(p) => p,
        Err(why) => return bad(&why),
    };
    let page = shared.cache.lock().files_page(query.get("search"), cursor, limit);
    let files = page
        .rows
        .iter()
        .map(|f| File {
            name: &f.name,
            length: f.length,
            piece_size: f.piece_size,
            key: &f.key,
            seeders: f.seeders,
            leechers: f.leechers,
        })
        .collect();
    json(&FilesPage { total: page.total, next: page.next, files })
}

/// `cursor` (0 by default) and `limit` (1 to `MAX_PAGE`).
pub(super) fn paging(query: Query) -> Result<(u64, usize), String> {
    let cursor = match query.get("cursor") {
        None => 0,
        Some(c) => c.parse().map_err(|_| format!("cursor must be a cursor from `next`, found {c:?}"))?,
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| format!("limit must be from 1 to {MAX_PAGE}, found {l:?}"))?,
    };
    Ok((cursor, limit))
}

fn json(value: &impl Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => Reply::new(200, "application/json", body),
        Err(e) => Reply::new(500, "application/json", serde_json::json!({ "error": e.to_string() }).to_string()),
    }
}

fn bad(why: &str) -> Reply {
    let body = serde_json::json!({ "error": why }).to_string();
    Reply::new(400, "application/json", body)
}
