//! One client connection: its input buffer and the framing rules. Lines
//! are cut here and handed to `handler`; replies are written back with
//! the line ending of the request, or `\r\n` for good once a request came
//! without one (see [`Conn::ending`]).
//!
//! A connection is only ever touched by the worker whose turn it is
//! (see `slot`).

use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use common::config::TrackerConfig;
use common::protocol::frame::{next_line, pending_line};
use common::protocol::{Limits, LineEnding, ParseError, TrackerReply, TrackerRequest};

use crate::handler::{Session, Shared, handle};
use crate::sockio;
use crate::stats::{Command, Rejection, Tally};

/// Bytes read per readiness event: bounds one connection's turn so
/// others are served fairly.
pub const READ_CHUNK: usize = 16 * 1024;
/// Replies are sent once this many bytes are waiting.
const FLUSH_AT: usize = 64 * 1024;
/// A worker's buffers, reused across turns: a request costs no
/// allocation for its input or its reply.
#[derive(Debug)]
pub struct Buffers {
    read: Box<[u8; READ_CHUNK]>,
    out: Vec<u8>,
    /// The turn's write deadline, once a write had to wait.
    deadline: Option<Instant>,
}

impl Default for Buffers {
    fn default() -> Self {
        Self { read: Box::new([0; READ_CHUNK]), out: Vec::new(), deadline: None }
    }
}

/// A line that reads as cut short at the sender's pause gets this many
/// pauses to go on: a `\n` client whose segments are retransmitted
/// mid-line is not answered for half a request.
const CUT_PAUSES: u32 = 4;

/// Why an unfinished line is looked at now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The sender has been silent for a pause.
    Pause,
    /// The sender closed its side: nothing more will come.
    End,
}

/// Malformed requests in a row before the connection is closed.
pub const MAX_MALFORMED: u8 = 3;

