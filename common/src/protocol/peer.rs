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
//! [`PeerMessage::frame_len`] only finds where the first message ends, so
//! a reader can wait for a whole message cheaply and decode it once.

use std::io::{self, Write};

use super::Limits;
use super::error::{ParseError, clean_text, snippet};
use super::frame::{Words, command_lowercase, is_blank, next_line, next_line_after, parse_u32};
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
        let mut pieces = Vec::new();
        let Some((frame, used)) = frame(buf, limits, layouts, &mut 0, |p| pieces.push(p))? else { return Ok(None) };
        let message = match frame {
            Frame::Text(line) => Self::parse_text(line, limits, layouts)?,
            Frame::Have { key, piece_count: n, map: MapBytes::Raw(bytes) } => {
                Self::Have { key, map: BufferMap::from_bytes(n, bytes).ok_or(ParseError::BadBufferMap("length"))? }
            }
            Frame::Have { key, piece_count: n, map: MapBytes::Ascii(text) } => {
                let mut map = BufferMap::empty(n);
                ascii_map(text, n, |i| map.set(i));
                Self::Have { key, map }
            }
            Frame::Data { key } => Self::Data { key, pieces },
        };
        Ok(Some((message, used)))
    }

    /// How many bytes the first message of `buf` takes, found without
    /// building it: after `Ok(Some(n))`, [`Self::decode`] on the same bytes
    /// uses `n` of them (or refuses the words of a text line); errors and
    /// `Ok(None)` are those of `decode`. `scanned`, 0 for a new message,
    /// carries between calls on a growing buffer how far a text line is
    /// known to run without end, so that line is not searched again.
    pub fn frame_len(
        buf: &[u8],
        limits: &Limits,
        layouts: &impl Layouts,
        scanned: &mut usize,
    ) -> Result<Option<usize>, ParseError> {
        Ok(frame(buf, limits, layouts, scanned, |_| {})?.map(|(_, used)| used))
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
        self.write_with(out, |o, bytes| o.write_all(bytes))
    }

    /// Writes the canonical form but for the bytes of `data` pieces, so a
    /// sender can send them from where they are: `gaps` gets, in order,
    /// the offset in `out` where each piece's bytes belong.
    pub fn write_around_pieces(&self, out: &mut Vec<u8>, gaps: &mut Vec<usize>) -> io::Result<()> {
        self.write_with(out, |o, _| {
            gaps.push(o.len());
            Ok(())
        })
    }

    fn write_with<W: Write>(
        &self,
        out: &mut W,
        mut piece: impl FnMut(&mut W, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
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
                    piece(o, p.bytes)
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

/// The first message of a buffer, framed: what is left to build it.
enum Frame<'a> {
    /// A text line, not yet parsed.
    Text(&'a [u8]),
    Have {
        key: FileKey,
        piece_count: u32,
        map: MapBytes<'a>,
    },
    /// The pieces went to the caller's sink while framing.
    Data {
        key: FileKey,
    },
}

/// A `have` map as sent: raw bytes, or an ASCII form already checked.
enum MapBytes<'a> {
    Raw(&'a [u8]),
    Ascii(&'a [u8]),
}

type Framed<'a> = Option<(Frame<'a>, usize)>;

/// Frames the first message of `buf`, handing `data` pieces to `piece`:
/// one code path for [`PeerMessage::decode`] and
/// [`PeerMessage::frame_len`], so both accept and refuse the same bytes.
fn frame<'a>(
    buf: &'a [u8],
    limits: &Limits,
    layouts: &impl Layouts,
    scanned: &mut usize,
    piece: impl FnMut(Piece<'a>),
) -> Result<Framed<'a>, ParseError> {
    let start = buf.iter().position(|&b| !matches!(b, b'\0' | b'\r' | b'\n')).unwrap_or(buf.len());
    let body = &buf[start..];
    let Some(cmd_len) = body.iter().take(COMMAND_MAX).position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) else {
        // Junk before the command counts too: a stream of NULs is bounded.
        let too_long = body.len() >= COMMAND_MAX || start > limits.max_line;
        return if too_long { Err(ParseError::UnknownCommand(snippet(body))) } else { Ok(None) };
    };
    let mut lower = [0; COMMAND_MAX];
    let command = command_lowercase(&body[..cmd_len], &mut lower);
    let found = match command {
        b"have" => frame_have(body, cmd_len, limits, layouts)?,
        b"data" => frame_data(body, cmd_len, limits, layouts, piece)?,
        _ => {
            let bound = text_bound(command, body, cmd_len, limits, layouts);
            let line = next_line_after(body, bound, scanned.saturating_sub(start))?;
            if line.is_none() {
                *scanned = buf.len();
            }
            line.map(|(line, used)| (Frame::Text(line.text), used))
        }
    };
    Ok(found.map(|(frame, used)| (frame, start + used)))
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

fn frame_have<'a>(
    body: &'a [u8],
    cmd_len: usize,
    limits: &Limits,
    layouts: &impl Layouts,
) -> Result<Framed<'a>, ParseError> {
    let Some((key, after_key)) = read_key(body, cmd_len)? else { return Ok(None) };
    let layout = known_layout(&key, layouts)?;
    let pieces = layout.piece_count();
    let n = layout.buffermap_len();
    let have = |map| Frame::Have { key, piece_count: pieces, map };
    if n == 0 {
        let at = after_key + body[after_key..].iter().take_while(|&&b| is_blank(b)).count();
        return Ok(line_end(body, at)?.map(|e| (have(MapBytes::Raw(&[])), at + e)));
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
        return Ok(Some((have(MapBytes::Raw(bytes)), from + n + e)));
    }
    // Lenient: course peers send ASCII maps.
    match next_line(&body[from..], limits.max_line) {
        Ok(Some((line, used))) => {
            if ascii_map(line.text, pieces, |_| {}) {
                return Ok(Some((have(MapBytes::Ascii(line.text)), from + used)));
            }
        }
        Ok(None) if raw_end.is_none() => return Ok(None),
        Ok(None) | Err(_) => {}
    }
    match raw_end {
        Some(e) => Ok(Some((have(MapBytes::Raw(bytes)), from + n + e))),
        None => Err(ParseError::BadBufferMap("neither raw bytes nor 0/1 digits of the file's piece count")),
    }
}

