//! The readiness thread: accepts, keeps the cap, hands connections that
//! can make progress to the pool, and closes idle ones.
//!
//! A connection is either home (here, `Entry::conn` set) or on a worker
//! for one turn; it comes back through `Done`, with a wake-up. Sockets
//! are registered once, edge-triggered, for both directions. Each entry
//! remembers whether its socket may have bytes to read (`may_read`) or
//! room to write (`may_write`): set by events (also those that arrive
//! during a turn), cleared when a turn starts, and set again on return
//! unless the turn saw the socket empty (or full). A connection with a
//! reply pending waits for room to write; otherwise for bytes to read.
//!
//! The cap holds for the sockets themselves: a newcomer beyond it closes
//! the least active connection at home; while every connection is on a
//! worker, newcomers wait in the kernel's queue until a turn ends.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::conn::{Conn, Context, Outcome};
use super::{IDLE_TIMEOUT, MAX_CONNECTIONS};
use crate::engine::stats::{Direction, Stats};

pub const LISTENER: Token = Token(0);
pub const WAKER: Token = Token(1);
/// After `accept` failed (out of memory, or of descriptors with no
/// connection to close), accepts stop this long: retrying at once spins.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How often idle connections are looked for (and the log summarised).
const SWEEP: Duration = Duration::from_secs(1);
/// When descriptors run out before the cap, the cap drops to this many
/// fewer connections than were open, leaving descriptors to the rest of
/// the peer (files to serve, downloads, the tracker); it comes back up by
/// one each sweep without a shortage.
const HEADROOM: usize = 8;
const MIN_CAP: usize = 4;

/// A connection's turn, to a worker.
pub struct Job {
    pub token: Token,
    pub conn: Box<Conn>,
}

/// A turn over, back from a worker.
pub struct Done {
    pub token: Token,
    pub conn: Box<Conn>,
    pub outcome: Outcome,
}

struct Entry {
    /// `None` while on a worker.
    conn: Option<Box<Conn>>,
    may_read: bool,
    may_write: bool,
    /// The last turn stopped on its budget: it gets another at once.
    again: bool,
    /// The upload limit holds it back until then (then it gets a turn).
    until: Option<Instant>,
}

pub struct Reactor {
    poll: Poll,
    listener: TcpListener,
    jobs: Sender<Job>,
    done: Receiver<Done>,
    stats: Stats,
    ctx: std::sync::Arc<Context>,
    entries: HashMap<Token, Entry>,
    next_token: usize,
    /// Accepts stopped until then.
    paused_until: Option<Instant>,
    /// Whether the last accept failed, so each run of failures is logged once.
    failing: bool,
    /// The cap in force: `MAX_CONNECTIONS`, or less after running out of
    /// descriptors (`short` since the last sweep).
    cap: usize,
    short: bool,
    /// Full, without enough connections at home to close: newcomers wait
    /// in the kernel's queue until a turn ends.
    full: bool,
    /// Connections closed to make room since the last sweep.
    evicted: usize,
}

impl Reactor {
    pub fn new(
        poll: Poll,
        listener: TcpListener,
        (jobs, done): (Sender<Job>, Receiver<Done>),
        stats: Stats,
        ctx: std::sync::Arc<Context>,
    ) -> Self {
        Self {
            poll,
            listener,
            jobs,
            done,
            stats,
            ctx,
            entries: HashMap::new(),
            next_token: 2,
            paused_until: None,
            failing: false,
            cap: MAX_CONNECTIONS,
            short: false,
            full: false,
            evicted: 0,
        }
    }

