//! Validated values that messages carry: file names, file entries, peer
//! addresses and search criteria. Each has `parse` (lenient) and `write`
//! (canonical).

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::error::{ParseError, snippet};
use super::frame::{parse_port, parse_u64};
use crate::key::FileKey;

/// Longest file name accepted, in bytes (the usual file system limit).
pub const MAX_NAME_LEN: usize = 255;

/// A file name that is safe to send and to create in a shared folder:
/// 1..=255 bytes of UTF-8 with no blank, no control character, no `/`,
/// `\` or NUL, not `.` or `..`, and not starting with `]` (which would
/// read as the end of a list).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileName(Box<str>);

impl FileName {
    pub fn new(name: &str) -> Result<Self, ParseError> {
        Self::parse(name.as_bytes())
    }

    pub fn parse(word: &[u8]) -> Result<Self, ParseError> {
        let bad = |reason| ParseError::BadFileName { name: snippet(word), reason };
        let name = std::str::from_utf8(word).map_err(|_| bad("not UTF-8"))?;
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("longer than 255 bytes"));
        }
        if name == "." || name == ".." {
            return Err(bad("a directory reference"));
        }
        if name.contains(['/', '\\']) {
            return Err(bad("contains a path separator"));
        }
        if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("contains a blank or control character"));
        }
        if name.starts_with(']') {
            return Err(bad("starts with ']'"));
        }
        Ok(Self(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// One file as `announce` and `list` describe it: `name length piecesize key`.
/// The piece size is kept as sent (never 0); [`crate::layout::Layout`]
/// checks it before anything is cut by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileEntry {
    pub name: FileName,
    pub length: u64,
    pub piece_size: u64,
    pub key: FileKey,
}

impl FileEntry {
    /// Parses a result line `name length piecesize key`, as users paste it.
    pub fn parse_line(line: &str) -> Result<Self, ParseError> {
        let mut words = super::frame::Words::new(line.trim().as_bytes());
        let mut list = super::frame::List { closed: false, items: 0 };
        let entry = Self::parse_fields(&mut words, &mut list)?;
        if list.closed {
            return Err(ParseError::Trailing("]".into()));
        }
        words.finish()?;
        Ok(entry)
    }

    pub(crate) fn parse_fields(
        words: &mut super::frame::Words<'_>,
        list: &mut super::frame::List,
    ) -> Result<Self, ParseError> {
        let name = words.word("a file name")?;
        Self::parse_after_name(name, words, list)
    }

    /// The rest of `NAME LENGTH PIECESIZE KEY` once NAME has been read.
    pub(crate) fn parse_after_name(
        name: &[u8],
        words: &mut super::frame::Words<'_>,
        list: &mut super::frame::List,
    ) -> Result<Self, ParseError> {
        let name = FileName::parse(name)?;
        let length = parse_u64(words.word("a file length")?, "file length")?;
        let piece_size = parse_u64(words.word("a piece size")?, "piece size")?;
        if piece_size == 0 {
            return Err(ParseError::BadLayout(crate::layout::LayoutError::ZeroPieceSize));
        }
        let key = FileKey::parse(words.field(list, "a key", true)?)?;
        Ok(Self { name, length, piece_size, key })
    }

    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        write!(w, "{} {} {} {}", self.name, self.length, self.piece_size, self.key)
    }
}

impl fmt::Display for FileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} {}", self.name, self.length, self.piece_size, self.key)
    }
}

/// A file in an `update` list or an `announce` leech list. Our peers send
/// bare keys; some course peers send the `announce` form of a file
/// (`name length piecesize key`), and a list may mix both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileRef {
    Key(FileKey),
    Described(FileEntry),
}

impl FileRef {
    pub fn key(&self) -> &FileKey {
        match self {
            Self::Key(key) => key,
            Self::Described(entry) => &entry.key,
        }
    }
}

impl AsRef<FileKey> for FileRef {
    fn as_ref(&self) -> &FileKey {
        self.key()
    }
}

impl fmt::Display for FileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(key) => write!(f, "{key}"),
            Self::Described(entry) => write!(f, "{entry}"),
        }
    }
}

/// Where a peer listens. Trackers write IP addresses; other trackers may
/// write host names, which a peer resolves before connecting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Ip(SocketAddr),
    Name { host: Box<str>, port: u16 },
}

impl PeerAddr {
    pub fn v4(ip: Ipv4Addr, port: u16) -> Self {
        Self::Ip(SocketAddr::new(IpAddr::V4(ip), port))
    }

