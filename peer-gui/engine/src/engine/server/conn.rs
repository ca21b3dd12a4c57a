//! One served connection and the protocol rules: what is answered, what
//! is refused, when it closes. A turn runs on a worker of the pool over a
//! non-blocking socket, so it never waits on the client: it writes the
//! pending reply, then reads and answers the next request, until the
//! socket is full or empty or the turn's budget is spent.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::FileKey;
use common::layout::MAX_PIECES;
use common::protocol::{FileName, LanMessage, Layouts, Limits, ParseError, PeerMessage};
use crossbeam_channel::Sender;
use mio::net::TcpStream;

use super::outbox::{Outbox, PieceAt, WriteError};
use super::spread::Spread;
use crate::engine::lan::Input;
use crate::engine::lan::flood::{LAN_LIMITS, LOOKS_PER_SECOND, LookBudget};
use crate::engine::library::Library;
use crate::engine::rate::RateLimits;
use crate::engine::settings::Settings;
use crate::engine::stats::Connection;

/// Bytes one turn may write before the connection goes to the back of
/// the queue, so a fast reader cannot hold a worker.
const TURN_BUDGET: usize = 1 << 20;
/// What a message without reply costs of the budget.
const MESSAGE_COST: usize = 4096;
/// The receive buffer's size, and what it shrinks back to.
const INBOX: usize = 16 * 1024;

/// What every turn needs.
#[derive(Debug)]
pub struct Context {
    pub settings: Settings,
    pub library: Arc<Library>,
    /// The upload budget is shared by every connection.
    pub rates: Arc<RateLimits>,
    /// Which pieces of complete files went out least often.
    spread: Spread,
    limits: Limits,
    /// The distributed mode: where neighbours' messages go.
    lan: Option<Sender<Input>>,
    /// Searches and answers taken per source IP: a peer opening
    /// connection after connection gets no more.
    budgets: parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, LookBudget>>,
}

impl Context {
    pub fn new(settings: &Settings, library: Arc<Library>, rates: Arc<RateLimits>, lan: Option<Sender<Input>>) -> Self {
        Self {
            limits: settings.limits(),
            settings: settings.clone(),
            library,
            rates,
            spread: Spread::default(),
            lan,
            budgets: Default::default(),
        }
    }

    /// Takes one search or answer from `ip`; false: over the bound.
    fn take_budget(&self, ip: std::net::IpAddr, now: Instant) -> bool {
        let mut budgets = self.budgets.lock();
        if budgets.len() > 4096 {
            // Full buckets are as good as none.
            budgets.retain(|_, b| !b.is_full(now));
        }
        let budget = budgets.entry(ip).or_insert_with(|| LookBudget::new(now));
        if budget.take(now) {
            return true;
        }
        if budget.log_now(now) {
            log::warn!(
                "{ip}: over {LOOKS_PER_SECOND} searches and answers a second; {} dropped so far",
                budget.dropped
            );
        }
        false
    }
}

/// A connection that sent `announce listen`: the LAN coordinator hears
/// when it closes.
struct Neighbour {
    addr: SocketAddr,
    to: Sender<Input>,
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        let _ = self.to.send(Input::Left(self.addr));
    }
}

/// How a turn ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub close: bool,
    /// The budget ran out with work left.
    pub more: bool,
    /// The last read found nothing to read.
    pub read_blocked: bool,
    /// The last write found the socket full.
    pub write_blocked: bool,
    /// The upload limit: nothing more is sent before then.
    pub wait: Option<Instant>,
}

pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub opened: Instant,
    /// When it last sent a message; `None`: never.
    pub last_message: Option<Instant>,
    /// When it last sent a message or took reply bytes.
    pub last_progress: Instant,
    stats: Connection,
    inbox: Inbox,
    outbox: Outbox,
    /// The reply being written: its file, pieces, and piece bytes not yet
    /// counted (they are counted as they go out; the pieces once all are).
    uploading: Option<(FileKey, FileName, u64, u64)>,
    malformed: u32,
    /// It sent `have`: a leecher that exchanges maps and takes partial
    /// replies, to which a seeder spreads its pieces (`spread`).
    swarming: bool,
    /// A fatal error is being written; then the connection closes.
    closing: bool,
    /// It joined this peer (distributed mode).
    neighbour: Option<Neighbour>,
}

