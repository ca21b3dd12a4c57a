//! A fault-injecting peer: serves a real file's layout and hashes over
//! the real protocol, but misbehaves as told. It announces itself to the
//! tracker like any peer.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::hashing::FileDigest;
use common::protocol::{FileEntry, FileName, Limits, PeerMessage, Piece};
use common::{BufferMap, FileKey};
use peer::engine::wire::Wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Flips a byte in every piece it sends.
    Corrupt,
    /// Serves `n` pieces on a connection, then drops it.
    DisconnectAfter(u64),
    /// Claims every piece, sends none.
    LyingMap,
    /// Holds and serves only even pieces.
    EvenOnly,
    /// Serves `n` pieces in all, then answers with empty data.
    ServeOnly(u64),
    /// Answers only the first piece of each request (legal: "a larger
    /// request is answered in part").
    FirstOnly,
    /// Sends a piece-hash list with one hash changed (honest pieces).
    WrongHashes,
    /// Answers its first request on a connection with no piece, its
    /// second with its first piece corrupted, then honestly.
    EmptyThenOneBad,
    /// Answers the first request on a connection, then never another
    /// (the connection stays open, as a peer gone quiet).
    ServeThenHold,
    /// Answers `getpieces` with a `data` reply that never ends, as fast as
    /// it can (each connection counted in `served`).
    FloodData,
    /// Answers `gethashes` with the start of a `hashes` line, then one
    /// more byte a second, never ending it (counted in `served` once).
    DripHashes,
}

pub struct FakePeer {
    pub addr: SocketAddr,
    pub served: Arc<AtomicU64>,
    /// Connections that asked for pieces (sent `interested`): download
    /// links, not piece-list requests.
    pub links: Arc<AtomicU64>,
    /// While closed, `getpieces` waits for it to open (piece lists and
    /// buffermaps are still answered).
    pub gate: Arc<Gate>,
    _tracker: TcpStream,
}

#[derive(Debug)]
pub struct Gate {
    open: parking_lot::Mutex<bool>,
    changed: parking_lot::Condvar,
}

impl Gate {
    pub fn set(&self, open: bool) {
        *self.open.lock() = open;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let mut open = self.open.lock();
        while !*open {
            self.changed.wait(&mut open);
        }
    }
}

impl FakePeer {
    pub fn start(
        tracker: SocketAddr,
        name: &str,
        data: Arc<Vec<u8>>,
        digest: Arc<FileDigest>,
        behaviour: Behaviour,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(Gate { open: parking_lot::Mutex::new(true), changed: parking_lot::Condvar::new() });
        let links = Arc::new(AtomicU64::new(0));
        let (s, g, l) = (served.clone(), gate.clone(), links.clone());
        let d = digest.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (data, digest, served, gate, links) = (data.clone(), d.clone(), s.clone(), g.clone(), l.clone());
                std::thread::spawn(move || serve(stream, &data, &digest, behaviour, &served, &gate, &links));
            }
        });
        let mut t = TcpStream::connect(tracker).unwrap();
        let entry = FileEntry {
            name: FileName::new(name).unwrap(),
            length: digest.layout.length(),
            piece_size: u64::from(digest.layout.piece_size()),
            key: digest.key.clone(),
        };
        writeln!(t, "announce listen {} seed [{entry}] leech []", addr.port()).unwrap();
        let mut reply = String::new();
        BufReader::new(&t).read_line(&mut reply).unwrap();
        assert_eq!(reply, "ok\n");
        Self { addr, served, links, gate, _tracker: t }
    }
}

