//! The tracker client thread. What it owns: the one connection to the
//! tracker. It announces on every (re)connection, sends `update` every
//! interval, serves `look`/`getfile` for the rest of the engine, and
//! reconnects with back-off when the tracker is down or restarted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::FileKey;
use common::protocol::frame::next_line;
use common::protocol::{Criterion, FileEntry, FileRef, Limits, PeerAddr, TrackerReply, TrackerRequest};
use crossbeam_channel::{Receiver, Sender, after, select};
use parking_lot::Mutex;

use super::library::Library;
use super::net::connect_from;
use super::settings::Settings;

const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What the status bar shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerStatus {
    pub addr: SocketAddr,
    pub connected: bool,
    pub last_announce: Option<SystemTime>,
    pub last_error: Option<String>,
}

#[derive(Debug)]
pub enum Request {
    Look(Vec<Criterion>, Sender<Result<Vec<FileEntry>, String>>),
    GetFile(FileKey, Sender<Result<Vec<PeerAddr>, String>>),
    /// Tell the tracker what we hold now (a file appeared or completed).
    UpdateNow,
}

pub fn spawn(
    settings: Settings,
    library: Arc<Library>,
    status: Arc<Mutex<TrackerStatus>>,
    requests: Receiver<Request>,
    stop: Receiver<()>,
    notify: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("peer{}-tracker", settings.id)).spawn(move || {
        let mut backoff = Duration::from_millis(100);
        loop {
            match Session::open(&settings, &library) {
                Ok(mut session) => {
                    backoff = Duration::from_millis(100);
                    {
                        let mut s = status.lock();
                        s.connected = true;
                        s.last_announce = Some(SystemTime::now());
                        s.last_error = None;
                    }
                    notify();
                    let end = session.serve(&settings, &library, &requests, &stop, &status);
                    match end {
                        Ok(()) => return,
                        Err(e) => {
                            log::warn!("peer {}: lost the tracker: {e}", settings.id);
                            let mut s = status.lock();
                            s.connected = false;
                            s.last_error = Some(format!("lost the tracker at {}: {e}", settings.tracker));
                            drop(s);
                            notify();
                        }
                    }
                }
                Err(e) => {
                    let mut s = status.lock();
                    s.connected = false;
                    s.last_error = Some(format!(
                        "tracker unreachable at {}: {e}; retrying (check that the tracker runs and tracker_ip/tracker_port)",
                        settings.tracker
                    ));
                    drop(s);
                    notify();
                }
            }
            // Disconnected: answer requests with the error, retry later.
            let deadline = after(backoff);
            loop {
                select! {
                    recv(stop) -> _ => return,
                    recv(requests) -> r => match r {
                        Ok(r) => refuse(r, &status.lock().last_error.clone().unwrap_or_default()),
                        Err(_) => return,
                    },
                    recv(deadline) -> _ => break,
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

fn refuse(request: Request, why: &str) {
    match request {
        Request::Look(_, reply) => drop(reply.send(Err(why.to_owned()))),
        Request::GetFile(_, reply) => drop(reply.send(Err(why.to_owned()))),
        Request::UpdateNow => {}
    }
}

struct Session {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Keys the tracker has the name and size of (from our announces).
    announced: std::collections::HashSet<FileKey>,
}

impl Session {
    fn open(settings: &Settings, library: &Library) -> Result<Self, String> {
        let stream =
            connect_from(settings.listen.ip(), settings.tracker, Duration::from_secs(3)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(|e| e.to_string())?;
        let mut session = Self { stream, buf: Vec::new(), announced: Default::default() };
        session.announce(settings, library)?;
        Ok(session)
    }

    fn announce(&mut self, settings: &Settings, library: &Library) -> Result<(), String> {
        let (seed, leech) = library.seed_and_leech();
        let keys: std::collections::HashSet<FileKey> = seed.iter().map(|e| e.key.clone()).collect();
        let leech = leech.into_iter().map(FileRef::Key).collect();
        match self.ask(&TrackerRequest::Announce { port: settings.listen.port(), seed, leech })? {
            TrackerReply::Ok => {
                log::info!(
                    "peer {}: announced {} file(s) to the tracker at {}",
                    settings.id,
                    keys.len(),
                    settings.tracker
                );
                self.announced = keys;
                Ok(())
            }
            other => Err(format!("announce refused: {other:?}")),
        }
    }

    fn serve(
        &mut self,
        settings: &Settings,
        library: &Library,
        requests: &Receiver<Request>,
        stop: &Receiver<()>,
        status: &Mutex<TrackerStatus>,
    ) -> Result<(), String> {
        let mut next_update = Instant::now() + settings.update_interval;
        loop {
            let tick = after(next_update.saturating_duration_since(Instant::now()));
            let request = select! {
                recv(stop) -> _ => return Ok(()),
                recv(requests) -> r => match r { Ok(r) => Some(r), Err(_) => return Ok(()) },
                recv(tick) -> _ => None,
            };
            match request {
                Some(Request::Look(criteria, reply)) => {
                    let answer = match self.ask(&TrackerRequest::Look { criteria })? {
                        TrackerReply::List(files) => Ok(files),
                        other => Err(describe(other)),
                    };
                    let _ = reply.send(answer);
                }
                Some(Request::GetFile(key, reply)) => {
                    let answer = match self.ask(&TrackerRequest::GetFile { key })? {
                        TrackerReply::Peers { peers, .. } => Ok(peers),
                        other => Err(describe(other)),
                    };
                    let _ = reply.send(answer);
                }
                Some(Request::UpdateNow) | None => {
                    let (seed, leech) = library.seed_and_leech();
                    if seed.iter().any(|e| !self.announced.contains(&e.key)) {
                        // `update` carries keys only: a new file's name and
                        // size reach the tracker through a new announce.
                        self.announce(settings, library)?;
                    } else {
                        let seed = seed.into_iter().map(|e| FileRef::Key(e.key)).collect();
                        let leech = leech.into_iter().map(FileRef::Key).collect();
                        match self.ask(&TrackerRequest::Update { seed, leech })? {
                            TrackerReply::Ok => {}
                            // Forgotten (expired or restarted): announce again.
                            _ => self.announce(settings, library)?,
                        }
                    }
                    status.lock().last_announce = Some(SystemTime::now());
                    next_update = Instant::now() + settings.update_interval;
                }
            }
        }
    }

    /// Sends one request and reads its reply. Accepts every reply dialect
    /// (`\r\n`, `\n`, trailing NUL); an unknown reply is an error text.
    fn ask(&mut self, request: &TrackerRequest) -> Result<TrackerReply, String> {
        let mut out = Vec::new();
        request.write(&mut out).map_err(|e| e.to_string())?;
        self.stream.write_all(&out).map_err(|e| e.to_string())?;
        let limits = Limits::default();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((line, used)) = next_line(&self.buf, limits.max_line).map_err(|e| e.to_string())? {
                let reply = TrackerReply::parse(line.text, &limits)
                    .unwrap_or_else(|_| TrackerReply::Error(String::from_utf8_lossy(line.text).into_owned()));
                self.buf.drain(..used);
                return Ok(reply);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("the tracker closed the connection".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

fn describe(reply: TrackerReply) -> String {
    match reply {
        TrackerReply::Error(text) => format!("the tracker answered: {text}"),
        other => format!("unexpected tracker reply: {other:?}"),
    }
}
