//! The peer server. What it owns: the listening socket (accept thread)
//! and one thread per connected peer, at most `MAX_CONNECTIONS`. It
//! serves `interested`, `have`, `getpieces` and `gethashes` for complete
//! files and for the verified pieces of partial downloads.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use common::protocol::{PeerMessage, Piece};
use parking_lot::Mutex;

use super::library::Library;
use super::settings::Settings;
use super::stats::{Connection, Direction, Stats};
use super::wire::{Wire, WireError};

pub const MAX_CONNECTIONS: usize = 64;

/// Each live connection's socket and when it last sent a message (ms).
type Registry = Arc<Mutex<HashMap<u64, (TcpStream, Arc<AtomicU64>)>>>;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
/// A peer silent this long is disconnected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub struct Server {
    pub addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
    /// Live connections, shut down on stop so their threads end.
    live_streams: Registry,
}

impl Server {
    pub fn start(
        listener: TcpListener,
        settings: &Settings,
        library: Arc<Library>,
        stats: Stats,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(AtomicUsize::new(0));
        let live_streams: Registry = Arc::default();
        let streams = live_streams.clone();
        let (s, id, per_request) = (stop.clone(), settings.id, settings.clone());
        let accept = std::thread::Builder::new().name(format!("peer{id}-server")).spawn(move || {
            let next_conn = AtomicU64::new(0);
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                if live.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    // Full: make room by closing the least recently active
                    // connection, so idle clients cannot lock others out.
                    let idlest = streams
                        .lock()
                        .values()
                        .min_by_key(|(_, at)| at.load(Ordering::Relaxed))
                        .and_then(|(s, _)| s.try_clone().ok());
                    if let Some(s) = idlest {
                        log::info!("peer {id}: {MAX_CONNECTIONS} peers connected, closing the least active one");
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                }
                live.fetch_add(1, Ordering::SeqCst);
                let conn_id = next_conn.fetch_add(1, Ordering::Relaxed);
                let activity = Arc::new(AtomicU64::new(now_ms()));
                if let Ok(clone) = stream.try_clone() {
                    streams.lock().insert(conn_id, (clone, activity.clone()));
                }
                let (library, live2, settings, streams2, stats) =
                    (library.clone(), live.clone(), per_request.clone(), streams.clone(), stats.clone());
                let spawned = std::thread::Builder::new().name(format!("peer{id}-serve")).spawn(move || {
                    serve(stream, &settings, &library, &activity, &stats);
                    streams2.lock().remove(&conn_id);
                    live2.fetch_sub(1, Ordering::SeqCst);
                });
                if spawned.is_err() {
                    log::warn!("peer {id}: cannot start a thread for a connection");
                    streams.lock().remove(&conn_id);
                    live.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })?;
        Ok(Self { addr, stop, accept: Some(accept), live_streams })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        for (stream, _) in self.live_streams.lock().values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: TcpStream, settings: &Settings, library: &Library, activity: &AtomicU64, stats: &Stats) {
    let Ok(peer) = stream.peer_addr() else { return };
    let who = peer.to_string();
    let conn = stats.open(peer, Direction::Incoming);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    // `data` and `hashes` are replies: refused from their first word, so
    // their payload is never buffered.
    let mut wire = Wire::new(stream, settings.limits()).refusing(&[b"data", b"hashes"]);
    let layouts = |k: &common::FileKey| library.layout(k);
    let mut malformed = 0;
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    loop {
        let reply = match wire.recv(&layouts) {
            Ok((message, used)) => {
                malformed = 0;
                activity.store(now_ms(), Ordering::Relaxed);
                let reply = answer(message, settings, library, &mut pieces, &conn);
                wire.consume(used);
                reply
            }
            Err(WireError::Parse(e)) => {
                log::info!("{who}: rejected: {e}");
                malformed += 1;
                // An unknown key in have/data leaves the stream unframed.
                let fatal = matches!(e, common::protocol::ParseError::UnknownKey(_)) || malformed >= 3;
                let _ = wire.send(&PeerMessage::Error(e.to_string()));
                if fatal {
                    return;
                }
                wire.skip_line();
                continue;
            }
            Err(e) => {
                log::debug!("{who}: {e}");
                return;
            }
        };
        let Some(reply) = reply else { continue };
        let sent = match reply {
            Reply::Message(m) => wire.send(&m),
            Reply::Data(key, indices) => {
                let data: Vec<Piece<'_>> =
                    indices.iter().zip(&pieces).map(|(&index, bytes)| Piece { index, bytes }).collect();
                wire.send(&PeerMessage::Data { key, pieces: data })
            }
        };
        if let Err(e) = sent {
            log::debug!("{who}: {e}");
            return;
        }
    }
}

enum Reply {
    Message(PeerMessage<'static>),
    /// Piece bytes are in the connection's piece buffers.
    Data(common::FileKey, Vec<u32>),
}

fn answer(
    message: PeerMessage<'_>,
    settings: &Settings,
    library: &Library,
    pieces: &mut Vec<Vec<u8>>,
    conn: &Connection,
) -> Option<Reply> {
    let unknown = |key: &common::FileKey| Reply::Message(PeerMessage::Error(format!("unknown key {key}")));
    match message {
        PeerMessage::Interested { key } | PeerMessage::Have { key, .. } => Some(match library.get(&key) {
            Some(f) => {
                conn.set_file(&key, &f.entry.name);
                Reply::Message(PeerMessage::Have { map: f.buffermap(), key })
            }
            None => unknown(&key),
        }),
        PeerMessage::GetHashes { key } => Some(match library.get(&key) {
            Some(f) => Reply::Message(PeerMessage::Hashes { hashes: f.hashes.to_vec(), key }),
            None => unknown(&key),
        }),
        PeerMessage::GetPieces { key, indices } => {
            let Some(file) = library.get(&key) else { return Some(unknown(&key)) };
            // Answer at most what fits the message size; skip what we do
            // not hold (the asker learns from the reply and our `have`).
            let cap = settings.pieces_per_request(file.layout.piece_size());
            let mut served = Vec::new();
            for index in indices.into_iter().filter(|&i| file.has_piece(i)).take(cap) {
                if pieces.len() <= served.len() {
                    pieces.push(Vec::new());
                }
                match file.read_piece(index, &mut pieces[served.len()]) {
                    Ok(()) => served.push(index),
                    Err(e) => log::warn!("{}: cannot read piece {index}: {e}", file.path.display()),
                }
            }
            let bytes = pieces[..served.len()].iter().map(|p| p.len() as u64).sum();
            conn.sent(&key, &file.entry.name, served.len() as u64, bytes);
            Some(Reply::Data(key, served))
        }
        // Replies nobody asked for: nothing to answer.
        PeerMessage::Data { .. } | PeerMessage::Hashes { .. } | PeerMessage::Error(_) => None,
    }
}
