//! Where a download's bytes come from: peers found through the tracker
//! (retried while it connects) and the piece list, from the first peer
//! whose list matches the key.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::hashing::{PieceHash, hashes_match};
use common::protocol::{FileEntry, PeerAddr, PeerMessage};
use common::{FileKey, Layout};
use crossbeam_channel::{Receiver, Sender, bounded};

use super::error::DownloadError;
use super::{Context, Control, link};
use crate::engine::net::connect_from;
use crate::engine::tracker_client::{Request, TrackerError};
use crate::engine::wire::Wire;

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
            Ok(Control::Cancel | Control::Stop) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(DownloadError::Stopped);
            }
            _ => {}
        }
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

pub type Found = Result<Vec<SocketAddr>, TrackerError>;

/// [`find_peers`] on a helper thread; the answer arrives on the channel.
pub fn discover(tracker: Sender<Request>, me: SocketAddr, key: FileKey) -> Receiver<Found> {
    let (tx, rx) = bounded(1);
    let spawned = std::thread::Builder::new().name("discover".into()).spawn(move || {
        let _ = tx.send(find_peers(&tracker, me, &key));
    });
    if let Err(e) = spawned {
        log::warn!("cannot start peer discovery: {e}");
    }
    rx
}

/// Asks the tracker who holds `key` (never this peer); resolves names.
fn find_peers(tracker: &Sender<Request>, me: SocketAddr, key: &FileKey) -> Found {
    let (tx, rx) = bounded(1);
    tracker.send(Request::GetFile(key.clone(), tx)).map_err(|_| TrackerError::Stopping)?;
    let peers = rx.recv_timeout(Duration::from_secs(15)).map_err(|_| TrackerError::NoAnswer)??;
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

/// A Stop or Cancel arrived (checked during long start-up steps).
pub fn stopping(ctx: &Context) -> bool {
    matches!(
        ctx.controls.try_recv(),
        Ok(Control::Stop | Control::Cancel) | Err(crossbeam_channel::TryRecvError::Disconnected)
    )
}

/// Why one peer gave no piece list.
enum NoList {
    Unreachable(std::io::Error),
    Refused(String),
}

/// Gets the piece hashes from the first peer whose list matches the key.
pub fn fetch_hashes(
    ctx: &Context,
    entry: &FileEntry,
    layout: &Layout,
    peers: &[SocketAddr],
) -> Result<Vec<PieceHash>, DownloadError> {
    let (mut unreachable, mut mismatched, mut refused) = (0, 0, 0);
    for &peer in peers {
        if stopping(ctx) {
            return Err(DownloadError::Stopped);
        }
        match ask_hashes(ctx, entry, layout, peer) {
            Ok(hashes) if hashes_match(&entry.key, layout, &hashes) => return Ok(hashes),
            Ok(_) => {
                mismatched += 1;
                log::warn!("{}: {peer} sent a piece list that does not match the key", entry.name);
            }
            Err(NoList::Unreachable(e)) => {
                unreachable += 1;
                log::info!("{}: cannot reach {peer}: {e}", entry.name);
            }
            Err(NoList::Refused(e)) => {
                refused += 1;
                log::info!("{}: no piece list from {peer}: {e}", entry.name);
            }
        }
    }
    Err(DownloadError::NoPieceList { unreachable, mismatched, refused })
}

fn ask_hashes(ctx: &Context, entry: &FileEntry, layout: &Layout, peer: SocketAddr) -> Result<Vec<PieceHash>, NoList> {
    let key = entry.key.clone();
    let layouts = |k: &FileKey| (*k == key).then_some(*layout);
    let stream = connect_from(ctx.settings.listen.ip(), peer, Duration::from_secs(3)).map_err(NoList::Unreachable)?;
    let failed = |e: &dyn std::fmt::Display| NoList::Refused(e.to_string());
    stream.set_read_timeout(Some(link::STALL)).map_err(|e| failed(&e))?;
    let mut wire = Wire::new(stream, ctx.settings.limits());
    wire.send(&PeerMessage::GetHashes { key: entry.key.clone() }).map_err(|e| failed(&e))?;
    // A peer that keeps talking without ever sending the list must not
    // hold the download (or a shutdown) forever.
    let deadline = Instant::now() + link::STALL;
    loop {
        if Instant::now() > deadline {
            return Err(NoList::Refused("no piece list in time".into()));
        }
        let (message, used) = wire.recv(&layouts).map_err(|e| failed(&e))?;
        let found = match message {
            PeerMessage::Hashes { key, hashes } if key == entry.key => Some(Ok(hashes)),
            PeerMessage::Error(text) => Some(Err(NoList::Refused(format!("it answered: {text}")))),
            _ => None,
        };
        wire.consume(used);
        if let Some(found) = found {
            return found;
        }
    }
}
