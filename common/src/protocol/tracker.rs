//! Peer→tracker requests and tracker replies. All text, one line each.
//!
//! ```text
//! announce listen PORT seed [NAME LENGTH PIECESIZE KEY ...] leech [KEY ...]
//! look [CRITERION ...]          -> list [NAME LENGTH PIECESIZE KEY ...]
//! getfile KEY                   -> peers KEY [IP:PORT ...]
//! update seed [KEY ...] leech [KEY ...]  -> ok
//!   (lists of keys may hold `NAME LENGTH PIECESIZE KEY` items too)
//! (any malformed request)       -> error TEXT
//! ```

use std::io::{self, Write};

use super::error::{ParseError, clean_text, snippet};
use super::frame::{List, Words, command_lowercase, parse_port};
use super::types::{Criterion, FileEntry, FileRef, PeerAddr};
use super::{Limits, LineEnding};
use crate::key::FileKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerRequest {
    Announce { port: u16, seed: Vec<FileEntry>, leech: Vec<FileRef> },
    Look { criteria: Vec<Criterion> },
    GetFile { key: FileKey },
    Update { seed: Vec<FileRef>, leech: Vec<FileRef> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerReply {
    Ok,
    List(Vec<FileEntry>),
    Peers {
        key: FileKey,
        peers: Vec<PeerAddr>,
    },
    /// Our error reply (an extension: the subject defines none).
    Error(String),
}

impl TrackerRequest {
    /// Parses one line (without its terminator).
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Self, ParseError> {
        let mut w = Words::new(line);
        let command = w.next().ok_or(ParseError::Empty)?;
        let request = match command_lowercase(command, &mut [0; 16]) {
            b"announce" => {
                if !w.keyword("listen") {
                    return Err(expected(&mut w, "'listen'"));
                }
                let port = parse_port(w.word("a port")?)?;
                let (seed, leech) = sections(&mut w, limits, file_list)?;
                Self::Announce { port, seed, leech }
            }
            b"look" => {
                let mut list = w.open_list("'[' before the criteria")?;
                let mut criteria = Vec::new();
                while let Some(item) = w.item(&mut list, limits.max_items, true)? {
                    criteria.push(Criterion::parse(item)?);
                }
                Self::Look { criteria }
            }
            b"getfile" => Self::GetFile { key: FileKey::parse(w.word("a key")?)? },
            b"update" => {
                let (seed, leech) = sections(&mut w, limits, ref_list)?;
                Self::Update { seed, leech }
            }
            _ => return Err(ParseError::UnknownCommand(snippet(command))),
        };
        w.finish()?;
        Ok(request)
    }

    /// Writes the canonical form, ended by `\n`.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Self::Announce { port, seed, leech } => {
                write!(out, "announce listen {port} seed ")?;
                write_list(out, seed, |o, e| e.write(o))?;
                out.write_all(b" leech ")?;
                write_list(out, leech, |o, r| write!(o, "{r}"))?;
            }
            Self::Look { criteria } => {
                out.write_all(b"look ")?;
                write_list(out, criteria, |o, c| write!(o, "{c}"))?;
            }
            Self::GetFile { key } => write!(out, "getfile {key}")?,
            Self::Update { seed, leech } => {
                out.write_all(b"update seed ")?;
                write_list(out, seed, |o, r| write!(o, "{r}"))?;
                out.write_all(b" leech ")?;
                write_list(out, leech, |o, r| write!(o, "{r}"))?;
            }
        }
        out.write_all(b"\n")
    }
}

impl TrackerReply {
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Self, ParseError> {
        let mut w = Words::new(line);
        let mut command = w.next().ok_or(ParseError::Empty)?;
        if command == b">" {
            // One course tracker starts every reply with "> ".
            command = w.next().ok_or(ParseError::Empty)?;
        }
        let reply = match command_lowercase(command, &mut [0; 16]) {
            b"ok" => Self::Ok,
            b"list" => Self::List(file_list(&mut w, limits)?),
            b"peers" => {
                let key = FileKey::parse(w.word("a key")?)?;
                let mut list = w.open_list("'[' before the peers")?;
                let mut peers = Vec::new();
                while let Some(item) = w.item(&mut list, limits.max_items, true)? {
                    peers.push(PeerAddr::parse(item)?);
                }
                Self::Peers { key, peers }
            }
            b"error" => {
                return Ok(Self::Error(clean_text(&String::from_utf8_lossy(w.rest()))));
            }
            _ => return Err(ParseError::UnknownCommand(snippet(command))),
        };
        w.finish()?;
        Ok(reply)
    }

