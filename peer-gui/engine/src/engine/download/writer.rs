//! A download's writer thread. What it owns: the writes to the `.part`
//! file. Links verify pieces and queue them here, so a link goes back to
//! its socket while the data is copied into the page cache; concurrent
//! buffered writes to one file would only make the kernel spin on the
//! inode lock (measured: a fifth of all CPU with five links).

use std::sync::Arc;

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

#[derive(Debug)]
pub enum Job {
    Write(Write),
    /// Answered once every write queued before it is reported, so a pause
    /// saves a manifest listing every piece on disk.
    Flush(Sender<()>),
    /// Ends the writer once what was queued before is written, whatever
    /// links still hold a sender (one waiting for a pool thread may not
    /// run for a while).
    Close,
}

/// Bytes queued for writing at most (so memory stays bounded whatever
/// the file size); at least two pieces.
const QUEUE_BYTES: usize = 8 << 20;

/// The writer ends on [`Job::Close`] or once every sender is dropped;
/// join it to know that it let go of the storage.
pub fn spawn(
    name: &str,
    storage: Arc<Storage>,
    layout: Layout,
    events: Sender<Event>,
) -> std::io::Result<(Sender<Job>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = bounded::<Job>((QUEUE_BYTES / layout.piece_size().max(1) as usize).max(2));
    let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        for job in rx {
            let event = match job {
                Job::Write(w) => match storage.write_piece(&layout, w.index, w.bytes.as_slice()) {
                    Ok(()) => Event::Verified(w.link, w.index),
                    Err(e) => Event::Failed(w.link, w.index, Failure::Disk(e)),
                },
                Job::Flush(done) => {
                    let _ = done.send(());
                    continue;
                }
                Job::Close => return,
            };
            if events.send(event).is_err() {
                return;
            }
        }
    })?;
    Ok((tx, thread))
}
