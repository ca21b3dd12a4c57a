//! Commands: one parsed request in, one reply out. Framing and sockets
//! live in `conn`; this module only talks to the cache.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

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

/// What a connection remembers between its requests.
#[derive(Debug, Default)]
pub struct Session {
    /// The identity this connection announced.
    peer: Option<PeerId>,
    /// When this connection last told the cache that `peer` is alive.
    refreshed: Option<Instant>,
}

impl Session {
    /// Marks the peer alive, at most every `ttl / 16` (and every second):
    /// a write to the peer's entry on every `look` and `getfile` made the
    /// other worker's next access to it a cache miss, for a time stamp
    /// that only needs to be far younger than the time-to-live.
    fn touch(&mut self, cache: &mut Cache, ttl: Duration, now: Instant) {
        let Some(id) = self.peer else { return };
        let every = (ttl / 16).min(Duration::from_secs(1));
        if self.refreshed.is_none_or(|at| now.saturating_duration_since(at) >= every) {
            cache.touch(id, now);
            self.refreshed = Some(now);
        }
    }
}

/// Serves one request from `source`, received at `now`, on the
/// connection whose `session` it is.
pub fn handle(
    request: TrackerRequest,
    source: SocketAddr,
    session: &mut Session,
    shared: &Shared,
    now: Instant,
) -> TrackerReply {
    let config = &shared.config;
    match request {
        TrackerRequest::Announce { port, seed, leech } => {
            let id = SocketAddr::new(source.ip(), port);
            log::info!("announce from {id}: {} seeded, {} leeched", seed.len(), leech.len());
            shared.cache.lock().announce(id, seed, &leech, now);
            session.peer = Some(id);
            session.refreshed = Some(now);
            TrackerReply::Ok
        }
        TrackerRequest::Update { seed, leech } => {
            let mut cache = shared.cache.lock();
            let id = session.peer.or_else(|| cache.sole_peer_at(source.ip()));
            match id.map(|id| cache.update(id, &seed, &leech, now)) {
                Some(Ok(())) => {
                    drop(cache);
                    if session.peer == id {
                        session.refreshed = Some(now);
                    }
                    TrackerReply::Ok
                }
                None | Some(Err(NotAnnounced)) => {
                    drop(cache);
                    log::info!("update from {source} rejected: not announced");
                    TrackerReply::Error("update before announce: send announce first".into())
                }
            }
        }
        TrackerRequest::Look { criteria } => {
            let mut cache = shared.cache.lock();
            session.touch(&mut cache, config.peer_ttl, now);
            TrackerReply::List(cache.look(&criteria, config.max_results))
        }
        TrackerRequest::GetFile { key } => {
            let mut cache = shared.cache.lock();
            session.touch(&mut cache, config.peer_ttl, now);
            let requester = session.peer.or_else(|| cache.sole_peer_at(source.ip()));
            let peers = cache.getfile(&key, requester, config.max_peers);
            drop(cache);
            TrackerReply::Peers { key, peers: peers.into_iter().map(PeerAddr::Ip).collect() }
        }
    }
}
