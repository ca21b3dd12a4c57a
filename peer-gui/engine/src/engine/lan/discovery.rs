//! Discovery over UDP (PROTOCOL.md section 10): `neighbourhood` is sent to
//! the group at start, twice more in the first seconds (peers starting
//! together miss each other's first ask), then every `rediscover` while
//! this peer has fewer neighbours than it takes. Every peer answers every
//! ask of its application and version with `neighbour ... PORT`, to the
//! group too: all peers share one port, and on one machine a datagram
//! sent to a shared port reaches only one of its sockets, while one sent
//! to the group reaches them all. Answers heard go to the coordinator.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::protocol::lan::{Discovery, MAX_DATAGRAM};
use crossbeam_channel::{Receiver, Sender};
use socket2::{Domain, Protocol, Socket, Type};

use super::Input;

/// Asks sent at start, after these delays.
const FIRST_ASKS: [Duration; 3] = [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(3)];
/// How often the stop channel is looked at while waiting for datagrams.
const POLL: Duration = Duration::from_millis(250);
/// Answers to the group at most this often: a flood of asks must not
/// become a flood of answers (an asker missed asks again within seconds).
const ANSWER_EVERY: Duration = Duration::from_millis(250);

/// What discovery needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub peer: u32,
    /// This peer's listening address (its IP chooses the interface).
    pub me: SocketAddr,
    pub port: u16,
    pub group: Ipv4Addr,
    pub rediscover: Duration,
    pub max_neighbours: usize,
}

/// Opens the discovery socket: bound to the shared port, in the group
/// on the interface of this peer's IP (loopback for 127.0.0.X, joined on
/// 127.0.0.1, the address loopback holds), sending from that IP.
pub fn open(config: &Config) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, config.port)).into())?;
    let ip = match config.me.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    if config.group.is_multicast() {
        let interface = if ip.is_loopback() { Ipv4Addr::LOCALHOST } else { ip };
        socket.join_multicast_v4(&config.group, &interface)?;
        if !ip.is_unspecified() {
            socket.set_multicast_if_v4(&ip)?;
        }
        socket.set_multicast_loop_v4(true)?;
        // The local network only.
        socket.set_multicast_ttl_v4(1)?;
    } else {
        socket.set_broadcast(true)?;
    }
    Ok(socket.into())
}

/// Runs discovery on `socket` until `stop` closes. `neighbours` is the
/// coordinator's count of neighbours (asks stop once it is enough).
pub fn run(
    socket: &UdpSocket,
    config: &Config,
    neighbours: &Arc<AtomicUsize>,
    coordinator: &Sender<Input>,
    stop: &Receiver<()>,
) {
    let group = SocketAddr::V4(SocketAddrV4::new(config.group, config.port));
    let started = Instant::now();
    let mut asks = FIRST_ASKS.iter().map(|&d| started + d).collect::<Vec<_>>().into_iter();
    let mut next_ask = asks.next();
    let mut malformed_logged = None::<Instant>;
    let mut answered = None::<Instant>;
    let mut buf = [0; MAX_DATAGRAM + 1];
    loop {
        if !matches!(stop.try_recv(), Err(crossbeam_channel::TryRecvError::Empty)) {
            return;
        }
        let now = Instant::now();
        if let Some(at) = next_ask.filter(|&at| at <= now) {
            if neighbours.load(Ordering::Relaxed) < config.max_neighbours {
                send(socket, &Discovery::ask(), group);
            }
            next_ask = asks.next().or(Some(at.max(now) + config.rediscover));
        }
        let wait = next_ask.map_or(POLL, |at| at.saturating_duration_since(now)).clamp(Duration::from_millis(1), POLL);
        if socket.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("peer {}: discovery stopped: {e}", config.peer);
                return;
            }
        };
        match Discovery::parse(&buf[..len]) {
            Err(e) => {
                // Logged at most once a second: a flood must not fill the log.
                if malformed_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    log::info!("peer {}: discovery datagram from {from} dropped: {e}", config.peer);
                    malformed_logged = Some(Instant::now());
                }
            }
            Ok(d) if !d.is_ours() => {
                log::debug!("peer {}: discovery from {from} of another application or version ignored", config.peer);
            }
            Ok(Discovery::Neighbourhood { .. }) => {
                let answer = Discovery::answer(config.me.port());
                if answered.is_none_or(|t| t.elapsed() >= ANSWER_EVERY) {
                    answered = Some(Instant::now());
                    send(socket, &answer, group);
                }
                // A peer asking from a port of its own hears only there.
                if from.port() != config.port {
                    send(socket, &answer, from);
                }
            }
            Ok(Discovery::Neighbour { port, .. }) => {
                // Our own answers come back too: the coordinator knows itself.
                let heard = SocketAddr::new(from.ip(), port);
                if heard != config.me && coordinator.send(Input::Heard(heard)).is_err() {
                    return;
                }
            }
        }
    }
}

fn send(socket: &UdpSocket, message: &Discovery, to: SocketAddr) {
    let mut datagram = Vec::with_capacity(64);
    // Writing into a Vec cannot fail.
    let _ = message.write(&mut datagram);
    if let Err(e) = socket.send_to(&datagram, to) {
        log::warn!("cannot send discovery to {to}: {e}");
    }
}
