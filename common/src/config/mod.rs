//! Configuration files: `install/tracker/config.ini` for the tracker and
//! `install/peers/config.ini` for the peers. Flat `key = value` files read
//! through [`ini`]; every problem is reported with the file, the line or
//! key, and what was expected. Keys beyond the subject's have documented
//! defaults (README, "Configuration"), so the shipped files stay short.

mod host;
mod ini;
mod network;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use host::{Host, HostError};
pub use ini::Entry;
pub use network::{Lan, Network};

/// What is wrong with a configuration file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
    pub kind: ConfigErrorKind,
}

/// What went wrong, for code that reacts to it (people read `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file cannot be read, or a line or value is malformed, missing
    /// or unknown.
    #[default]
    Invalid,
    /// `tracker_ip` is a well-formed host name that does not resolve.
    HostNotFound,
}

impl ConfigError {
    fn new(path: &Path, line: Option<usize>, key: Option<&str>, message: String) -> Self {
        Self { path: path.to_owned(), line, key: key.map(str::to_owned), message, kind: ConfigErrorKind::Invalid }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The tracker's settings (`install/tracker/config.ini`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerConfig {
    /// `tracker_ip`, `tracker_port`: where it listens.
    pub addr: SocketAddr,
    /// `tracker_interval` (ms, 10000): time between maintenance passes.
    pub interval: Duration,
    /// `tracker_workers` (the number of cores): worker threads.
    pub workers: usize,
    /// `tracker_peer_ttl` (ms, 300000): a peer not heard from for this long is forgotten.
    pub peer_ttl: Duration,
    /// `tracker_max_line` (bytes, 1048576): longest request line.
    pub max_line: usize,
    /// `tracker_max_results` (1000): most files in one `list` reply.
    pub max_results: usize,
    /// `tracker_max_peers` (50): most peers in one `peers` reply.
    pub max_peers: usize,
    /// `tracker_line_pause` (ms, 500): a line without end is taken as
    /// complete after this much silence.
    pub line_pause: Duration,
    /// `tracker_partial_timeout` (ms, 10000): a connection holding an
    /// unfinished line this long is closed.
    pub partial_timeout: Duration,
    /// `tracker_max_connections_per_ip` (64): open connections from one
    /// IP address; more are refused and closed.
    pub max_connections_per_ip: usize,
    /// `tracker_max_peers_per_ip` (16): peers (distinct announced ports)
    /// at one IP address.
    pub max_peers_per_ip: usize,
    /// `tracker_max_files_per_ip` (100000): seeded plus leeched keys over
    /// the peers of one IP address.
    pub max_files_per_ip: usize,
    /// `tracker_http_port` (8080; 0: off): the status page, its metrics
    /// and JSON API, on `tracker_ip`.
    pub http: Option<SocketAddr>,
}

/// One peer's settings (`peerX_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// X in `peerX_*`.
    pub id: u32,
    /// `peerX_ip`, `peerX_port`: where it listens, and the source address
    /// of its outgoing connections.
    pub addr: SocketAddr,
    /// `peerX_interval` (ms, 100000): time between tracker updates.
    pub interval: Duration,
    /// `peerX_directory_path`: the shared folder, as written in the file.
    pub directory: PathBuf,
    /// `peerX_max_peers` (5): peers contacted in parallel per download.
    pub max_peers: usize,
    /// `peerX_piece_size` (`piece_size`, itself `auto` by default): how
    /// this peer cuts the files it shares; `auto` or bytes.
    pub piece_size: crate::PieceSize,
    /// `peerX_max_upload_rate` (`max_upload_rate`, itself 0): bytes per
    /// second this peer sends, all connections together; 0: no limit.
    pub max_upload_rate: u64,
    /// `peerX_max_download_rate` (`max_download_rate`, itself 0): bytes
    /// per second this peer receives, all downloads together; 0: no limit.
    pub max_download_rate: u64,
    /// `peerX_neighbours` (none): `host:port` peers joined in the
    /// distributed mode with or without discovery, comma-separated.
    pub neighbours: Vec<SocketAddr>,
}