impl Conn {
    pub fn new(stream: TcpStream, peer: SocketAddr, stats: Connection, ctx: &Context) -> Self {
        let now = Instant::now();
        Self {
            stream,
            peer,
            opened: now,
            last_message: None,
            last_progress: now,
            stats,
            inbox: Inbox::new(ctx.limits),
            outbox: Outbox::default(),
            uploading: None,
            malformed: 0,
            swarming: false,
            closing: false,
            neighbour: None,
        }
    }

    /// A neighbour's link: it stays open while silent.
    pub fn is_neighbour(&self) -> bool {
        self.neighbour.is_some()
    }

    /// Whether a reply waits to be written (then only writability matters).
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Which connection to close first to make room: the ones that never
    /// sent a message, then the least recently active.
    pub fn rank(&self) -> (bool, Instant) {
        (self.last_message.is_some(), self.last_message.unwrap_or(self.opened))
    }

    pub fn turn(&mut self, ctx: &Context) -> Outcome {
        let mut budget = TURN_BUDGET;
        let layouts = |k: &FileKey| ctx.library.layout(k);
        loop {
            // The next request is read only once the reply to the last one
            // is out: a client that does not read costs one chunk.
            while !self.outbox.is_empty() {
                let quantum = ctx.rates.upload.quantum();
                match self.outbox.write_to(&mut Capped { to: &mut self.stream, cap: quantum }) {
                    Ok(n) => {
                        let now = Instant::now();
                        self.last_progress = now;
                        // Counted as it goes out, not when the whole reply
                        // is out: a rate-limited reply takes seconds, and
                        // its rate must show meanwhile.
                        if let Some((key, name, _, left)) = &mut self.uploading {
                            let credit = (n as u64).min(*left);
                            *left -= credit;
                            if credit > 0 {
                                self.stats.sent(key, name, 0, credit);
                            }
                        }
                        if let Some(until) = ctx.rates.upload.charge(n, now) {
                            return Outcome { wait: Some(until), ..Outcome::default() };
                        }
                        budget = budget.saturating_sub(n);
                        if budget == 0 {
                            return Outcome { more: true, ..Outcome::default() };
                        }
                    }
                    Err(WriteError::Socket(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Outcome { write_blocked: true, ..Outcome::default() };
                    }
                    Err(WriteError::Socket(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(WriteError::Socket(e)) => return self.closed(&e.to_string()),
                    Err(WriteError::Disk(e)) => {
                        log::warn!("{}: cannot read a piece being sent: {e}; closing", self.peer);
                        return Outcome { close: true, ..Outcome::default() };
                    }
                }
            }
            if let Some((key, name, pieces, left)) = self.uploading.take() {
                self.stats.sent(&key, &name, pieces, left);
            }
            if self.closing {
                return Outcome { close: true, ..Outcome::default() };
            }
            if let Some(lan) = &ctx.lan {
                match self.inbox.lan_line(&LAN_LIMITS) {
                    LanLine::NotLan => {}
                    LanLine::Partial => match self.read_more() {
                        Some(outcome) => return outcome,
                        None => continue,
                    },
                    LanLine::Whole(message, used) => {
                        self.inbox.consume(used);
                        self.malformed = 0;
                        let now = Instant::now();
                        (self.last_message, self.last_progress) = (Some(now), now);
                        self.lan_message(message, lan, ctx, now);
                        budget = budget.saturating_sub(MESSAGE_COST);
                        if budget == 0 && self.outbox.is_empty() {
                            return Outcome { more: true, ..Outcome::default() };
                        }
                        continue;
                    }
                    LanLine::Bad(e, used) => {
                        log::info!("{}: rejected: {e}", self.peer);
                        self.malformed += 1;
                        self.closing = self.malformed >= 3 || used.is_none();
                        self.outbox.message(&PeerMessage::Error(e.to_string()));
                        if let Some(used) = used {
                            self.inbox.consume(used);
                        }
                        continue;
                    }
                }
            }
            match self.inbox.next(&layouts) {
                Ok(Some((message, used))) => {
                    self.malformed = 0;
                    let now = Instant::now();
                    (self.last_message, self.last_progress) = (Some(now), now);
                    self.uploading = answer(message, ctx, &self.stats, &mut self.outbox, &mut self.swarming);
                    self.inbox.consume(used);
                    budget = budget.saturating_sub(MESSAGE_COST);
                    if budget == 0 && self.outbox.is_empty() {
                        return Outcome { more: true, ..Outcome::default() };
                    }
                }
                Err(e) => {
                    log::info!("{}: rejected: {e}", self.peer);
                    self.malformed += 1;
                    // An unknown key in have/data leaves the stream unframed.
                    self.closing = matches!(e, ParseError::UnknownKey(_)) || self.malformed >= 3;
                    self.outbox.message(&PeerMessage::Error(e.to_string()));
                    if !self.closing {
                        self.inbox.skip_line();
                    }
                }
                Ok(None) => {
                    if let Some(outcome) = self.read_more() {
                        return outcome;
                    }
                }
            }
        }
    }

    /// Reads what has arrived; `Some`: the turn ends with this outcome.
    fn read_more(&mut self) -> Option<Outcome> {
        match self.inbox.fill(&mut self.stream) {
            Ok(0) => Some(self.closed("the peer closed the connection")),
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Some(Outcome { read_blocked: true, ..Outcome::default() })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => Some(self.closed(&e.to_string())),
        }
    }

    /// What a neighbour sends, in the distributed mode. Searches and
    /// answers share the per-IP budget and are dropped when the
    /// coordinator is behind.
    fn lan_message(&mut self, message: LanMessage, lan: &Sender<Input>, ctx: &Context, now: Instant) {
        let input = match message {
            LanMessage::Join { port } => {
                if self.neighbour.is_none() {
                    let addr = SocketAddr::new(self.peer.ip(), port);
                    let _ = lan.send(Input::Arrived(addr));
                    self.stats.set_neighbour(addr);
                    self.neighbour = Some(Neighbour { addr, to: lan.clone() });
                }
                self.outbox.lan(&LanMessage::Ok);
                return;
            }
            LanMessage::Ok => return,
            LanMessage::Look(search) => {
                let from = self.neighbour.as_ref().map_or(self.peer, |n| n.addr);
                Input::Look { search, from }
            }
            m @ (LanMessage::Found { .. } | LanMessage::NotFound { .. }) => Input::Answer(m),
        };
        if ctx.take_budget(self.peer.ip(), now) && lan.try_send(input).is_err() {
            log::warn!("{}: the search coordinator is behind; a search or answer dropped", self.peer);
        }
    }

    fn closed(&self, why: &str) -> Outcome {
        log::debug!("{}: {why}", self.peer);
        Outcome { close: true, ..Outcome::default() }
    }
}

/// A socket taking at most `cap` bytes a write: what the upload limit
/// lets go before it is paid for.
struct Capped<'a, W> {
    to: &'a mut W,
    cap: usize,
}

impl<W: Write> Write for Capped<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.to.write(&buf[..buf.len().min(self.cap)])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.to.flush()
    }
}

