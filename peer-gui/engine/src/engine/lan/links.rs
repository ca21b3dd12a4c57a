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
/// How long connecting to an origin that is not a neighbour may take:
/// one thread sends those answers, and a silent address must not hold it.
const ANSWER_CONNECT: Duration = Duration::from_secs(1);
/// A write to an answer connection.
const ANSWER_WRITE: Duration = Duration::from_secs(2);
/// Answers waiting for the answer thread; beyond, they are dropped.
const ANSWERS_QUEUED: usize = 256;
/// A neighbour host that vanished (no FIN, no RST) is found out by TCP
/// keepalive: probes after 10 s idle, every 5 s, 3 unanswered.
const KEEPALIVE: socket2::TcpKeepalive = socket2::TcpKeepalive::new()
    .with_time(Duration::from_secs(10))
    .with_interval(Duration::from_secs(5))
    .with_retries(3);

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

/// This peer's link to a neighbour. Non-blocking once joined: the
/// coordinator never waits on a neighbour; one whose socket is full (it
/// does not read) is dropped.
#[derive(Debug)]
pub struct Link {
    stream: TcpStream,
    /// Bytes received and not yet a whole line.
    inbox: Vec<u8>,
    /// What a neighbour sends back on our link is bounded as on its own.
    budget: super::flood::LookBudget,
}

impl Link {
    /// Joins the peer listening at `to`: connects from `from`'s IP and
    /// sends `announce listen` with `from`'s port, then waits for `ok`.
    pub fn join(from: SocketAddr, to: SocketAddr) -> Result<Self, JoinError> {
        let stream = connect_from(from.ip(), to, JOIN_WAIT).map_err(JoinError::Connect)?;
        socket2::SockRef::from(&stream).set_tcp_keepalive(&KEEPALIVE).map_err(JoinError::Connect)?;
        let budget = super::flood::LookBudget::new(Instant::now());
        let mut link = Self { stream, inbox: Vec::new(), budget };
        let mut join = Vec::new();
        LanMessage::Join { port: from.port() }.write(&mut join).map_err(JoinError::Connect)?;
        link.stream.set_write_timeout(Some(JOIN_WAIT)).map_err(JoinError::Connect)?;
        link.stream.write_all(&join).map_err(JoinError::Connect)?;
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
            Ok(LanMessage::Ok) => {
                link.stream.set_nonblocking(true).map_err(JoinError::Connect)?;
                Ok(link)
            }
            _ if text.is_empty() => Err(JoinError::NoOk),
            _ => Err(JoinError::Refused(text.chars().take(80).collect())),
        }
    }

    /// The address this end has: what the neighbour sees of this peer.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.local_addr().ok()
    }

    /// Sends `message` whole, or fails: a partial line would leave the
    /// link unframed, so the neighbour is dropped either way.
    pub fn send(&mut self, message: &LanMessage) -> io::Result<()> {
        let mut line = Vec::with_capacity(64);
        message.write(&mut line)?;
        let mut sent = 0;
        while sent < line.len() {
            match self.stream.write(&line[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::other("it does not read what it is sent"));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// What arrived, without waiting: our peers send nothing on a link
    /// after `ok`, but some answer or forward on it (bounded like
    /// what arrives at the server). An error: the neighbour closed it,
    /// is gone, or sent a line longer than any message.
    pub fn poll(&mut self, limits: &Limits) -> io::Result<Vec<Result<LanMessage, ParseError>>> {
        let mut buf = [0; 4096];
        let mut messages = Vec::new();
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the neighbour")),
                Ok(n) => self.inbox.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(messages),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            while let Some(end) = self.inbox.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.inbox.drain(..=end).collect();
                let line = line.trim_ascii();
                if !line.is_empty() && self.budget.take(now) {
                    messages.push(LanMessage::parse(line, limits));
                }
            }
            if self.inbox.len() > limits.max_line {
                return Err(io::Error::other("a line longer than any message"));
            }
        }
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
        let sent = connect_from(from.ip(), origin, ANSWER_CONNECT).and_then(|mut stream| {
            let mut out = Vec::new();
            for m in &messages {
                m.write(&mut out)?;
            }
            stream.set_write_timeout(Some(ANSWER_WRITE))?;
            stream.write_all(&out)?;
            stream.shutdown(Shutdown::Write)
        });
        if let Err(e) = sent {
            log::info!("cannot answer the search of {origin}: {e}");
        }
    }
}
