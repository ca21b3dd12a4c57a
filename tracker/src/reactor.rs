//! The readiness thread and the worker pool.
//!
//! Sockets are blocking; what keeps a fixed pool from meaning "at most N
//! peers" is that idle connections never sit on a worker. The reactor
//! (one thread, `mio`) watches every connection. When one has bytes to
//! read, or has paused on an unfinished line, the reactor queues it for
//! the pool; a worker reads once, answers, and hands it back by marking
//! it idle in its [`Slot`], which the reactor watches again. No message
//! goes back to the reactor for an ordinary turn: waking it for each one
//! cost as much as the turn itself.
//!
//! Sockets are registered once, edge-triggered: Linux reports every
//! arrival of bytes, so nothing is missed without re-arming after each
//! turn. Arrivals during a turn, or a read that filled the whole buffer,
//! earn another turn at the back of the queue, so a flooding client
//! cannot starve the others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::conn::{Buffers, Conn, Verdict};
use crate::handler::Shared;
use crate::shutdown::Shutdown;
use crate::slot::Slot;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// The reactor polls at least this often, even with every worker busy
/// (stuck writing to clients that stopped reading, say).
const MAX_CATCH_UP: Duration = Duration::from_millis(10);
/// A worker never waits longer than this on a client that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

enum Job {
    Read(Arc<Slot>),
    /// A deadline of its unfinished line passed.
    Timer(Arc<Slot>),
    Stop,
}

/// What a worker tells the reactor; rare, so each one wakes it.
enum Note {
    Closed(Token),
    /// The connection holds an unfinished line; look at it again then.
    Deadline(Token, Instant),
}

/// What a worker needs besides its job queue.
struct Pool {
    shared: Arc<Shared>,
    jobs: Sender<Job>,
    notes: Sender<Note>,
    waker: Arc<Waker>,
    connections: Arc<AtomicUsize>,
    catch_up: CatchUp,
}

/// The reactor waits for the pool to catch up before it polls again.
/// Polling while the workers are busy would only move events from
/// epoll's ready list to the job queue, one wake-up of the reactor per
/// arriving request; waiting lets them pile up in the ready list, free,
/// and one poll takes them all. The worker that takes the last queued
/// job wakes the reactor (park/unpark keep a token, so no wake-up is
/// lost); `waiting` and the queue are each written by one side and read
/// by the other, with a SeqCst fence between on both sides.
struct CatchUp {
    reactor: std::thread::Thread,
    waiting: AtomicBool,
}

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
    let catch_up = CatchUp { reactor: std::thread::current(), waiting: AtomicBool::new(false) };
    let pool =
        Arc::new(Pool { shared: shared.clone(), jobs: job_tx.clone(), notes: note_tx, waker, connections, catch_up });
    let workers: Vec<_> = (0..shared.config.workers)
        .map(|i| {
            let (jobs, pool) = (job_rx.clone(), pool.clone());
            std::thread::Builder::new().name(format!("tracker-worker-{i}")).spawn(move || work(&jobs, &pool))
        })
        .collect::<io::Result<_>>()?;

    let mut reactor = Reactor {
        poll,
        slots: HashMap::new(),
        deadlines: BinaryHeap::new(),
        scheduled: HashMap::new(),
        next_token: 2,
        jobs: job_tx,
        connections: pool.connections.clone(),
    };
    let result = reactor.run(&listener, &note_rx, &shutdown, &pool.catch_up, &job_rx);
    for _ in &workers {
        let _ = reactor.jobs.send(Job::Stop);
    }
    for worker in workers {
        let _ = worker.join();
    }
    log::info!("shutting down: {} connections closed", reactor.slots.len());
    result
}

