//! A connection's reply, written a chunk at a time. Piece bytes are read
//! from the file and hashes turned into hex only as the socket takes
//! them, so a client that does not read holds at most one chunk of this
//! peer's memory; the rest of its reply was never read from disk.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use common::FileKey;
use common::hashing::PieceHash;
use common::protocol::{PeerMessage, Piece};

/// The most bytes of a reply held at once (besides its text parts).
pub const CHUNK: usize = 256 * 1024;
/// Buffers grown past this for one reply are given back after it.
const KEEP: usize = 64 * 1024;

/// One piece of a `data` reply: its index, where it starts in the file
/// and its length.
pub type PieceAt = (u32, u64, usize);

enum Segment {
    /// Bytes of `Outbox::text`.
    Text(Range<usize>),
    Piece {
        file: Arc<File>,
        offset: u64,
        left: usize,
    },
    Hashes {
        hashes: Arc<Vec<PieceHash>>,
        next: usize,
    },
}

/// Why a reply could not be written.
#[derive(Debug)]
pub enum WriteError {
    /// Reading the file being sent failed.
    Disk(io::Error),
    Socket(io::Error),
}

#[derive(Default)]
pub struct Outbox {
    /// The reply's text parts, written whole when queued.
    text: Vec<u8>,
    segments: VecDeque<Segment>,
    /// The chunk being written, from `at`.
    buf: Vec<u8>,
    at: usize,
}

impl Outbox {
    /// Nothing left to write.
    pub fn is_empty(&self) -> bool {
        self.at == self.buf.len() && self.segments.is_empty()
    }

    /// Queues `message` written whole (small replies, and `have`, whose
    /// map is as large as the file's buffermap).
    pub fn message(&mut self, message: &PeerMessage<'_>) {
        self.text_with(|out| message.write(out));
    }

    /// Queues a line of the distributed mode (`ok`).
    pub fn lan(&mut self, message: &common::protocol::LanMessage) {
        self.text_with(|out| message.write(out));
    }

    fn text_with(&mut self, write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) {
        debug_assert!(self.is_empty(), "one reply at a time");
        self.text.clear();
        // Writing into a Vec cannot fail.
        let _ = write(&mut self.text);
        self.segments.push_back(Segment::Text(0..self.text.len()));
    }

    /// Queues `data KEY [I:<piece I> ...]` with the pieces of `file`.
    pub fn data(&mut self, key: FileKey, pieces: &[PieceAt], file: &Arc<File>) {
        debug_assert!(self.is_empty(), "one reply at a time");
        self.text.clear();
        // The codec writes everything but the piece bytes, and says where
        // each piece goes.
        let around =
            PeerMessage::Data { key, pieces: pieces.iter().map(|&(index, ..)| Piece { index, bytes: &[] }).collect() };
        let mut gaps = Vec::with_capacity(pieces.len());
        let _ = around.write_around_pieces(&mut self.text, &mut gaps);
        let mut at = 0;
        for (&gap, &(_, offset, len)) in gaps.iter().zip(pieces) {
            self.segments.push_back(Segment::Text(at..gap));
            self.segments.push_back(Segment::Piece { file: file.clone(), offset, left: len });
            at = gap;
        }
        self.segments.push_back(Segment::Text(at..self.text.len()));
    }

    /// Queues `hashes KEY [H0 H1 ...]`: up to 69 MB of hex for the largest
    /// files, so written as it goes out.
    pub fn hashes(&mut self, key: FileKey, hashes: Arc<Vec<PieceHash>>) {
        debug_assert!(self.is_empty(), "one reply at a time");
        self.text.clear();
        let _ = PeerMessage::Hashes { key, hashes: Vec::new() }.write(&mut self.text);
        // `hashes KEY []\n`: the hashes go inside the brackets.
        let open = self.text.iter().rposition(|&b| b == b'[').map_or(self.text.len(), |i| i + 1);
        self.segments.push_back(Segment::Text(0..open));
        self.segments.push_back(Segment::Hashes { hashes, next: 0 });
        self.segments.push_back(Segment::Text(open..self.text.len()));
    }

