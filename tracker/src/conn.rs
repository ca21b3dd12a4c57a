//! One client connection: its input buffer and the framing rules. Lines
//! are cut here and handed to `handler`; replies are written back with
//! the line ending of the request.
//!
//! A connection is only ever touched by the worker whose turn it is
//! (see `slot`).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use common::config::TrackerConfig;
use common::protocol::frame::{next_line, pending_line};
use common::protocol::{Limits, LineEnding, ParseError, TrackerReply, TrackerRequest};

use crate::cache::PeerId;
use crate::handler::{Shared, handle};

/// Bytes read per readiness event: bounds one connection's turn so
/// others are served fairly.
pub const READ_CHUNK: usize = 16 * 1024;
/// A worker's buffers, reused across turns: a request costs no
/// allocation for its input or its reply.
#[derive(Debug)]
pub struct Buffers {
    read: Box<[u8; READ_CHUNK]>,
    out: Vec<u8>,
}

impl Default for Buffers {
    fn default() -> Self {
        Self { read: Box::new([0; READ_CHUNK]), out: Vec::new() }
    }
}

/// Malformed requests in a row before the connection is closed.
pub const MAX_MALFORMED: u8 = 3;

#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    buf: Vec<u8>,
    peer: Option<PeerId>,
    malformed: u8,
    /// Dropping the rest of a line that was too long.
    discarding: bool,
    /// When the unfinished line in `buf` started.
    pub partial_since: Option<Instant>,
    pub last_input: Instant,
    /// The unfinished line was already tried as a whole command.
    pub pause_tried: bool,
    /// The last read filled the whole buffer: more bytes may be queued.
    pub maybe_more: bool,
}

/// What to do with a connection after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Close,
}

impl Conn {
    pub fn new(stream: TcpStream, addr: SocketAddr) -> Self {
        Self {
            stream,
            addr,
            buf: Vec::new(),
            peer: None,
            malformed: 0,
            discarding: false,
            partial_since: None,
            last_input: Instant::now(),
            pause_tried: false,
            maybe_more: false,
        }
    }

