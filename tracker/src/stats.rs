//! What the status page and `/metrics` report about the tracker itself:
//! requests by command, rejections by kind with their last addresses,
//! the rate history, the maintenance pass, open connections.
//!
//! Requests are the hot path: a worker counts them in a [`Tally`] of its
//! own and adds it here only before it waits for work, as it always did
//! for the total (one shared counter bumped per request cost both cores a
//! cache miss). Rejections are rare and each one already logs a line, so
//! they are recorded at once, under a mutex, with the address.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::protocol::TrackerRequest;
use parking_lot::Mutex;

/// The protocol's commands, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Announce,
    Update,
    Look,
    GetFile,
}

impl Command {
    pub const ALL: [Command; 4] = [Command::Announce, Command::Update, Command::Look, Command::GetFile];

    pub fn of(request: &TrackerRequest) -> Self {
        match request {
            TrackerRequest::Announce { .. } => Command::Announce,
            TrackerRequest::Update { .. } => Command::Update,
            TrackerRequest::Look { .. } => Command::Look,
            TrackerRequest::GetFile { .. } => Command::GetFile,
        }
    }

    /// As the protocol spells it (and `/metrics` labels it).
    pub fn name(self) -> &'static str {
        match self {
            Command::Announce => "announce",
            Command::Update => "update",
            Command::Look => "look",
            Command::GetFile => "getfile",
        }
    }
}

/// Why the tracker turned a request or a connection down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A line that does not parse as a request.
    Malformed,
    /// A line longer than `tracker_max_line`.
    LineTooLong,
    /// A connection closed for holding an unfinished line too long.
    Slowloris,
    /// A request the cache refused (per-IP limits).
    Refused,
    /// A connection beyond `tracker_max_connections_per_ip`.
    ConnectionLimit,
}

impl Rejection {
    pub const ALL: [Rejection; 5] = [
        Rejection::Malformed,
        Rejection::LineTooLong,
        Rejection::Slowloris,
        Rejection::Refused,
        Rejection::ConnectionLimit,
    ];

    /// The `/metrics` label.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::LineTooLong => "line_too_long",
            Rejection::Slowloris => "slowloris",
            Rejection::Refused => "refused",
            Rejection::ConnectionLimit => "connection_limit",
        }
    }

    /// For people (the status page).
    pub fn describe(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed request",
            Rejection::LineTooLong => "line too long",
            Rejection::Slowloris => "unfinished line held too long",
            Rejection::Refused => "refused by a per-IP limit",
            Rejection::ConnectionLimit => "too many connections from one IP",
        }
    }
}

/// Addresses remembered per rejection kind.
pub const LAST_ADDRESSES: usize = 10;
/// The rate history's resolution...
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// ...and length.
pub const HISTORY: Duration = Duration::from_secs(600);

/// Requests a worker answered and has not added to [`Stats`] yet.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally([u64; 4]);

impl Tally {
    pub fn count(&mut self, command: Command) {
        self.0[command as usize] += 1;
    }

    pub fn add(&mut self, other: Tally) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn get(&self, command: Command) -> u64 {
        self.0[command as usize]
    }
}

/// One kind of rejection: how many, and the latest addresses (newest
/// last).
#[derive(Debug, Default, Clone)]
pub struct Rejections {
    pub count: u64,
    pub last: VecDeque<(IpAddr, SystemTime)>,
}

/// The rate history: cumulative counts sampled every [`SAMPLE_EVERY`].
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub requests: Tally,
}

/// The maintenance passes: the last one's duration, and their count and
/// sum (a Prometheus summary without quantiles).
#[derive(Debug, Default, Clone, Copy)]
pub struct Maintenance {
    pub last: Duration,
    pub count: u64,
    pub sum: Duration,
}

#[derive(Debug)]
pub struct Stats {
    pub started: Instant,
    pub started_at: SystemTime,
    /// Open protocol connections (the reactor and workers keep it).
    pub connections: Arc<AtomicUsize>,
    requests: [AtomicU64; 4],
    rejections: Mutex<[Rejections; 5]>,
    history: Mutex<VecDeque<Sample>>,
    maintenance: Mutex<Maintenance>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            started_at: SystemTime::now(),
            connections: Arc::default(),
            requests: Default::default(),
            rejections: Default::default(),
            history: Default::default(),
            maintenance: Default::default(),
        }
    }
}

