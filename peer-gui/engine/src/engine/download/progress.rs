//! What the UI shows of a download: verified bytes, speed over a sliding
//! window, ETA, peers and a state with its reason.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use common::protocol::FileEntry;

use super::error::DownloadError;

/// Speed is measured over this window.
const WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadState {
    Connecting,
    Downloading,
    /// Running, but no peer to fetch from right now (with the reason).
    Stalled(String),
    Paused,
    Done,
    Cancelled,
    Error(DownloadError),
}

impl DownloadState {
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Done | Self::Cancelled | Self::Error(_))
    }
}

/// What the history keeps of an ended download besides its entry and
/// state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub started: SystemTime,
    pub finished: SystemTime,
    /// Time spent active (not paused).
    pub active: Duration,
    pub fetched_bytes: u64,
    pub verified_bytes: u64,
}

/// Verified pieces and bytes from one peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub pieces: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct DownloadStatus {
    pub id: u64,
    pub entry: FileEntry,
    /// Changed through [`DownloadStatus::set_state`], which keeps the
    /// active time.
    pub state: DownloadState,
    pub verified_bytes: u64,
    /// Pieces verified in this run (a resumed download does not count the
    /// pieces it found on disk).
    pub fetched_pieces: u64,
    /// Bytes of those pieces.
    pub fetched_bytes: u64,
    pub peers: usize,
    /// What each peer sent that was verified, in this run.
    pub sources: BTreeMap<SocketAddr, Received>,
    /// Peers dropped for sending bad pieces or lying in their buffermap.
    pub dropped: Vec<SocketAddr>,
    /// Where the file is once done.
    pub path: Option<PathBuf>,
    /// The verified pieces, once the download knows its layout (a
    /// download restored finished has none: it is whole or abandoned).
    pub pieces: Option<common::BufferMap>,
    /// When this run of the download started, and when it ended (done,
    /// cancelled or failed), by the wall clock (kept in the history).
    pub started: SystemTime,
    pub finished: Option<SystemTime>,
    /// Time spent active (not paused) before `active_since`.
    active: Duration,
    /// When the current active stretch began; `None` while paused or
    /// once finished.
    active_since: Option<Instant>,
    samples: VecDeque<(Instant, u64)>,
}

impl DownloadStatus {
    pub fn new(id: u64, entry: FileEntry) -> Self {
        Self {
            id,
            entry,
            state: DownloadState::Connecting,
            verified_bytes: 0,
            fetched_pieces: 0,
            fetched_bytes: 0,
            peers: 0,
            sources: BTreeMap::new(),
            dropped: Vec::new(),
            path: None,
            pieces: None,
            started: SystemTime::now(),
            finished: None,
            active: Duration::ZERO,
            active_since: Some(Instant::now()),
            samples: VecDeque::new(),
        }
    }

    /// A download that ended in an earlier run, as the history recorded
    /// it: `state` is final, `active` the time it spent active.
    pub fn ended(id: u64, entry: FileEntry, state: DownloadState, times: Times) -> Self {
        Self {
            state,
            verified_bytes: times.verified_bytes,
            fetched_bytes: times.fetched_bytes,
            started: times.started,
            finished: Some(times.finished),
            active: times.active,
            active_since: None,
            ..Self::new(id, entry)
        }
    }

    /// Changes the state; time counts as active except while paused and
    /// once finished.
    pub fn set_state(&mut self, state: DownloadState) {
        self.set_state_at(state, Instant::now());
    }

    fn set_state_at(&mut self, state: DownloadState, now: Instant) {
        let active = !state.is_finished() && state != DownloadState::Paused;
        match (self.active_since, active) {
            (Some(since), false) => {
                self.active += now.saturating_duration_since(since);
                self.active_since = None;
            }
            (None, true) => self.active_since = Some(now),
            _ => {}
        }
        if state.is_finished() {
            self.finished.get_or_insert_with(SystemTime::now);
        }
        self.state = state;
    }

    pub fn add_verified(&mut self, bytes: u64, from: Option<SocketAddr>) {
        self.verified_bytes += bytes;
        self.fetched_pieces += 1;
        self.fetched_bytes += bytes;
        if let Some(peer) = from {
            let source = self.sources.entry(peer).or_default();
            source.pieces += 1;
            source.bytes += bytes;
        }
    }

