//! The readiness thread and the worker pool.
//!
//! Sockets are blocking; what keeps a fixed pool from meaning "at most N
//! peers" is that idle connections never sit on a worker. The reactor
//! (one thread, `mio`) owns every idle connection. When one has bytes to
//! read, or has paused on an unfinished line, it is moved to a worker
//! through a channel; the worker reads once, answers, and sends it back,
//! and the reactor takes it back. Sockets are registered once,
//! edge-triggered: Linux reports every arrival of bytes, so nothing is
//! missed without re-arming after each turn. Bytes that arrive while a
//! worker has the connection are remembered as a pending event, and a
//! read that filled the whole buffer (more may be queued) earns another
//! turn at once; either way the connection goes straight back to a worker.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::conn::{Conn, READ_CHUNK, Verdict};
use crate::handler::Shared;
use crate::shutdown::Shutdown;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// A worker never waits longer than this on a client that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection is handed to a worker.
#[derive(Debug, Clone, Copy)]
enum Turn {
    Readable,
    Paused,
}

struct Job {
    token: Token,
    conn: Conn,
    turn: Turn,
}

struct Done {
    token: Token,
    conn: Conn,
    verdict: Verdict,
}

/// Runs until `shutdown`: accepts, dispatches, re-arms, times out
/// unfinished lines. Returns once every worker has finished its turn.
pub fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    connections: Arc<AtomicUsize>,
    shutdown: Shutdown,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let poll = Poll::new()?;
    poll.registry().register(&mut SourceFd(&listener.as_raw_fd()), LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    shutdown.add_waker(waker.clone());
    let wake = Arc::new(Wake { waker, sleeping: AtomicBool::new(false) });

    let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    let workers: Vec<_> = (0..shared.config.workers)
        .map(|i| {
            let (jobs, done, shared, wake) = (job_rx.clone(), done_tx.clone(), shared.clone(), wake.clone());
            std::thread::Builder::new()
                .name(format!("tracker-worker-{i}"))
                .spawn(move || work(jobs, done, shared, wake))
        })
        .collect::<io::Result<_>>()?;
    drop(done_tx);

    let mut reactor = Reactor {
        poll,
        idle: HashMap::new(),
        partial: HashSet::new(),
        pending: HashSet::new(),
        next_token: 2,
        jobs: job_tx,
        connections,
    };
    let result = reactor.run(&listener, &done_rx, &shared, &shutdown, &wake);
    drop(reactor);
    for worker in workers {
        let _ = worker.join();
    }
    result
}

/// Wakes the reactor only when it sleeps in `poll`: an eventfd write per
/// finished turn would cost as much as the turn itself. The reactor sets
/// `sleeping` and then looks at the done queue; a worker queues and then
/// reads `sleeping`, with a SeqCst fence between on both sides, so one of
/// them always sees the other.
struct Wake {
    waker: Arc<Waker>,
    sleeping: AtomicBool,
}

