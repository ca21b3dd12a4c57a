//! The distributed (trackerless, "LAN") mode: discovery datagrams and the
//! messages neighbours exchange over TCP. `docs/PROTOCOL.md`, section 10,
//! is the normative description; this is only the codec (no I/O).
//!
//! ```text
//! UDP, one message per datagram:
//! neighbourhood "FileShare" VERSION        -> neighbour "FileShare" VERSION PORT
//! TCP, one line each, between neighbours:
//! announce listen PORT                     -> ok
//! look [CRITERION] TTL IP:PORT             (forwarded hop by hop)
//! file at IP:PORT have NAME LENGTH PIECESIZE KEY seeders [IP:PORT ...] leechers [IP:PORT ...]
//! file at IP:PORT                          (nothing found: the TTL ran out)
//! ```
//!
//! Transfers between peers use [`super::PeerMessage`] as in the
//! centralised mode: [`LanMessage::parse`] answers
//! [`ParseError::UnknownCommand`] for those, so a reader can try it first.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;

use super::Limits;
use super::error::{ParseError, snippet};
use super::frame::{List, Words, command_lowercase, is_blank, parse_port, parse_u64};
use super::tracker::{TrackerRequest, write_list};
use super::types::{Criterion, FileEntry, FileName, PeerAddr};

/// Largest discovery datagram accepted, in bytes (line end included).
pub const MAX_DATAGRAM: usize = 512;

/// The application name our discovery datagrams carry (the subject's).
pub const LAN_APP: &str = "FileShare";

/// The version our discovery datagrams carry. A datagram with another
/// version parses; [`Discovery::is_ours`] tells it apart.
pub const LAN_VERSION: &str = "1";

/// Straight and typographic quotes, as `look` criteria accept them.
const QUOTES: [char; 3] = ['"', '\u{201c}', '\u{201d}'];

/// An application name or version in a discovery datagram: non-empty
/// UTF-8 without quotes or control characters. Blanks are allowed inside
/// (the name is written between quotes); the datagram bounds its length.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Label(Box<str>);

impl Label {
    pub fn new(text: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Expected { expected: "a name or version", found: snippet(text.as_bytes()) };
        let text = text.trim_matches([' ', '\t']);
        if text.is_empty() || text.len() > MAX_DATAGRAM || text.contains(QUOTES) || text.chars().any(char::is_control) {
            return Err(bad());
        }
        Ok(Self(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A label is written bare when it is one word, otherwise quoted.
    fn is_word(&self) -> bool {
        !self.0.bytes().any(is_blank)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// A discovery datagram (UDP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Discovery {
    /// `neighbourhood "APP" VERSION`: who is there?
    Neighbourhood { app: Label, version: Label },
    /// `neighbour "APP" VERSION PORT`: I am, and listen on TCP `port`.
    Neighbour { app: Label, version: Label, port: u16 },
}

impl Discovery {
    /// Our question: `neighbourhood "FileShare" 1`.
    pub fn ask() -> Self {
        Self::Neighbourhood { app: ours(LAN_APP), version: ours(LAN_VERSION) }
    }

    /// Our answer, for a peer listening on TCP `port`.
    pub fn answer(port: u16) -> Self {
        Self::Neighbour { app: ours(LAN_APP), version: ours(LAN_VERSION), port }
    }

    pub fn app(&self) -> &Label {
        match self {
            Self::Neighbourhood { app, .. } | Self::Neighbour { app, .. } => app,
        }
    }

    pub fn version(&self) -> &Label {
        match self {
            Self::Neighbourhood { version, .. } | Self::Neighbour { version, .. } => version,
        }
    }

    /// Whether it comes from our application and version: anything else
    /// is foreign and ignored by the caller (it is not a parse error).
    pub fn is_ours(&self) -> bool {
        self.app().as_str() == LAN_APP && self.version().as_str() == LAN_VERSION
    }

    /// Parses one whole datagram. Lenient: a trailing `\n`, `\r\n` or NUL
    /// bytes, runs of blanks, keywords in any case (and `neighbor`,
    /// `neighborhood`), a name or version with or without quotes
    /// (`"`, `“` or `”`).
    pub fn parse(datagram: &[u8]) -> Result<Self, ParseError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(ParseError::MessageTooLong { limit: MAX_DATAGRAM });
        }
        let junk = |b: &u8| matches!(b, b'\0' | b'\r' | b'\n');
        let start = datagram.iter().position(|b| !junk(b)).unwrap_or(datagram.len());
        let end = datagram.iter().rposition(|b| !junk(b)).map_or(start, |i| i + 1);
        let text = &datagram[start..end];
        if let Some(at) = memchr::memchr2(b'\n', b'\r', text) {
            return Err(ParseError::Trailing(snippet(&text[at..])));
        }
        let mut w = Words::new(text);
        let command = w.next().ok_or(ParseError::Empty)?;
        let question = match command_lowercase(command, &mut [0; 16]) {
            b"neighbourhood" | b"neighborhood" => true,
            b"neighbour" | b"neighbor" => false,
            _ => return Err(ParseError::UnknownCommand(snippet(command))),
        };
        let app = label(&mut w, "the application name")?;
        let version = label(&mut w, "the version")?;
        let message = if question {
            Self::Neighbourhood { app, version }
        } else {
            let port = parse_port(w.word("a port")?)?;
            Self::Neighbour { app, version, port }
        };
        match w.next() {
            None => Ok(message),
            Some(more) => Err(ParseError::Trailing(snippet(more))),
        }
    }

    /// Writes the canonical datagram: the name quoted, the version bare
    /// (quoted only if it holds a blank), no line end.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let (command, app, version) = match self {
            Self::Neighbourhood { app, version } => ("neighbourhood", app, version),
            Self::Neighbour { app, version, .. } => ("neighbour", app, version),
        };
        write!(out, "{command} \"{app}\" ")?;
        if version.is_word() {
            write!(out, "{version}")?;
        } else {
            write!(out, "\"{version}\"")?;
        }
        if let Self::Neighbour { port, .. } = self {
            write!(out, " {port}")?;
        }
        Ok(())
    }
}