    /// Records a sample for the speed window.
    pub fn tick(&mut self) {
        let now = Instant::now();
        self.samples.push_back((now, self.verified_bytes));
        while self.samples.front().is_some_and(|(t, _)| now.duration_since(*t) > WINDOW) {
            self.samples.pop_front();
        }
    }

    /// Bytes per second over the last few seconds.
    pub fn speed(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => (b1 - b0) as f64 / t1.duration_since(*t0).as_secs_f64(),
            _ => 0.0,
        }
    }

    pub fn eta(&self) -> Option<Duration> {
        let speed = self.speed();
        (speed > 0.0).then(|| Duration::from_secs_f64((self.entry.length - self.verified_bytes) as f64 / speed))
    }

    /// How long this run has been active so far, or was: time paused
    /// does not count, so a download paused for an hour does not show a
    /// tiny average rate.
    pub fn elapsed(&self) -> Duration {
        self.elapsed_at(Instant::now())
    }

    fn elapsed_at(&self, now: Instant) -> Duration {
        self.active + self.active_since.map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Bytes fetched in this run per second of active time (a resumed
    /// download does not count what it found on disk).
    pub fn average_rate(&self) -> f64 {
        self.fetched_bytes as f64 / self.elapsed().as_secs_f64().max(0.001)
    }

    /// Whether [`crate::engine::Engine::retry`] can start it again.
    pub fn can_retry(&self) -> bool {
        match &self.state {
            DownloadState::Cancelled => true,
            DownloadState::Error(e) => e.is_retryable(),
            _ => false,
        }
    }

    pub fn fraction(&self) -> f32 {
        if self.entry.length == 0 { 1.0 } else { self.verified_bytes as f32 / self.entry.length as f32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> DownloadStatus {
        let entry = FileEntry::parse_line(&format!("a.bin 1000 4096 {}", "ab".repeat(16))).unwrap();
        DownloadStatus::new(1, entry)
    }

    #[test]
    fn time_paused_does_not_count_as_elapsed() {
        let mut s = status();
        let t0 = s.active_since.unwrap();
        let at = |secs| t0 + Duration::from_secs(secs);
        s.set_state_at(DownloadState::Downloading, at(1));
        s.set_state_at(DownloadState::Paused, at(10));
        assert_eq!(s.elapsed_at(at(3600)), Duration::from_secs(10), "an hour paused adds nothing");
        s.set_state_at(DownloadState::Connecting, at(3600));
        s.set_state_at(DownloadState::Downloading, at(3601));
        assert_eq!(s.elapsed_at(at(3605)), Duration::from_secs(15), "active again: counts from the resume");
        s.set_state_at(DownloadState::Done, at(3610));
        assert_eq!(s.elapsed_at(at(9999)), Duration::from_secs(20), "frozen once finished");
        assert!(s.finished.is_some());
    }

    #[test]
    fn the_average_rate_is_over_active_time_only() {
        let mut s = status();
        let t0 = s.active_since.unwrap();
        s.add_verified(4000, None);
        s.set_state_at(DownloadState::Paused, t0 + Duration::from_secs(2));
        s.set_state_at(DownloadState::Done, t0 + Duration::from_secs(2));
        // Two active seconds, however long it stayed paused before.
        assert!((s.average_rate() - 2000.0).abs() < 1e-6, "{}", s.average_rate());
        assert_eq!(s.fetched_bytes, 4000);
    }

    #[test]
    fn a_failed_or_cancelled_download_can_be_retried_unless_its_failure_lasts() {
        let mut s = status();
        assert!(!s.can_retry(), "running");
        s.set_state(DownloadState::Cancelled);
        assert!(s.can_retry());
        s.set_state(DownloadState::Error(DownloadError::NoPeer));
        assert!(s.can_retry());
        let bad = common::layout::LayoutError::ZeroPieceSize;
        s.set_state(DownloadState::Error(DownloadError::BadLayout(bad)));
        assert!(!s.can_retry());
        s.set_state(DownloadState::Done);
        assert!(!s.can_retry());
    }
}
