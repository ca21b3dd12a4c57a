//! Test helpers: an in-process tracker on 127.0.0.1:0 and a line client
//! that can choose its source address (127.0.0.X) like a real peer.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::config::TrackerConfig;
use tracker::Shutdown;
use tracker::cache::Sizes;
use tracker::handler::Shared;

pub const KEY_A: &str = "8905e92afeb80fc7722ec89eb0bf0966";
pub const KEY_B: &str = "330a57722ec8b0bf09669a2b35f88e9e";
/// Generous: these bound a hang, they do not measure speed.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn config() -> TrackerConfig {
    TrackerConfig::parse(std::path::Path::new("test.ini"), "tracker_ip = 127.0.0.1\ntracker_port = 1\n").unwrap()
}

pub struct TestTracker {
    pub addr: SocketAddr,
    /// The status page's address, for trackers started with it.
    pub http: Option<SocketAddr>,
    pub shutdown: Shutdown,
    /// What the tracker knows, to look at while it serves.
    pub shared: Arc<Shared>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestTracker {
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut TrackerConfig)) -> Self {
        Self::serve(false, tweak)
    }

    /// A tracker with its status page on another port of 127.0.0.1.
    pub fn with_http() -> Self {
        Self::serve(true, |_| {})
    }

    fn serve(http: bool, tweak: impl FnOnce(&mut TrackerConfig)) -> Self {
        let _ = env_logger::builder().is_test(true).try_init();
        let mut config = config();
        tweak(&mut config);
        let listener = tracker::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let shared = Arc::new(Shared::new(config, shutdown.clone()));
        let http_listener = http.then(|| tracker::bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let http = http_listener.as_ref().map(|l| l.local_addr().unwrap());
        let s = shared.clone();
        let handle = std::thread::spawn(move || tracker::run_with_http(listener, http_listener, s));
        Self { addr, http, shutdown, shared, handle: Some(handle) }
    }

    /// How much the cache holds now.
    pub fn sizes(&self) -> Sizes {
        self.shared.cache.lock().sizes()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr, None)
    }

    /// A client whose connections come from `127.0.0.{n}`.
    pub fn client_from(&self, n: u8) -> Client {
        Client::connect(self.addr, Some(IpAddr::from([127, 0, 0, n])))
    }

    pub fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.trigger();
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for TestTracker {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub struct Client {
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr, source: Option<IpAddr>) -> Self {
        let stream = match source {
            None => TcpStream::connect_timeout(&addr, TIMEOUT).unwrap(),
            Some(ip) => {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
                s.bind(&SocketAddr::new(ip, 0).into()).unwrap();
                s.connect_timeout(&addr.into(), TIMEOUT).unwrap();
                s.into()
            }
        };
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        // Each `send` leaves as its own segment (split-command tests).
        stream.set_nodelay(true).unwrap();
        Self { reader: BufReader::new(stream) }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.reader.get_mut().write_all(bytes.as_ref()).unwrap();
    }

    /// Reads one reply line, terminator included.
    pub fn recv_raw(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    /// Reads one reply line without its terminator.
    pub fn recv(&mut self) -> String {
        let line = self.recv_raw();
        assert!(line.ends_with('\n'), "reply not ended: {line:?}");
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    pub fn ask(&mut self, line: &str) -> String {
        self.send(format!("{line}\n"));
        self.recv()
    }

    /// True once the tracker has closed the connection (reads to EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }
}

/// Repeats `check` until it holds or `TIMEOUT` passes, for state that
/// changes with time on the tracker's side (expiry). `check` talks to the
/// tracker, so each try waits on real replies; nothing sleeps.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
    }
    false
}