fn ours(text: &str) -> Label {
    Label(text.into())
}

/// A label from `w`: quoted (up to the next quote, which a blank or the
/// end must follow) or bare (one word).
fn label(w: &mut Words<'_>, expected: &'static str) -> Result<Label, ParseError> {
    let bad = |found: &[u8]| ParseError::Expected { expected, found: snippet(found) };
    let rest = w.rest();
    let rest = &rest[rest.iter().position(|&b| !is_blank(b)).unwrap_or(rest.len())..];
    let Some(quote) = quote_len(rest) else {
        let word = w.word(expected)?;
        let text = std::str::from_utf8(word).map_err(|_| bad(word))?;
        return Label::new(text).map_err(|_| bad(word));
    };
    let inner = &rest[quote..];
    let close = (0..inner.len()).find_map(|i| quote_len(&inner[i..]).map(|n| (i, n)));
    let Some((len, n)) = close else { return Err(bad(rest)) };
    let after = &inner[len + n..];
    if after.first().is_some_and(|&b| !is_blank(b)) {
        return Err(bad(rest));
    }
    let content = &inner[..len];
    let text = std::str::from_utf8(content).map_err(|_| bad(content))?;
    let label = Label::new(text).map_err(|_| bad(content))?;
    *w = Words::new(after);
    Ok(label)
}

/// The length of the quote `bytes` starts with, if any.
fn quote_len(bytes: &[u8]) -> Option<usize> {
    QUOTES.iter().find_map(|q| {
        let mut buf = [0; 4];
        let q = q.encode_utf8(&mut buf).as_bytes();
        bytes.starts_with(q).then_some(q.len())
    })
}

/// A search, as `look [CRITERION] TTL IP:PORT` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Search {
    /// The criteria, combined with AND. The codec accepts what the
    /// tracker's `look` accepts; a peer in this mode answers only a search
    /// holding an exact name ([`Search::exact_name`]).
    pub criteria: Vec<Criterion>,
    /// Hops left, 0..=255.
    pub ttl: u8,
    /// The peer that started the search: its IP and TCP listening port.
    pub origin: SocketAddr,
}

impl Search {
    /// The `filename="NAME"` the search asks for, if any.
    pub fn exact_name(&self) -> Option<&FileName> {
        self.criteria.iter().find_map(|c| match c {
            Criterion::Name(name) => Some(name),
            _ => None,
        })
    }
}

/// A message between neighbours over TCP in the distributed mode.
///
/// Any of them may arrive on any neighbour connection: an answer goes to
/// the search's origin directly, as a message of its own, not as a reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LanMessage {
    /// `announce listen PORT`: the sender becomes a neighbour.
    Join { port: u16 },
    /// `ok`: the answer to `Join`.
    Ok,
    /// `look [CRITERION] TTL IP:PORT`.
    Look(Search),
    /// `file at IP:PORT have NAME LENGTH PIECESIZE KEY seeders [...] leechers [...]`:
    /// `at` is the answering peer's listening address. The sources are the
    /// addresses in the lists (the answerer is in one of them).
    Found { at: SocketAddr, file: FileEntry, seeders: Vec<SocketAddr>, leechers: Vec<SocketAddr> },
    /// `file at IP:PORT`: the search ran out of hops at the peer `at`
    /// without finding the file.
    NotFound { at: SocketAddr },
}