/// Queues the reply to `message`; for `data`, returns what it uploads.
fn answer(
    message: PeerMessage<'_>,
    ctx: &Context,
    stats: &Connection,
    out: &mut Outbox,
    swarming: &mut bool,
) -> Option<(FileKey, FileName, u64, u64)> {
    let unknown = |key: &FileKey| PeerMessage::Error(format!("unknown key {key}"));
    match message {
        PeerMessage::Interested { key } => match ctx.library.get(&key) {
            Some(f) => {
                stats.set_file(&key, &f.entry.name);
                out.message(&PeerMessage::Have { map: f.buffermap(), key });
            }
            None => out.message(&unknown(&key)),
        },
        PeerMessage::Have { key, map: theirs } => match ctx.library.get(&key) {
            Some(f) => {
                *swarming = true;
                stats.set_file(&key, &f.entry.name);
                let map = match f.partial {
                    Some(_) => f.buffermap(),
                    None => ctx.spread.offer(&key, f.layout.piece_count(), &theirs),
                };
                out.message(&PeerMessage::Have { map, key });
            }
            None => out.message(&unknown(&key)),
        },
        PeerMessage::GetHashes { key } => match ctx.library.get(&key) {
            Some(f) => out.hashes(key, f.hashes.clone()),
            None => out.message(&unknown(&key)),
        },
        PeerMessage::GetPieces { key, indices } => {
            let Some(file) = ctx.library.get(&key) else {
                out.message(&unknown(&key));
                return None;
            };
            let layout = file.layout;
            let count = layout.piece_count();
            if let Some(&index) = indices.iter().find(|&&i| i >= count) {
                let text = format!("piece index {index} is out of range: {} has {count} pieces", file.entry.name);
                out.message(&PeerMessage::Error(text));
                return None;
            }
            // At most what fits the message size; pieces not held are left
            // out (the asker learns from the reply and our `have`).
            let cap = ctx.settings.pieces_per_request(layout.piece_size());
            let mut pieces: Vec<PieceAt> = indices
                .into_iter()
                .filter(|&i| file.has_piece(i))
                .take(cap)
                .filter_map(|i| Some((i, layout.offset(i), layout.piece_len(i)? as usize)))
                .collect();
            if *swarming && file.partial.is_none() {
                ctx.spread.keep_least_sent(&key, &mut pieces, |&(i, ..)| i);
            }
            if pieces.is_empty() {
                out.message(&PeerMessage::Data { key, pieces: Vec::new() });
                return None;
            }
            match file.open() {
                Ok(handle) => {
                    let bytes = pieces.iter().map(|&(_, _, len)| len as u64).sum();
                    if file.partial.is_none() {
                        ctx.spread.sent(&key, count, pieces.iter().map(|&(i, ..)| i));
                    }
                    stats.set_file(&key, &file.entry.name);
                    out.data(key.clone(), &pieces, &handle);
                    return Some((key, file.entry.name.clone(), pieces.len() as u64, bytes));
                }
                Err(e) => {
                    log::warn!("{}: not served: {e}", file.path.display());
                    out.message(&PeerMessage::Error(format!("cannot serve {}: {e}", file.entry.name)));
                }
            }
        }
        // Replies nobody asked for: nothing to answer.
        PeerMessage::Data { .. } | PeerMessage::Hashes { .. } | PeerMessage::Error(_) => {}
    }
    None
}