fn serve(
    stream: TcpStream,
    data: &[u8],
    digest: &FileDigest,
    behaviour: Behaviour,
    served: &AtomicU64,
    gate: &Gate,
    links: &AtomicU64,
) {
    let layout = digest.layout;
    let key = digest.key.clone();
    let layouts = |k: &FileKey| (*k == key).then_some(layout);
    let mut wire = Wire::new(stream, Limits::default());
    let mut on_this_connection = 0u64;
    let mut replies = 0u64;
    let holds = |i: u32| behaviour != Behaviour::EvenOnly || i.is_multiple_of(2);
    loop {
        let Ok((message, used)) = wire.recv(&layouts) else { return };
        if matches!(message, PeerMessage::Interested { .. }) {
            links.fetch_add(1, Ordering::SeqCst);
        }
        let reply: Option<(FileKey, Vec<u32>)> = match message {
            PeerMessage::Interested { key } | PeerMessage::Have { key, .. } => {
                let mut map = BufferMap::empty(layout.piece_count());
                (0..layout.piece_count()).filter(|&i| holds(i)).for_each(|i| map.set(i));
                wire.consume(used);
                let _ = wire.send(&PeerMessage::Have { key, map });
                None
            }
            PeerMessage::GetHashes { key } if behaviour == Behaviour::DripHashes => {
                served.fetch_add(1, Ordering::SeqCst);
                let _ = write!(wire.stream(), "hashes {key} [");
                // The fake's own pace, not the test's synchronisation.
                while wire.stream().write_all(b"0").is_ok() {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                return;
            }
            PeerMessage::GetHashes { key } => {
                wire.consume(used);
                let mut hashes = digest.hashes.clone();
                if behaviour == Behaviour::WrongHashes {
                    hashes[0][0] ^= 1;
                }
                let _ = wire.send(&PeerMessage::Hashes { key, hashes });
                None
            }
            PeerMessage::GetPieces { key, indices } => Some((key, indices)),
            _ => None,
        };
        let Some((key, indices)) = reply else { continue };
        wire.consume(used);
        gate.pass();
        if behaviour == Behaviour::FloodData {
            served.fetch_add(1, Ordering::SeqCst);
            let junk = vec![b'7'; 1 << 16];
            let _ = write!(wire.stream(), "data {key} [{}:", indices.first().copied().unwrap_or(0));
            while wire.stream().write_all(&junk).is_ok() {}
            return;
        }
        replies += 1;
        if behaviour == Behaviour::ServeThenHold && replies > 1 {
            continue;
        }
        if behaviour == Behaviour::EmptyThenOneBad && replies == 1 {
            if wire.send(&PeerMessage::Data { key, pieces: Vec::new() }).is_err() {
                return;
            }
            continue;
        }
        let mut corrupt_next =
            behaviour == Behaviour::Corrupt || (behaviour == Behaviour::EmptyThenOneBad && replies == 2);
        let mut owned: Vec<(u32, Vec<u8>)> = Vec::new();
        let take = if behaviour == Behaviour::FirstOnly { 1 } else { usize::MAX };
        for index in indices.into_iter().filter(|&i| holds(i)).take(take) {
            let give = match behaviour {
                Behaviour::LyingMap => false,
                Behaviour::ServeOnly(n) => served.load(Ordering::SeqCst) < n,
                Behaviour::DisconnectAfter(n) => {
                    if on_this_connection >= n {
                        // Mid-transfer: half a `data` message, then gone.
                        let _ = wire.stream().write_all(format!("data {key} [{index}:ab").as_bytes());
                        return;
                    }
                    true
                }
                _ => true,
            };
            let Some(len) = layout.piece_len(index) else { continue };
            if !give {
                continue;
            }
            let at = layout.offset(index) as usize;
            let mut bytes = data[at..at + len as usize].to_vec();
            if corrupt_next {
                bytes[0] ^= 0xff;
                corrupt_next = behaviour == Behaviour::Corrupt;
            }
            served.fetch_add(1, Ordering::SeqCst);
            on_this_connection += 1;
            owned.push((index, bytes));
        }
        let pieces: Vec<Piece<'_>> = owned.iter().map(|(index, bytes)| Piece { index: *index, bytes }).collect();
        if wire.send(&PeerMessage::Data { key, pieces }).is_err() {
            return;
        }
    }
}
