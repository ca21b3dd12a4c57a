//! One connection to one peer for one download, run on a download pool
//! thread. It fetches what the coordinator assigns, two requests in
//! flight, checks every piece against its hash as it arrives and writes
//! it at its offset. What it owns: its socket and receive buffer.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::hashing::{PieceHash, hash_piece};
use common::protocol::{FileEntry, Limits, PeerMessage};
use common::{FileKey, Layout};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::scheduler::LinkId;
use super::writer::{Job, Write};
use crate::engine::net::connect_from;
use crate::engine::rate::RateLimits;
use crate::engine::stats::{Connection, Direction, Stats};
use crate::engine::wire::{Wire, WireError};

/// A peer that sends nothing for this long is stalled and dropped.
pub const STALL: Duration = Duration::from_secs(10);
/// Requests kept in flight per peer.
const WINDOW: usize = 2;
/// How often buffermaps are exchanged (`have`) while transferring, for
/// maps up to [`SMALL_MAP`]: a leecher's new pieces are seen by those
/// fetching from it within this, and a seeder's spread (server::spread)
/// stays fresh. Larger maps go proportionally less often.
const HAVE_EVERY: Duration = Duration::from_millis(250);
/// With nothing to fetch from the peer (a leecher that has nothing new
/// yet), its buffermap is asked for again this often (scaled alike)...
const IDLE_POLL: Duration = Duration::from_millis(500);
/// ...for this long; then the link ends, freeing its pool thread (the
/// coordinator connects again when it looks for peers).
const IDLE_LIMIT: Duration = Duration::from_secs(15);
/// 32768 pieces: every file of ours up to 64 GiB.
const SMALL_MAP: usize = 4096;

/// What a link tells its download's coordinator.
#[derive(Debug)]
pub enum Event {
    Map(LinkId, common::BufferMap),
    /// Asks for pieces to request; an empty answer means "none for now".
    Need(LinkId, Sender<Vec<u32>>),
    Verified(LinkId, u32),
    Failed(LinkId, u32, Failure),
    Gone(LinkId, Gone),
}

/// Why a link ended.
#[derive(Debug)]
pub enum Gone {
    /// Stopped, or nothing left to fetch from this peer for now.
    Done,
    /// The connection failed or the peer closed it.
    Lost(String),
    /// The peer broke the protocol (a malformed or oversized message).
    Violation(String),
    /// A bug on our side; the link was stopped cleanly anyway.
    Panicked(String),
}

#[derive(Debug)]
pub enum Failure {
    /// The bytes did not match the piece's hash.
    BadHash,
    /// Asked for but not in the reply: back to the queue, no strike (a
    /// peer may answer part of a request).
    NotSent,
    /// A reply that held none of the pieces asked for.
    EmptyReply,
    /// Sent without being asked for.
    Unasked,
    /// Writing failed (disk full...).
    Disk(std::io::Error),
}

#[derive(Debug)]
pub struct Link {
    pub id: LinkId,
    pub peer: SocketAddr,
    pub source: IpAddr,
    pub entry: FileEntry,
    pub layout: Layout,
    pub hashes: Arc<Vec<PieceHash>>,
    /// Verified pieces go to the download's writer thread.
    pub writes: Sender<Job>,
    pub stats: Stats,
    /// What this peer holds of the file, sent in periodic `have`s.
    pub ours: Arc<parking_lot::Mutex<common::BufferMap>>,
    pub limits: Limits,
    /// Piece bytes are received within the download limit.
    pub rates: Arc<RateLimits>,
    pub events: Sender<Event>,
    /// Set by the coordinator: pause, cancel, completion or a ban.
    pub stop: Arc<AtomicBool>,
    /// Where the link puts a clone of its socket, so the coordinator can
    /// interrupt a blocking read when it stops the link.
    pub socket: Arc<parking_lot::Mutex<Option<std::net::TcpStream>>>,
    /// Disconnected when the coordinator stops the link: ends an idle wait.
    pub wake: Receiver<()>,
}

impl Link {
    /// Runs the link to its end and always reports it `Gone`, even if it
    /// panics, so the coordinator frees its place (and the pool thread
    /// lives on).
    pub fn run(self) {
        let why = match ended(|| self.serve()) {
            Ended::Done => Gone::Done,
            Ended::Failed(WireError::Parse(e)) => Gone::Violation(e.to_string()),
            Ended::Failed(e) => Gone::Lost(e.to_string()),
            Ended::Panicked(what) => {
                log::error!("{}: the link to {} panicked: {what}", self.entry.name, self.peer);
                Gone::Panicked(what)
            }
        };
        let _ = self.events.send(Event::Gone(self.id, why));
    }

