//! The status page (`/`), `/metrics` and the JSON API (`/api/peers`,
//! `/api/files`), served on `tracker_http_port` by threads of their own.
//!
//! A small HTTP/1.1 server of its own rather than a crate: tiny_http 0.12,
//! the obvious synchronous one, gives every connection a thread with no
//! read timeout and grows a header line without bound (measured: 200
//! idle half-requests held 140 threads, a 200 MiB header grew the
//! process by 200 MiB), and this server shares its process with the
//! protocol. Its heads are parsed by `httparse` and its queries by
//! `form_urlencoded`; the connections are its own, and bounded:
//!
//! - [`WORKERS`] threads serve one connection at a time each; the accept
//!   thread queues at most [`QUEUE`] more and answers `503` beyond.
//! - A request head must arrive within [`HEAD_TIMEOUT`] (`408`) and fit
//!   in [`MAX_HEAD`] bytes (`431`); a response must be taken within
//!   [`SEND_TIMEOUT`], or the connection is dropped.
//! - Only `GET` and `HEAD` (`405` otherwise); one request per connection.
//!
//! Pages copy what they need out of the cache with one short lock
//! (`Cache::peers_page`, `Cache::files_page`) and format outside it, so a
//! slow reader of a large page never holds up the protocol's workers.

mod api;
mod metrics;
mod page;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TrySendError};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::handler::Shared;

/// Connections served at once: a slow client holds one for at most
/// `HEAD_TIMEOUT + SEND_TIMEOUT`.
pub const WORKERS: usize = 4;
/// Connections waiting for a worker; more get `503` at once.
pub const QUEUE: usize = 64;
/// Request line and headers together.
pub const MAX_HEAD: usize = 8 * 1024;
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Blocking reads and writes wake this often to check deadlines and
/// shutdown.
const SLICE: Duration = Duration::from_millis(250);
/// After an error reply, what is read and dropped so the client sees the
/// reply rather than a reset (closing with unread input sends RST).
const DRAIN: usize = 4 << 20;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// The server's threads, to join at shutdown.
#[derive(Debug)]
pub struct Server {
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Waits for the threads; they stop once `shared.shutdown` fires.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Serves `listener` until `shared.shutdown` fires.
pub fn spawn(listener: TcpListener, shared: Arc<Shared>) -> io::Result<Server> {
    listener.set_nonblocking(true)?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut SourceFd(&listener.as_raw_fd()), LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    shared.shutdown.add_waker(waker);
    log::info!("status page on http://{}/", listener.local_addr()?);

    let (tx, rx) = crossbeam_channel::bounded::<(TcpStream, SocketAddr)>(QUEUE);
    let mut threads = Vec::with_capacity(WORKERS + 1);
    for i in 0..WORKERS {
        let (rx, shared) = (rx.clone(), shared.clone());
        threads.push(std::thread::Builder::new().name(format!("tracker-http-{i}")).spawn(move || work(&rx, &shared))?);
    }
    let shutdown = shared.shutdown.clone();
    threads.push(std::thread::Builder::new().name("tracker-http-accept".into()).spawn(move || {
        let mut events = Events::with_capacity(16);
        while !shutdown.is_triggered() {
            if let Err(e) = poll.poll(&mut events, None)
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!("status page stopped: {e}");
                return;
            }
            loop {
                match listener.accept() {
                    Ok((stream, addr)) => match tx.try_send((stream, addr)) {
                        Ok(()) => {}
                        Err(TrySendError::Full((stream, _)) | TrySendError::Disconnected((stream, _))) => {
                            // A new socket's buffer takes this at once;
                            // waiting for a busy client is not our job.
                            let _ = stream.set_nonblocking(true);
                            let _ = (&stream).write_all(&response(503, "text/plain", b"busy, try again\n", false));
                        }
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Out of descriptors, say: the protocol matters
                        // more; try again on the next connect.
                        log::warn!("status page: accept failed: {e}");
                        break;
                    }
                }
            }
        }
        // Dropping `tx` stops the workers once the queue is empty.
    })?);
    Ok(Server { threads })
}

fn work(rx: &Receiver<(TcpStream, SocketAddr)>, shared: &Shared) {
    while let Ok((stream, addr)) = rx.recv() {
        if shared.shutdown.is_triggered() {
            continue;
        }
        if let Err(e) = serve(&stream, shared) {
            log::debug!("status page: {addr}: {e}");
        }
    }
}

/// A request head that could not be read, as the reply says.
#[derive(Debug)]
enum BadHead {
    Status(u16),
    /// Nothing to reply to (the client left).
    Gone(io::Error),
}

fn serve(stream: &TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SLICE))?;
    stream.set_write_timeout(Some(SLICE))?;
    let head = match read_head(stream, shared) {
        Ok(head) => head,
        Err(BadHead::Gone(e)) => return Err(e),
        Err(BadHead::Status(status)) => {
            let body = format!("{}\n", reason(status));
            send(stream, &response(status, "text/plain", body.as_bytes(), false), shared)?;
            return linger(stream);
        }
    };
    let reply = route(&head, shared);
    let bytes = response(reply.status, reply.content_type, &reply.body, head.method == "HEAD");
    send(stream, &bytes, shared)?;
    if reply.status >= 400 { linger(stream) } else { Ok(()) }
}