    pub fn parse(word: &[u8]) -> Result<Self, ParseError> {
        let bad = || ParseError::BadAddress(snippet(word));
        let text = std::str::from_utf8(word).map_err(|_| bad())?;
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return match addr.port() {
                0 => Err(ParseError::BadPort(0)),
                _ => Ok(Self::Ip(addr)),
            };
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port = parse_port(port.as_bytes())?;
        let label_ok = |l: &str| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(Self::Name { host: host.into(), port })
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(addr) => write!(f, "{addr}"),
            Self::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// How a number is compared in a `look` criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
}

impl Cmp {
    pub fn holds(self, value: u64, bound: u64) -> bool {
        match self {
            Cmp::Eq => value == bound,
            Cmp::Lt => value < bound,
            Cmp::Gt => value > bound,
        }
    }
    fn symbol(self) -> char {
        match self {
            Cmp::Eq => '=',
            Cmp::Lt => '<',
            Cmp::Gt => '>',
        }
    }
}

/// One `look` criterion; several are combined with AND.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Criterion {
    /// `filename="x"`: the exact name.
    Name(FileName),
    /// `filename~"x"` (extension): names containing `x`, ignoring case.
    NameContains(Box<str>),
    /// `filesize>"n"`, `filesize<"n"`, `filesize="n"`.
    Size(Cmp, u64),
    /// `piecesize>"n"`, `piecesize<"n"`, `piecesize="n"`.
    PieceSize(Cmp, u64),
}

/// Straight and typographic quotes are all accepted around values.
const QUOTES: [char; 3] = ['"', '\u{201c}', '\u{201d}'];

impl Criterion {
    pub fn parse(word: &[u8]) -> Result<Self, ParseError> {
        let bad = || ParseError::BadCriterion(snippet(word));
        let text = std::str::from_utf8(word).map_err(|_| bad())?;
        let at = text.find(['=', '<', '>', '~']).ok_or_else(bad)?;
        let (field, rest) = text.split_at(at);
        let (op, value) = rest.split_at(1);
        let value = value.strip_prefix(QUOTES).unwrap_or(value);
        let value = value.strip_suffix(QUOTES).unwrap_or(value);
        let field = field.to_ascii_lowercase();
        let number = || parse_u64(value.as_bytes(), "criterion value");
        let cmp = match op {
            "=" => Cmp::Eq,
            "<" => Cmp::Lt,
            ">" => Cmp::Gt,
            _ => Cmp::Eq,
        };
        match (field.as_str(), op) {
            ("filename", "=") => Ok(Self::Name(FileName::new(value)?)),
            ("filename", "~") if valid_fragment(value) => Ok(Self::NameContains(value.into())),
            ("filesize", "=" | "<" | ">") => Ok(Self::Size(cmp, number()?)),
            ("piecesize", "=" | "<" | ">") => Ok(Self::PieceSize(cmp, number()?)),
            _ => Err(bad()),
        }
    }

    /// Whether a file matches this criterion.
    pub fn matches(&self, file: &FileEntry) -> bool {
        match self {
            Self::Name(n) => file.name == *n,
            Self::NameContains(part) => contains_ignore_case(file.name.as_str(), part),
            Self::Size(cmp, n) => cmp.holds(file.length, *n),
            Self::PieceSize(cmp, n) => cmp.holds(file.piece_size, *n),
        }
    }

    pub fn name_contains(part: &str) -> Option<Self> {
        valid_fragment(part).then(|| Self::NameContains(part.into()))
    }
}

/// [`parse_query`] for the distributed mode, which searches by exact
/// name: a bare word is the whole name (`filename="WORD"`).
pub fn parse_exact_query(text: &str) -> Result<Vec<Criterion>, ParseError> {
    parse_words(text, |word| FileName::new(word).map(Criterion::Name))
}

/// A user's search, as typed: protocol criteria (`filename="x"`,
/// `filesize>"1048576"`, `filename~"x"`, ...) and plain words, which
/// search names containing them; all combined with AND.
pub fn parse_query(text: &str) -> Result<Vec<Criterion>, ParseError> {
    parse_words(text, |word| {
        Criterion::name_contains(word).ok_or_else(|| ParseError::BadCriterion(snippet(word.as_bytes())))
    })
}

/// Criteria as written, and `bare` for the words that are not.
fn parse_words(text: &str, bare: impl Fn(&str) -> Result<Criterion, ParseError>) -> Result<Vec<Criterion>, ParseError> {
    text.split_whitespace()
        .map(|word| if word.contains(['=', '<', '>', '~']) { Criterion::parse(word.as_bytes()) } else { bare(word) })
        .collect()
}

fn valid_fragment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && !s.contains(QUOTES)
        && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => write!(f, "filename=\"{n}\""),
            Self::NameContains(p) => write!(f, "filename~\"{p}\""),
            Self::Size(c, n) => write!(f, "filesize{}\"{n}\"", c.symbol()),
            Self::PieceSize(c, n) => write!(f, "piecesize{}\"{n}\"", c.symbol()),
        }
    }
}