/// A worker: one connection's turn at a time. What it owns: the
/// connection while serving it, and buffers reused across turns.
fn work(jobs: &Receiver<Job>, pool: &Pool) {
    let mut bufs = Buffers::default();
    for job in jobs {
        if jobs.is_empty() {
            pool.catch_up.caught_up();
        }
        let (slot, verdict, more, deadline) = {
            let (slot, read) = match job {
                Job::Read(slot) => (slot, true),
                Job::Timer(slot) => (slot, false),
                Job::Stop => return,
            };
            let mut guard = slot.conn();
            let Some(conn) = guard.as_mut() else { continue };
            let verdict = if read {
                slot.begin_read();
                conn.on_readable(&pool.shared, &mut bufs)
            } else {
                conn.on_timer(&pool.shared, Instant::now(), &mut bufs)
            };
            let (more, deadline) = (conn.maybe_more, conn.deadline(&pool.shared.config));
            drop(guard);
            (slot, verdict, more, deadline)
        };
        let token = slot.token;
        if verdict == Verdict::Close {
            slot.close();
            pool.connections.fetch_sub(1, Ordering::Relaxed);
            pool.note(Note::Closed(token));
        } else if more || slot.end_turn() {
            // Still ours: to the back of the queue, for fairness.
            let _ = pool.jobs.send(Job::Read(slot));
        } else if let Some(at) = deadline {
            pool.note(Note::Deadline(token, at));
        }
    }
}

impl CatchUp {
    /// Worker: the queue is empty.
    fn caught_up(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::Relaxed) {
            self.reactor.unpark();
        }
    }

    /// Reactor: waits until the queue is empty or `limit` passed.
    fn wait(&self, jobs: &Receiver<Job>, limit: Instant) {
        self.waiting.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        while !jobs.is_empty() {
            let now = Instant::now();
            if now >= limit {
                break;
            }
            std::thread::park_timeout(limit - now);
        }
        self.waiting.store(false, Ordering::Relaxed);
    }
}

impl Pool {
    fn note(&self, note: Note) {
        if self.notes.send(note).is_ok()
            && let Err(e) = self.waker.wake()
        {
            log::warn!("cannot wake the reactor: {e}");
        }
    }
}

struct Reactor {
    poll: Poll,
    slots: HashMap<Token, Arc<Slot>>,
    /// When to look at unfinished lines again: the heap orders them, the
    /// map keeps one live entry per connection (an entry not matching it
    /// is stale and skipped), so a client cannot grow the heap faster
    /// than it opens connections. An entry that is no longer due by the
    /// time it fires only costs a turn that finds nothing to do.
    deadlines: BinaryHeap<Reverse<(Instant, Token)>>,
    scheduled: HashMap<Token, Instant>,
    next_token: usize,
    jobs: Sender<Job>,
    connections: Arc<AtomicUsize>,
}

impl Reactor {
    fn run(
        &mut self,
        listener: &TcpListener,
        notes: &Receiver<Note>,
        shutdown: &Shutdown,
        catch_up: &CatchUp,
        queue: &Receiver<Job>,
    ) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !shutdown.is_triggered() {
            if !queue.is_empty() {
                let limit = Instant::now() + MAX_CATCH_UP;
                let limit = self.deadlines.peek().map_or(limit, |Reverse((at, _))| limit.min(*at));
                catch_up.wait(queue, limit);
            }
            let timeout = self.deadlines.peek().map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
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
                        if let Some(slot) = self.slots.get(&token)
                            && slot.on_ready()
                        {
                            let _ = self.jobs.send(Job::Read(slot.clone()));
                        }
                    }
                }
            }
            for note in notes.try_iter() {
                match note {
                    Note::Closed(token) => {
                        self.slots.remove(&token);
                        self.scheduled.remove(&token);
                    }
                    Note::Deadline(token, at) => self.schedule(token, at),
                }
            }
            self.fire_deadlines();
        }
        Ok(())
    }

    fn accept(&mut self, listener: &TcpListener) {
        loop {
            match listener.accept() {
                Ok((stream, addr)) => {
                    let setup = stream
                        .set_nonblocking(false)
                        .and_then(|()| stream.set_nodelay(true))
                        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)));
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    let registered = setup.and_then(|()| {
                        let interest = Interest::READABLE;
                        self.poll.registry().register(&mut SourceFd(&stream.as_raw_fd()), token, interest)
                    });
                    match registered {
                        Ok(()) => {
                            log::debug!("{addr}: connected");
                            self.slots.insert(token, Arc::new(Slot::new(token, Conn::new(stream, addr))));
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
            if let Some(slot) = self.slots.get(&token)
                && slot.on_timer()
            {
                let _ = self.jobs.send(Job::Timer(slot.clone()));
            }
        }
    }
}
