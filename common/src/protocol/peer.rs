//! Peer↔peer messages. `interested`, `getpieces`, `gethashes`, `hashes`
//! and `error` are text lines; `have` and `data` carry raw bytes whose
//! lengths come from the file's layout, looked up by key through
//! [`Layouts`]:
//!
//! ```text
//! interested KEY                 -> have KEY <ceil(pieces/8) raw bytes>
//! getpieces KEY [I J ...]        -> data KEY [I:<piece I raw bytes> J:<...>]
//! gethashes KEY                  -> hashes KEY [H0 H1 ...]   (extension)
//! ```
//!
//! [`PeerMessage::decode`] works on a receive buffer: it returns `None`
//! until a whole message is there, and the pieces of a `data` message are
//! slices of that buffer, so piece bytes are never copied by the codec.

use std::io::{self, Write};

use super::Limits;
use super::error::{ParseError, clean_text, snippet};
use super::frame::{Words, is_blank, next_line, parse_u32};
use super::tracker::write_list;
use crate::buffermap::BufferMap;
use crate::hashing::PieceHash;
use crate::key::{FileKey, MAX_KEY_LEN};
use crate::layout::Layout;

/// Finds the layout of a file by key, so binary payloads can be framed.
pub trait Layouts {
    fn layout(&self, key: &FileKey) -> Option<Layout>;
}

impl<F: Fn(&FileKey) -> Option<Layout>> Layouts for F {
    fn layout(&self, key: &FileKey) -> Option<Layout> {
        self(key)
    }
}

/// One piece of a `data` message, borrowed from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    pub index: u32,
    pub bytes: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerMessage<'a> {
    Interested {
        key: FileKey,
    },
    Have {
        key: FileKey,
        map: BufferMap,
    },
    GetPieces {
        key: FileKey,
        indices: Vec<u32>,
    },
    Data {
        key: FileKey,
        pieces: Vec<Piece<'a>>,
    },
    /// Extension: asks for the file's piece hashes.
    GetHashes {
        key: FileKey,
    },
    /// Extension: every piece hash, in order, as 64 hex characters each.
    Hashes {
        key: FileKey,
        hashes: Vec<PieceHash>,
    },
    /// Extension: a refusal (unknown key, bad request).
    Error(String),
}

const COMMAND_MAX: usize = 16;
/// The most piece hashes one `hashes` line may carry (a 4 TiB file with
/// our 4 MiB pieces): bounds that line at about 69 MB.
pub const MAX_HASHES: usize = 1 << 20;

impl<'a> PeerMessage<'a> {
    /// Decodes the first message of `buf`. `Ok(None)`: incomplete, read
    /// more. `Ok(Some((message, used)))`: `used` bytes form the message.
    pub fn decode(buf: &'a [u8], limits: &Limits, layouts: &impl Layouts) -> Result<Option<(Self, usize)>, ParseError> {
        let start = buf.iter().position(|&b| !matches!(b, b'\0' | b'\r' | b'\n')).unwrap_or(buf.len());
        let body = &buf[start..];
        let Some(cmd_len) = body.iter().take(COMMAND_MAX).position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        else {
            // Junk before the command counts too: a stream of NULs is bounded.
            let too_long = body.len() >= COMMAND_MAX || start > limits.max_line;
            return if too_long { Err(ParseError::UnknownCommand(snippet(body))) } else { Ok(None) };
        };
        let command = body[..cmd_len].to_ascii_lowercase();
        let found = match command.as_slice() {
            b"have" => decode_have(body, cmd_len, limits, layouts)?,
            b"data" => decode_data(body, cmd_len, limits, layouts)?,
            _ => {
                let bound = text_bound(&command, body, cmd_len, limits, layouts);
                match next_line(body, bound)? {
                    None => None,
                    Some((line, used)) => Some((Self::parse_text(line.text, limits, layouts)?, used)),
                }
            }
        };
        Ok(found.map(|(message, used)| (message, start + used)))
    }

    fn parse_text(line: &[u8], limits: &Limits, layouts: &impl Layouts) -> Result<Self, ParseError> {
        let mut w = Words::new(line);
        let command = w.next().ok_or(ParseError::Empty)?.to_ascii_lowercase();
        let message = match command.as_slice() {
            b"interested" => Self::Interested { key: FileKey::parse(w.word("a key")?)? },
            b"gethashes" => Self::GetHashes { key: FileKey::parse(w.word("a key")?)? },
            b"getpieces" => {
                let key = FileKey::parse(w.word("a key")?)?;
                let mut list = w.open_list("'[' before the piece indices")?;
                let mut indices = Vec::new();
                while let Some(item) = w.item(&mut list, limits.max_items, true)? {
                    indices.push(parse_u32(item, "piece index")?);
                }
                Self::GetPieces { key, indices }
            }
            b"hashes" => {
                let key = FileKey::parse(w.word("a key")?)?;
                let most =
                    layouts.layout(&key).map_or(limits.max_items, |l| (l.piece_count() as usize).min(MAX_HASHES));
                let mut list = w.open_list("'[' before the hashes")?;
                let mut hashes = Vec::new();
                while let Some(item) = w.item(&mut list, most, true)? {
                    let mut hash = [0u8; 32];
                    hex::decode_to_slice(item, &mut hash).map_err(|_| ParseError::Expected {
                        expected: "a 64-character hex hash",
                        found: snippet(item),
                    })?;
                    hashes.push(hash);
                }
                Self::Hashes { key, hashes }
            }
            b"error" => return Ok(Self::Error(clean_text(&String::from_utf8_lossy(w.rest())))),
            _ => return Err(ParseError::UnknownCommand(snippet(&command))),
        };
        w.finish()?;
        Ok(message)
    }

