//! A download's writer thread. What it owns: the writes to the `.part`
//! file. Links verify pieces and queue them here, so a link goes back to
//! its socket while the data is copied into the page cache; concurrent
//! buffered writes to one file would only make the kernel spin on the
//! inode lock (measured: a fifth of all CPU with five links).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Layout;
use crossbeam_channel::{Sender, bounded};

use super::link::{Event, Failure};
use super::scheduler::LinkId;
use super::storage::Storage;

/// A verified piece to write, in a buffer aligned for direct I/O.
#[derive(Debug)]
pub struct Write {
    pub link: LinkId,
    pub index: u32,
    pub bytes: super::aligned::AlignedBuf,
}

/// Bytes queued for writing at most (so memory stays bounded whatever
/// the file size); at least two pieces.
const QUEUE_BYTES: usize = 8 << 20;

/// `writing` counts pieces taken from the queue and not yet reported, so
/// a pause can wait for the piece being written too.
pub fn spawn(
    storage: Arc<Storage>,
    layout: Layout,
    events: Sender<Event>,
    writing: Arc<AtomicUsize>,
) -> std::io::Result<Sender<Write>> {
    let (tx, rx) = bounded::<Write>((QUEUE_BYTES / layout.piece_size().max(1) as usize).max(2));
    std::thread::Builder::new().name("download-writer".into()).spawn(move || {
        for w in rx {
            writing.fetch_add(1, Ordering::SeqCst);
            let event = match storage.write_piece(&layout, w.index, w.bytes.as_slice()) {
                Ok(()) => Event::Verified(w.link, w.index),
                Err(e) => Event::Failed(w.link, w.index, Failure::Disk(e)),
            };
            let sent = events.send(event);
            writing.fetch_sub(1, Ordering::SeqCst);
            if sent.is_err() {
                return;
            }
        }
    })?;
    Ok(tx)
}