#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
    session: Session,
    malformed: u8,
    /// Dropping the rest of a line that was too long.
    discarding: bool,
    /// When the unfinished line in `buf` started.
    partial_since: Option<Instant>,
    last_input: Instant,
    /// The unfinished line was already tried as a whole command.
    pause_tried: bool,
    /// At the sender's pause the unfinished line read as cut short: it
    /// is answered only after a longer pause (`CUT_PAUSES`).
    looks_cut: bool,
    /// A request came without a line end: this client may read replies
    /// up to `\r\n` only.
    unended_client: bool,
    /// The last read filled the whole buffer: more bytes may be queued.
    pub maybe_more: bool,
    /// Requests answered and not yet counted in `Shared::stats`.
    pub served: Tally,
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
            session: Session::default(),
            malformed: 0,
            discarding: false,
            partial_since: None,
            last_input: Instant::now(),
            pause_tried: false,
            looks_cut: false,
            unended_client: false,
            maybe_more: false,
            served: Tally::default(),
        }
    }

    /// This connection, as the cache knows it.
    pub fn owner(&self) -> &crate::cache::Owner {
        self.session.owner()
    }

    /// Reads what has arrived, answers every complete line.
    pub fn on_readable(&mut self, shared: &Shared, bufs: &mut Buffers, drain: bool) -> Verdict {
        bufs.deadline = None;
        let Buffers { read: scratch, out, deadline } = bufs;
        let read = sockio::read_available(&self.stream, &mut scratch[..], drain);
        self.maybe_more = read.len == READ_CHUNK;
        // After the peer's end, answer what it sent, then close.
        let after = if read.end { Verdict::Close } else { Verdict::Keep };
        if read.len == 0 {
            if read.end && !self.buf.is_empty() && !self.discarding {
                // The end came after the last bytes, in a turn of its own.
                let _ = self.on_pause(shared, out, deadline, Stop::End);
            }
            return after;
        }
        let now = Instant::now();
        self.last_input = now;
        self.pause_tried = false;
        self.looks_cut = false;
        let mut input = &scratch[..read.len];
        if self.discarding {
            match memchr::memchr(b'\n', input) {
                Some(end) => {
                    self.discarding = false;
                    input = &input[end + 1..];
                }
                None => {
                    self.partial_since.get_or_insert(now);
                    return self.check_partial(shared, now, after);
                }
            }
        }
        self.buf.extend_from_slice(input);
        out.clear();
        let verdict = self.answer_lines(shared, now, out, deadline);
        let partial = !self.buf.is_empty() || self.discarding;
        self.partial_since = if partial { Some(self.partial_since.unwrap_or(now)) } else { None };
        if self.buf.is_empty() && self.buf.capacity() > 4 * READ_CHUNK {
            self.buf = Vec::new();
        }
        let mut verdict = self.send(out, verdict, shared, deadline);
        if read.end && verdict == Verdict::Keep && !self.buf.is_empty() {
            // The last request may have no line end: the peer's end is
            // the longest pause there is.
            verdict = self.on_pause(shared, out, deadline, Stop::End);
        }
        if out.capacity() > 4 * FLUSH_AT {
            // One huge reply must not keep its memory for good.
            *out = Vec::new();
        }
        if verdict == Verdict::Close { Verdict::Close } else { self.check_partial(shared, now, after) }
    }

    /// The slowloris rule, for a connection that keeps sending without
    /// ever ending its line (it may never be idle for the timer).
    fn check_partial(&self, shared: &Shared, now: Instant, verdict: Verdict) -> Verdict {
        let timeout = shared.config.partial_timeout;
        if self.partial_since.is_some_and(|since| since + timeout <= now) {
            log::info!("{}: closing, unfinished line held for {timeout:?}", self.addr);
            shared.stats.reject(Rejection::Slowloris, self.addr.ip());
            return Verdict::Close;
        }
        verdict
    }

    /// When an unfinished line needs looking at: the sender's pause, then
    /// the slowloris limit.
    pub fn deadline(&self, config: &TrackerConfig) -> Option<Instant> {
        let close = self.partial_since? + config.partial_timeout;
        Some(if self.pause_tried { close } else { close.min(self.last_input + self.pause(config)) })
    }

    /// A deadline passed: close a connection that held an unfinished line
    /// too long, or try the line of a sender that paused.
    pub fn on_timer(&mut self, shared: &Shared, now: Instant, bufs: &mut Buffers) -> Verdict {
        if self.partial_since.is_none() {
            return Verdict::Keep;
        }
        if self.check_partial(shared, now, Verdict::Keep) == Verdict::Close {
            return Verdict::Close;
        }
        if !self.pause_tried && self.last_input + self.pause(&shared.config) <= now {
            bufs.deadline = None;
            return self.on_pause(shared, &mut bufs.out, &mut bufs.deadline, Stop::Pause);
        }
        Verdict::Keep
    }

    /// The sender paused on an unfinished line: one course peer never
    /// ends its lines, so the line is taken as a whole request and
    /// answered like a terminated one (its error included).
    fn on_pause(&mut self, shared: &Shared, out: &mut Vec<u8>, deadline: &mut Option<Instant>, stop: Stop) -> Verdict {
        let limits = self.limits(shared);
        let Some(line) = pending_line(&self.buf) else {
            self.pause_tried = true;
            return Verdict::Keep;
        };
        let parsed = TrackerRequest::parse(line.text, &limits);
        let cut = matches!(parsed, Err(ParseError::UnexpectedEnd(_)));
        if cut && stop == Stop::Pause && !self.looks_cut {
            // Maybe the rest is on its way: wait the longer pause.
            self.looks_cut = true;
            return Verdict::Keep;
        }
        self.pause_tried = true;
        // A request without end, not a line cut short by a stall.
        self.unended_client |= !cut;
        let reply = self.answer(parsed, shared, Instant::now());
        self.buf.clear();
        self.partial_since = None;
        out.clear();
        let _ = reply.write(out, self.ending(None));
        let verdict = self.send(out, Verdict::Keep, shared, deadline);
        if self.malformed >= MAX_MALFORMED {
            log::info!("{}: closing after {MAX_MALFORMED} malformed requests in a row", self.addr);
            return Verdict::Close;
        }
        verdict
    }

    /// How long a silence ends the unfinished line.
    fn pause(&self, config: &TrackerConfig) -> std::time::Duration {
        if self.looks_cut { config.line_pause.saturating_mul(CUT_PAUSES) } else { config.line_pause }
    }

    /// How a reply ends: like its request, except that once a request
    /// came without a line end every reply ends with `\r\n`. The course
    /// peer that never ends its lines reads replies up to `\r\n`, even
    /// after it sends a `\n` line; a reader that splits on `\n` takes
    /// either.
    fn ending(&self, request: Option<LineEnding>) -> LineEnding {
        if self.unended_client { LineEnding::CrLf } else { request.unwrap_or_default() }
    }

    fn limits(&self, shared: &Shared) -> Limits {
        Limits { max_line: shared.config.max_line, ..Limits::default() }
    }

    fn answer_lines(
        &mut self,
        shared: &Shared,
        now: Instant,
        out: &mut Vec<u8>,
        deadline: &mut Option<Instant>,
    ) -> Verdict {
        let limits = self.limits(shared);
        let mut used = 0;
        let verdict = loop {
            match next_line(&self.buf[used..], limits.max_line) {
                Ok(None) => break Verdict::Keep,
                Ok(Some((line, n))) => {
                    used += n;
                    let ending = self.ending(line.ending);
                    let reply = self.answer(TrackerRequest::parse(line.text, &limits), shared, now);
                    let _ = reply.write(out, ending);
                    if out.len() >= FLUSH_AT {
                        // Many requests in one read: send as we go, so
                        // their replies never pile up in memory.
                        if self.send(out, Verdict::Keep, shared, deadline) == Verdict::Close {
                            break Verdict::Close;
                        }
                        out.clear();
                    }
                }
                Err(e) => {
                    // Refuse the long line without buffering it: skip to
                    // its end, or drop what we have and discard until it.
                    let reply = self.reject(&e, shared);
                    let _ = reply.write(out, self.ending(None));
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
                log::info!("{}: closing after {MAX_MALFORMED} malformed requests in a row", self.addr);
                break Verdict::Close;
            }
        };
        self.buf.drain(..used);
        if pending_line(&self.buf).is_none() {
            // Only blank lines or NULs left: nothing is pending.
            self.buf.clear();
        }
        verdict
    }

    /// The reply to one line, counting it as served or malformed.
    fn answer(&mut self, parsed: Result<TrackerRequest, ParseError>, shared: &Shared, now: Instant) -> TrackerReply {
        match parsed {
            Ok(request) => {
                self.malformed = 0;
                self.served.count(Command::of(&request));
                handle(request, self.addr, &mut self.session, shared, now)
            }
            Err(e) => self.reject(&e, shared),
        }
    }

    fn reject(&mut self, e: &ParseError, shared: &Shared) -> TrackerReply {
        self.malformed += 1;
        let kind = match e {
            ParseError::LineTooLong { .. } | ParseError::MessageTooLong { .. } => Rejection::LineTooLong,
            _ => Rejection::Malformed,
        };
        shared.stats.reject(kind, self.addr.ip());
        log::info!("{}: rejected request: {e}", self.addr);
        TrackerReply::Error(e.to_string())
    }

    fn send(&mut self, out: &[u8], verdict: Verdict, shared: &Shared, deadline: &mut Option<Instant>) -> Verdict {
        if out.is_empty() {
            return verdict;
        }
        match sockio::write_all_by(&self.stream, out, deadline, sockio::WRITE_TIMEOUT, &shared.shutdown) {
            Ok(()) => verdict,
            Err(e) => {
                log::info!("{}: closing, reply not delivered: {e}", self.addr);
                Verdict::Close
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use common::protocol::{FileEntry, FileName};
    use parking_lot::Mutex;

    use super::*;
    use crate::cache::Cache;

    fn shared(cache: Cache) -> Shared {
        let config = TrackerConfig::parse(std::path::Path::new("t.ini"), "tracker_ip = 127.0.0.1\ntracker_port = 1\n");
        Shared {
            cache: Mutex::new(cache),
            config: config.unwrap(),
            stats: Default::default(),
            shutdown: Default::default(),
        }
    }

    fn pair() -> (TcpStream, Conn) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, addr) = listener.accept().unwrap();
        server.set_write_timeout(Some(sockio::WRITE_SLICE)).unwrap();
        server.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        (client, Conn::new(server, addr))
    }

    #[test]
    fn a_last_line_without_end_is_answered_when_the_end_comes_alone() {
        let shared = shared(Cache::new());
        let (mut client, mut conn) = pair();
        let mut bufs = Buffers::default();
        client.write_all(b"look []").unwrap();
        conn.stream.peek(&mut [0u8; 1]).unwrap();
        assert_eq!(conn.on_readable(&shared, &mut bufs, false), Verdict::Keep, "an unfinished line: wait");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(conn.stream.peek(&mut [0u8; 1]).unwrap(), 0, "the end has arrived");
        assert_eq!(conn.on_readable(&shared, &mut bufs, true), Verdict::Close);
        drop(conn);
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "list []\r\n", "a request without end is answered with \\r\\n");
    }

    #[test]
    fn many_big_replies_are_sent_as_they_come_and_their_memory_returned() {
        let mut cache = Cache::new();
        let files = (0..1000)
            .map(|i| FileEntry {
                name: FileName::new(&format!("{}{i:04}", "n".repeat(200))).unwrap(),
                length: i,
                piece_size: 1,
                key: common::FileKey::parse(format!("{i:032x}").as_bytes()).unwrap(),
            })
            .collect();
        let (seeder, owner) = ("127.0.0.1:1000".parse().unwrap(), crate::cache::Owner::new());
        cache.announce(seeder, &owner, files, [] as [common::FileKey; 0], Instant::now()).unwrap();
        let shared = shared(cache);
        let (mut client, mut conn) = pair();
        // 64 requests in one read: about 14 MiB of replies.
        client.write_all("look []\n".repeat(64).as_bytes()).unwrap();
        let reader = std::thread::spawn(move || {
            let mut total = 0;
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n @ 1..) = client.read(&mut buf) {
                total += n;
            }
            total
        });
        conn.stream.peek(&mut [0u8; 1]).unwrap();
        let mut bufs = Buffers::default();
        assert_eq!(conn.on_readable(&shared, &mut bufs, true), Verdict::Keep);
        assert!(bufs.out.capacity() <= 4 * FLUSH_AT, "kept {} bytes", bufs.out.capacity());
        drop(conn);
        let mut one = Vec::new();
        TrackerReply::List(shared.cache.lock().look(&[], 1000)).write(&mut one, LineEnding::Lf).unwrap();
        assert_eq!(reader.join().unwrap(), 64 * one.len(), "every reply was sent");
    }
}
