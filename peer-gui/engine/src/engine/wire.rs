//! Blocking peer↔peer message I/O over one TCP stream: a receive buffer
//! framed by `common::protocol::PeerMessage::frame_len`, each message then
//! decoded once. Piece bytes are read once into the buffer and handed out
//! as slices of it, and sent from where they are.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use common::protocol::{Layouts, Limits, ParseError, PeerMessage};

use super::rate::RateLimits;

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
    /// How far `frame_len` has looked for the end of the pending message.
    scanned: usize,
    /// An outgoing message but its piece bytes, reused from one to the next.
    out: Vec<u8>,
    /// Where piece bytes go in `out`.
    gaps: Vec<usize>,
    limits: Limits,
    /// Commands refused as soon as their first word arrives, before their
    /// payload is buffered (a server never asks for `data`).
    refused: &'static [&'static [u8]],
    /// Reads are paid from the download budget.
    rates: Option<Arc<RateLimits>>,
}

impl Wire {
    pub fn new(stream: TcpStream, limits: Limits) -> Self {
        Self {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            scanned: 0,
            out: Vec::new(),
            gaps: Vec::new(),
            limits,
            refused: &[],
            rates: None,
        }
    }

    /// Receives within the download limit of `rates`: a read takes at
    /// most a quantum, then waits out its slot (on this thread: a link
    /// has nothing else to do meanwhile).
    pub fn receiving_within(mut self, rates: Arc<RateLimits>) -> Self {
        self.rates = Some(rates);
        self
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
        self.out.clear();
        self.gaps.clear();
        message.write_around_pieces(&mut self.out, &mut self.gaps)?;
        let PeerMessage::Data { pieces, .. } = message else { return self.stream.write_all(&self.out) };
        // Piece bytes go out from where they are, between the parts of
        // `out`: megabytes a reply, never copied.
        let mut parts = Vec::with_capacity(2 * pieces.len() + 1);
        let mut at = 0;
        for (&gap, piece) in self.gaps.iter().zip(pieces) {
            parts.push(IoSlice::new(&self.out[at..gap]));
            parts.push(IoSlice::new(piece.bytes));
            at = gap;
        }
        parts.push(IoSlice::new(&self.out[at..]));
        write_all_vectored(&mut self.stream, &mut parts)
    }

    /// Receives the next message; call [`Wire::consume`] with the length
    /// once done with it.
    pub fn recv(&mut self, layouts: &impl Layouts) -> Result<(PeerMessage<'_>, usize), WireError> {
        // Framing first, decoding once the message is whole: a decoded
        // message borrows the buffer, which `fill` must grow.
        loop {
            if let Some(word) = self.starts_refused() {
                return Err(ParseError::UnknownCommand(format!("{word} (not a request)")).into());
            }
            let pending = &self.buf[self.start..self.end];
            if PeerMessage::frame_len(pending, &self.limits, layouts, &mut self.scanned)?.is_some() {
                break;
            }
            self.fill()?;
        }
        let decoded = PeerMessage::decode(&self.buf[self.start..self.end], &self.limits, layouts)?;
        // Never `None`: `frame_len` and `decode` share their framing.
        decoded.ok_or(WireError::Parse(ParseError::Malformed("a message framed whole decodes as incomplete")))
    }

    pub fn consume(&mut self, used: usize) {
        self.start = (self.start + used).min(self.end);
        self.scanned = 0;
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
            // `frame_len` refuses any message past its bound (at most one
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
        let room = &mut self.buf[self.end..];
        let cap = self.rates.as_ref().map_or(room.len(), |r| r.download.quantum().min(room.len()));
        match self.stream.read(&mut room[..cap])? {
            0 => Err(WireError::Closed),
            n => {
                self.end += n;
                let now = Instant::now();
                if let Some(until) = self.rates.as_ref().and_then(|r| r.download.charge(n, now)) {
                    std::thread::sleep(until - now);
                }
                Ok(())
            }
        }
    }
}