    fn serve(&self) -> Result<(), WireError> {
        // Stopped while it waited for a pool thread: no connection at all.
        if self.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let stream = connect_from(self.source, self.peer, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(STALL))?;
        stream.set_write_timeout(Some(STALL))?;
        *self.socket.lock() = stream.try_clone().ok();
        if self.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let conn = self.stats.open(self.peer, Direction::Outgoing);
        conn.set_file(&self.entry.key, &self.entry.name);
        let mut wire = Wire::new(stream, self.limits).receiving_within(self.rates.clone());
        let key = self.entry.key.clone();
        let layout = self.layout;
        let layouts = move |k: &FileKey| (*k == key).then_some(layout);
        self.refresh_map(&mut wire, &layouts)?;
        let mut pending: VecDeque<Vec<u32>> = VecDeque::new();
        let mut last_have = std::time::Instant::now();
        let mut maps = MapPace::default();
        let mut idle_since = None;
        while !self.stop.load(Ordering::SeqCst) {
            // A map held back by the pace goes before the next request.
            if let Some(map) = maps.due() {
                let _ = self.events.send(Event::Map(self.id, map));
            }
            if last_have.elapsed() >= self.map_interval(HAVE_EVERY) && !pending.is_empty() {
                // Periodic exchange: our map out, theirs back (handled
                // with the data), so new pieces at a leecher are seen.
                let map = self.ours.lock().clone();
                wire.send(&PeerMessage::Have { key: self.entry.key.clone(), map })?;
                last_have = std::time::Instant::now();
            }
            while pending.len() < WINDOW {
                let want = self.ask()?;
                if want.is_empty() {
                    break;
                }
                wire.send(&PeerMessage::GetPieces { key: self.entry.key.clone(), indices: want.clone() })?;
                pending.push_back(want);
            }
            let Some(asked) = pending.pop_front() else {
                // Nothing to fetch from this peer now: a leecher soon has
                // new pieces, so look again shortly rather than reconnect.
                let since = *idle_since.get_or_insert_with(std::time::Instant::now);
                let left = IDLE_LIMIT.saturating_sub(since.elapsed());
                if left.is_zero() {
                    return Ok(());
                }
                match self.wake.recv_timeout(self.map_interval(IDLE_POLL).min(left)) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return Ok(()),
                }
                self.exchange_maps(&mut wire, &layouts, &mut maps)?;
                last_have = std::time::Instant::now();
                continue;
            };
            idle_since = None;
            self.receive(&mut wire, &layouts, &asked, &conn, &mut maps)?;
        }
        Ok(())
    }

    /// `base` for small maps, longer in proportion for large ones: map
    /// traffic stays at most `SMALL_MAP` bytes per `base` each way.
    fn map_interval(&self, base: Duration) -> Duration {
        let ratio = self.layout.buffermap_len().div_ceil(SMALL_MAP).max(1);
        base * u32::try_from(ratio).unwrap_or(u32::MAX)
    }

    fn ask(&self) -> Result<Vec<u32>, WireError> {
        let (tx, rx) = bounded(1);
        self.events.send(Event::Need(self.id, tx)).map_err(|_| WireError::Closed)?;
        rx.recv().map_err(|_| WireError::Closed)
    }

    /// Asks for the peer's map with `interested` (a first contact) and
    /// passes it on.
    fn refresh_map(&self, wire: &mut Wire, layouts: &impl common::protocol::Layouts) -> Result<(), WireError> {
        wire.send(&PeerMessage::Interested { key: self.entry.key.clone() })?;
        let map = self.their_map(wire, layouts)?;
        let _ = self.events.send(Event::Map(self.id, map));
        Ok(())
    }

    /// Sends our buffermap and passes theirs, from the reply, on (paced).
    fn exchange_maps(
        &self,
        wire: &mut Wire,
        layouts: &impl common::protocol::Layouts,
        maps: &mut MapPace,
    ) -> Result<(), WireError> {
        let map = self.ours.lock().clone();
        wire.send(&PeerMessage::Have { key: self.entry.key.clone(), map })?;
        if let Some(map) = maps.offer(self.their_map(wire, layouts)?) {
            let _ = self.events.send(Event::Map(self.id, map));
        }
        Ok(())
    }

    /// The `have` answering our `interested` or `have` (other messages
    /// before it are skipped; an `error` ends the link).
    fn their_map(
        &self,
        wire: &mut Wire,
        layouts: &impl common::protocol::Layouts,
    ) -> Result<common::BufferMap, WireError> {
        loop {
            let (message, used) = wire.recv(layouts)?;
            let map = match message {
                PeerMessage::Have { key, map } if key == self.entry.key => Some(map),
                PeerMessage::Error(text) => {
                    return Err(WireError::Io(std::io::Error::other(format!("peer refused: {text}"))));
                }
                _ => None,
            };
            wire.consume(used);
            if let Some(map) = map {
                return Ok(map);
            }
        }
    }

    /// Reads the `data` answering `asked`, verifying and storing each piece.
    fn receive(
        &self,
        wire: &mut Wire,
        layouts: &impl common::protocol::Layouts,
        asked: &[u32],
        conn: &Connection,
        maps: &mut MapPace,
    ) -> Result<(), WireError> {
        loop {
            let (message, used) = wire.recv(layouts)?;
            let outcome = match message {
                PeerMessage::Data { key, pieces } if key == self.entry.key => {
                    conn.received(pieces.len() as u64, pieces.iter().map(|p| p.bytes.len() as u64).sum());
                    let mut got = Vec::with_capacity(pieces.len());
                    for piece in pieces {
                        got.push(piece.index);
                        if !asked.contains(&piece.index) {
                            let _ = self.events.send(Event::Failed(self.id, piece.index, Failure::Unasked));
                        } else if self.hashes.get(piece.index as usize) != Some(&hash_piece(piece.bytes)) {
                            let _ = self.events.send(Event::Failed(self.id, piece.index, Failure::BadHash));
                        } else {
                            // The writer reports it verified once it is on disk.
                            let bytes = super::aligned::AlignedBuf::copy_of(piece.bytes);
                            let write = Write { link: self.id, index: piece.index, bytes };
                            self.writes.send(Job::Write(write)).map_err(|_| WireError::Closed)?;
                        }
                    }
                    for &index in asked.iter().filter(|i| !got.contains(i)) {
                        let _ = self.events.send(Event::Failed(self.id, index, Failure::NotSent));
                    }
                    if !asked.iter().any(|i| got.contains(i)) {
                        let _ = self.events.send(Event::Failed(self.id, asked[0], Failure::EmptyReply));
                    }
                    Some(Ok(()))
                }
                PeerMessage::Have { key, map } if key == self.entry.key => {
                    if let Some(map) = maps.offer(map) {
                        let _ = self.events.send(Event::Map(self.id, map));
                    }
                    None
                }
                PeerMessage::Error(text) => {
                    Some(Err(WireError::Io(std::io::Error::other(format!("peer refused: {text}")))))
                }
                _ => None,
            };
            wire.consume(used);
            if let Some(result) = outcome {
                return result;
            }
        }
    }
}

