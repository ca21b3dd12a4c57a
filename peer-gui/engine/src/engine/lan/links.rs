//! TCP to other peers in the distributed mode. A neighbour is sent to on
//! the link this peer opened to it (`announce listen PORT`, answered
//! `ok`); what neighbours send arrives on their own links, at the server.
//! Joining runs on a short-lived thread; answers for an origin that is
//! not a neighbour go out in order from one thread, on a connection each.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::protocol::{LanMessage, Limits, ParseError};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::engine::net::connect_from;

/// How long connecting, and then the `ok`, may take.
pub const JOIN_WAIT: Duration = Duration::from_secs(3);
/// A neighbour that takes nothing for this long is dropped.
const WRITE_WAIT: Duration = Duration::from_secs(2);
/// Answers waiting for the answer thread; beyond, they are dropped.
const ANSWERS_QUEUED: usize = 256;

/// Why a neighbour could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    #[error("no `ok` to `announce listen` within {} s", JOIN_WAIT.as_secs())]
    NoOk,
    #[error("answered {0:?} to `announce listen`")]
    Refused(String),
}

/// This peer's link to a neighbour.
#[derive(Debug)]
pub struct Link {
    stream: TcpStream,
    /// Bytes received and not yet a whole line.
    inbox: Vec<u8>,
}

impl Link {
    /// Joins the peer listening at `to`: connects from `from`'s IP and
    /// sends `announce listen` with `from`'s port, then waits for `ok`.
    pub fn join(from: SocketAddr, to: SocketAddr) -> Result<Self, JoinError> {
        let stream = connect_from(from.ip(), to, JOIN_WAIT).map_err(JoinError::Connect)?;
        let mut link = Self { stream, inbox: Vec::new() };
        link.send(&LanMessage::Join { port: from.port() }).map_err(JoinError::Connect)?;
        link.stream.set_read_timeout(Some(JOIN_WAIT)).map_err(JoinError::Connect)?;
        let deadline = Instant::now() + JOIN_WAIT;
        let mut buf = [0; 512];
        while !link.inbox.contains(&b'\n') && link.inbox.len() < 512 && Instant::now() < deadline {
            match link.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => link.inbox.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let end = link.inbox.iter().position(|&b| b == b'\n').unwrap_or(link.inbox.len());
        let line: Vec<u8> = link.inbox.drain(..end).collect();
        link.inbox.drain(..link.inbox.len().min(1));
        let text = String::from_utf8_lossy(&line).trim().to_owned();
        match LanMessage::parse(text.as_bytes(), &Limits::default()) {
            Ok(LanMessage::Ok) => Ok(link),
            _ if text.is_empty() => Err(JoinError::NoOk),
            _ => Err(JoinError::Refused(text.chars().take(80).collect())),
        }
    }

    /// The address this end has: what the neighbour sees of this peer.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.local_addr().ok()
    }

    pub fn send(&mut self, message: &LanMessage) -> io::Result<()> {
        let mut line = Vec::with_capacity(64);
        message.write(&mut line)?;
        self.stream.set_write_timeout(Some(WRITE_WAIT))?;
        self.stream.write_all(&line)
    }

    /// What arrived, without waiting: our peers send nothing on a link
    /// after `ok`, but some answer or forward on it. An error: the
    /// neighbour closed it or is gone.
    pub fn poll(&mut self, limits: &Limits) -> io::Result<Vec<Result<LanMessage, ParseError>>> {
        self.stream.set_nonblocking(true)?;
        let mut buf = [0; 4096];
        let read = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the neighbour")),
                Ok(n) => {
                    self.inbox.extend_from_slice(&buf[..n]);
                    if self.inbox.len() > limits.max_line * 2 {
                        break Err(io::Error::other("a line longer than any message"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        read?;
        let mut messages = Vec::new();
        while let Some(end) = self.inbox.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.inbox.drain(..=end).collect();
            let line = line.trim_ascii();
            if !line.is_empty() {
                messages.push(LanMessage::parse(line, limits));
            }
        }
        Ok(messages)
    }
}

/// Sends answers to origins that are not neighbours, in the order given,
/// one connection each (from this peer's IP).
#[derive(Debug, Clone)]
pub struct Answers(Sender<(SocketAddr, Vec<LanMessage>)>);

impl Answers {
    pub fn spawn(peer: u32, from: SocketAddr) -> io::Result<Self> {
        let (tx, rx) = bounded(ANSWERS_QUEUED);
        std::thread::Builder::new().name(format!("peer{peer}-answer")).spawn(move || answer_all(from, &rx))?;
        Ok(Self(tx))
    }

    /// Queues `messages` for `origin`; false when the queue is full.
    pub fn send(&self, origin: SocketAddr, messages: Vec<LanMessage>) -> bool {
        !matches!(self.0.try_send((origin, messages)), Err(TrySendError::Full(_)))
    }
}

fn answer_all(from: SocketAddr, queue: &Receiver<(SocketAddr, Vec<LanMessage>)>) {
    for (origin, messages) in queue {
        let sent = connect_from(from.ip(), origin, JOIN_WAIT).and_then(|mut stream| {
            let mut out = Vec::new();
            for m in &messages {
                m.write(&mut out)?;
            }
            stream.set_write_timeout(Some(WRITE_WAIT))?;
            stream.write_all(&out)?;
            stream.shutdown(Shutdown::Write)
        });
        if let Err(e) = sent {
            log::info!("cannot answer the search of {origin}: {e}");
        }
    }
}