/// The peers' file (`install/peers/config.ini`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersConfig {
    /// `mode` with the tracker or the distributed mode's keys.
    pub network: Network,
    /// `max_message_size` (bytes, 1048576): bounds the pieces asked in one
    /// `getpieces` (at least one piece is always allowed).
    pub max_message_size: usize,
    /// `download_threads` (8): the pool that runs download links.
    pub download_threads: usize,
    /// `hash_threads` (the number of cores): files hashed in parallel.
    pub hash_threads: usize,
    /// Every `peerX_*` group, sorted by X.
    pub peers: Vec<PeerConfig>,
}

impl PeersConfig {
    pub fn peer(&self, id: u32) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| p.id == id)
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

impl TrackerConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_entries(path, ini::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::from_entries(path, ini::parse(path, text)?)
    }

    fn from_entries(path: &Path, entries: Vec<Entry>) -> Result<Self, ConfigError> {
        let mut f = Fields::new(path, entries);
        let ip = f.ip("tracker_ip")?;
        let config = Self {
            addr: SocketAddr::new(ip, f.port("tracker_port")?),
            interval: f.millis("tracker_interval", 10_000)?,
            workers: f.count("tracker_workers", cores())?,
            peer_ttl: f.millis("tracker_peer_ttl", 300_000)?,
            max_line: f.count("tracker_max_line", 1 << 20)?,
            max_results: f.count("tracker_max_results", 1000)?,
            max_peers: f.count("tracker_max_peers", 50)?,
            line_pause: f.millis("tracker_line_pause", 500)?,
            partial_timeout: f.millis("tracker_partial_timeout", 10_000)?,
            max_connections_per_ip: f.count("tracker_max_connections_per_ip", 64)?,
            max_peers_per_ip: f.count("tracker_max_peers_per_ip", 16)?,
            max_files_per_ip: f.count("tracker_max_files_per_ip", 100_000)?,
            http: f.optional_port("tracker_http_port", 8080)?.map(|port| SocketAddr::new(ip, port)),
        };
        f.finish()?;
        Ok(config)
    }
}

const PEER_FIELDS: [&str; 9] = [
    "ip",
    "port",
    "interval",
    "directory_path",
    "max_peers",
    "piece_size",
    "max_upload_rate",
    "max_download_rate",
    "neighbours",
];

impl PeersConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_entries(path, ini::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::from_entries(path, ini::parse(path, text)?)
    }

    fn from_entries(path: &Path, entries: Vec<Entry>) -> Result<Self, ConfigError> {
        let ids: BTreeSet<u32> = entries.iter().filter_map(|e| peer_key(&e.key)).map(|(id, _)| id).collect();
        let mut f = Fields::new(path, entries);
        let network = f.network()?;
        let max_message_size = f.count("max_message_size", 1 << 20)?;
        let download_threads = f.count("download_threads", 8)?;
        let hash_threads = f.count("hash_threads", cores())?;
        let piece_size = f.piece_size("piece_size", crate::PieceSize::Auto)?;
        let max_upload_rate = f.rate("max_upload_rate", 0)?;
        let max_download_rate = f.rate("max_download_rate", 0)?;
        let mut peers = Vec::new();
        for id in ids {
            let k = |field: &str| format!("peer{id}_{field}");
            peers.push(PeerConfig {
                id,
                addr: SocketAddr::new(f.ip(&k("ip"))?, f.port(&k("port"))?),
                interval: f.millis(&k("interval"), 100_000)?,
                directory: PathBuf::from(f.text(&k("directory_path"))?),
                max_peers: f.count(&k("max_peers"), 5)?,
                piece_size: f.piece_size(&k("piece_size"), piece_size)?,
                max_upload_rate: f.rate(&k("max_upload_rate"), max_upload_rate)?,
                max_download_rate: f.rate(&k("max_download_rate"), max_download_rate)?,
                neighbours: f.neighbours(&k("neighbours"))?,
            });
        }
        f.finish()?;
        if peers.is_empty() {
            return Err(ConfigError::new(
                path,
                None,
                None,
                "no peer is defined: add peer1_ip, peer1_port and peer1_directory_path".into(),
            ));
        }
        Ok(Self { network, max_message_size, download_threads, hash_threads, peers })
    }
}

/// `peer12_port` → (12, "port") when the field is one we know.
fn peer_key(key: &str) -> Option<(u32, &str)> {
    let rest = key.strip_prefix("peer")?;
    let (id, field) = rest.split_once('_')?;
    // `peer01` is not `peer1`: leading zeros make it an unknown key.
    let canonical = id.bytes().all(|b| b.is_ascii_digit()) && !(id.len() > 1 && id.starts_with('0'));
    let id = id.parse().ok().filter(|_| canonical)?;
    PEER_FIELDS.contains(&field).then_some((id, field))
}

