//! Where a download's bytes come from: peers found through the tracker
//! (retried while it connects) and the piece list, from the first peer
//! whose list matches the key.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::hashing::{PieceHash, hashes_match};
use common::protocol::{FileEntry, FileName, PeerAddr, PeerMessage};
use common::{FileKey, Layout};
use crossbeam_channel::{Receiver, Sender, bounded, select, unbounded};
use parking_lot::Mutex;

use super::error::{Asked, DownloadError};
use super::{Context, Control};
use crate::engine::net::connect_from;
use crate::engine::tracker_client::{Request, TrackerError};
use crate::engine::wire::{Wire, WireError};

/// The first peers of a download: retried for a while, since the tracker
/// connection may still be coming up (a resumed download starts with the
/// engine) and a seeder may be announcing.
pub fn first_peers(ctx: &Context, key: &FileKey) -> Result<Vec<SocketAddr>, DownloadError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut wait = Duration::from_millis(100);
    loop {
        let found = find_peers(&ctx.tracker, ctx.settings.listen, key);
        match found {
            Ok(peers) if !peers.is_empty() => return Ok(peers),
            _ if Instant::now() >= deadline => {
                return Err(match found {
                    Ok(_) => DownloadError::NoPeer,
                    Err(e) => e.into(),
                });
            }
            _ => {}
        }
        match ctx.controls.recv_timeout(wait) {
            Ok(c) => starting_control(ctx, c)?,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Err(DownloadError::Stopped),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

pub type Found = Result<Vec<SocketAddr>, TrackerError>;

/// [`find_peers`] on a helper thread; the answer arrives on the channel.
pub fn discover(peer: u32, tracker: Sender<Request>, me: SocketAddr, key: FileKey) -> Receiver<Found> {
    let (tx, rx) = bounded(1);
    let spawned = std::thread::Builder::new().name(format!("peer{peer}-discover")).spawn(move || {
        let _ = tx.send(find_peers(&tracker, me, &key));
    });
    if let Err(e) = spawned {
        log::warn!("cannot start peer discovery: {e}");
    }
    rx
}

/// Asks the tracker who holds `key` (never this peer); resolves names.
/// In random order: leechers that each take the first `max_peers` of one
/// list would all fetch from the same few, and nobody from the others
/// (whose pieces the seeder would then send again).
pub(crate) fn find_peers(tracker: &Sender<Request>, me: SocketAddr, key: &FileKey) -> Found {
    let (tx, rx) = bounded(1);
    tracker.send(Request::GetFile(key.clone(), tx)).map_err(|_| TrackerError::Stopping)?;
    let mut peers = rx.recv_timeout(Duration::from_secs(15)).map_err(|_| TrackerError::NoAnswer)??;
    fastrand::shuffle(&mut peers);
    Ok(peers
        .into_iter()
        .filter_map(|p| match p {
            PeerAddr::Ip(a) => Some(a),
            PeerAddr::Name { host, port } => {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_ref(), port)).ok().and_then(|mut a| a.next())
            }
        })
        .filter(|a| *a != me)
        .collect())
}

/// A control that arrives while the download starts: Stop and Cancel
/// end the start (`Cancelled` has what an earlier run left removed),
/// Pause and Resume are kept for once it has started.
pub fn starting_control(ctx: &Context, control: Control) -> Result<(), DownloadError> {
    match control {
        Control::Stop => return Err(DownloadError::Stopped),
        Control::Cancel => return Err(DownloadError::Cancelled),
        Control::Pause => ctx.pause_when_started.set(true),
        Control::Resume => ctx.pause_when_started.set(false),
    }
    Ok(())
}

/// Reads the controls that arrived, during long start-up steps.
pub fn check_controls(ctx: &Context) -> Result<(), DownloadError> {
    loop {
        match ctx.controls.try_recv() {
            Ok(c) => starting_control(ctx, c)?,
            Err(crossbeam_channel::TryRecvError::Empty) => return Ok(()),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return Err(DownloadError::Stopped),
        }
    }
}

/// Why one peer gave no piece list.
enum NoList {
    /// The connection failed (refused, timed out, no route).
    Connect(std::io::Error),
    /// Connected, but the list did not come in time.
    Silent,
    Mismatched,
    /// It answered with an error, or the connection broke.
    Failed(String),
}

impl NoList {
    /// Counts this peer in `asked`, logging why it gave no list.
    fn count(self, asked: &mut Asked, name: &FileName, peer: SocketAddr) {
        use std::io::ErrorKind;
        match self {
            Self::Connect(e) => {
                match e.kind() {
                    ErrorKind::ConnectionRefused => asked.refused += 1,
                    ErrorKind::TimedOut | ErrorKind::WouldBlock => asked.timed_out += 1,
                    _ => asked.unreachable += 1,
                }
                log::info!("{name}: cannot reach {peer}: {e}");
            }
            Self::Silent => {
                asked.silent += 1;
                log::info!("{name}: {peer} sent no piece list within {} s", HASHES_SILENCE.as_secs());
            }
            Self::Mismatched => {
                asked.mismatched += 1;
                log::warn!("{name}: {peer} sent a piece list that does not match the key");
            }
            Self::Failed(e) => {
                asked.failed += 1;
                log::info!("{name}: no piece list from {peer}: {e}");
            }
        }
    }
}

/// A failed read or write: a timeout means the peer went silent.
fn wire_failure(e: &WireError) -> NoList {
    match e {
        WireError::Io(io) if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            NoList::Silent
        }
        other => NoList::Failed(other.to_string()),
    }
}

