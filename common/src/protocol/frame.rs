//! Framing: cutting a byte stream into lines, and lines into words.
//!
//! Lenient on input: `\n`, `\r\n`, NUL bytes left over after a line end
//! and empty lines are all accepted; blanks are runs of spaces or tabs.

use super::LineEnding;
use super::error::{ParseError, snippet};

/// One line without its terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub text: &'a [u8],
    /// How the sender ended it; `None` for a line taken without end.
    pub ending: Option<LineEnding>,
}

fn is_junk(b: u8) -> bool {
    matches!(b, b'\0' | b'\r' | b'\n')
}

/// Finds the first complete line of `buf`. `Ok(None)` means "wait for
/// more bytes"; past `max_line` bytes without an end it is an error, so a
/// caller never buffers more than `max_line` bytes of one line.
/// Returns the line and the number of bytes it used from `buf`.
pub fn next_line(buf: &[u8], max_line: usize) -> Result<Option<(Line<'_>, usize)>, ParseError> {
    next_line_after(buf, max_line, 0)
}

/// [`next_line`] when an earlier call on `buf[..searched]` said `Ok(None)`:
/// no line ends there, so only the newer bytes are searched and a long
/// line arriving in chunks is searched once, not once per chunk.
pub fn next_line_after(buf: &[u8], max_line: usize, searched: usize) -> Result<Option<(Line<'_>, usize)>, ParseError> {
    let start = buf.iter().position(|&b| !is_junk(b)).unwrap_or(buf.len());
    let body = &buf[start..];
    let too_long = Err(ParseError::LineTooLong { limit: max_line });
    let from = searched.saturating_sub(start).min(body.len());
    match memchr::memchr(b'\n', &body[from..]).map(|i| from + i) {
        Some(end) => {
            let (text, ending) = match body[..end].strip_suffix(b"\r") {
                Some(t) => (t, LineEnding::CrLf),
                None => (&body[..end], LineEnding::Lf),
            };
            if text.len() > max_line {
                return too_long;
            }
            Ok(Some((Line { text: trim_nul(text), ending: Some(ending) }, start + end + 1)))
        }
        // Junk before the line counts too, so a stream of NULs is bounded;
        // one byte more is the `\r` of a `\r\n` still to come.
        None if buf.len() > max_line + 1 => too_long,
        None => Ok(None),
    }
}

/// The bytes buffered so far taken as a line without end (for senders
/// that never end their line and pause instead). `None` if only junk.
pub fn pending_line(buf: &[u8]) -> Option<Line<'_>> {
    let start = buf.iter().position(|&b| !is_junk(b))?;
    let mut text = &buf[start..];
    while let [rest @ .., b'\r' | b'\0'] = text {
        text = rest;
    }
    Some(Line { text, ending: None })
}

fn trim_nul(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., b'\0'] = text {
        text = rest;
    }
    text
}

/// A command word in lower case, on the stack (`buf`): every command is
/// short, and this runs for every request. A longer word comes back
/// empty, which no command matches.
pub(crate) fn command_lowercase<'b>(word: &[u8], buf: &'b mut [u8; 16]) -> &'b [u8] {
    let Some(lower) = buf.get_mut(..word.len()) else { return &[] };
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    lower
}

pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A cursor over the blank-separated words of one line. Brackets are
/// handled by context: `[` opens a list only where a list is expected and
/// a trailing `]` closes it only on items that cannot contain one, so
/// `[a 1 2 k]`, `[ a 1 2 k  ]` and `[]` all parse.
#[derive(Debug, Clone)]
pub(crate) struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Words<'a> {
    pub fn new(line: &'a [u8]) -> Self {
        Self { rest: line }
    }

    fn skip_blanks(&mut self) {
        let n = self.rest.iter().position(|&b| !is_blank(b)).unwrap_or(self.rest.len());
        self.rest = &self.rest[n..];
    }

    /// The next word, or `None` at the end of the line.
    pub fn next(&mut self) -> Option<&'a [u8]> {
        self.skip_blanks();
        if self.rest.is_empty() {
            return None;
        }
        let n = self.rest.iter().position(|&b| is_blank(b)).unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(word)
    }

    pub fn word(&mut self, expected: &'static str) -> Result<&'a [u8], ParseError> {
        self.next().ok_or(ParseError::UnexpectedEnd(expected))
    }

    /// The next word if it equals `keyword` (ASCII case-insensitive).
    pub fn keyword(&mut self, keyword: &str) -> bool {
        let save = self.rest;
        match self.next() {
            Some(w) if w.eq_ignore_ascii_case(keyword.as_bytes()) => true,
            _ => {
                self.rest = save;
                false
            }
        }
    }

    /// Consumes the `[` that opens a list (it may be glued to a word).
    pub fn open_list(&mut self, what: &'static str) -> Result<List, ParseError> {
        self.skip_blanks();
        match self.rest.split_first() {
            Some((b'[', rest)) => {
                self.rest = rest;
                Ok(List { closed: false, items: 0 })
            }
            Some(_) => Err(ParseError::Expected { expected: what, found: snippet(self.peek_word()) }),
            None => Err(ParseError::UnexpectedEnd(what)),
        }
    }

    fn peek_word(&self) -> &'a [u8] {
        let mut c = self.clone();
        c.next().unwrap_or_default()
    }

    /// Consumes a `]` if one comes next, closing the list.
    pub fn try_close(&mut self, list: &mut List) -> bool {
        self.skip_blanks();
        match self.rest.split_first() {
            Some((b']', rest)) => {
                self.rest = rest;
                list.closed = true;
                true
            }
            _ => false,
        }
    }

    /// The next item of an open list, `None` once it is closed. With
    /// `may_close` a `]` glued to the item's end closes the list.
    pub fn item(&mut self, list: &mut List, limit: usize, may_close: bool) -> Result<Option<&'a [u8]>, ParseError> {
        if list.closed {
            return Ok(None);
        }
        if self.try_close(list) {
            return Ok(None);
        }
        let word = self.next().ok_or(ParseError::UnexpectedEnd("']' to close the list"))?;
        list.items += 1;
        if list.items > limit {
            return Err(ParseError::TooManyItems { limit });
        }
        if may_close && let Some(inner) = word.strip_suffix(b"]") {
            list.closed = true;
            return Ok(Some(inner));
        }
        Ok(Some(word))
    }

    /// The next word of an item made of several words (inside a list).
    pub fn field(&mut self, list: &mut List, expected: &'static str, last: bool) -> Result<&'a [u8], ParseError> {
        let word = self.word(expected)?;
        if last && let Some(inner) = word.strip_suffix(b"]") {
            list.closed = true;
            return Ok(inner);
        }
        Ok(word)
    }

    /// Whether the next `n` words are decimal numbers of at most 20
    /// digits. Reads nothing; stops at the first byte that rules it out,
    /// so a hex key is mostly ruled out by its first bytes.
    pub fn numbers_next(&self, n: usize) -> bool {
        let mut rest = self.rest;
        for _ in 0..n {
            let start = rest.iter().position(|&b| !is_blank(b)).unwrap_or(rest.len());
            rest = &rest[start..];
            let digits = rest.iter().take(21).position(|b| !b.is_ascii_digit()).unwrap_or(rest.len().min(21));
            if digits == 0 || digits > 20 || rest.get(digits).is_some_and(|&b| !is_blank(b)) {
                return false;
            }
            rest = &rest[digits..];
        }
        true
    }

    /// The word after the next `n` ones, read without consuming.
    pub fn peek_nth(&self, n: usize) -> Option<&'a [u8]> {
        let mut ahead = self.clone();
        for _ in 0..n {
            ahead.next()?;
        }
        ahead.next()
    }

    /// Fails unless the line is used up.
    pub fn finish(mut self) -> Result<(), ParseError> {
        match self.next() {
            None => Ok(()),
            Some(w) => Err(ParseError::Trailing(snippet(w))),
        }
    }

    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

/// State of a list being read.
#[derive(Debug)]
pub(crate) struct List {
    pub closed: bool,
    pub items: usize,
}

pub(crate) fn parse_u64(word: &[u8], field: &'static str) -> Result<u64, ParseError> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadNumber { field, found: snippet(word) });
    }
    word.iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .ok_or(ParseError::NumberTooLarge { field, bits: 64 })
}

pub(crate) fn parse_u32(word: &[u8], field: &'static str) -> Result<u32, ParseError> {
    u32::try_from(parse_u64(word, field)?).map_err(|_| ParseError::NumberTooLarge { field, bits: 32 })
}

pub(crate) fn parse_port(word: &[u8]) -> Result<u16, ParseError> {
    match parse_u64(word, "port")? {
        p @ 1..=65535 => Ok(p as u16),
        p => Err(ParseError::BadPort(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_accept_every_ending() {
        let (l, n) = next_line(b"ok\r\n", 10).unwrap().unwrap();
        assert_eq!((l.text, l.ending, n), (&b"ok"[..], Some(LineEnding::CrLf), 4));
        let (l, n) = next_line(b"\0\nok\n\0", 10).unwrap().unwrap();
        assert_eq!((l.text, n), (&b"ok"[..], 5));
        assert_eq!(next_line(b"ok", 10).unwrap(), None);
        assert_eq!(next_line(b"0123456789ab", 10), Err(ParseError::LineTooLong { limit: 10 }));
        assert_eq!(pending_line(b"\nlook []\r").unwrap().text, b"look []");
        assert_eq!(pending_line(b"\r\n\0"), None);
    }

    #[test]
    fn numbers_ahead_are_seen_without_reading_them() {
        let mut w = Words::new(b" 12\t345 x");
        assert!(w.numbers_next(2));
        assert!(!w.numbers_next(3));
        assert_eq!(w.peek_nth(2), Some(&b"x"[..]));
        assert_eq!(w.peek_nth(3), None);
        assert_eq!(w.next(), Some(&b"12"[..]), "nothing read by looking ahead");
        assert!(Words::new(b"18446744073709551615 1").numbers_next(2));
        assert!(!Words::new(b"123456789012345678901 1").numbers_next(1), "21 digits");
        assert!(!Words::new(b"12] 3").numbers_next(1));
        assert!(!Words::new(b"8905e92a 1").numbers_next(1));
        assert!(!Words::new(b"").numbers_next(1));
    }

    #[test]
    fn numbers_are_checked() {
        assert_eq!(parse_u64(b"18446744073709551615", "n"), Ok(u64::MAX));
        assert!(matches!(parse_u64(b"18446744073709551616", "n"), Err(ParseError::NumberTooLarge { .. })));
        assert!(matches!(parse_u64(b"-1", "n"), Err(ParseError::BadNumber { .. })));
        assert_eq!(parse_port(b"0"), Err(ParseError::BadPort(0)));
        assert_eq!(parse_port(b"70000"), Err(ParseError::BadPort(70000)));
    }
}
