//! Rate limits: one budget per direction for the whole peer, shared by
//! its connections, changeable while they run.
//!
//! A connection moves at most [`RateLimit::quantum`] bytes, then pays for
//! them with [`RateLimit::charge`], which books the next free slot of the
//! budget (`bytes / rate` long) and says when that slot ends; the
//! connection moves nothing more until then. Slots are booked one after
//! the other, so the connections sharing a budget take turns in the
//! order they come back, each a quantum at a time: a fast reader cannot
//! starve a slow one, and the total is the rate (exactly, in the long
//! run: bytes moved by time `t` are at most `rate × t` plus one quantum
//! per connection and 2 ms of slack). Paying after moving means no
//! connection holds an unused reservation while it waits on its socket.
//!
//! With no limit (`0`, the default) `charge` is one atomic load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A quantum lasts this long at the current rate: short next to the
/// 10 s over which the limit holds, long enough to keep bookings (a lock
/// each) rare.
const QUANTUM_TIME: Duration = Duration::from_millis(20);
const MIN_QUANTUM: usize = 64;
const MAX_QUANTUM: usize = 1 << 20;
/// A connection whose slot ends within this goes on at once: waiting
/// that little costs a wake-up (the server's timers are 1 ms coarse) for
/// nothing.
const SLACK: Duration = Duration::from_millis(2);

/// One direction's budget, in bytes per second (`0`: unlimited).
#[derive(Debug)]
pub struct RateLimit {
    rate: AtomicU64,
    /// When the last booked slot ends.
    booked_until: Mutex<Instant>,
}

impl RateLimit {
    pub fn new(bytes_per_second: u64) -> Self {
        Self { rate: AtomicU64::new(bytes_per_second), booked_until: Mutex::new(Instant::now()) }
    }

    /// Bytes per second; `0` when unlimited.
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Changes the rate from now on: connections already waiting wait
    /// their slot out (behind at most a quantum per connection at the old
    /// rate); new slots are booked at the new rate from now.
    pub fn set_rate(&self, bytes_per_second: u64) {
        let mut until = self.booked_until.lock();
        self.rate.store(bytes_per_second, Ordering::Relaxed);
        *until = (*until).min(Instant::now());
    }

    /// The most bytes to move before paying: 20 ms at the rate, within
    /// 64 B..1 MiB; unbounded (`usize::MAX`) when unlimited.
    pub fn quantum(&self) -> usize {
        match self.rate() {
            0 => usize::MAX,
            rate => usize::try_from(rate / (1000 / QUANTUM_TIME.as_millis() as u64))
                .unwrap_or(MAX_QUANTUM)
                .clamp(MIN_QUANTUM, MAX_QUANTUM),
        }
    }

    /// Pays for `bytes` just moved: `None` when the caller may go on at
    /// once, otherwise when it may move bytes again. At most a quantum is
    /// charged: bytes moved under an older, larger quantum (the limit was
    /// just lowered, or set) would otherwise book minutes of slots at the
    /// new rate and hold every connection behind them.
    pub fn charge(&self, bytes: usize, now: Instant) -> Option<Instant> {
        let rate = self.rate();
        let bytes = bytes.min(self.quantum());
        if rate == 0 || bytes == 0 {
            return None;
        }
        let mut until = self.booked_until.lock();
        // An idle budget is not saved up: after a pause, slots start now.
        let end = (*until).max(now) + Duration::from_secs_f64(bytes as f64 / rate as f64);
        *until = end;
        (end > now + SLACK).then_some(end)
    }
}

/// A peer's two budgets.
#[derive(Debug)]
pub struct RateLimits {
    pub upload: RateLimit,
    pub download: RateLimit,
}