/// `write_all` over several slices (`Write::write_all_vectored` is not
/// stable yet).
fn write_all_vectored(stream: &mut TcpStream, mut parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        match stream.write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use common::protocol::Piece;
    use common::{FileKey, Layout};

    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    /// Sends `bytes` in separate writes of `chunk` bytes (no Nagle), so
    /// the receiver mostly sees them apart.
    fn trickle(mut to: TcpStream, bytes: Vec<u8>, chunk: usize) -> thread::JoinHandle<()> {
        to.set_nodelay(true).unwrap();
        thread::spawn(move || {
            for c in bytes.chunks(chunk) {
                to.write_all(c).unwrap();
            }
        })
    }

    fn encode(messages: &[&PeerMessage<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        messages.iter().for_each(|m| m.write(&mut out).unwrap());
        out
    }

    #[test]
    fn a_long_hashes_line_arriving_in_chunks_is_received_whole() {
        let key = FileKey::parse(KEY).unwrap();
        let count = 100_000u32;
        let layout = Layout::new(u64::from(count) * 4096, 4096).unwrap();
        let hashes = (0..count).map(|i| {
            let mut hash = [0xa5; 32];
            hash[..4].copy_from_slice(&i.to_be_bytes());
            hash
        });
        let message = PeerMessage::Hashes { key: key.clone(), hashes: hashes.collect() };
        let next = PeerMessage::Interested { key: key.clone() };
        let (tx, rx) = pair();
        let sender = trickle(tx, encode(&[&message, &next]), 1000);
        let mut wire = Wire::new(rx, Limits::default());
        let layouts = |k: &FileKey| (*k == key).then_some(layout);
        let (got, used) = wire.recv(&layouts).unwrap();
        assert!(got == message, "the hashes differ");
        wire.consume(used);
        assert_eq!(wire.recv(&layouts).unwrap().0, next);
        sender.join().unwrap();
    }

    #[test]
    fn data_arriving_byte_by_byte_is_received() {
        let key = FileKey::parse(KEY).unwrap();
        let layout = Layout::new(250, 100).unwrap();
        // Every byte value, so piece bytes hold `\n`, `]` and digits.
        let file: Vec<u8> = (0..250u32).map(|i| (i * 7 % 256) as u8).collect();
        let piece = |index| {
            let at = layout.offset(index) as usize;
            Piece { index, bytes: &file[at..at + layout.piece_len(index).unwrap() as usize] }
        };
        let message = PeerMessage::Data { key: key.clone(), pieces: vec![piece(2), piece(0), piece(1)] };
        let next = PeerMessage::GetPieces { key: key.clone(), indices: vec![1] };
        let (tx, rx) = pair();
        let sender = trickle(tx, encode(&[&message, &next]), 1);
        let mut wire = Wire::new(rx, Limits::default());
        let layouts = |k: &FileKey| (*k == key).then_some(layout);
        let (got, used) = wire.recv(&layouts).unwrap();
        assert_eq!(got, message);
        wire.consume(used);
        assert_eq!(wire.recv(&layouts).unwrap().0, next);
        sender.join().unwrap();
    }

    #[test]
    fn send_writes_the_canonical_form() {
        let key = FileKey::parse(KEY).unwrap();
        let bytes = [b'x'; 5000];
        let data = PeerMessage::Data {
            key: key.clone(),
            pieces: vec![Piece { index: 3, bytes: &bytes }, Piece { index: 7, bytes: &bytes[..10] }],
        };
        let empty = PeerMessage::Data { key: key.clone(), pieces: vec![] };
        let text = PeerMessage::GetPieces { key, indices: vec![3, 7] };
        let (tx, mut rx) = pair();
        let mut wire = Wire::new(tx, Limits::default());
        for m in [&data, &text, &empty, &data] {
            wire.send(m).unwrap();
        }
        drop(wire);
        let mut got = Vec::new();
        rx.read_to_end(&mut got).unwrap();
        assert_eq!(got, encode(&[&data, &text, &empty, &data]));
    }
}