    /// Writes the canonical form ended by `ending`.
    pub fn write(&self, out: &mut impl Write, ending: LineEnding) -> io::Result<()> {
        match self {
            Self::Ok => out.write_all(b"ok")?,
            Self::List(files) => {
                out.write_all(b"list ")?;
                write_list(out, files, |o, e| e.write(o))?;
            }
            Self::Peers { key, peers } => {
                write!(out, "peers {key} ")?;
                write_list(out, peers, |o, p| write!(o, "{p}"))?;
            }
            Self::Error(text) => {
                write!(out, "error {}", clean_text(text))?;
            }
        }
        out.write_all(ending.as_bytes())
    }
}

fn expected(w: &mut Words<'_>, what: &'static str) -> ParseError {
    match w.next() {
        Some(found) => ParseError::Expected { expected: what, found: snippet(found) },
        None => ParseError::UnexpectedEnd(what),
    }
}

/// Reads the optional `seed [...]` and `leech [...]` sections in either
/// order; an omitted section is an empty list.
fn sections<S>(
    w: &mut Words<'_>,
    limits: &Limits,
    seed_list: impl Fn(&mut Words<'_>, &Limits) -> Result<Vec<S>, ParseError>,
) -> Result<(Vec<S>, Vec<FileRef>), ParseError> {
    let (mut seed, mut leech) = (None, None);
    loop {
        if w.keyword("seed") {
            if seed.replace(seed_list(w, limits)?).is_some() {
                return Err(ParseError::Duplicate("seed"));
            }
        } else if w.keyword("leech") {
            if leech.replace(ref_list(w, limits)?).is_some() {
                return Err(ParseError::Duplicate("leech"));
            }
        } else {
            return Ok((seed.unwrap_or_default(), leech.unwrap_or_default()));
        }
    }
}

fn file_list(w: &mut Words<'_>, limits: &Limits) -> Result<Vec<FileEntry>, ParseError> {
    // Files are read four words at a time; only the key may carry the `]`.
    let mut list: List = w.open_list("'[' before the files")?;
    let mut files = Vec::new();
    while !list.closed && !w.try_close(&mut list) {
        list.items += 1;
        if list.items > limits.max_items {
            return Err(ParseError::TooManyItems { limit: limits.max_items });
        }
        files.push(FileEntry::parse_fields(w, &mut list)?);
    }
    Ok(files)
}

/// A list of keys, some of which may be whole file descriptions: an item
/// is `NAME LENGTH PIECESIZE KEY` when the two words after its first are
/// decimal numbers (at most 20 digits) and a third follows that is not
/// (a key right before a file named `2024` is still a key). A key of 21
/// or more characters is never such a number, so lists of our keys or
/// MD5 keys are never misread.
fn ref_list(w: &mut Words<'_>, limits: &Limits) -> Result<Vec<FileRef>, ParseError> {
    let mut list = w.open_list("'[' before the keys")?;
    let mut refs = Vec::new();
    while let Some(first) = w.item(&mut list, limits.max_items, false)? {
        let key_after = w.peek_nth(2).is_some_and(|k| !k.starts_with(b"]"));
        if w.numbers_next(2) && key_after && !w.numbers_next(3) {
            refs.push(FileRef::Described(FileEntry::parse_after_name(first, w, &mut list)?));
        } else {
            let key = match first.strip_suffix(b"]") {
                Some(inner) => {
                    list.closed = true;
                    inner
                }
                None => first,
            };
            refs.push(FileRef::Key(FileKey::parse(key)?));
        }
    }
    Ok(refs)
}

/// Writes `[a b c]`.
pub(crate) fn write_list<W: Write, T>(
    out: &mut W,
    items: &[T],
    mut each: impl FnMut(&mut W, &T) -> io::Result<()>,
) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_all(b" ")?;
        }
        each(out, item)?;
    }
    out.write_all(b"]")
}