/// Buffermaps from the peer go to the coordinator at most four times a second,
/// the latest winning: a peer spamming `have` (a full map each time)
/// cannot queue them faster than the coordinator applies them.
#[derive(Debug, Default)]
struct MapPace {
    last: Option<std::time::Instant>,
    pending: Option<common::BufferMap>,
}

const MAP_EVERY: Duration = Duration::from_millis(250);

impl MapPace {
    /// The map to pass on now, if any (else it waits for [`Self::due`]).
    fn offer(&mut self, map: common::BufferMap) -> Option<common::BufferMap> {
        self.pending = Some(map);
        self.due()
    }

    fn due(&mut self) -> Option<common::BufferMap> {
        if self.last.is_some_and(|at| at.elapsed() < MAP_EVERY) {
            return None;
        }
        let map = self.pending.take()?;
        self.last = Some(std::time::Instant::now());
        Some(map)
    }
}

/// How a link's work ended.
#[derive(Debug)]
enum Ended {
    Done,
    Failed(WireError),
    Panicked(String),
}

fn ended(work: impl FnOnce() -> Result<(), WireError>) -> Ended {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(Ok(())) => Ended::Done,
        Ok(Err(e)) => Ended::Failed(e),
        Err(panic) => Ended::Panicked(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_link_is_an_ending_like_any_other() {
        assert!(matches!(ended(|| Ok(())), Ended::Done));
        assert!(matches!(ended(|| Err(WireError::Closed)), Ended::Failed(WireError::Closed)));
        let index = 7;
        let got = ended(|| panic!("piece {index} out of range"));
        assert!(matches!(&got, Ended::Panicked(what) if what == "piece 7 out of range"), "{got:?}");
    }
}