impl Stats {
    /// Adds a worker's tally: a few atomic adds per batch of requests.
    pub fn add(&self, tally: Tally) {
        for command in Command::ALL {
            let n = tally.get(command);
            if n > 0 {
                self.requests[command as usize].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Requests answered so far, by command (up to the workers' last
    /// flush).
    pub fn requests(&self) -> Tally {
        Tally(std::array::from_fn(|i| self.requests[i].load(Ordering::Relaxed)))
    }

    pub fn reject(&self, kind: Rejection, ip: IpAddr) {
        let mut all = self.rejections.lock();
        let r = &mut all[kind as usize];
        r.count += 1;
        if r.last.len() == LAST_ADDRESSES {
            r.last.pop_front();
        }
        r.last.push_back((ip, SystemTime::now()));
    }

    pub fn rejections(&self) -> [Rejections; 5] {
        self.rejections.lock().clone()
    }

    pub fn maintained(&self, took: Duration) {
        let mut m = self.maintenance.lock();
        m.last = took;
        m.count += 1;
        m.sum += took;
    }

    pub fn maintenance(&self) -> Maintenance {
        *self.maintenance.lock()
    }

    /// Records the counts for the rate history if a sample is due;
    /// samples older than [`HISTORY`] are dropped.
    pub fn sample(&self, now: Instant) {
        let mut history = self.history.lock();
        if history.back().is_some_and(|last| now.saturating_duration_since(last.at) < SAMPLE_EVERY) {
            return;
        }
        history.push_back(Sample { at: now, requests: self.requests() });
        while history.front().is_some_and(|s| now.saturating_duration_since(s.at) > HISTORY + SAMPLE_EVERY) {
            history.pop_front();
        }
    }

    /// Requests per second by command between consecutive samples, the
    /// last one ending now: (seconds ago the span ended, rates).
    pub fn rates(&self, now: Instant) -> Vec<(Duration, [f64; 4])> {
        let mut points: Vec<Sample> = self.history.lock().iter().cloned().collect();
        points.push(Sample { at: now, requests: self.requests() });
        points
            .windows(2)
            .filter_map(|w| {
                let secs = w[1].at.saturating_duration_since(w[0].at).as_secs_f64();
                (secs > 0.5).then(|| {
                    let rate =
                        std::array::from_fn(|i| w[1].requests.0[i].saturating_sub(w[0].requests.0[i]) as f64 / secs);
                    (now.saturating_duration_since(w[1].at), rate)
                })
            })
            .collect()
    }
}

/// The resident set size, from `/proc/self/statm` (Linux).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_keep_the_last_addresses_newest_last() {
        let stats = Stats::default();
        for n in 0..15u8 {
            stats.reject(Rejection::Slowloris, IpAddr::from([127, 0, 0, n]));
        }
        let all = stats.rejections();
        let slow = &all[Rejection::Slowloris as usize];
        assert_eq!(slow.count, 15);
        assert_eq!(slow.last.len(), LAST_ADDRESSES);
        assert_eq!(slow.last.back().unwrap().0, IpAddr::from([127, 0, 0, 14]));
        assert_eq!(all[Rejection::Malformed as usize].count, 0);
    }

    #[test]
    fn rates_are_per_second_between_samples() {
        let stats = Stats::default();
        let t0 = Instant::now();
        stats.sample(t0);
        let mut tally = Tally::default();
        for _ in 0..100 {
            tally.count(Command::Look);
        }
        stats.add(tally);
        let rates = stats.rates(t0 + Duration::from_secs(10));
        assert_eq!(rates.len(), 1);
        assert_eq!(rates[0].1[Command::Look as usize], 10.0);
        assert_eq!(rates[0].1[Command::Announce as usize], 0.0);
    }

    #[test]
    fn the_resident_set_is_read() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
