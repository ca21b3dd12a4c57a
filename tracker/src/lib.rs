//! The Eirb2Share tracker: remembers which peer shares which file and
//! answers `announce`, `look`, `getfile` and `update` for thousands of
//! connected peers with a fixed pool of worker threads.
//!
//! - [`cache`]: what is known, behind a mutex, with expiry.
//! - [`handler`]: one request in, one reply out.
//! - [`conn`]: one connection's framing and buffer.
//! - [`reactor`]: the readiness thread.
//! - `pool`: the worker pool.
//! - [`slot`]: whose turn a connection is, between reactor and workers.
//! - [`sockio`]: reads that never wait, writes under a deadline.
//! - [`stats`]: counts the status page and `/metrics` report.
//! - [`http`]: the status page, `/metrics` and the JSON API.
//!
//! [`run`] takes a bound listener so tests can bind port 0, and
//! [`run_with_http`] a second one for the status page.

pub mod allocator;
pub mod cache;
pub mod cli;
pub mod conn;
pub mod handler;
pub mod http;
pub mod journal;
mod pool;
pub mod reactor;
pub mod shutdown;
pub mod slot;
pub mod sockio;
pub mod stats;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::config::TrackerConfig;

pub use shutdown::Shutdown;

use crate::handler::Shared;

/// Listen backlog: a burst of a thousand connects must not stall.
pub const BACKLOG: i32 = 4096;

/// Binds `addr` with a deep backlog and address reuse (restarts don't wait
/// for TIME_WAIT).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Serves `listener` until `shutdown` is triggered; returns once the
/// workers have finished the turns they were on.
pub fn run(listener: TcpListener, config: TrackerConfig, shutdown: Shutdown) -> io::Result<()> {
    run_shared(listener, Arc::new(Shared::new(config, shutdown)))
}

/// [`run`] on a state the caller keeps a handle to, until
/// `shared.shutdown` is triggered.
pub fn run_shared(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    run_with_http(listener, None, shared)
}

/// [`run_shared`], with the status page served on `http` (see [`http`])
/// by threads of its own: the protocol's workers never wait on it.
pub fn run_with_http(listener: TcpListener, http: Option<TcpListener>, shared: Arc<Shared>) -> io::Result<()> {
    raise_fd_limit();
    let shutdown = shared.shutdown.clone();
    let connections = shared.stats.connections.clone();
    let http = match http {
        Some(listener) => Some(http::spawn(listener, shared.clone())?),
        None => None,
    };
    log::info!(
        "tracker listening on {} with {} workers (peer time-to-live {:?})",
        listener.local_addr()?,
        shared.config.workers,
        shared.config.peer_ttl
    );
    let maintenance = {
        let (shared, connections, shutdown) = (shared.clone(), connections.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name("tracker-maintenance".into())
            .spawn(move || maintain(&shared, &connections, &shutdown))?
    };
    let result = reactor::serve(listener, shared, connections, shutdown.clone());
    shutdown.trigger();
    let _ = maintenance.join();
    if let Some(http) = http {
        http.join();
    }
    log::info!("tracker stopped");
    result
}

/// Every `tracker_interval`: forget silent peers and log a summary.
/// Every [`stats::SAMPLE_EVERY`] too: a sample for the rate history.
fn maintain(shared: &Shared, connections: &AtomicUsize, shutdown: &Shutdown) {
    let stats = &shared.stats;
    let mut last = (Instant::now(), stats.requests().total());
    let mut next_pass = last.0 + shared.config.interval;
    stats.sample(last.0);
    loop {
        let wait = next_pass.saturating_duration_since(Instant::now()).min(stats::SAMPLE_EVERY);
        if shutdown.wait(wait) {
            break;
        }
        let now = Instant::now();
        stats.sample(now);
        if now < next_pass {
            continue;
        }
        next_pass = now + shared.config.interval;
        let (gone, peers, files, took) = {
            let mut cache = shared.cache.lock();
            let gone = cache.expire(now, shared.config.peer_ttl);
            (gone, cache.peer_count(), cache.file_count(), now.elapsed())
        };
        stats.maintained(took);
        for peer in &gone {
            log::info!("evicted {peer}: silent for more than {:?}", shared.config.peer_ttl);
        }
        let requests = stats.requests().total();
        let rate = (requests - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
        last = (now, requests);
        log::info!(
            "{} connections, {peers} peers, {files} files, {rate:.0} requests/s",
            connections.load(Ordering::Relaxed)
        );
    }
}

/// Thousands of peers need thousands of descriptors; the default soft
/// limit is often 1024.
fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => log::debug!("file descriptor limit: {n}"),
        Err(e) => log::warn!("cannot raise the file descriptor limit: {e}"),
    }
}