/// A worker: one connection's turn at a time. What it owns: the
/// connection while serving it, and a read buffer reused across turns.
fn work(jobs: Receiver<Job>, done: Sender<Done>, shared: Arc<Shared>, wake: Arc<Wake>) {
    let mut scratch = Box::new([0u8; READ_CHUNK]);
    for Job { token, mut conn, turn } in jobs {
        let verdict = match turn {
            Turn::Readable => conn.on_readable(&shared, &mut scratch),
            Turn::Paused => conn.on_pause(&shared),
        };
        if done.send(Done { token, conn, verdict }).is_err() {
            return;
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        if wake.sleeping.swap(false, Ordering::SeqCst) {
            let _ = wake.waker.wake();
        }
    }
}

struct Reactor {
    poll: Poll,
    /// Connections waiting for input; the others are on a worker.
    idle: HashMap<Token, Conn>,
    /// Idle connections holding an unfinished line (usually few).
    partial: HashSet<Token>,
    /// Connections on a worker that got more bytes meanwhile.
    pending: HashSet<Token>,
    next_token: usize,
    jobs: Sender<Job>,
    connections: Arc<AtomicUsize>,
}

impl Reactor {
    fn run(
        &mut self,
        listener: &TcpListener,
        done: &Receiver<Done>,
        shared: &Shared,
        shutdown: &Shutdown,
        wake: &Wake,
    ) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !shutdown.is_triggered() {
            let mut timeout = self.next_deadline(shared).map(|d| d.saturating_duration_since(Instant::now()));
            wake.sleeping.store(true, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            if !done.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            let polled = self.poll.poll(&mut events, timeout);
            wake.sleeping.store(false, Ordering::SeqCst);
            if let Err(e) = polled {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(listener),
                    WAKER => {}
                    token => {
                        if !self.dispatch(token, Turn::Readable) {
                            // On a worker: remember it for its return.
                            self.pending.insert(token);
                        }
                    }
                }
            }
            for Done { token, conn, verdict } in done.try_iter() {
                self.take_back(token, conn, verdict);
            }
            self.check_partial(shared);
        }
        log::info!("shutting down: {} idle connections closed", self.idle.len());
        Ok(())
    }

    fn accept(&mut self, listener: &TcpListener) {
        loop {
            match listener.accept() {
                Ok((stream, addr)) => {
                    let setup = stream
                        .set_nonblocking(false)
                        .and_then(|()| stream.set_nodelay(true))
                        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
                        // A safety net: a turn is only given on readiness.
                        .and_then(|()| stream.set_read_timeout(Some(Duration::from_millis(100))));
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    let registered = setup.and_then(|()| {
                        self.poll.registry().register(&mut SourceFd(&stream.as_raw_fd()), token, Interest::READABLE)
                    });
                    match registered {
                        Ok(()) => {
                            log::debug!("{addr}: connected");
                            self.idle.insert(token, Conn::new(stream, addr));
                            self.connections.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => log::warn!("{addr}: cannot serve this connection: {e}"),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors, most likely: keep serving
                    // the connections we have; the kernel queues the rest.
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Gives `token` a turn; false if a worker has it already.
    fn dispatch(&mut self, token: Token, turn: Turn) -> bool {
        // Not idle: a worker has it.
        let Some(conn) = self.idle.remove(&token) else { return false };
        self.partial.remove(&token);
        if let Err(e) = self.jobs.send(Job { token, conn, turn }) {
            let Job { token, conn, .. } = e.into_inner();
            self.close(token, conn);
        }
        true
    }

    fn take_back(&mut self, token: Token, conn: Conn, verdict: Verdict) {
        if verdict == Verdict::Close {
            return self.close(token, conn);
        }
        let again = self.pending.remove(&token) || conn.maybe_more;
        if conn.partial_since.is_some() {
            self.partial.insert(token);
        }
        self.idle.insert(token, conn);
        if again {
            self.dispatch(token, Turn::Readable);
        }
    }

    fn close(&mut self, token: Token, conn: Conn) {
        self.pending.remove(&token);
        let _ = self.poll.registry().deregister(&mut SourceFd(&conn.stream.as_raw_fd()));
        log::debug!("{}: closed", conn.addr);
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    fn deadlines(conn: &Conn, shared: &Shared) -> (Option<Instant>, Option<Instant>) {
        let config = &shared.config;
        let close = conn.partial_since.map(|t| t + config.partial_timeout);
        let pause = (!conn.pause_tried).then(|| conn.last_input + config.line_pause);
        (pause, close)
    }

    fn next_deadline(&self, shared: &Shared) -> Option<Instant> {
        self.partial
            .iter()
            .filter_map(|t| self.idle.get(t))
            .flat_map(|c| {
                let (pause, close) = Self::deadlines(c, shared);
                [pause, close]
            })
            .flatten()
            .min()
    }

    /// Closes connections that held an unfinished line too long and gives
    /// a turn to those whose sender paused.
    fn check_partial(&mut self, shared: &Shared) {
        let now = Instant::now();
        let due: Vec<(Token, bool)> = self
            .partial
            .iter()
            .filter_map(|t| {
                let (pause, close) = Self::deadlines(self.idle.get(t)?, shared);
                if close.is_some_and(|d| d <= now) {
                    Some((*t, true))
                } else {
                    pause.is_some_and(|d| d <= now).then_some((*t, false))
                }
            })
            .collect();
        for (token, expired) in due {
            if expired {
                self.partial.remove(&token);
                if let Some(conn) = self.idle.remove(&token) {
                    log::info!("{}: closing, unfinished line held for {:?}", conn.addr, shared.config.partial_timeout);
                    self.close(token, conn);
                }
            } else {
                self.dispatch(token, Turn::Paused);
            }
        }
    }
}