/// Reads `0110`, `[0 1 1 0]` or `{1, 2}` (indices held), calling `set`
/// for each piece held; false if `text` is none of these.
fn ascii_map(text: &[u8], pieces: u32, mut set: impl FnMut(u32)) -> bool {
    let text = text.trim_ascii();
    if !text.starts_with(b"{") && text.len() < pieces as usize {
        return false;
    }
    if let Some(inner) = text.strip_prefix(b"{").and_then(|t| t.strip_suffix(b"}")) {
        for word in inner.split(|&b| b == b',' || is_blank(b)).filter(|w| !w.is_empty()) {
            match parse_u32(word, "piece index") {
                Ok(index) if index < pieces => set(index),
                _ => return false,
            }
        }
        return true;
    }
    let inner = text.strip_prefix(b"[").and_then(|t| t.strip_suffix(b"]")).unwrap_or(text);
    let digits = inner.iter().filter(|&&b| !is_blank(b) && b != b',');
    let mut count = 0u32;
    for &d in digits {
        match d {
            b'1' => set(count),
            b'0' => {}
            _ => return false,
        }
        let Some(next) = count.checked_add(1) else { return false };
        count = next;
    }
    count == pieces
}

fn frame_data<'a>(
    body: &'a [u8],
    cmd_len: usize,
    limits: &Limits,
    layouts: &impl Layouts,
    mut piece: impl FnMut(Piece<'a>),
) -> Result<Framed<'a>, ParseError> {
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
    let mut count = 0;
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
                    Some(e) => Ok(Some((Frame::Data { key }, end + e))),
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
        if count >= limits.max_items {
            return Err(ParseError::TooManyItems { limit: limits.max_items });
        }
        let Some(bytes) = body.get(from..from + len) else { return incomplete(body) };
        match body.get(from + len) {
            None => return incomplete(body),
            Some(b' ' | b'\t' | b']') => {}
            Some(_) => return Err(ParseError::Malformed("a piece is longer than the file's layout says")),
        }
        piece(Piece { index, bytes });
        count += 1;
        at = from + len;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limits() -> Limits {
        Limits { max_line: 1 << 16, max_items: 1000, max_message: 1 << 16 }
    }

    /// Small enough for garbage to reach every bound.
    fn tight() -> Limits {
        Limits { max_line: 64, max_items: 3, max_message: 100 }
    }

    fn is_binary(buf: &[u8]) -> bool {
        let word = buf.iter().skip_while(|b| matches!(b, b'\0' | b'\r' | b'\n'));
        let word: Vec<u8> = word.take_while(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')).copied().collect();
        word.eq_ignore_ascii_case(b"have") || word.eq_ignore_ascii_case(b"data")
    }

    /// On every prefix of `buf`, `frame_len` (fresh or resumed from the
    /// shorter prefixes) says what `decode` says, but for the content of
    /// a text line, which only `decode` checks.
    fn agree(buf: &[u8], limits: &Limits, layouts: &impl Layouts) -> Result<(), TestCaseError> {
        let mut scanned = 0;
        for cut in 0..=buf.len() {
            let prefix = &buf[..cut];
            let framed = PeerMessage::frame_len(prefix, limits, layouts, &mut 0);
            let resumed = PeerMessage::frame_len(prefix, limits, layouts, &mut scanned);
            prop_assert_eq!(&resumed, &framed, "resumed at {}", cut);
            match (PeerMessage::decode(prefix, limits, layouts), framed) {
                (Ok(None), Ok(None)) => {}
                (Ok(Some((_, used))), Ok(Some(n))) => prop_assert_eq!(used, n, "at {}", cut),
                (Err(d), Err(f)) => prop_assert_eq!(d, f, "at {}", cut),
                (Err(_), Ok(Some(_))) if !is_binary(prefix) => {}
                (d, f) => prop_assert!(false, "at {}: decode {:?}, frame_len {:?}", cut, d, f),
            }
        }
        Ok(())
    }

    #[derive(Debug, Clone)]
    struct Case {
        layout: Layout,
        key: FileKey,
        data: Vec<u8>,
        which: u8,
        indices: Vec<u32>,
        bits: Vec<bool>,
        text: String,
        junk: Vec<u8>,
        crlf: bool,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            (0u64..3000, 1u64..700),
            prop_oneof!["[0-9a-f]{32}", "[0-9A-F]{32}", "[0-9a-fA-F]{1,128}"],
            any::<u8>(),
            prop::collection::vec(any::<u32>(), 0..8),
            prop::collection::vec(any::<bool>(), 0..40),
            "[ -~]{0,40}",
            prop::collection::vec(prop_oneof![Just(0u8), Just(b'\r'), Just(b'\n')], 0..3),
            any::<bool>(),
        )
            .prop_flat_map(|((len, ps), key, which, indices, bits, text, junk, crlf)| {
                prop::collection::vec(any::<u8>(), len as usize).prop_map(move |data| Case {
                    layout: Layout::new(len, ps).unwrap(),
                    key: FileKey::parse(key.as_bytes()).unwrap(),
                    data,
                    which,
                    indices: indices.clone(),
                    bits: bits.clone(),
                    text: text.clone(),
                    junk: junk.clone(),
                    crlf,
                })
            })
    }

    impl Case {
        /// A message, as sent (ASCII maps as course peers send them).
        fn encode(&self) -> (Vec<u8>, PeerMessage<'_>) {
            let n = self.layout.piece_count();
            let key = self.key.clone();
            let mut map = BufferMap::empty(n);
            self.bits.iter().enumerate().filter(|(_, b)| **b).for_each(|(i, _)| map.set(i as u32));
            let message = match self.which % 8 {
                0 => PeerMessage::Interested { key },
                1 | 2 => PeerMessage::Have { key, map: map.clone() },
                3 => PeerMessage::GetPieces { key, indices: self.indices.clone() },
                4 => {
                    let indices = self.indices.iter().filter(|_| n > 0).map(|i| i % n.max(1));
                    let piece = |index| {
                        let at = self.layout.offset(index) as usize;
                        Piece { index, bytes: &self.data[at..at + self.layout.piece_len(index).unwrap() as usize] }
                    };
                    PeerMessage::Data { key, pieces: indices.map(piece).collect() }
                }
                5 => PeerMessage::GetHashes { key },
                6 => PeerMessage::Hashes { key, hashes: (0..n.min(40)).map(|i| [i as u8; 32]).collect() },
                _ => PeerMessage::Error(clean_text(&self.text)),
            };
            let mut out = self.junk.clone();
            if self.which % 8 == 2 {
                let digits: String = (0..n).map(|i| if map.has(i) { '1' } else { '0' }).collect();
                out.extend(format!("have {} {digits}\n", self.key).as_bytes());
            } else {
                message.write(&mut out).unwrap();
            }
            if self.crlf {
                out.insert(out.len() - 1, b'\r');
            }
            (out, message)
        }
    }

    proptest! {
        #[test]
        fn frame_len_finds_the_end_of_every_message_at_every_cut(case in case()) {
            let (out, message) = case.encode();
            let lookup = |k: &FileKey| (*k == case.key).then_some(case.layout);
            // Proper prefixes are incomplete for both, the whole is whole.
            for cut in 0..out.len() {
                let framed = PeerMessage::frame_len(&out[..cut], &limits(), &lookup, &mut 0);
                prop_assert_eq!(framed, Ok(None), "cut at {}", cut);
            }
            prop_assert_eq!(PeerMessage::frame_len(&out, &limits(), &lookup, &mut 0), Ok(Some(out.len())));
            agree(&out, &limits(), &lookup)?;
            prop_assert_eq!(PeerMessage::decode(&out, &limits(), &lookup), Ok(Some((message.clone(), out.len()))));
            // A next message behind it changes nothing.
            let mut two = out.clone();
            two.extend(format!("interested {}\n", case.key).as_bytes());
            prop_assert_eq!(PeerMessage::frame_len(&two, &limits(), &lookup, &mut 0), Ok(Some(out.len())));
            prop_assert_eq!(PeerMessage::decode(&two, &limits(), &lookup), Ok(Some((message, out.len()))));
        }

        #[test]
        fn frame_len_agrees_with_decode_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let lookup = |_: &FileKey| Layout::new(100, 7).ok();
            agree(&bytes, &limits(), &lookup)?;
            agree(&bytes, &tight(), &lookup)?;
        }

        #[test]
        fn frame_len_agrees_with_decode_on_structured_garbage(
            words in prop::collection::vec(prop_oneof![
                "interested", "getpieces", "gethashes", "hashes", "error", "have", "data", "DATA", "\\[", "\\]",
                "[0-9]{1,3}:", "[0-9]{1,25}", "[0-9a-f]{32}", "[0-9a-f]{64}", "[01]{1,12}", "\\{[0-9, ]{0,8}\\}",
                "[\\x00\\r\\n\\t ]{1,3}", "[ -~]{1,12}",
            ], 0..16),
            sep in prop_oneof![Just(" "), Just(""), Just("  "), Just("\n"), Just("\r\n")],
            pieces in 0u64..20,
        ) {
            let line = words.join(sep);
            let lookup = |_: &FileKey| Layout::new(pieces * 3, 3).ok();
            agree(line.as_bytes(), &limits(), &lookup)?;
            agree(line.as_bytes(), &tight(), &lookup)?;
        }
    }
}
