//! The readiness thread.
//!
//! Sockets are blocking; what keeps a fixed pool from meaning "at most N
//! peers" is that idle connections never sit on a worker. The reactor
//! (one thread, `mio`) watches every connection. When an idle one has
//! bytes to read, or has paused on an unfinished line, the reactor queues
//! it for the pool (`pool`); a worker reads what has arrived, answers,
//! and hands it back by marking it idle in its [`Slot`]. No message goes
//! back to the reactor for an ordinary turn: waking it for each one cost
//! as much as the turn itself.
//!
//! Sockets are registered once, edge-triggered, so nothing needs
//! re-arming after a turn. Linux gives an event for every arrival of
//! bytes, so one read per turn covers every event before it, and an
//! arrival after it earns another turn at the back of the queue. Events
//! that one read may not cover (the peer's end, an error, urgent data)
//! mark the slot so that its reads drain the socket (`sockio`). A read
//! that filled the whole buffer also goes to the back of the queue, so a
//! flooding client cannot starve the others.
//!
//! The reactor also counts open connections per IP address: beyond
//! `tracker_max_connections_per_ip`, a new connection is told why and
//! closed before it costs a slot.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::conn::Conn;
use crate::handler::Shared;
use crate::pool::{CatchUp, Job, Note, Pool, work};
use crate::shutdown::Shutdown;
use crate::slot::Slot;
use crate::sockio::WRITE_SLICE;
use crate::stats::Rejection;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// The reactor polls at least this often, even with every worker busy
/// (stuck writing to clients that stopped reading, say).
const MAX_CATCH_UP: Duration = Duration::from_millis(10);
/// After `accept` failed (out of descriptors), try again this often: the
/// listener is edge-triggered and reports nothing until a new connect.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Runs until `shutdown`: accepts, dispatches turns, fires the deadlines
/// of unfinished lines. Returns once every worker has finished its turn.
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

    let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
    let (note_tx, note_rx) = crossbeam_channel::unbounded::<Note>();
    let pool = Arc::new(Pool {
        shared: shared.clone(),
        jobs: job_tx.clone(),
        notes: note_tx,
        waker,
        connections,
        catch_up: CatchUp::new(),
    });
    // Workers hold a sender (to requeue), so the channel never closes on
    // its own: stop them explicitly, even if the reactor fails or panics,
    // or a later worker cannot be started.
    let mut stop = StopWorkers { jobs: job_tx.clone(), count: 0, shutdown: shutdown.clone() };
    let mut workers = Vec::with_capacity(shared.config.workers);
    for i in 0..shared.config.workers {
        let (jobs, pool) = (job_rx.clone(), pool.clone());
        workers
            .push(std::thread::Builder::new().name(format!("tracker-worker-{i}")).spawn(move || work(&jobs, &pool))?);
        stop.count += 1;
    }

    let mut reactor = Reactor {
        poll,
        slots: HashMap::default(),
        per_ip: HashMap::default(),
        deadlines: BinaryHeap::new(),
        scheduled: HashMap::default(),
        next_token: 2,
        accept_failed: false,
        batch: Vec::new(),
        pool: pool.clone(),
    };
    let result = reactor.run(&listener, &note_rx, &shutdown);
    drop(stop);
    for worker in workers {
        let _ = worker.join();
    }
    log::info!("shutting down: {} connections closed", reactor.slots.len());
    result
}

struct StopWorkers {
    jobs: Sender<Job>,
    count: usize,
    shutdown: Shutdown,
}

impl Drop for StopWorkers {
    fn drop(&mut self) {
        self.shutdown.trigger();
        for _ in 0..self.count {
            let _ = self.jobs.send(Job::Stop);
        }
    }
}

struct Reactor {
    poll: Poll,
    /// Looked up once per event: foldhash, not SipHash.
    slots: HashMap<Token, Watched, foldhash::fast::RandomState>,
    per_ip: HashMap<IpAddr, PerIp, foldhash::fast::RandomState>,
    /// When to look at unfinished lines again: the heap orders them, the
    /// map keeps one live entry per connection (an entry not matching it
    /// is stale and skipped), so a client cannot grow the heap faster
    /// than it opens connections. An entry that is no longer due by the
    /// time it fires only costs a turn that finds nothing to do.
    deadlines: BinaryHeap<Reverse<(Instant, Token)>>,
    scheduled: HashMap<Token, Instant, foldhash::fast::RandomState>,
    next_token: usize,
    /// The last `accept` failed: retry without waiting for an event.
    accept_failed: bool,
    /// This poll round's jobs.
    batch: Vec<Job>,
    pool: Arc<Pool>,
}

struct Watched {
    slot: Arc<Slot>,
    ip: IpAddr,
}

/// One address's connections.
#[derive(Default)]
struct PerIp {
    open: usize,
    /// Refused since the last one closed: logged once it closes, so a
    /// client that keeps reconnecting at its limit is one log line, not
    /// one per attempt.
    refused: u64,
}

