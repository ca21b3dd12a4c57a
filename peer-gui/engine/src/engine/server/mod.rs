//! The peer server: serves `interested`, `have`, `getpieces` and
//! `gethashes` for complete files and for the verified pieces of partial
//! downloads, to at most [`MAX_CONNECTIONS`] peers at once. In the
//! distributed mode it also takes what neighbours send (`announce
//! listen`, `look`, `file at`) and hands it to the LAN coordinator.
//!
//! Threads, as in the tracker: one readiness thread (`reactor`, with
//! `mio`) owns the listening socket and every connection, and a fixed
//! pool of [`WORKERS`] threads runs one connection's turn at a time
//! (`conn`): write the pending reply, read and answer the next request.
//! Sockets are non-blocking, so no thread waits on a client; piece reads
//! are blocking file I/O, on the workers. Nothing grows with the number
//! of clients: a connection costs a descriptor, a 16 KiB receive buffer
//! and, while a reply is being written, one 256 KiB chunk of it
//! (`outbox`): the next request is read only once that reply is out, so
//! a client that does not read gets nothing more read from disk.

mod conn;
mod outbox;
mod reactor;
mod spread;

use std::io;
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use mio::{Interest, Poll, Waker};

use self::conn::{Context, Outcome};
use self::reactor::{Done, Job, LISTENER, Reactor, WAKER};
use super::lan::Input;
use super::library::Library;
use super::rate::RateLimits;
use super::settings::Settings;
use super::stats::Stats;

/// Connections served at once; a newcomer beyond it closes the least
/// active one (connections that never sent a message first).
pub const MAX_CONNECTIONS: usize = 64;
/// Threads answering requests (reading pieces from disk).
pub const WORKERS: usize = 4;
/// A peer that neither sends a request nor takes reply bytes for this
/// long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections waiting to be accepted: a burst waits in the kernel's
/// queue instead of retrying its handshake seconds later.
const BACKLOG: i32 = 1024;

#[derive(Debug)]
pub struct Server {
    pub addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    reactor: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Server {
    pub fn start(
        listener: TcpListener,
        settings: &Settings,
        library: Arc<Library>,
        stats: Stats,
        limits: Arc<RateLimits>,
        lan: Option<Sender<Input>>,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        // Listening again only deepens the queue.
        socket2::SockRef::from(&listener).listen(BACKLOG)?;
        listener.set_nonblocking(true)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let ctx = Arc::new(Context::new(settings, library, limits, lan));
        let (jobs_tx, jobs_rx) = unbounded::<Job>();
        let (done_tx, done_rx) = unbounded::<Done>();
        let id = settings.id;
        let stop = Arc::new(AtomicBool::new(false));
        // On an error, the job queue closes with `jobs_tx`: workers
        // already started end.
        let workers = (0..WORKERS)
            .map(|i| {
                let (jobs, done, waker, ctx) = (jobs_rx.clone(), done_tx.clone(), waker.clone(), ctx.clone());
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name(format!("peer{id}-serve-{i}"))
                    .spawn(move || work(&jobs, &done, &waker, &ctx, &stop))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let mut reactor = Reactor::new(poll, listener, (jobs_tx, done_rx), stats, ctx);
        let s = stop.clone();
        let reactor = std::thread::Builder::new().name(format!("peer{id}-server")).spawn(move || reactor.run(&s))?;
        Ok(Self { addr, stop, waker, reactor: Some(reactor), workers })
    }

    /// Stops accepting and closes every connection; returns once the
    /// threads have ended (a turn in progress finishes first).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(reactor) = self.reactor.take() {
            let _ = reactor.join();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A worker: turns until the reactor is gone (its job queue closes);
/// once stopping, connections still queued are closed without a turn.
fn work(jobs: &Receiver<Job>, done: &Sender<Done>, waker: &Waker, ctx: &Context, stop: &AtomicBool) {
    for Job { token, mut conn } in jobs {
        if stop.load(Ordering::SeqCst) {
            continue;
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| conn.turn(ctx))).unwrap_or_else(|_| {
            // A bug, not the client's fault: the pool must not shrink.
            log::error!("{}: a turn panicked; closing the connection", conn.peer);
            Outcome { close: true, ..Outcome::default() }
        });
        if done.send(Done { token, conn, outcome }).is_err() {
            return;
        }
        if let Err(e) = waker.wake() {
            log::warn!("cannot wake the peer server: {e}");
        }
    }
}