/// Received bytes, framed by `PeerMessage::frame_len` and decoded once
/// whole (as `wire::Wire` does on blocking sockets).
struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// How far `frame_len` has looked for the end of the pending message.
    scanned: usize,
    limits: Limits,
}

/// Where the front of the inbox stands for the distributed mode's lines.
enum LanLine {
    /// Not one of them: a peer message, or nothing.
    NotLan,
    /// One of them, not whole yet.
    Partial,
    Whole(LanMessage, usize),
    /// Malformed (then the bytes to skip), or too long (`None`: close).
    Bad(ParseError, Option<usize>),
}

/// The first words of the distributed mode's lines.
const LAN_WORDS: [&[u8]; 3] = [b"announce", b"look", b"file"];

/// `data` and `hashes` are replies: refused from their first word, so
/// their payload is never buffered.
const REFUSED: [&[u8]; 2] = [b"data", b"hashes"];

impl Inbox {
    fn new(limits: Limits) -> Self {
        Self { buf: vec![0; INBOX], start: 0, end: 0, scanned: 0, limits }
    }

    /// The largest the buffer grows: the largest request (a `have` with
    /// the largest buffermap, or a text line) and what may precede it.
    /// `frame_len` refuses longer messages before this is reached.
    fn ceiling(&self) -> usize {
        (MAX_PIECES / 8) as usize + 2 * self.limits.max_line + INBOX
    }

