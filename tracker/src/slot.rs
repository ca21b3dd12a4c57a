//! Who may serve a connection: the reactor's readiness events and the
//! workers' turns meet here, on one atomic state per connection, so a
//! finished turn needs no message back to the reactor.
//!
//! States:
//! - `IDLE`: nobody serves it; the reactor watches its socket.
//! - `QUEUED`: in the job queue or on a worker.
//! - `AGAIN`: `QUEUED`, and bytes arrived since the turn's read began.
//! - `CLOSED`: a worker closed it; events for it are ignored.
//!
//! Transitions:
//! - reactor, bytes arrived: `IDLE -> QUEUED` (the reactor queues it),
//!   `QUEUED -> AGAIN`; `AGAIN` and `CLOSED` stay.
//! - reactor, a deadline passed: `IDLE -> QUEUED` (queued for a timer
//!   turn); otherwise nothing, since the turn on it reports afresh.
//! - worker, before a read: `AGAIN -> QUEUED`; later arrivals set it again.
//! - worker, turn over: `QUEUED -> IDLE`; `AGAIN` stays and the worker
//!   queues the connection again; `-> CLOSED` when the turn closed it.
//!
//! Every access is SeqCst: the drain flag and the state are two atomics
//! that must be seen in one order (on x86 this costs nothing more than
//! the compare-exchanges themselves).
//!
//! Only the reactor takes a connection out of `IDLE`, and only the worker
//! holding it puts it back (or closes it), so exactly one party owns it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use mio::Token;
use parking_lot::{Mutex, MutexGuard};

use crate::cache::Owner;
use crate::conn::Conn;

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const AGAIN: u8 = 2;
const CLOSED: u8 = 3;

#[derive(Debug)]
pub struct Slot {
    pub token: Token,
    state: AtomicU8,
    /// The reactor saw the peer close, fail or send urgent data: reads
    /// must drain the socket (see `sockio::read_available`). Never unset.
    drain: AtomicBool,
    /// `None` once closed: dropping the socket closes it at once, which
    /// also takes it out of the reactor's epoll set. The state above
    /// gives the connection to one thread at a time, so this lock is
    /// never waited on; it is what lets that hand-over stay safe Rust.
    conn: Mutex<Option<Conn>>,
    /// The connection's claim on its peers, which the reactor ends as
    /// soon as it sees the client's end, without waiting for a turn.
    owner: Owner,
}

impl Slot {
    pub fn new(token: Token, conn: Conn) -> Self {
        let owner = conn.owner().clone();
        Self { token, state: AtomicU8::new(IDLE), drain: AtomicBool::new(false), conn: Mutex::new(Some(conn)), owner }
    }

    /// Reactor: the client closed its side or the connection failed, so
    /// it sends nothing more: its peers may be taken over at once by its
    /// next connection (see `cache::owner`), which may be served before a
    /// worker reads this end.
    pub fn client_ended(&self) {
        self.owner.end();
    }

    /// Reactor, before `on_ready`: the event said the peer closed, failed
    /// or sent urgent data. Set before the state is looked at, so the
    /// turn after that sees it.
    pub fn must_drain(&self) {
        self.drain.store(true, Ordering::SeqCst);
    }

    /// Worker: whether reads must drain the socket.
    pub fn drains(&self) -> bool {
        self.drain.load(Ordering::SeqCst)
    }

    /// Reactor: bytes arrived. True if the caller must queue a turn.
    pub fn on_ready(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            let next = match state {
                IDLE => QUEUED,
                QUEUED => AGAIN,
                _ => return false,
            };
            match self.state.compare_exchange_weak(state, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return state == IDLE,
                Err(now) => state = now,
            }
        }
    }

    /// Reactor: a deadline passed. True if the caller must queue a timer
    /// turn; false if the connection is busy (its turn reports again).
    pub fn on_timer(&self) -> bool {
        self.state.compare_exchange(IDLE, QUEUED, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Worker: a read that drains the socket is about to start, so it
    /// covers every arrival so far; arrivals from now on earn a new turn.
    pub fn begin_read(&self) {
        // Looked at first: a compare-exchange locks the line even when it
        // fails, and AGAIN is the rare case.
        if self.state.load(Ordering::SeqCst) == AGAIN {
            let _ = self.state.compare_exchange(AGAIN, QUEUED, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// Worker: the turn is over. True if bytes arrived meanwhile: the
    /// caller must queue the connection again (it stays out of `IDLE`).
    pub fn end_turn(&self) -> bool {
        self.state.compare_exchange(QUEUED, IDLE, Ordering::SeqCst, Ordering::SeqCst).is_err()
    }

    /// Worker: the turn closed the connection.
    pub fn close(&self) {
        *self.conn.lock() = None;
        self.state.store(CLOSED, Ordering::SeqCst);
    }

    /// The connection, for whoever owns it by the state above.
    pub fn conn(&self) -> MutexGuard<'_, Option<Conn>> {
        self.conn.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    fn slot() -> Slot {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let addr = stream.local_addr().unwrap();
        Slot::new(Token(7), Conn::new(stream, addr))
    }

    fn state(slot: &Slot) -> u8 {
        slot.state.load(Ordering::SeqCst)
    }

    #[test]
    fn readiness_queues_an_idle_connection_once() {
        let s = slot();
        assert!(s.on_ready(), "idle: the reactor queues it");
        assert_eq!(state(&s), QUEUED);
        assert!(!s.on_ready(), "queued: not queued twice");
        assert_eq!(state(&s), AGAIN);
        assert!(!s.on_ready());
        assert_eq!(state(&s), AGAIN);
    }

    #[test]
    fn a_quiet_turn_returns_the_connection_to_idle() {
        let s = slot();
        assert!(s.on_ready());
        s.begin_read();
        assert!(!s.end_turn(), "nothing arrived: no new turn");
        assert_eq!(state(&s), IDLE);
        assert!(s.on_ready(), "idle again: the next arrival queues it");
    }

    #[test]
    fn bytes_arriving_during_a_turn_earn_another_turn() {
        let s = slot();
        assert!(s.on_ready());
        s.begin_read();
        assert!(!s.on_ready(), "arrival during the turn");
        assert!(s.end_turn(), "the worker must queue it again");
        assert_eq!(state(&s), AGAIN, "still owned by the pool, never idle");
        s.begin_read();
        assert_eq!(state(&s), QUEUED, "the new read covers those bytes");
        assert!(!s.end_turn());
        assert_eq!(state(&s), IDLE);
    }

    #[test]
    fn bytes_arriving_before_the_read_still_count_once() {
        let s = slot();
        assert!(s.on_ready());
        assert!(!s.on_ready(), "a second arrival while queued");
        s.begin_read();
        assert!(!s.end_turn(), "the read took both arrivals");
    }

    #[test]
    fn timers_only_take_idle_connections_and_keep_arrivals() {
        let s = slot();
        assert!(s.on_timer());
        assert!(!s.on_timer(), "already queued");
        assert!(!s.on_ready(), "bytes arrive before the timer turn runs");
        // A timer turn does not read, so it must not forget the arrival.
        assert!(s.end_turn(), "requeued for a read");
        s.begin_read();
        assert!(!s.end_turn());
        assert!(s.on_timer());
    }

    #[test]
    fn a_closed_connection_ignores_everything() {
        let s = slot();
        assert!(s.on_ready());
        s.close();
        assert!(s.conn().is_none(), "the socket is dropped at once");
        assert!(!s.on_ready());
        assert!(!s.on_timer());
        assert_eq!(state(&s), CLOSED);
    }
}
