//! Blocking peer↔peer message I/O over one TCP stream: a receive buffer
//! framed by `common::protocol::PeerMessage::decode`. Piece bytes are
//! read once into the buffer and handed out as slices of it.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use common::protocol::{Layouts, Limits, ParseError, PeerMessage};

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    #[error("the peer closed the connection")]
    Closed,
    #[error("malformed message: {0}")]
    Parse(#[from] ParseError),
}

#[derive(Debug)]
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    limits: Limits,
    /// Commands refused as soon as their first word arrives, before their
    /// payload is buffered (a server never asks for `data`).
    refused: &'static [&'static [u8]],
}

impl Wire {
    pub fn new(stream: TcpStream, limits: Limits) -> Self {
        Self { stream, buf: vec![0; 64 * 1024], start: 0, end: 0, limits, refused: &[] }
    }

    /// Refuses messages starting with any of `commands`.
    pub fn refusing(mut self, commands: &'static [&'static [u8]]) -> Self {
        self.refused = commands;
        self
    }

    fn starts_refused(&self) -> Option<String> {
        let pending = &self.buf[self.start..self.end];
        let from = pending.iter().position(|b| !matches!(b, b'\0' | b'\r' | b'\n'))?;
        let word = pending[from..].split(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).next()?;
        let complete = pending.len() > from + word.len();
        (complete && self.refused.iter().any(|c| word.eq_ignore_ascii_case(c)))
            .then(|| String::from_utf8_lossy(word).into_owned())
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn send(&mut self, message: &PeerMessage<'_>) -> io::Result<()> {
        let mut out = Vec::with_capacity(256);
        message.write(&mut out)?;
        self.stream.write_all(&out)
    }

    /// Receives the next message; call [`Wire::consume`] with the length
    /// once done with it.
    pub fn recv(&mut self, layouts: &impl Layouts) -> Result<(PeerMessage<'_>, usize), WireError> {
        // Decode once to learn that a whole message is buffered, then again
        // to hand out a borrow (the borrow checker cannot see that the
        // first result ends the loop).
        loop {
            if let Some(word) = self.starts_refused() {
                return Err(ParseError::UnknownCommand(format!("{word} (not a request)")).into());
            }
            if PeerMessage::decode(&self.buf[self.start..self.end], &self.limits, layouts)?.is_some() {
                break;
            }
            self.fill()?;
        }
        let decoded = PeerMessage::decode(&self.buf[self.start..self.end], &self.limits, layouts)?;
        decoded.ok_or(WireError::Closed)
    }

    pub fn consume(&mut self, used: usize) {
        self.start = (self.start + used).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops the buffered bytes up to and including the next line end
    /// (after a malformed text message), or everything if there is none.
    pub fn skip_line(&mut self) {
        let pending = &self.buf[self.start..self.end];
        let used = pending.iter().position(|&b| b == b'\n').map_or(pending.len(), |i| i + 1);
        self.consume(used);
    }

    fn fill(&mut self) -> Result<(), WireError> {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // `decode` refuses any message past its bound (at most one
            // 64 MiB piece plus slack), so this ceiling is never the limit
            // that bites; it only keeps the growth finite.
            let ceiling = common::layout::MAX_PIECE_SIZE as usize + self.limits.max_message + 2 * self.limits.max_line;
            // Double while small, then grow by 1 MiB: a message of one
            // 2 MiB piece needs 3 MiB, not 4.
            let len = self.buf.len();
            let grown = if len < 1 << 20 { len * 2 } else { len + (1 << 20) }.min(ceiling);
            if grown <= self.buf.len() {
                return Err(ParseError::MessageTooLong { limit: self.buf.len() }.into());
            }
            self.buf.resize(grown, 0);
        }
        match self.stream.read(&mut self.buf[self.end..])? {
            0 => Err(WireError::Closed),
            n => {
                self.end += n;
                Ok(())
            }
        }
    }
}
