//! What the UI shows of a download: verified bytes, speed over a sliding
//! window, ETA, peers and a state with its reason.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    pub state: DownloadState,
    pub verified_bytes: u64,
    /// Pieces verified in this run (a resumed download does not count the
    /// pieces it found on disk).
    pub fetched_pieces: u64,
    pub peers: usize,
    /// What each peer sent that was verified, in this run.
    pub sources: BTreeMap<SocketAddr, Received>,
    /// Peers dropped for sending bad pieces or lying in their buffermap.
    pub dropped: Vec<SocketAddr>,
    /// Where the file is once done.
    pub path: Option<PathBuf>,
    /// When this run of the download started, and when it ended (done,
    /// cancelled or failed).
    pub started: Instant,
    pub finished: Option<Instant>,
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
            peers: 0,
            sources: BTreeMap::new(),
            dropped: Vec::new(),
            path: None,
            started: Instant::now(),
            finished: None,
            samples: VecDeque::new(),
        }
    }

    pub fn add_verified(&mut self, bytes: u64, from: Option<SocketAddr>) {
        self.verified_bytes += bytes;
        self.fetched_pieces += 1;
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

    /// How long this run has taken so far, or took.
    pub fn elapsed(&self) -> Duration {
        self.finished.unwrap_or_else(Instant::now).saturating_duration_since(self.started)
    }

    /// Bytes fetched in this run per second of it (a resumed download
    /// does not count what it found on disk).
    pub fn average_rate(&self) -> f64 {
        let fetched: u64 = self.sources.values().map(|r| r.bytes).sum();
        fetched as f64 / self.elapsed().as_secs_f64().max(0.001)
    }

    pub fn fraction(&self) -> f32 {
        if self.entry.length == 0 { 1.0 } else { self.verified_bytes as f32 / self.entry.length as f32 }
    }
}