    fn next(&mut self, layouts: &impl Layouts) -> Result<Option<(PeerMessage<'_>, usize)>, ParseError> {
        if let Some(word) = self.starts_refused() {
            return Err(ParseError::UnknownCommand(format!("{word} (not a request)")));
        }
        let pending = &self.buf[self.start..self.end];
        if PeerMessage::frame_len(pending, &self.limits, layouts, &mut self.scanned)?.is_none() {
            if pending.len() >= self.ceiling() {
                return Err(ParseError::MessageTooLong { limit: self.ceiling() });
            }
            return Ok(None);
        }
        let decoded = PeerMessage::decode(&self.buf[self.start..self.end], &self.limits, layouts)?;
        // Never `None`: `frame_len` and `decode` share their framing.
        decoded.map(Some).ok_or(ParseError::Malformed("a message framed whole decodes as incomplete"))
    }

    /// Takes a whole `announce`, `look` or `file` line off the front.
    fn lan_line(&self, limits: &Limits) -> LanLine {
        let pending = &self.buf[self.start..self.end];
        let Some(from) = pending.iter().position(|b| !matches!(b, b'\0' | b'\r' | b'\n')) else {
            return LanLine::NotLan;
        };
        let rest = &pending[from..];
        let word_len = rest.iter().position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).unwrap_or(rest.len());
        let word = &rest[..word_len];
        if word_len == rest.len() {
            // No peer message starts as these do: wait for the whole word.
            let prefix = LAN_WORDS.iter().any(|w| w.len() > word.len() && w[..word.len()].eq_ignore_ascii_case(word));
            return if prefix || LAN_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)) {
                LanLine::Partial
            } else {
                LanLine::NotLan
            };
        }
        if !LAN_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)) {
            return LanLine::NotLan;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
                match LanMessage::parse(line, limits) {
                    Ok(m) => LanLine::Whole(m, from + end + 1),
                    Err(e) => LanLine::Bad(e, Some(from + end + 1)),
                }
            }
            None if rest.len() > limits.max_line => {
                LanLine::Bad(ParseError::LineTooLong { limit: limits.max_line }, None)
            }
            None => LanLine::Partial,
        }
    }

    fn starts_refused(&self) -> Option<String> {
        let pending = &self.buf[self.start..self.end];
        let from = pending.iter().position(|b| !matches!(b, b'\0' | b'\r' | b'\n'))?;
        let word = pending[from..].split(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).next()?;
        let complete = pending.len() > from + word.len();
        (complete && REFUSED.iter().any(|c| word.eq_ignore_ascii_case(c)))
            .then(|| String::from_utf8_lossy(word).into_owned())
    }

    fn consume(&mut self, used: usize) {
        self.start = (self.start + used).min(self.end);
        self.scanned = 0;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            if self.buf.len() > INBOX {
                // A large `have` passed: idle connections stay small.
                self.buf = vec![0; INBOX];
            }
        }
    }

    /// Drops the buffered bytes up to and including the next line end
    /// (after a malformed text message), or everything if there is none.
    fn skip_line(&mut self) {
        let pending = &self.buf[self.start..self.end];
        let used = pending.iter().position(|&b| b == b'\n').map_or(pending.len(), |i| i + 1);
        self.consume(used);
    }

    /// One read of what has arrived: `Ok(0)` when the peer closed.
    fn fill(&mut self, from: &mut impl Read) -> io::Result<usize> {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buf.len() {
            // Double while small, then grow by 1 MiB.
            let len = self.buf.len();
            let grown = if len < 1 << 20 { len * 2 } else { len + (1 << 20) }.min(self.ceiling());
            if grown <= len {
                return Err(io::Error::other("a message longer than any request"));
            }
            self.buf.resize(grown, 0);
        }
        from.read(&mut self.buf[self.end..]).inspect(|&n| self.end += n)
    }
}