/// Typed access to a file's entries; `finish` refuses what was not read.
struct Fields<'p> {
    path: &'p Path,
    entries: BTreeMap<String, Entry>,
}

impl<'p> Fields<'p> {
    fn new(path: &'p Path, entries: Vec<Entry>) -> Self {
        Self { path, entries: entries.into_iter().map(|e| (e.key.clone(), e)).collect() }
    }

    fn get<T>(
        &mut self,
        key: &str,
        default: Option<T>,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.entries.remove(key) {
            None => default.ok_or_else(|| {
                ConfigError::new(self.path, None, Some(key), format!("missing: add `{key} = <{expected}>`"))
            }),
            Some(e) => parse(&e.value).ok_or_else(|| {
                ConfigError::new(
                    self.path,
                    Some(e.line),
                    Some(key),
                    format!("expected {expected}, found {:?}", e.value),
                )
            }),
        }
    }

    fn ip(&mut self, key: &str) -> Result<IpAddr, ConfigError> {
        self.get(key, None, "an IP address such as 127.0.0.1", |v| IpAddr::from_str(v).ok())
    }

    /// `tracker_ip` (an IP address or a host name) with `tracker_port`. A
    /// name is looked up only once both are well formed, so a typo in the
    /// port does not wait on DNS first.
    fn tracker(&mut self) -> Result<SocketAddr, ConfigError> {
        let line = self.entries.get("tracker_ip").map(|e| e.line);
        let expected = "an IP address or a host name, such as 127.0.0.1 or tracker.lan";
        let host = self.get("tracker_ip", None, expected, |v| Host::parse(v).ok())?;
        let port = self.port("tracker_port")?;
        host.resolve(port).map_err(|e| ConfigError {
            kind: ConfigErrorKind::HostNotFound,
            ..ConfigError::new(
                self.path,
                line,
                Some("tracker_ip"),
                format!("cannot find the host {host} ({e}): check the name and the network, or write the tracker's IP address"),
            )
        })
    }

    fn port(&mut self, key: &str) -> Result<u16, ConfigError> {
        self.get(key, None, "a port from 1 to 65535", |v| v.parse::<u16>().ok().filter(|&p| p != 0))
    }

    /// A port with a default, where 0 turns the service off.
    fn optional_port(&mut self, key: &str, default: u16) -> Result<Option<u16>, ConfigError> {
        let port =
            self.get(key, Some(default), "a port from 1 to 65535, or 0 to turn it off", |v| v.parse::<u16>().ok())?;
        Ok(Some(port).filter(|&p| p != 0))
    }

    fn millis(&mut self, key: &str, default: u64) -> Result<Duration, ConfigError> {
        let ms = self.get(key, Some(default), "a positive number of milliseconds", |v| {
            v.parse::<u64>().ok().filter(|&n| n > 0)
        })?;
        Ok(Duration::from_millis(ms))
    }

    fn count(&mut self, key: &str, default: usize) -> Result<usize, ConfigError> {
        self.get(key, Some(default), "a positive whole number", |v| v.parse::<usize>().ok().filter(|&n| n > 0))
    }

    fn rate(&mut self, key: &str, default: u64) -> Result<u64, ConfigError> {
        self.get(key, Some(default), "a number of bytes per second (0: no limit)", |v| v.parse::<u64>().ok())
    }

    fn piece_size(&mut self, key: &str, default: crate::PieceSize) -> Result<crate::PieceSize, ConfigError> {
        let expected =
            format!("auto, or a number of bytes from {} to {}", crate::PieceSize::MIN, crate::layout::MAX_PIECE_SIZE);
        self.get(key, Some(default), &expected, crate::PieceSize::parse)
    }

    fn text(&mut self, key: &str) -> Result<String, ConfigError> {
        self.get(key, None, "a folder path", |v| Some(v.to_owned()).filter(|v| !v.is_empty()))
    }

    fn finish(self) -> Result<(), ConfigError> {
        match self.entries.into_values().min_by_key(|e| e.line) {
            None => Ok(()),
            Some(e) => Err(ConfigError::new(
                self.path,
                Some(e.line),
                Some(&e.key),
                "unknown key (see the README's Configuration section for the keys this file takes)".into(),
            )),
        }
    }
}
