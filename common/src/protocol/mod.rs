//! The Eirb2Share wire protocol: typed messages, a lenient parser and a
//! canonical writer. No I/O here: parsing takes bytes, writing goes into
//! any `impl Write`. `docs/PROTOCOL.md` is the normative description.
//!
//! - [`frame`] cuts a byte stream into lines.
//! - [`tracker`] holds peer→tracker requests and tracker replies (text).
//! - [`peer`] holds peer↔peer messages, whose `have` and `data` carry raw
//!   bytes framed by lengths known from the file's layout.
//! - [`lan`] holds the distributed (trackerless) mode's discovery
//!   datagrams and neighbour messages.

pub mod error;
pub mod frame;
pub mod lan;
pub mod peer;
pub mod tracker;
pub mod types;

pub use error::ParseError;
pub use lan::{Discovery, Label, LanMessage, Search};
pub use peer::{Layouts, PeerMessage, Piece};
pub use tracker::{TrackerReply, TrackerRequest};
pub use types::{Cmp, Criterion, FileEntry, FileName, FileRef, PeerAddr, parse_exact_query, parse_query};

/// How a line is ended. We send `\n` unless told otherwise; a tracker
/// answers each request with the ending that request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
}

impl LineEnding {
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Lf => b"\n",
            Self::CrLf => b"\r\n",
        }
    }
}

/// Bounds on what the parser accepts. Everything the parser allocates is
/// bounded by these, whatever the input claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest text line, terminator excluded.
    pub max_line: usize,
    /// Most items in one list (files, keys, criteria, peers, indices).
    pub max_items: usize,
    /// Largest binary message (`data`): it may always hold one whole
    /// piece, and otherwise at most this many bytes of pieces.
    pub max_message: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_line: 1 << 20, max_items: 50_000, max_message: 1 << 20 }
    }
}