impl RateLimits {
    pub fn new(upload: u64, download: u64) -> Arc<Self> {
        Arc::new(Self { upload: RateLimit::new(upload), download: RateLimit::new(download) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections that each move a quantum whenever their previous
    /// slot has ended, over `seconds` of simulated time: the bytes each
    /// moved.
    fn simulate(limit: &RateLimit, connections: usize, seconds: u64) -> Vec<u64> {
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let mut free_at = vec![start; connections];
        let mut moved = vec![0u64; connections];
        loop {
            // The connection whose turn comes first (ties: lowest index).
            let (i, &at) = free_at.iter().enumerate().min_by_key(|&(_, t)| *t).unwrap();
            if at >= end {
                return moved;
            }
            let bytes = limit.quantum();
            moved[i] += bytes as u64;
            free_at[i] = limit.charge(bytes, at).unwrap_or(at);
        }
    }

    #[test]
    fn the_limit_holds_within_five_percent_over_ten_seconds() {
        for rate in [10_000u64, 100_000, 1_000_000, 40_000_000] {
            for connections in [1usize, 3, 16] {
                let limit = RateLimit::new(rate);
                let total: u64 = simulate(&limit, connections, 10).iter().sum();
                let expected = rate as f64 * 10.0;
                let off = (total as f64 - expected).abs() / expected;
                assert!(off <= 0.05, "{rate} B/s, {connections} connections: {total} bytes in 10 s ({off:.3} off)");
            }
        }
    }

    #[test]
    fn connections_sharing_a_limit_get_equal_shares() {
        let limit = RateLimit::new(1_000_000);
        let moved = simulate(&limit, 5, 10);
        let (min, max) = (moved.iter().min().unwrap(), moved.iter().max().unwrap());
        assert!(max - min <= limit.quantum() as u64, "shares {moved:?}");
    }

    #[test]
    fn unlimited_never_waits_and_a_new_rate_applies_at_once() {
        let limit = RateLimit::new(0);
        let now = Instant::now();
        assert_eq!(limit.charge(1 << 30, now), None);
        assert_eq!(limit.quantum(), usize::MAX);
        limit.set_rate(50_000);
        // A quantum (1000 bytes) at 50 kB/s: the next byte 20 ms later.
        assert_eq!(limit.quantum(), 1000);
        assert_eq!(limit.charge(1000, now), Some(now + Duration::from_millis(20)));
        // Lowered while booked: the slots booked so far stay, the next
        // ones are booked at the new rate from now.
        limit.set_rate(25_000);
        let later = Instant::now();
        let next = limit.charge(500, later).unwrap();
        assert!(next >= later + Duration::from_millis(20));
        assert!(next <= Instant::now() + Duration::from_millis(20));
        limit.set_rate(0);
        assert_eq!(limit.charge(1 << 20, Instant::now()), None);
    }

    #[test]
    fn bytes_moved_before_a_lower_limit_book_one_quantum() {
        let limit = RateLimit::new(0);
        // A 256 KiB read in flight when the user sets 10 kB/s.
        limit.set_rate(10_000);
        let now = Instant::now();
        let until = limit.charge(256 * 1024, now).unwrap();
        assert!(until <= now + Duration::from_millis(100), "booked {:?} ahead", until - now);
    }

    #[test]
    fn an_idle_budget_is_not_saved_up() {
        let limit = RateLimit::new(100_000);
        let long_ago = Instant::now();
        let now = long_ago + Duration::from_secs(60);
        // Nothing moved for a minute, then a burst: it is paced from now.
        assert_eq!(limit.charge(2000, now), Some(now + Duration::from_millis(20)));
        assert_eq!(limit.charge(2000, now), Some(now + Duration::from_millis(40)));
    }

    #[test]
    fn quanta_follow_the_rate() {
        assert_eq!(RateLimit::new(1).quantum(), MIN_QUANTUM);
        assert_eq!(RateLimit::new(1_000_000).quantum(), 20_000);
        assert_eq!(RateLimit::new(40_000_000).quantum(), 800_000);
        assert_eq!(RateLimit::new(u64::MAX).quantum(), MAX_QUANTUM);
    }
}
