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
    /// Every peer the tracker lists for the file failed at the
    /// connection: none is running there any more, or none can be
    /// reached from here. Worth a retry once a holder is back.
    #[error("none of the {} peer(s) holding this file could be reached ({}); they may have left: retry later", .0.total(), .0.details())]
    Unreachable(Asked),
    /// Some peers were reached but none sent a piece list matching the
    /// key (with what became of each peer asked).
    #[error("no peer sent this file's piece list ({}); retry later", .0.details())]
    NoPieceList(Asked),
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
    /// A failure an earlier run of the engine recorded: the history keeps
    /// its text and whether a retry may help, not its kind.
    #[error("{message}")]
    EarlierRun { message: String, retryable: bool },
    #[error("there is no download {id} in the list (it may have been removed); refresh the list")]
    UnknownDownload { id: u64 },
    #[error("{name} cannot be retried: only a download that failed or was cancelled can be")]
    NotRetryable { id: u64, name: FileName },
}

impl DownloadError {
    /// Whether starting the download again may succeed: a bad name or
    /// layout stays bad; anything else (peers gone, a full disk, a file
    /// in the way) may have changed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::HiddenName { .. } | Self::BadLayout(_) => false,
            Self::EarlierRun { retryable, .. } => *retryable,
            _ => true,
        }
    }

    pub fn disk(dir: PathBuf, e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::StorageFull {
            Self::DiskFull { dir }
        } else {
            Self::Disk { dir, kind: e.kind(), message: e.to_string() }
        }
    }
}

/// What became of the peers asked for a file's piece list, peer by
/// peer: a refused connection (nothing listens there: the peer is not
/// running) is told apart from one that timed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// The connection was refused: no peer runs at that address.
    pub refused: usize,
    /// The connection was not accepted within the time allowed.
    pub timed_out: usize,
    /// The connection failed otherwise (no route to the peer...).
    pub unreachable: usize,
    /// Connected, but no piece list came in time.
    pub silent: usize,
    /// Sent a piece list that does not match the key (another
    /// implementation's key rule, or a wrong key).
    pub mismatched: usize,
    /// Answered with an error, or closed the connection.
    pub failed: usize,
}

impl Asked {
    pub fn total(&self) -> usize {
        self.refused + self.timed_out + self.unreachable + self.silent + self.mismatched + self.failed
    }

    /// No peer could be connected to at all.
    pub fn none_reached(&self) -> bool {
        self.refused + self.timed_out + self.unreachable == self.total()
    }

    /// The counts that are not zero, in words.
    fn details(&self) -> String {
        let parts = [
            (self.refused, "refused the connection (not running there)"),
            (self.timed_out, "did not accept the connection in time"),
            (self.unreachable, "could not be connected to"),
            (self.silent, "connected but sent nothing in time"),
            (self.mismatched, "sent a piece list that does not match the key"),
            (self.failed, "answered with an error or closed the connection"),
        ];
        let said: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        if said.is_empty() { "no peer to ask".into() } else { said.join(", ") }
    }
}
