//! Commands: one parsed request in, one reply out. Framing and sockets
//! live in `conn`; this module only talks to the cache.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::config::TrackerConfig;
use common::protocol::{PeerAddr, TrackerReply, TrackerRequest};
use parking_lot::Mutex;

use crate::cache::{Cache, Limits, Owner, PeerId, Refused};
use crate::shutdown::Shutdown;
use crate::stats::{Rejection, Stats};

/// What every worker shares.
#[derive(Debug)]
pub struct Shared {
    pub cache: Mutex<Cache>,
    pub config: TrackerConfig,
    /// Requests, rejections and the rest the status page shows.
    pub stats: Stats,
    /// Lets a worker give up on a client that does not read.
    pub shutdown: Shutdown,
}

impl Shared {
    pub fn new(config: TrackerConfig, shutdown: Shutdown) -> Self {
        Self {
            cache: Mutex::new(Cache::with_limits(Limits::from_config(&config))),
            config,
            stats: Stats::default(),
            shutdown,
        }
    }
}

/// What a connection remembers between its requests.
#[derive(Debug, Default)]
pub struct Session {
    /// The peer this connection announced or took over.
    peer: Option<PeerId>,
    /// When this connection last told the cache that `peer` is alive.
    refreshed: Option<Instant>,
    /// This connection, as the cache knows it (see `cache::owner`).
    owner: Owner,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.owner.end();
    }
}

impl Session {
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Marks the peer alive, at most every `ttl / 16` (and every second):
    /// a write to the peer's entry on every `look` and `getfile` made the
    /// other worker's next access to it a cache miss, for a time stamp
    /// that only needs to be far younger than the time-to-live.
    fn touch(&mut self, cache: &mut Cache, ttl: Duration, now: Instant) {
        let Some(id) = self.peer else { return };
        let every = (ttl / 16).min(Duration::from_secs(1));
        if self.refreshed.is_none_or(|at| now.saturating_duration_since(at) >= every) {
            cache.touch(id, &self.owner, now);
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
            let (seeded, leeched) = (seed.len(), leech.len());
            if let Err(why) = shared.cache.lock().announce(id, &session.owner, seed, &leech, now) {
                return refuse(shared, source, "announce", why);
            }
            log::info!("announce from {id}: {seeded} seeded, {leeched} leeched");
            session.peer = Some(id);
            session.refreshed = Some(now);
            TrackerReply::Ok
        }
        TrackerRequest::Update { seed, leech } => {
            let mut cache = shared.cache.lock();
            let id = session.peer.map_or_else(|| cache.speaker(source.ip(), &session.owner), Ok);
            let updated = id.and_then(|id| cache.update(id, &session.owner, &seed, &leech, now).map(|()| id));
            drop(cache);
            match updated {
                Ok(id) => {
                    // A connection that took its peer over speaks for it
                    // from now on, as if it had announced.
                    session.peer = Some(id);
                    session.refreshed = Some(now);
                    TrackerReply::Ok
                }
                Err(why) => refuse(shared, source, "update", why),
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

fn refuse(shared: &Shared, source: SocketAddr, command: &str, why: Refused) -> TrackerReply {
    shared.stats.reject(Rejection::Refused, source.ip());
    log::info!("{command} from {source} refused: {why}");
    TrackerReply::Error(why.to_string())
}
