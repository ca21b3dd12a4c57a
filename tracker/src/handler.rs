//! Commands: one parsed request in, one reply out. Framing and sockets
//! live in `conn`; this module only talks to the cache.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use common::config::TrackerConfig;
use common::protocol::{PeerAddr, TrackerReply, TrackerRequest};
use parking_lot::Mutex;

use crate::cache::{Cache, NotAnnounced, PeerId};
use crate::shutdown::Shutdown;

/// What every worker shares.
#[derive(Debug)]
pub struct Shared {
    pub cache: Mutex<Cache>,
    pub config: TrackerConfig,
    /// Requests answered, added by each worker before it waits for work
    /// (one shared counter bumped per request cost both cores a cache miss).
    pub requests: AtomicU64,
    /// Lets a worker give up on a client that does not read.
    pub shutdown: Shutdown,
}

/// Serves one request from `source`, received at `now`; `peer` is the
/// identity this connection has announced, set by `announce`.
pub fn handle(
    request: TrackerRequest,
    source: SocketAddr,
    peer: &mut Option<PeerId>,
    shared: &Shared,
    now: Instant,
) -> TrackerReply {
    let config = &shared.config;
    match request {
        TrackerRequest::Announce { port, seed, leech } => {
            let id = SocketAddr::new(source.ip(), port);
            log::info!("announce from {id}: {} seeded, {} leeched", seed.len(), leech.len());
            shared.cache.lock().announce(id, seed, leech, now);
            *peer = Some(id);
            TrackerReply::Ok
        }
        TrackerRequest::Update { seed, leech } => {
            let mut cache = shared.cache.lock();
            let id = peer.or_else(|| cache.sole_peer_at(source.ip()));
            match id.map(|id| cache.update(id, seed, leech, now)) {
                Some(Ok(())) => TrackerReply::Ok,
                None | Some(Err(NotAnnounced)) => {
                    drop(cache);
                    log::info!("update from {source} rejected: not announced");
                    TrackerReply::Error("update before announce: send announce first".into())
                }
            }
        }
        TrackerRequest::Look { criteria } => {
            let mut cache = shared.cache.lock();
            touch(&mut cache, *peer, now);
            TrackerReply::List(cache.look(&criteria, config.max_results))
        }
        TrackerRequest::GetFile { key } => {
            let mut cache = shared.cache.lock();
            touch(&mut cache, *peer, now);
            let requester = peer.or_else(|| cache.sole_peer_at(source.ip()));
            let peers = cache.getfile(&key, requester, config.max_peers);
            drop(cache);
            TrackerReply::Peers { key, peers: peers.into_iter().map(PeerAddr::Ip).collect() }
        }
    }
}

fn touch(cache: &mut Cache, peer: Option<PeerId>, now: Instant) {
    if let Some(id) = peer {
        cache.touch(id, now);
    }
}