impl LanMessage {
    /// Parses one line (without its terminator); the line is refused past
    /// `limits.max_line` bytes and lists past `limits.max_items` items.
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Self, ParseError> {
        if line.len() > limits.max_line {
            return Err(ParseError::LineTooLong { limit: limits.max_line });
        }
        let mut w = Words::new(line);
        let command = w.next().ok_or(ParseError::Empty)?;
        let message = match command_lowercase(command, &mut [0; 16]) {
            // The tracker's `announce`, whose sections may be omitted: any
            // files listed are not used in this mode.
            b"announce" => match TrackerRequest::parse(line, limits)? {
                TrackerRequest::Announce { port, .. } => return Ok(Self::Join { port }),
                _ => return Err(ParseError::Malformed("announce")),
            },
            b"ok" => Self::Ok,
            b"look" => Self::Look(search(&mut w, limits)?),
            b"file" => {
                if !w.keyword("at") {
                    return Err(expected(&mut w, "'at'"));
                }
                let at = socket_addr(w.word("an address")?)?;
                if w.clone().next().is_none() {
                    Self::NotFound { at }
                } else if w.keyword("have") {
                    found(at, &mut w, limits)?
                } else {
                    return Err(expected(&mut w, "'have' or the end of the line"));
                }
            }
            _ => return Err(ParseError::UnknownCommand(snippet(command))),
        };
        w.finish()?;
        Ok(message)
    }

    /// Writes the canonical form, ended by `\n`: `announce listen PORT`
    /// without sections, the criteria in brackets, `leechers` only when
    /// that list is not empty.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Self::Join { port } => write!(out, "announce listen {port}")?,
            Self::Ok => out.write_all(b"ok")?,
            Self::Look(Search { criteria, ttl, origin }) => {
                out.write_all(b"look ")?;
                write_list(out, criteria, |o, c| write!(o, "{c}"))?;
                write!(out, " {ttl} {origin}")?;
            }
            Self::Found { at, file, seeders, leechers } => {
                write!(out, "file at {at} have {file} seeders ")?;
                write_list(out, seeders, |o, a| write!(o, "{a}"))?;
                if !leechers.is_empty() {
                    out.write_all(b" leechers ")?;
                    write_list(out, leechers, |o, a| write!(o, "{a}"))?;
                }
            }
            Self::NotFound { at } => write!(out, "file at {at}")?,
        }
        out.write_all(b"\n")
    }
}

fn expected(w: &mut Words<'_>, what: &'static str) -> ParseError {
    match w.next() {
        Some(found) => ParseError::Expected { expected: what, found: snippet(found) },
        None => ParseError::UnexpectedEnd(what),
    }
}

/// An IP address and port (IPv6 in brackets); host names are refused.
fn socket_addr(word: &[u8]) -> Result<SocketAddr, ParseError> {
    match PeerAddr::parse(word)? {
        PeerAddr::Ip(addr) => Ok(addr),
        PeerAddr::Name { .. } => Err(ParseError::BadAddress(snippet(word))),
    }
}

/// `[CRITERION ...] TTL IP:PORT`, or one criterion without brackets.
fn search(w: &mut Words<'_>, limits: &Limits) -> Result<Search, ParseError> {
    let mut criteria = Vec::new();
    if w.rest().iter().find(|&&b| !is_blank(b)) == Some(&b'[') {
        let mut list = w.open_list("'[' before the criteria")?;
        while let Some(item) = w.item(&mut list, limits.max_items, true)? {
            criteria.push(Criterion::parse(item)?);
        }
    } else {
        criteria.push(Criterion::parse(w.word("a criterion")?)?);
    }
    let ttl = match parse_u64(w.word("a TTL")?, "TTL") {
        Ok(n) => u8::try_from(n).map_err(|_| ParseError::NumberTooLarge { field: "TTL", bits: 8 })?,
        Err(ParseError::NumberTooLarge { .. }) => return Err(ParseError::NumberTooLarge { field: "TTL", bits: 8 }),
        Err(e) => return Err(e),
    };
    let origin = socket_addr(w.word("the origin's address")?)?;
    Ok(Search { criteria, ttl, origin })
}

/// The rest of `file at IP:PORT have ...` after `have`: the file, then
/// `seeders [...]` and `leechers [...]`, each optional, in either order.
fn found(at: SocketAddr, w: &mut Words<'_>, limits: &Limits) -> Result<LanMessage, ParseError> {
    let mut outside = List { closed: false, items: 0 };
    let file = FileEntry::parse_fields(w, &mut outside)?;
    if outside.closed {
        return Err(ParseError::Trailing("]".into()));
    }
    let (mut seeders, mut leechers) = (None, None);
    loop {
        let (slot, what) = if w.keyword("seeders") {
            (&mut seeders, "seeders")
        } else if w.keyword("leechers") {
            (&mut leechers, "leechers")
        } else {
            break;
        };
        if slot.replace(addr_list(w, limits)?).is_some() {
            return Err(ParseError::Duplicate(what));
        }
    }
    Ok(LanMessage::Found { at, file, seeders: seeders.unwrap_or_default(), leechers: leechers.unwrap_or_default() })
}

fn addr_list(w: &mut Words<'_>, limits: &Limits) -> Result<Vec<SocketAddr>, ParseError> {
    let mut list = w.open_list("'[' before the addresses")?;
    let mut addrs = Vec::new();
    while let Some(item) = w.item(&mut list, limits.max_items, true)? {
        addrs.push(socket_addr(item)?);
    }
    Ok(addrs)
}