/// What a request asked for.
#[derive(Debug)]
struct Head {
    method: String,
    path: String,
    query: Vec<(String, String)>,
}

/// Headers a request may have; more get `431` as a head too large would.
const MAX_HEADERS: usize = 64;

/// Reads up to the blank line that ends the head, within `HEAD_TIMEOUT`
/// and `MAX_HEAD` bytes.
fn read_head(mut stream: &TcpStream, shared: &Shared) -> Result<Head, BadHead> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        if let Some(head) = parse_head(&buf[..len]).map_err(BadHead::Status)? {
            return Ok(head);
        }
        if len == MAX_HEAD {
            return Err(BadHead::Status(431));
        }
        if Instant::now() >= deadline || shared.shutdown.is_triggered() {
            return Err(BadHead::Status(408));
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Err(BadHead::Gone(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => len += n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(BadHead::Gone(e)),
        }
    }
}

/// The head in `buf` (`httparse`), if it has all arrived; the status to
/// answer if it is not a request we take.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(_)) => {
            let (Some(method), Some(target)) = (request.method, request.path) else { return Err(400) };
            if !target.starts_with('/') {
                return Err(400);
            }
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let query = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            Ok(Some(Head { method: method.to_owned(), path: path.to_owned(), query }))
        }
        Err(httparse::Error::TooManyHeaders) => Err(431),
        Err(_) => Err(400),
    }
}

/// A request's decoded query parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a>(&'a [(String, String)]);

impl<'a> Query<'a> {
    /// The first value of `name`; an empty value counts as none.
    pub fn get(self, name: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
}

/// What a route answers.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, content_type, body: body.into() }
    }
}

fn route(head: &Head, shared: &Shared) -> Reply {
    if head.method != "GET" && head.method != "HEAD" {
        return Reply::new(405, "text/plain; charset=utf-8", "only GET and HEAD\n");
    }
    let query = Query(&head.query);
    match head.path.as_str() {
        "/" => Reply::new(200, "text/html; charset=utf-8", page::render(shared, query)),
        "/metrics" => Reply::new(200, "text/plain; version=0.0.4; charset=utf-8", metrics::render(shared)),
        "/api/peers" => api::peers(shared, query),
        "/api/files" => api::files(shared, query),
        _ => Reply::new(404, "text/plain; charset=utf-8", "not found: try /, /metrics, /api/peers or /api/files\n"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn response(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    // `Allow` goes with 405 (RFC 9110).
    let allow = if status == 405 { "Allow: GET, HEAD\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// Writes `bytes` within `SEND_TIMEOUT`, a slice at a time so shutdown
/// is noticed.
fn send(mut stream: &TcpStream, mut bytes: &[u8], shared: &Shared) -> io::Result<()> {
    let deadline = Instant::now() + SEND_TIMEOUT;
    while !bytes.is_empty() {
        if Instant::now() >= deadline || shared.shutdown.is_triggered() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// After an error reply: end our side, then read (and drop) what the
/// client still sends, briefly, so it reads the reply instead of a reset.
fn linger(mut stream: &TcpStream) -> io::Result<()> {
    stream.shutdown(std::net::Shutdown::Write)?;
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut scratch = [0u8; 16 * 1024];
    let mut drained = 0;
    while drained < DRAIN && Instant::now() < deadline {
        match stream.read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Escapes text for HTML (element content and quoted attributes).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Encodes a query value for a link.
pub(crate) fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<Head>, u16> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn queries_are_decoded() {
        let q = head("GET /?q=a+b%21&cursor=10&bad=%zz&end=%4 HTTP/1.1\r\n\r\n").unwrap().unwrap().query;
        assert_eq!(
            q,
            [("q", "a b!"), ("cursor", "10"), ("bad", "%zz"), ("end", "%4")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let encoded = encode("<b>x</b>&\" é");
        let back = head(&format!("GET /?q={encoded} HTTP/1.1\r\n\r\n")).unwrap().unwrap().query;
        assert_eq!(back, [("q".to_owned(), "<b>x</b>&\" é".to_owned())]);
    }

    #[test]
    fn the_head_ends_at_its_blank_line() {
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody").unwrap().is_some());
        assert!(head("GET / HTTP/1.0\n\n").unwrap().is_some());
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert_eq!(head("GET / HTTP/2.0\r\n\r\n").err(), Some(400));
    }

    #[test]
    fn a_405_says_what_is_allowed() {
        let text = String::from_utf8(response(405, "text/plain", b"no\n", false)).unwrap();
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"), "{text:?}");
        assert!(text.ends_with("\r\n\r\nno\n"), "{text:?}");
    }
}