    /// Writes the canonical form, ended by `\n`.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Self::Interested { key } => write!(out, "interested {key}")?,
            Self::GetHashes { key } => write!(out, "gethashes {key}")?,
            Self::Have { key, map } => {
                write!(out, "have {key} ")?;
                out.write_all(map.as_bytes())?;
            }
            Self::GetPieces { key, indices } => {
                write!(out, "getpieces {key} ")?;
                write_list(out, indices, |o, i| write!(o, "{i}"))?;
            }
            Self::Data { key, pieces } => {
                write!(out, "data {key} ")?;
                write_list(out, pieces, |o, p| {
                    write!(o, "{}:", p.index)?;
                    o.write_all(p.bytes)
                })?;
            }
            Self::Hashes { key, hashes } => {
                write!(out, "hashes {key} ")?;
                write_list(out, hashes, |o, h| o.write_all(hex::encode(h).as_bytes()))?;
            }
            Self::Error(text) => {
                write!(out, "error {}", clean_text(text))?;
            }
        }
        out.write_all(b"\n")
    }
}

/// The longest line a text message may take: a `hashes` reply for a
/// known file may exceed `max_line` (66 bytes a piece).
fn text_bound(command: &[u8], body: &[u8], cmd_len: usize, limits: &Limits, layouts: &impl Layouts) -> usize {
    if command != b"hashes" {
        return limits.max_line;
    }
    let pieces = read_key(body, cmd_len)
        .ok()
        .flatten()
        .and_then(|(key, _)| layouts.layout(&key))
        .map_or(0, |l| l.piece_count() as usize)
        .min(MAX_HASHES);
    limits.max_line.max(pieces.saturating_mul(66).saturating_add(256))
}

/// Reads `KEY` after the command word: `Ok(None)` if it has not fully
/// arrived yet. Returns the key and the offset just past it.
fn read_key(body: &[u8], cmd_len: usize) -> Result<Option<(FileKey, usize)>, ParseError> {
    let from = cmd_len + body[cmd_len..].iter().take_while(|&&b| is_blank(b)).count();
    let window = &body[from..body.len().min(from + MAX_KEY_LEN + 1)];
    match window.iter().position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
        Some(0) => Err(ParseError::UnexpectedEnd("a key")),
        Some(n) => Ok(Some((FileKey::parse(&window[..n])?, from + n))),
        None if window.len() > MAX_KEY_LEN => {
            Err(FileKey::parse(window).err().map_or(ParseError::Malformed("key"), Into::into))
        }
        None => Ok(None),
    }
}

fn known_layout(key: &FileKey, layouts: &impl Layouts) -> Result<Layout, ParseError> {
    layouts.layout(key).ok_or_else(|| ParseError::UnknownKey(key.to_string()))
}

/// Length of a line end at `at`: 1 for `\n`, 2 for `\r\n`; `Ok(None)` if
/// it has not arrived; an error if something else stands there.
fn line_end(body: &[u8], at: usize) -> Result<Option<usize>, ParseError> {
    match body.get(at..).unwrap_or_default() {
        [] | [b'\r'] => Ok(None),
        [b'\n', ..] => Ok(Some(1)),
        [b'\r', b'\n', ..] => Ok(Some(2)),
        rest => Err(ParseError::Trailing(snippet(rest))),
    }
}

type Decoded<'a> = Option<(PeerMessage<'a>, usize)>;