impl Reactor {
    fn run(&mut self, listener: &TcpListener, notes: &Receiver<Note>, shutdown: &Shutdown) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !shutdown.is_triggered() {
            let next = self.deadlines.peek().map(|Reverse((at, _))| *at);
            let limit = Instant::now() + MAX_CATCH_UP;
            self.pool.catch_up.wait(next.map_or(limit, |at| at.min(limit)));
            let mut timeout = next.map(|at| at.saturating_duration_since(Instant::now()));
            if self.accept_failed {
                timeout = Some(timeout.map_or(ACCEPT_RETRY, |t| t.min(ACCEPT_RETRY)));
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if self.accept_failed {
                self.accept(listener);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(listener),
                    WAKER => {}
                    token => {
                        let Some(Watched { slot, .. }) = self.slots.get(&token) else { continue };
                        let ended = event.is_read_closed() || event.is_error();
                        if ended {
                            slot.client_ended();
                        }
                        if ended || event.is_priority() {
                            slot.must_drain();
                        }
                        if slot.on_ready() {
                            self.batch.push(Job::Read(slot.clone()));
                        }
                    }
                }
            }
            for note in notes.try_iter() {
                match note {
                    Note::Closed(token) => {
                        if let Some(closed) = self.slots.remove(&token) {
                            self.release(closed.ip);
                        }
                        self.scheduled.remove(&token);
                    }
                    Note::Deadline(token, at) => self.schedule(token, at),
                }
            }
            self.fire_deadlines();
            self.flush();
        }
        Ok(())
    }

    /// Queues a poll round's jobs, counted once for the catch-up.
    fn flush(&mut self) {
        self.pool.catch_up.queued(self.batch.len());
        for job in self.batch.drain(..) {
            let _ = self.pool.jobs.send(job);
        }
    }

    fn accept(&mut self, listener: &TcpListener) {
        loop {
            match listener.accept() {
                Ok((stream, addr)) => {
                    if !self.admit(addr.ip()) {
                        self.pool.shared.stats.reject(Rejection::ConnectionLimit, addr.ip());
                        refuse(stream, addr.ip(), self.pool.shared.config.max_connections_per_ip);
                        continue;
                    }
                    let setup = stream
                        .set_nonblocking(false)
                        .and_then(|()| stream.set_nodelay(true))
                        .and_then(|()| stream.set_write_timeout(Some(WRITE_SLICE)));
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    let registered = setup.and_then(|()| {
                        // PRIORITY: urgent data, after which reads must drain.
                        let interest = Interest::READABLE | Interest::PRIORITY;
                        self.poll.registry().register(&mut SourceFd(&stream.as_raw_fd()), token, interest)
                    });
                    match registered {
                        Ok(()) => {
                            log::debug!("{addr}: connected");
                            let slot = Arc::new(Slot::new(token, Conn::new(stream, addr)));
                            self.slots.insert(token, Watched { slot, ip: addr.ip() });
                            self.pool.connections.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            log::warn!("{addr}: cannot serve this connection: {e}");
                            self.release(addr.ip());
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_failed = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if !out_of_resources(&e) => log::debug!("accept: {e}"),
                Err(e) => {
                    // Out of file descriptors or memory: keep serving the
                    // connections we have; the kernel queues the rest.
                    if !self.accept_failed {
                        log::warn!("accept failed: {e}; retrying every {ACCEPT_RETRY:?}");
                    }
                    self.accept_failed = true;
                    return;
                }
            }
        }
    }

    /// Counts a new connection from `ip`, unless the address is at its
    /// limit.
    fn admit(&mut self, ip: IpAddr) -> bool {
        let limit = self.pool.shared.config.max_connections_per_ip;
        let at = self.per_ip.entry(ip).or_default();
        if at.open < limit {
            at.open += 1;
            return true;
        }
        if at.refused == 0 {
            log::info!("{ip}: refusing connections beyond {limit} open (tracker_max_connections_per_ip)");
        }
        at.refused += 1;
        false
    }

    /// A connection from `ip` closed.
    fn release(&mut self, ip: IpAddr) {
        let Entry::Occupied(mut at) = self.per_ip.entry(ip) else { return };
        let counts = at.get_mut();
        counts.open = counts.open.saturating_sub(1);
        if counts.refused > 0 {
            log::info!("{ip}: {} connections were refused at the limit", counts.refused);
            counts.refused = 0;
        }
        if counts.open == 0 {
            at.remove();
        }
        // After a flood of connections, give the tables' memory back (an
        // address has a connection in `slots`, so `per_ip` is never the
        // larger).
        if self.slots.capacity() > 4 * self.slots.len().max(1024) {
            self.slots.shrink_to(2 * self.slots.len());
            self.per_ip.shrink_to(2 * self.per_ip.len());
        }
    }

    /// A later deadline than the one pending waits for it: that turn
    /// reports the later one.
    fn schedule(&mut self, token: Token, at: Instant) {
        if self.scheduled.get(&token).is_none_or(|pending| at < *pending) {
            self.scheduled.insert(token, at);
            self.deadlines.push(Reverse((at, token)));
        }
    }

    /// Gives a timer turn to idle connections whose deadline passed; a
    /// busy one reports its deadline again when its turn ends.
    fn fire_deadlines(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, token))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if self.scheduled.get(&token) != Some(&at) {
                continue;
            }
            self.scheduled.remove(&token);
            if let Some(Watched { slot, .. }) = self.slots.get(&token)
                && slot.on_timer()
            {
                self.batch.push(Job::Timer(slot.clone()));
            }
        }
    }
}

/// Tells a connection beyond its address's limit why, then closes it.
/// The socket is new: the short line fits in its empty buffer, and a
/// write that cannot complete at once is not waited for.
fn refuse(stream: TcpStream, ip: IpAddr, limit: usize) {
    let line = format!("error too many connections from {ip}: at most {limit} (tracker_max_connections_per_ip)\n");
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write_all(line.as_bytes());
}

/// `accept` failed for want of descriptors or memory (retried later), not
/// because of that one connection (aborted before it was taken, say).
fn out_of_resources(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let errno = Errno::from_io_error(e);
    [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM].iter().any(|x| Some(*x) == errno)
}
