//! The connection to the tracker: one request, then the line that answers
//! it. Course trackers do not always answer one line per request: one
//! reads 511 bytes at a time and answers the rest of a long request as a
//! second one, another never answers `update`, and replies may end in
//! `\n\0`. So each request says which reply can answer it; a line that
//! cannot, or that arrives while no request waits, is logged and dropped
//! instead of being taken as the answer to the next request.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::frame::next_line;
use common::protocol::{Limits, TrackerReply, TrackerRequest};

/// Longest wait for a reply the tracker owes.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request longer than this may have been cut by a course tracker.
const SHORTEST_CUT: usize = 511;

/// Which reply can answer a request. `error` and any text we do not
/// understand answer every request (a refusal is an answer).
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    Ok,
    List,
    Peers(&'a FileKey),
}

impl Expect<'_> {
    fn fits(self, reply: &TrackerReply) -> bool {
        match (self, reply) {
            (_, TrackerReply::Error(_)) => true,
            (Self::Ok, TrackerReply::Ok) | (Self::List, TrackerReply::List(_)) => true,
            // The same key, or its start (a tracker with short fields).
            (Self::Peers(want), TrackerReply::Peers { key, .. }) => want.as_str().starts_with(key.as_str()),
            _ => false,
        }
    }
}

#[derive(Debug)]
pub struct Link {
    stream: TcpStream,
    tracker: SocketAddr,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts (lines are taken by moving
    /// it, and `buf` compacted now and then, not once per line).
    start: usize,
    /// The last request's length, to explain replies owed to no request.
    last_sent: usize,
}

/// Lines owed to no request logged one by one; past that, counted.
const UNASKED_LOGGED: usize = 3;

impl Link {
    pub fn new(stream: TcpStream, tracker: SocketAddr) -> io::Result<Self> {
        // A tracker that stops reading must not hold a request forever.
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        // A tracker whose machine vanished sends no FIN: probes notice
        // within about 8 s while we wait for the next update.
        let probes = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(5))
            .with_interval(Duration::from_secs(1))
            .with_retries(3);
        socket2::SockRef::from(&stream).set_tcp_keepalive(&probes)?;
        Ok(Self { stream, tracker, buf: Vec::new(), start: 0, last_sent: 0 })
    }

    /// Reads what the tracker sent unasked, without waiting: an error
    /// if it closed the connection (the tracker stopped or crashed).
    pub fn check_alive(&mut self) -> io::Result<()> {
        self.drop_unasked()
    }

    /// The address this end of the connection has: what the tracker
    /// takes as this peer's IP.
    pub fn local_ip(&self) -> Option<std::net::IpAddr> {
        self.stream.local_addr().ok().map(|a| a.ip())
    }

    /// Sends `request` and reads the line that answers it, skipping lines
    /// that cannot. `Ok(None)`: no answer within `wait`.
    pub fn ask(
        &mut self,
        request: &TrackerRequest,
        expect: Expect<'_>,
        wait: Duration,
    ) -> io::Result<Option<TrackerReply>> {
        self.drop_unasked()?;
        let mut out = Vec::new();
        request.write(&mut out)?;
        self.stream.write_all(&out)?;
        self.last_sent = out.len();
        let deadline = Instant::now() + wait;
        let mut skipped = 0;
        loop {
            while let Some(reply) = self.next_reply()? {
                if expect.fits(&reply) {
                    return Ok(Some(reply));
                }
                self.unasked(&reply, skipped);
                skipped += 1;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return Ok(None);
            };
            self.stream.set_read_timeout(Some(left))?;
            match self.fill() {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Like [`Link::ask`], a missing answer being an error.
    pub fn ask_owed(&mut self, request: &TrackerRequest, expect: Expect<'_>) -> io::Result<TrackerReply> {
        self.ask(request, expect, REPLY_TIMEOUT)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::TimedOut, format!("no reply within {} s", REPLY_TIMEOUT.as_secs()))
        })
    }