fn decode_have<'a>(
    body: &'a [u8],
    cmd_len: usize,
    limits: &Limits,
    layouts: &impl Layouts,
) -> Result<Decoded<'a>, ParseError> {
    let Some((key, after_key)) = read_key(body, cmd_len)? else { return Ok(None) };
    let layout = known_layout(&key, layouts)?;
    let pieces = layout.piece_count();
    let n = layout.buffermap_len();
    if n == 0 {
        let at = after_key + body[after_key..].iter().take_while(|&&b| is_blank(b)).count();
        return Ok(line_end(body, at)?.map(|e| (PeerMessage::Have { key, map: BufferMap::empty(0) }, at + e)));
    }
    // Exactly one blank separates the key from raw bytes (which may
    // themselves start with a blank).
    if !is_blank(body[after_key]) {
        return Err(ParseError::BadBufferMap("missing after the key"));
    }
    let from = after_key + 1;
    let bound = n.saturating_add(limits.max_line);
    // Until the byte after the raw map has arrived, a raw reading is still
    // possible: wait, whatever the bytes so far look like.
    let raw_end = match line_end(body, from + n) {
        Ok(None) if body.len() > bound => return Err(ParseError::MessageTooLong { limit: bound }),
        Ok(None) => return Ok(None),
        Ok(Some(e)) => Some(e),
        Err(_) => None,
    };
    let bytes = &body[from..from + n];
    if let Some(e) = raw_end
        && BufferMap::padding_is_clear(pieces, bytes)
    {
        let map = BufferMap::from_bytes(pieces, bytes).ok_or(ParseError::BadBufferMap("length"))?;
        return Ok(Some((PeerMessage::Have { key, map }, from + n + e)));
    }
    // Lenient: course peers send ASCII maps.
    match next_line(&body[from..], limits.max_line) {
        Ok(Some((line, used))) => {
            if let Some(map) = ascii_map(line.text, pieces) {
                return Ok(Some((PeerMessage::Have { key, map }, from + used)));
            }
        }
        Ok(None) if raw_end.is_none() => return Ok(None),
        Ok(None) | Err(_) => {}
    }
    match raw_end {
        Some(e) => {
            let map = BufferMap::from_bytes(pieces, bytes).ok_or(ParseError::BadBufferMap("length"))?;
            Ok(Some((PeerMessage::Have { key, map }, from + n + e)))
        }
        None => Err(ParseError::BadBufferMap("neither raw bytes nor 0/1 digits of the file's piece count")),
    }
}

/// `0110`, `[0 1 1 0]` or `{1, 2}` (indices held).
fn ascii_map(text: &[u8], pieces: u32) -> Option<BufferMap> {
    let text = text.trim_ascii();
    if !text.starts_with(b"{") && text.len() < pieces as usize {
        return None;
    }
    let mut map = BufferMap::empty(pieces);
    if let Some(inner) = text.strip_prefix(b"{").and_then(|t| t.strip_suffix(b"}")) {
        for word in inner.split(|&b| b == b',' || is_blank(b)).filter(|w| !w.is_empty()) {
            let index = parse_u32(word, "piece index").ok().filter(|&i| i < pieces)?;
            map.set(index);
        }
        return Some(map);
    }
    let inner = text.strip_prefix(b"[").and_then(|t| t.strip_suffix(b"]")).unwrap_or(text);
    let digits = inner.iter().filter(|&&b| !is_blank(b) && b != b',');
    let mut count = 0u32;
    for &d in digits {
        match d {
            b'1' => map.set(count),
            b'0' => {}
            _ => return None,
        }
        count = count.checked_add(1)?;
    }
    (count == pieces).then_some(map)
}

fn decode_data<'a>(
    body: &'a [u8],
    cmd_len: usize,
    limits: &Limits,
    layouts: &impl Layouts,
) -> Result<Decoded<'a>, ParseError> {
    let Some((key, after_key)) = read_key(body, cmd_len)? else { return Ok(None) };
    let layout = known_layout(&key, layouts)?;
    let bound = limits.max_message.max(layout.piece_size() as usize).saturating_add(limits.max_line);
    let incomplete =
        |body: &[u8]| if body.len() > bound { Err(ParseError::MessageTooLong { limit: bound }) } else { Ok(None) };
    let skip_blanks = |at: usize| at + body[at.min(body.len())..].iter().take_while(|&&b| is_blank(b)).count();
    let mut at = skip_blanks(after_key);
    match body.get(at) {
        None => return incomplete(body),
        Some(b'[') => at += 1,
        Some(_) => return Err(ParseError::Expected { expected: "'[' before the pieces", found: snippet(&body[at..]) }),
    }
    let mut pieces = Vec::new();
    loop {
        at = skip_blanks(at);
        if at > bound {
            return Err(ParseError::MessageTooLong { limit: bound });
        }
        match body.get(at) {
            None => return incomplete(body),
            Some(b']') => {
                let end = skip_blanks(at + 1);
                return match line_end(body, end)? {
                    Some(e) => Ok(Some((PeerMessage::Data { key, pieces }, end + e))),
                    None => incomplete(body),
                };
            }
            Some(_) => {}
        }
        let digits = body[at..].iter().take(20).take_while(|b| b.is_ascii_digit()).count();
        match body.get(at + digits) {
            None if digits < 20 => return incomplete(body),
            Some(b':') if digits > 0 => {}
            _ => return Err(ParseError::Expected { expected: "INDEX: before a piece", found: snippet(&body[at..]) }),
        }
        let index = parse_u32(&body[at..at + digits], "piece index")?;
        let len = layout.piece_len(index).ok_or(ParseError::BadPieceIndex(u64::from(index)))? as usize;
        let from = at + digits + 1;
        if pieces.len() >= limits.max_items {
            return Err(ParseError::TooManyItems { limit: limits.max_items });
        }
        let Some(bytes) = body.get(from..from + len) else { return incomplete(body) };
        match body.get(from + len) {
            None => return incomplete(body),
            Some(b' ' | b'\t' | b']') => {}
            Some(_) => return Err(ParseError::Malformed("a piece is longer than the file's layout says")),
        }
        pieces.push(Piece { index, bytes });
        at = from + len;
    }
}