    /// Runs until `stop`; dropping the reactor then closes every
    /// connection at home and ends the workers (their job queue closes).
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(256);
        let mut next_sweep = Instant::now() + SWEEP;
        while !stop.load(Ordering::SeqCst) {
            let limited = self.entries.values().filter_map(|e| e.until).min();
            let wake_at = [self.paused_until, limited].into_iter().flatten().fold(next_sweep, Instant::min);
            if let Err(e) = self.poll.poll(&mut events, Some(wake_at.saturating_duration_since(Instant::now()))) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("peer {}: the server stops: {e}", self.ctx.settings.id);
                return;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    token => {
                        if let Some(e) = self.entries.get_mut(&token) {
                            let failed = event.is_error();
                            e.may_read |= event.is_readable() || event.is_read_closed() || failed;
                            e.may_write |= event.is_writable() || event.is_write_closed() || failed;
                        }
                    }
                }
            }
            while let Ok(done) = self.done.try_recv() {
                self.returned(done);
            }
            let now = Instant::now();
            if self.paused_until.is_some_and(|t| now >= t) {
                self.paused_until = None;
                self.accept();
            } else if self.full {
                self.accept();
            }
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP;
            }
            self.dispatch();
        }
    }

    fn accept(&mut self) {
        while self.paused_until.is_none() {
            // Room is made by closing connections at home: without enough,
            // the newcomer waits (a returning turn tries again).
            let home = self.entries.values().filter(|e| e.conn.is_some()).count();
            self.full = self.entries.len() >= self.cap && home + self.cap <= self.entries.len();
            if self.full {
                return;
            }
            match self.listener.accept() {
                Ok((stream, addr)) => {
                    self.failing = false;
                    self.admit(stream, addr);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(e) => {
                    let descriptors = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                    self.short |= descriptors;
                    let fewer = self.entries.len().saturating_sub(HEADROOM).max(MIN_CAP);
                    if descriptors && fewer < self.cap {
                        log::warn!(
                            "peer {}: {e} with {} peers connected: serving at most {fewer} for now",
                            self.ctx.settings.id,
                            self.entries.len()
                        );
                        self.cap = fewer;
                        self.shrink();
                        continue;
                    }
                    // Nothing to close, or out of memory: serve the
                    // connections we have; the kernel queues the rest.
                    if !self.failing {
                        log::warn!(
                            "peer {}: cannot accept: {e}; retrying every {ACCEPT_PAUSE:?}",
                            self.ctx.settings.id
                        );
                    }
                    self.failing = true;
                    self.paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                }
            }
        }
    }

    /// Closes the least active connections at home until a newcomer fits.
    fn shrink(&mut self) {
        while self.entries.len() >= self.cap
            && let Some(token) = self.idlest()
        {
            self.evicted += 1;
            self.close(token);
        }
    }

    /// The connection at home to close first.
    fn idlest(&self) -> Option<Token> {
        // A neighbour's link is silent between searches, not idle: others
        // go first (the cap still holds if only neighbours are left).
        let rank = |c: &Conn| (c.is_neighbour(), c.rank());
        self.entries.iter().filter_map(|(t, e)| Some((rank(e.conn.as_ref()?), *t))).min().map(|(_, t)| t)
    }

    /// Takes a new connection within the cap: beyond it, the least active
    /// connection at home (`accept` made sure there is one) is closed.
    fn admit(&mut self, mut stream: TcpStream, addr: SocketAddr) {
        if self.entries.len() >= self.cap {
            log::debug!("{addr}: {} peers connected, closing the least active one", self.cap);
            self.shrink();
        }
        let token = Token(self.next_token);
        self.next_token += 1;
        let registered = stream
            .set_nodelay(true)
            .and_then(|()| self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE));
        if let Err(e) = registered {
            log::warn!("{addr}: cannot serve this connection: {e}");
            return;
        }
        let conn = Conn::new(stream, addr, self.stats.open(addr, Direction::Incoming), &self.ctx);
        let entry = Entry { conn: Some(Box::new(conn)), may_read: true, may_write: true, again: false, until: None };
        self.entries.insert(token, entry);
    }

    fn returned(&mut self, done: Done) {
        let Some(e) = self.entries.get_mut(&done.token) else { return };
        e.conn = Some(done.conn);
        if done.outcome.close {
            self.close(done.token);
            return;
        }
        e.may_read |= !done.outcome.read_blocked;
        e.may_write |= !done.outcome.write_blocked;
        e.again = done.outcome.more;
        e.until = done.outcome.wait;
    }

    /// Gives a turn to every connection at home that can make progress.
    fn dispatch(&mut self) {
        let now = Instant::now();
        for (&token, e) in &mut self.entries {
            let Some(conn) = &e.conn else { continue };
            match e.until {
                Some(until) if until > now => continue,
                Some(_) => (e.until, e.again) = (None, true),
                None => {}
            }
            let ready = if conn.has_output() { e.may_write } else { e.may_read };
            if !(ready || e.again) {
                continue;
            }
            (e.may_read, e.may_write, e.again) = (false, false, false);
            let Some(conn) = e.conn.take() else { continue };
            // The workers outlive the reactor: the queue stays open.
            let _ = self.jobs.send(Job { token, conn });
        }
    }

    /// Closes connections silent (neither asking nor taking replies) for
    /// `IDLE_TIMEOUT`, and logs what the cap cost since the last sweep.
    fn sweep(&mut self, now: Instant) {
        let idle: Vec<Token> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                // A neighbour's link is silent between searches.
                e.conn
                    .as_ref()
                    .is_some_and(|c| !c.is_neighbour() && now.duration_since(c.last_progress) >= IDLE_TIMEOUT)
            })
            .map(|(t, _)| *t)
            .collect();
        for token in idle {
            log::debug!("a peer silent for {IDLE_TIMEOUT:?} disconnected");
            self.close(token);
        }
        if self.evicted > 0 {
            log::info!(
                "peer {}: closed the {} least active connection(s) to make room (at most {} peers)",
                self.ctx.settings.id,
                self.evicted,
                self.cap
            );
            self.evicted = 0;
        }
        if !std::mem::take(&mut self.short) && self.cap < MAX_CONNECTIONS {
            self.cap += 1;
        }
    }

    /// Closes a connection at home (one on a worker is closed on return).
    fn close(&mut self, token: Token) {
        if let Some(Entry { conn: Some(mut conn), .. }) = self.entries.remove(&token) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }
}