    /// One more chunk from the socket.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk)? {
            0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the tracker closed the connection")),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// The next whole line buffered, as a reply; any line we cannot parse
    /// is an error text (`Erreur : ...`, `File not found`).
    fn next_reply(&mut self) -> io::Result<Option<TrackerReply>> {
        let limits = Limits::default();
        let Some((line, used)) = next_line(&self.buf[self.start..], limits.max_line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        else {
            return Ok(None);
        };
        let reply = TrackerReply::parse(line.text, &limits)
            .unwrap_or_else(|_| TrackerReply::Error(String::from_utf8_lossy(line.text).into_owned()));
        self.start += used;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(reply))
    }

    /// Drops the lines that arrived while no request waited.
    fn drop_unasked(&mut self) -> io::Result<()> {
        self.stream.set_nonblocking(true)?;
        let read = loop {
            match self.fill() {
                // A tracker that floods us is read no further than a line.
                Ok(()) if self.buf.len() - self.start > Limits::default().max_line => break Ok(()),
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        read?;
        let mut count = 0;
        while let Some(reply) = self.next_reply()? {
            self.unasked(&reply, count);
            count += 1;
        }
        if count > UNASKED_LOGGED {
            log::warn!("the tracker at {} sent {count} lines that answer no request", self.tracker);
        }
        Ok(())
    }

    /// Logs the `nth` line in a row owed to no request.
    fn unasked(&self, reply: &TrackerReply, nth: usize) {
        if nth >= UNASKED_LOGGED {
            return;
        }
        let hint = if self.last_sent > SHORTEST_CUT {
            format!(
                "; our last request was {} bytes, and some course trackers read 511 bytes at a time and answer the rest as another request: files past the cut may be unknown to this tracker",
                self.last_sent
            )
        } else {
            String::new()
        };
        log::warn!("the tracker at {} sent a line that answers no request: {}{hint}", self.tracker, shown(reply));
    }
}

/// A reply as the user reads it, never empty.
pub fn shown(reply: &TrackerReply) -> String {
    let text = match reply {
        TrackerReply::Error(text) if text.trim().is_empty() => return "an error without a reason".to_owned(),
        TrackerReply::Error(text) => text.trim().to_owned(),
        other => {
            let mut out = Vec::new();
            let _ = other.write(&mut out, common::protocol::LineEnding::Lf);
            String::from_utf8_lossy(&out).trim_end().to_owned()
        }
    };
    let cut = (0..=text.len().min(200)).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    if cut < text.len() { format!("{:?}...", &text[..cut]) } else { format!("{text:?}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_shown_with_its_text_never_empty() {
        assert_eq!(shown(&TrackerReply::Error("Erreur : critere inconnu".into())), "\"Erreur : critere inconnu\"");
        assert_eq!(shown(&TrackerReply::Error(" ".into())), "an error without a reason");
        assert_eq!(shown(&TrackerReply::Ok), "\"ok\"");
        let long = shown(&TrackerReply::Error("é".repeat(300)));
        assert!(long.ends_with("...") && long.len() < 220, "{long}");
    }

    #[test]
    fn a_reply_answers_only_a_request_it_fits() {
        let key = FileKey::parse(b"ab").unwrap();
        let other = FileKey::parse(b"cd").unwrap();
        let peers = |key: &FileKey| TrackerReply::Peers { key: key.clone(), peers: vec![] };
        assert!(Expect::Peers(&key).fits(&peers(&key)));
        assert!(!Expect::Peers(&key).fits(&peers(&other)), "the answer to another getfile");
        let long = FileKey::parse(b"abcd").unwrap();
        assert!(Expect::Peers(&long).fits(&peers(&key)), "echoed cut short");
        assert!(!Expect::List.fits(&TrackerReply::Ok), "the ok of an update answered late");
        assert!(!Expect::Ok.fits(&TrackerReply::List(vec![])));
        assert!(Expect::List.fits(&TrackerReply::Error("Erreur".into())), "a refusal answers");
    }
}
