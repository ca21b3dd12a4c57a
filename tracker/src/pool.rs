//! The worker pool: fixed threads fed through one crossbeam channel, each
//! taking one connection's turn at a time (see `slot` for who owns what).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::{Token, Waker};

use crate::conn::{Buffers, Verdict};
use crate::handler::Shared;
use crate::slot::Slot;
use crate::stats::Tally;

pub enum Job {
    /// From the reactor: bytes arrived.
    Read(Arc<Slot>),
    /// From the reactor: a deadline of its unfinished line passed.
    Timer(Arc<Slot>),
    /// From a worker: bytes arrived during the turn, or more were queued
    /// than one read takes.
    Again(Arc<Slot>),
    Stop,
}

/// What a worker tells the reactor; rare, so each one wakes it.
pub enum Note {
    Closed(Token),
    /// The connection holds an unfinished line; look at it again then.
    Deadline(Token, Instant),
}

/// What the workers share.
pub struct Pool {
    pub shared: Arc<Shared>,
    pub jobs: Sender<Job>,
    pub notes: Sender<Note>,
    pub waker: Arc<Waker>,
    pub connections: Arc<AtomicUsize>,
    pub catch_up: CatchUp,
}

/// The reactor waits for the pool to catch up before it polls again.
/// Polling while the workers are busy would only move events from
/// epoll's ready list to the job queue, one wake-up of the reactor per
/// arriving request; waiting lets them pile up in the ready list, free,
/// and one poll takes them all. "Caught up" means every job the reactor
/// queued has been taken: connections that keep requeuing themselves do
/// not hold the others back. `outstanding` only grows on the reactor's
/// side, so once a worker takes it to zero it stays there while the
/// reactor waits. The reactor sets `waiting` then reads `outstanding`; a
/// worker lowers `outstanding` then reads `waiting`; a SeqCst fence on
/// each side means the worker that takes the last job sees the reactor
/// waiting, or the reactor sees zero.
pub struct CatchUp {
    reactor: std::thread::Thread,
    waiting: AtomicBool,
    outstanding: AtomicUsize,
}

impl CatchUp {
    /// For the calling thread, which must be the reactor.
    pub fn new() -> Self {
        Self { reactor: std::thread::current(), waiting: AtomicBool::new(false), outstanding: AtomicUsize::new(0) }
    }

    /// Reactor: about to queue `n` jobs.
    pub fn queued(&self, n: usize) {
        if n > 0 {
            self.outstanding.fetch_add(n, Ordering::SeqCst);
        }
    }

    /// Reactor: waits until the workers took every job it queued, or
    /// `limit` passed.
    pub fn wait(&self, limit: Instant) {
        if self.outstanding.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.waiting.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        while self.outstanding.load(Ordering::SeqCst) > 0 {
            let now = Instant::now();
            if now >= limit {
                break;
            }
            std::thread::park_timeout(limit - now);
        }
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// Worker: took a job the reactor queued.
    fn taken(&self) {
        if self.outstanding.fetch_sub(1, Ordering::SeqCst) == 1 {
            fence(Ordering::SeqCst);
            if self.waiting.swap(false, Ordering::SeqCst) {
                self.reactor.unpark();
            }
        }
    }
}

/// A worker: one connection's turn at a time. What it owns: the
/// connection while serving it, and buffers reused across turns. It stops
/// at shutdown without starting another turn.
pub fn work(jobs: &Receiver<Job>, pool: &Pool) {
    let mut bufs = Buffers::default();
    let mut served = Tally::default();
    loop {
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(_) => {
                // About to wait: count what was served so far.
                if served.total() > 0 {
                    pool.shared.stats.add(std::mem::take(&mut served));
                }
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        let (slot, read, given) = match job {
            Job::Read(slot) => (slot, true, true),
            Job::Timer(slot) => (slot, false, true),
            Job::Again(slot) => (slot, true, false),
            Job::Stop => return,
        };
        if given {
            pool.catch_up.taken();
        }
        if pool.shared.shutdown.is_triggered() {
            return;
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| turn(&slot, read, pool, &mut bufs)));
        let (verdict, more, deadline) = match outcome {
            Ok(Some((verdict, more, deadline, n))) => {
                served.add(n);
                (verdict, more, deadline)
            }
            // Closed already: nothing is owed to it.
            Ok(None) => continue,
            Err(_) => {
                // A bug, not the client's fault; the pool must not shrink.
                log::error!("a turn panicked; closing that connection");
                (Verdict::Close, false, None)
            }
        };
        let token = slot.token;
        if verdict == Verdict::Close {
            slot.close();
            pool.connections.fetch_sub(1, Ordering::Relaxed);
            pool.note(Note::Closed(token));
        } else if more || slot.end_turn() {
            // Still ours: to the back of the queue, for fairness.
            let _ = pool.jobs.send(Job::Again(slot));
        } else if let Some(at) = deadline {
            pool.note(Note::Deadline(token, at));
        }
    }
}

type Outcome = (Verdict, bool, Option<Instant>, Tally);

/// One turn: its verdict, whether more may be queued, the deadline of an
/// unfinished line, and the requests it answered.
fn turn(slot: &Slot, read: bool, pool: &Pool, bufs: &mut Buffers) -> Option<Outcome> {
    let mut guard = slot.conn();
    let conn = guard.as_mut()?;
    let verdict = if read {
        slot.begin_read();
        conn.on_readable(&pool.shared, bufs, slot.drains())
    } else {
        conn.on_timer(&pool.shared, Instant::now(), bufs)
    };
    Some((verdict, conn.maybe_more, conn.deadline(&pool.shared.config), std::mem::take(&mut conn.served)))
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
