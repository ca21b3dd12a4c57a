//! Why a download did not start or did not finish, in terms a UI can act
//! on (offer a retry, point at the disk, show the existing file).

use std::io;
use std::path::PathBuf;

use common::layout::LayoutError;
use common::protocol::FileName;

use crate::engine::tracker_client::TrackerError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    #[error("{name} is a hidden name; such files are not downloaded")]
    HiddenName { name: FileName },
    #[error("you already have this file as {name}")]
    AlreadyHave { name: FileName },
    #[error("{name} is already being downloaded")]
    AlreadyDownloading { name: FileName, id: u64 },
    #[error("a file named {name} already exists in {}; it is never overwritten (rename or move it first)", dir.display())]
    NameExists { name: FileName, dir: PathBuf },
    #[error("cannot download this file: {0}")]
    BadLayout(#[from] LayoutError),
    #[error("no peer has this file right now; try again later")]
    NoPeer,
    #[error("{}", no_piece_list(*unreachable, *mismatched, *refused))]
    NoPieceList { unreachable: usize, mismatched: usize, refused: usize },
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error("disk full: free some space in {} and resume; verified pieces are kept", dir.display())]
    DiskFull { dir: PathBuf },
    #[error("cannot write in {}: {message}", dir.display())]
    Disk { dir: PathBuf, kind: io::ErrorKind, message: String },
    #[error("stopped before it could start")]
    Stopped,
    /// Cancelled before it started: not shown as an error.
    #[error("cancelled")]
    Cancelled,
    #[error("a connection to a peer did not stop; the download stays resumable")]
    LinkStuck,
    #[error("cannot start a thread: {0}")]
    Thread(String),
}

impl DownloadError {
    pub fn disk(dir: PathBuf, e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::StorageFull {
            Self::DiskFull { dir }
        } else {
            Self::Disk { dir, kind: e.kind(), message: e.to_string() }
        }
    }
}

fn no_piece_list(unreachable: usize, mismatched: usize, refused: usize) -> String {
    let tried = unreachable + mismatched + refused;
    if unreachable == tried {
        format!(
            "none of the {tried} peer(s) the tracker lists for this file could be reached (they may have left); try again later"
        )
    } else if mismatched > 0 {
        format!(
            "{mismatched} of {tried} peer(s) sent a piece list that does not match the key (a peer of another implementation, or a wrong key); {unreachable} could not be reached"
        )
    } else {
        format!(
            "no peer sent the file's piece list ({refused} refused or failed, {unreachable} unreachable); try again later"
        )
    }
}