/// The error for peers that all gave no list: unreachable ones are told
/// apart from ones that answered badly.
fn no_list(asked: Asked) -> DownloadError {
    if asked.none_reached() { DownloadError::Unreachable(asked) } else { DownloadError::NoPieceList(asked) }
}

/// Peers asked for the piece list at once: with peers that accept and
/// never answer listed first, 16 every 3 s still reach the 100th within
/// the deadline.
const HASH_ASKS: usize = 16;
/// The piece list from every peer asked must come within this, whatever
/// they send: a peer that drips its list byte by byte cannot hold a
/// download (nor a shutdown) for longer.
const HASHES_DEADLINE: Duration = Duration::from_secs(30);
/// A peer that sends nothing for this long is given up (a peer on the
/// LAN starts its list within milliseconds).
const HASHES_SILENCE: Duration = Duration::from_secs(3);

/// One peer being asked: its socket, shut down to stop the asking (also
/// if it connects after the stop).
#[derive(Debug, Default)]
struct AskSocket {
    stopped: bool,
    socket: Option<std::net::TcpStream>,
}

type Asking = Arc<Mutex<AskSocket>>;

/// Gets the piece hashes from the first peer whose list matches the key,
/// asking up to [`HASH_ASKS`] peers at once (in random order, so peers
/// that never answer cannot all come first), within [`HASHES_DEADLINE`].
/// A Stop or Cancel closes every socket at once.
pub fn fetch_hashes(
    ctx: &Context,
    entry: &FileEntry,
    layout: &Layout,
    peers: &[SocketAddr],
) -> Result<Vec<PieceHash>, DownloadError> {
    let mut waiting: Vec<SocketAddr> = peers.to_vec();
    fastrand::shuffle(&mut waiting);
    let (tx, answers) = unbounded::<(SocketAddr, Result<Vec<PieceHash>, NoList>)>();
    let mut asking: Vec<Asking> = Vec::new();
    let mut running = 0;
    let mut asked = Asked::default();
    let deadline = crossbeam_channel::at(Instant::now() + HASHES_DEADLINE);
    let stop_all = |asking: &[Asking]| {
        for a in asking {
            let mut a = a.lock();
            a.stopped = true;
            if let Some(s) = a.socket.take() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    };
    let outcome = loop {
        while running < HASH_ASKS
            && let Some(peer) = waiting.pop()
        {
            let socket: Asking = Arc::default();
            asking.push(socket.clone());
            let (tx, source, limits, entry, layout) =
                (tx.clone(), ctx.settings.listen.ip(), ctx.settings.limits(), entry.clone(), *layout);
            let name = format!("peer{}-gethashes", ctx.settings.id);
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                let _ = tx.send((peer, ask_hashes(source, limits, &entry, &layout, peer, &socket)));
            });
            match spawned {
                Ok(_) => running += 1,
                Err(e) => log::warn!("cannot start a thread to ask {peer}: {e}"),
            }
        }
        if running == 0 {
            break Err(no_list(asked));
        }
        select! {
            recv(answers) -> answer => {
                let Ok((peer, answer)) = answer else { continue };
                running -= 1;
                match answer {
                    Ok(hashes) => break Ok(hashes),
                    Err(why) => why.count(&mut asked, &entry.name, peer),
                }
            }
            recv(ctx.controls) -> c => {
                if let Err(e) = c.map_err(|_| DownloadError::Stopped).and_then(|c| starting_control(ctx, c)) {
                    break Err(e);
                }
            }
            recv(deadline) -> _ => {
                log::info!("{}: no matching piece list within {} s", entry.name, HASHES_DEADLINE.as_secs());
                // Those not asked yet count as silent too: the peers asked
                // before them held the deadline.
                asked.silent += running + waiting.len();
                break Err(no_list(asked));
            }
        }
    };
    // The others stop at once; their threads end on the closed sockets.
    stop_all(&asking);
    outcome
}

fn ask_hashes(
    source: std::net::IpAddr,
    limits: common::protocol::Limits,
    entry: &FileEntry,
    layout: &Layout,
    peer: SocketAddr,
    socket: &Asking,
) -> Result<Vec<PieceHash>, NoList> {
    let key = entry.key.clone();
    let layouts = |k: &FileKey| (*k == key).then_some(*layout);
    let stream = connect_from(source, peer, Duration::from_secs(3)).map_err(NoList::Connect)?;
    let failed = |e: &dyn std::fmt::Display| NoList::Failed(e.to_string());
    stream.set_read_timeout(Some(HASHES_SILENCE)).map_err(|e| failed(&e))?;
    stream.set_write_timeout(Some(HASHES_SILENCE)).map_err(|e| failed(&e))?;
    {
        let mut asked = socket.lock();
        if asked.stopped {
            return Err(NoList::Failed("stopped".into()));
        }
        asked.socket = Some(stream.try_clone().map_err(|e| failed(&e))?);
    }
    let mut wire = Wire::new(stream, limits);
    wire.send(&PeerMessage::GetHashes { key: entry.key.clone() }).map_err(|e| wire_failure(&e.into()))?;
    loop {
        let (message, used) = wire.recv(&layouts).map_err(|e| wire_failure(&e))?;
        let found = match message {
            PeerMessage::Hashes { key, hashes } if key == entry.key => {
                Some(if hashes_match(&entry.key, layout, &hashes) { Ok(hashes) } else { Err(NoList::Mismatched) })
            }
            PeerMessage::Error(text) => Some(Err(NoList::Failed(format!("it answered: {text}")))),
            _ => None,
        };
        wire.consume(used);
        if let Some(found) = found {
            return found;
        }
    }
}