    /// Reads what has arrived (once), answers every complete line.
    pub fn on_readable(&mut self, shared: &Shared, bufs: &mut Buffers) -> Verdict {
        let Buffers { read: scratch, out } = bufs;
        self.maybe_more = false;
        // The socket blocks (for writes), but this read must not: a turn
        // can be queued for bytes an earlier read already took.
        let read = rustix::net::recv(&self.stream, &mut scratch[..], rustix::net::RecvFlags::DONTWAIT);
        let n = match read.map(|(n, _)| n).map_err(io::Error::from) {
            Ok(0) => return Verdict::Close,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                return Verdict::Keep;
            }
            Err(e) => {
                log::debug!("{}: read failed: {e}", self.addr);
                return Verdict::Close;
            }
        };
        self.maybe_more = n == READ_CHUNK;
        let now = Instant::now();
        self.last_input = now;
        self.pause_tried = false;
        let mut input = &scratch[..n];
        if self.discarding {
            match memchr::memchr(b'\n', input) {
                Some(end) => {
                    self.discarding = false;
                    input = &input[end + 1..];
                }
                None => {
                    self.partial_since.get_or_insert(now);
                    return Verdict::Keep;
                }
            }
        }
        self.buf.extend_from_slice(input);
        out.clear();
        let verdict = self.answer_lines(shared, out);
        let partial = !self.buf.is_empty() || self.discarding;
        self.partial_since = if partial { Some(self.partial_since.unwrap_or(now)) } else { None };
        if self.buf.is_empty() && self.buf.capacity() > 4 * READ_CHUNK {
            self.buf = Vec::new();
        }
        self.send(out, verdict)
    }

    /// When an unfinished line needs looking at: the sender's pause, then
    /// the slowloris limit.
    pub fn deadline(&self, config: &TrackerConfig) -> Option<Instant> {
        let close = self.partial_since? + config.partial_timeout;
        Some(if self.pause_tried { close } else { close.min(self.last_input + config.line_pause) })
    }

    /// A deadline passed: close a connection that held an unfinished line
    /// too long, or try the line of a sender that paused.
    pub fn on_timer(&mut self, shared: &Shared, now: Instant, bufs: &mut Buffers) -> Verdict {
        let config = &shared.config;
        let Some(since) = self.partial_since else { return Verdict::Keep };
        if since + config.partial_timeout <= now {
            log::info!("{}: closing, unfinished line held for {:?}", self.addr, config.partial_timeout);
            return Verdict::Close;
        }
        if !self.pause_tried && self.last_input + config.line_pause <= now {
            return self.on_pause(shared, &mut bufs.out);
        }
        Verdict::Keep
    }

    /// The sender paused on an unfinished line: if it is a whole command
    /// (one course peer never ends its lines), answer it.
    fn on_pause(&mut self, shared: &Shared, out: &mut Vec<u8>) -> Verdict {
        self.pause_tried = true;
        let limits = self.limits(shared);
        let Some(line) = pending_line(&self.buf) else { return Verdict::Keep };
        let Ok(request) = TrackerRequest::parse(line.text, &limits) else { return Verdict::Keep };
        let reply = handle(request, self.addr, &mut self.peer, shared);
        self.buf.clear();
        self.partial_since = None;
        self.malformed = 0;
        out.clear();
        let _ = reply.write(out, LineEnding::Lf);
        self.send(out, Verdict::Keep)
    }

    fn limits(&self, shared: &Shared) -> Limits {
        Limits { max_line: shared.config.max_line, ..Limits::default() }
    }

    fn answer_lines(&mut self, shared: &Shared, out: &mut Vec<u8>) -> Verdict {
        let limits = self.limits(shared);
        let mut used = 0;
        let verdict = loop {
            match next_line(&self.buf[used..], limits.max_line) {
                Ok(None) => break Verdict::Keep,
                Ok(Some((line, n))) => {
                    used += n;
                    let ending = line.ending.unwrap_or_default();
                    let reply = match TrackerRequest::parse(line.text, &limits) {
                        Ok(request) => {
                            self.malformed = 0;
                            handle(request, self.addr, &mut self.peer, shared)
                        }
                        Err(e) => self.reject(&e),
                    };
                    let _ = reply.write(out, ending);
                }
                Err(e) => {
                    // Refuse the long line without buffering it: skip to
                    // its end, or drop what we have and discard until it.
                    let reply = self.reject(&e);
                    let _ = reply.write(out, LineEnding::Lf);
                    match memchr::memchr(b'\n', &self.buf[used..]) {
                        Some(end) => used += end + 1,
                        None => {
                            used = self.buf.len();
                            self.discarding = true;
                        }
                    }
                }
            }
            if self.malformed >= MAX_MALFORMED {
                break Verdict::Close;
            }
        };
        self.buf.drain(..used);
        if pending_line(&self.buf).is_none() {
            // Only blank lines or NULs left: nothing is pending.
            self.buf.clear();
        }
        if verdict == Verdict::Close {
            log::info!("{}: closing after {MAX_MALFORMED} malformed requests in a row", self.addr);
        }
        verdict
    }

    fn reject(&mut self, e: &ParseError) -> TrackerReply {
        self.malformed += 1;
        log::info!("{}: rejected request: {e}", self.addr);
        TrackerReply::Error(e.to_string())
    }

    fn send(&mut self, out: &[u8], verdict: Verdict) -> Verdict {
        if out.is_empty() {
            return verdict;
        }
        match self.stream.write_all(out) {
            Ok(()) => verdict,
            Err(e) => {
                log::info!("{}: closing, reply not delivered: {e}", self.addr);
                Verdict::Close
            }
        }
    }
}