    /// Writes what `out` takes: `Ok(0)` once the reply is all written.
    pub fn write_to(&mut self, out: &mut impl Write) -> Result<usize, WriteError> {
        if self.at == self.buf.len() {
            self.refill().map_err(WriteError::Disk)?;
            if self.buf.is_empty() {
                // Only empty segments were left.
                self.segments.clear();
                return Ok(0);
            }
        }
        match out.write(&self.buf[self.at..]) {
            Ok(0) => Err(WriteError::Socket(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                self.at += n;
                if self.is_empty() {
                    self.release();
                }
                Ok(n)
            }
            Err(e) => Err(WriteError::Socket(e)),
        }
    }

    /// Fills `buf` with the next bytes of the reply, at most a chunk.
    fn refill(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.at = 0;
        let streamed = self.segments.iter().any(|s| !matches!(s, Segment::Text(_)));
        if streamed && self.buf.capacity() < CHUNK {
            self.buf.reserve_exact(CHUNK);
        }
        while self.buf.len() < CHUNK {
            let room = CHUNK - self.buf.len();
            let Some(segment) = self.segments.front_mut() else { break };
            let finished = match segment {
                Segment::Text(range) => {
                    let end = range.end.min(range.start + room);
                    self.buf.extend_from_slice(&self.text[range.start..end]);
                    range.start = end;
                    range.start == range.end
                }
                Segment::Piece { file, offset, left } => {
                    let n = (*left).min(room);
                    let from = self.buf.len();
                    self.buf.resize(from + n, 0);
                    file.read_exact_at(&mut self.buf[from..], *offset)?;
                    *offset += n as u64;
                    *left -= n;
                    *left == 0
                }
                Segment::Hashes { hashes, next } => {
                    // Each hash: a separating blank and 64 hex digits.
                    let fit = room / 65;
                    if fit == 0 {
                        break;
                    }
                    let end = (*next + fit).min(hashes.len());
                    for i in *next..end {
                        if i > 0 {
                            self.buf.push(b' ');
                        }
                        let from = self.buf.len();
                        self.buf.resize(from + 64, 0);
                        let _ = hex::encode_to_slice(hashes[i], &mut self.buf[from..]);
                    }
                    *next = end;
                    end == hashes.len()
                }
            };
            if finished {
                self.segments.pop_front();
            }
        }
        Ok(())
    }

    /// The reply is out: buffers grown for it are given back.
    fn release(&mut self) {
        if self.buf.capacity() > KEEP {
            self.buf = Vec::new();
        }
        if self.text.capacity() > KEEP {
            self.text = Vec::new();
        }
        self.buf.clear();
        self.text.clear();
        self.at = 0;
    }
}

#[cfg(test)]
mod tests {
    use common::Layout;

    use super::*;

    /// Writes the whole reply a few bytes at a time.
    fn drain(out: &mut Outbox) -> Vec<u8> {
        struct Trickle(Vec<u8>);
        impl Write for Trickle {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = buf.len().min(1000);
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Trickle(Vec::new());
        while out.write_to(&mut sink).unwrap() > 0 {}
        assert!(out.is_empty());
        sink.0
    }

    fn key() -> FileKey {
        FileKey::parse("ab".repeat(16).as_bytes()).unwrap()
    }

    #[test]
    fn data_streamed_from_the_file_is_what_the_codec_writes() {
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), &bytes).unwrap();
        let file = Arc::new(File::open(dir.path().join("f")).unwrap());
        let layout = Layout::new(bytes.len() as u64, 300_000).unwrap();
        let asked = [2, 0, 1];
        let at: Vec<PieceAt> =
            asked.iter().map(|&i| (i, layout.offset(i), layout.piece_len(i).unwrap() as usize)).collect();
        let mut out = Outbox::default();
        out.data(key(), &at, &file);
        let pieces = at.iter().map(|&(index, o, len)| Piece { index, bytes: &bytes[o as usize..o as usize + len] });
        let mut expected = Vec::new();
        PeerMessage::Data { key: key(), pieces: pieces.collect() }.write(&mut expected).unwrap();
        assert!(drain(&mut out) == expected, "the streamed reply differs");
        // Then a small one, on the same outbox.
        out.data(key(), &[], &file);
        assert_eq!(drain(&mut out), format!("data {} []\n", key()).into_bytes());
    }

    #[test]
    fn hashes_streamed_are_what_the_codec_writes() {
        for count in [0usize, 1, 5000] {
            let hashes: Vec<PieceHash> = (0..count).map(|i| [(i % 256) as u8; 32]).collect();
            let mut out = Outbox::default();
            out.hashes(key(), Arc::new(hashes.clone()));
            let mut expected = Vec::new();
            PeerMessage::Hashes { key: key(), hashes }.write(&mut expected).unwrap();
            assert!(drain(&mut out) == expected, "{count} hashes differ");
        }
    }

    #[test]
    fn a_reply_is_held_one_chunk_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![7u8; 4 << 20]).unwrap();
        let file = Arc::new(File::open(dir.path().join("f")).unwrap());
        let mut out = Outbox::default();
        out.data(key(), &[(0, 0, 4 << 20)], &file);
        // A socket that takes one byte and then nothing.
        let mut first = [0u8; 1];
        assert_eq!(out.write_to(&mut &mut first[..]).unwrap(), 1);
        assert!(out.buf.capacity() <= CHUNK + 4096, "{} bytes held", out.buf.capacity());
        assert!(!out.is_empty());
    }
}
