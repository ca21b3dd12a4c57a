//! The codec's one error type.

use thiserror::Error;

use crate::key::KeyError;

/// Why bytes are not a valid message. Every variant is a rejection of
/// input; the codec never panics and never allocates from an unchecked
/// length.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("line longer than the {limit} bytes allowed")]
    LineTooLong { limit: usize },
    #[error("message longer than the {limit} bytes allowed")]
    MessageTooLong { limit: usize },
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("expected {expected}, found {found:?}")]
    Expected { expected: &'static str, found: String },
    #[error("expected {0}, found the end of the line")]
    UnexpectedEnd(&'static str),
    #[error("{field} is not a number: {found:?}")]
    BadNumber { field: &'static str, found: String },
    #[error("{field} does not fit in {bits} bits")]
    NumberTooLarge { field: &'static str, bits: u8 },
    #[error("port {0} is outside 1..=65535")]
    BadPort(u64),
    #[error("bad key: {0}")]
    BadKey(#[from] KeyError),
    #[error("bad file name {name:?}: {reason}")]
    BadFileName { name: String, reason: &'static str },
    #[error("bad peer address {0:?}")]
    BadAddress(String),
    #[error("bad search criterion {0:?}")]
    BadCriterion(String),
    #[error("more than {limit} items in a list")]
    TooManyItems { limit: usize },
    #[error("{0} given twice")]
    Duplicate(&'static str),
    #[error("unexpected text after the message: {0:?}")]
    Trailing(String),
    #[error("no file is known for key {0}")]
    UnknownKey(String),
    #[error("bad file layout: {0}")]
    BadLayout(#[from] crate::layout::LayoutError),
    #[error("piece index {0} is out of range")]
    BadPieceIndex(u64),
    #[error("bad buffermap: {0}")]
    BadBufferMap(&'static str),
    #[error("{0}")]
    Malformed(&'static str),
}

/// Shows at most 40 bytes of offending input in an error.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(40)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > cut.len() {
        s.push('…');
    }
    s
}

/// Longest `error` text, in bytes.
pub const MAX_ERROR_TEXT: usize = 512;

/// The text of an `error` reply, on one line: control characters (tabs,
/// stray `\r`, NUL) become blanks, the ends are trimmed, and it is cut to
/// [`MAX_ERROR_TEXT`] bytes (invalid UTF-8 read as U+FFFD triples in
/// size, so the cut keeps a re-encoded reply within any line limit). Used
/// when parsing and when writing, so both agree.
pub(crate) fn clean_text(text: &str) -> String {
    let mut clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.len() > MAX_ERROR_TEXT {
        let cut = (0..=MAX_ERROR_TEXT).rev().find(|&i| clean.is_char_boundary(i)).unwrap_or(0);
        clean.truncate(cut);
    }
    clean.trim().to_owned()
}
