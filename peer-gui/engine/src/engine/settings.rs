//! One peer's settings, resolved from the peers' configuration file, and
//! where that file is looked for (the headless command and the app
//! share the lookup).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::{ConfigError, Network as ConfigNetwork, PeersConfig};
use common::protocol::Limits;

/// Why a peer's settings could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "no configuration found (looked for install/peers/config.ini here and above the executable, and {}); pass --config FILE",
        user_config.display()
    )]
    NotFound { user_config: PathBuf },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}: no peer {peer} (peers defined: {})", path.display(), list(defined))]
    NoSuchPeer { path: PathBuf, peer: u32, defined: Vec<u32> },
}

fn list(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub id: u32,
    /// Where the server listens; outgoing connections use its IP.
    pub listen: SocketAddr,
    /// How other peers are found: a tracker or the LAN.
    pub network: Network,
    pub update_interval: Duration,
    /// The shared folder (downloads land here too).
    pub dir: PathBuf,
    pub max_peers: usize,
    pub max_message: usize,
    pub download_threads: usize,
    pub hash_threads: usize,
    /// How the files this peer shares are cut (keys already cached for
    /// unchanged files are kept).
    pub piece_size: common::PieceSize,
    /// Bytes per second sent and received, all connections together, at
    /// start (0: no limit); changed at run time through
    /// [`crate::engine::Engine::rate_limits`].
    pub max_upload_rate: u64,
    pub max_download_rate: u64,
}

/// How a peer finds others and their files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The centralised mode: this tracker.
    Tracker(SocketAddr),
    /// The distributed mode (PROTOCOL.md section 10).
    Lan(Lan),
}

/// The distributed mode's settings: the file's keys and this peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lan {
    /// `discovery_port` (0: no discovery), `discovery_group`, `look_ttl`,
    /// `max_neighbours`.
    pub config: common::config::Lan,
    /// Joined at start and retried, discovery or not.
    pub neighbours: Vec<SocketAddr>,
    /// How long a search collects answers.
    pub collect: Duration,
    /// How often discovery is sent and missing neighbours joined again.
    pub rediscover: Duration,
}

impl Lan {
    /// The file's keys with this peer's neighbours, and the decided times.
    pub fn new(config: common::config::Lan, neighbours: Vec<SocketAddr>) -> Self {
        Self { config, neighbours, collect: Duration::from_secs(3), rediscover: Duration::from_secs(30) }
    }
}

impl Default for Lan {
    fn default() -> Self {
        Self::new(common::config::Lan::default(), Vec::new())
    }
}

impl Settings {
    /// The tracker, in the centralised mode.
    pub fn tracker(&self) -> Option<SocketAddr> {
        match &self.network {
            Network::Tracker(addr) => Some(*addr),
            Network::Lan(_) => None,
        }
    }

    /// Peer `id` of `config`, read from `config_path`. A relative folder is
    /// taken from the current directory when it exists there, otherwise
    /// from the project folder two levels above the file (so the shipped
    /// `install/peers/config.ini` works from anywhere).
    pub fn from_config(config: &PeersConfig, id: u32, config_path: &Path) -> Option<Self> {
        let p = config.peer(id)?;
        let dir = if p.directory.is_absolute() || p.directory.exists() {
            p.directory.clone()
        } else {
            let root = config_path.parent().and_then(Path::parent).and_then(Path::parent).unwrap_or(Path::new("."));
            root.join(&p.directory)
        };
        Some(Self {
            id,
            listen: p.addr,
            network: match &config.network {
                ConfigNetwork::Centralised { tracker } => Network::Tracker(*tracker),
                ConfigNetwork::Distributed(lan) => Network::Lan(Lan::new(lan.clone(), p.neighbours.clone())),
            },
            update_interval: p.interval,
            dir,
            max_peers: p.max_peers,
            max_message: config.max_message_size,
            download_threads: config.download_threads,
            hash_threads: config.hash_threads,
            piece_size: p.piece_size,
            max_upload_rate: p.max_upload_rate,
            max_download_rate: p.max_download_rate,
        })
    }

    pub fn limits(&self) -> Limits {
        Limits { max_message: self.max_message, ..Limits::default() }
    }

    /// Pieces asked for in one `getpieces` for pieces of `piece_size`.
    pub fn pieces_per_request(&self, piece_size: u32) -> usize {
        (self.max_message / piece_size.max(1) as usize).max(1)
    }
}

/// Where the peers' configuration is looked for, in order: the current
/// folder's `install/peers/config.ini`, `config.ini` next to the
/// executable, `install/peers/config.ini` in a folder above it (the
/// project, for `target/release/peer`), and the user's config folder
/// (`$XDG_CONFIG_HOME/eirb2share/config.ini`, else
/// `~/.config/eirb2share/config.ini`). A double-clicked binary, started
/// from anywhere, finds the project's configuration this way.
pub fn config_candidates() -> Vec<PathBuf> {
    let rel = Path::new("install/peers/config.ini");
    let mut out = vec![rel.to_owned()];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join("config.ini"));
        }
        out.extend(exe.ancestors().skip(1).map(|dir| dir.join(rel)));
    }
    out.push(user_config());
    out
}

/// The user's own configuration file (written by the app's first run).
pub fn user_config() -> PathBuf {
    user_config_in(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME"))
}

/// [`user_config`] for these values of `XDG_CONFIG_HOME` and `HOME`.
fn user_config_in(xdg_config_home: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> PathBuf {
    // The XDG base directory spec: an empty or relative value is ignored.
    let base = xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("eirb2share/config.ini")
}

/// The given path, or the first candidate that exists.
pub fn find_config(given: Option<&Path>) -> Result<PathBuf, SettingsError> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    config_candidates()
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| SettingsError::NotFound { user_config: user_config() })
}

pub fn load_settings(config: Option<&Path>, peer: u32) -> Result<Settings, SettingsError> {
    let path = find_config(config)?;
    let config = PeersConfig::load(&path)?;
    Settings::from_config(&config, peer, &path).ok_or_else(|| SettingsError::NoSuchPeer {
        defined: config.peers.iter().map(|p| p.id).collect(),
        path,
        peer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_config_follows_xdg_config_home_only_when_absolute() {
        let at = |xdg: Option<&str>| user_config_in(xdg.map(Into::into), Some("/home/u".into()));
        assert_eq!(at(Some("/cfg")), Path::new("/cfg/eirb2share/config.ini"));
        for ignored in [None, Some(""), Some("relative/dir")] {
            assert_eq!(at(ignored), Path::new("/home/u/.config/eirb2share/config.ini"), "{ignored:?}");
        }
    }

    #[test]
    fn a_peer_missing_from_the_file_is_named_with_those_defined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.ini");
        let text = "tracker_ip = 127.0.0.1\ntracker_port = 5000\npeer1_ip = 127.0.0.1\npeer1_port = 5001\npeer1_directory_path = a\npeer3_ip = 127.0.0.3\npeer3_port = 5001\npeer3_directory_path = c\npiece_size = 2048\n";
        std::fs::write(&path, text).unwrap();
        let s = load_settings(Some(&path), 3).unwrap();
        assert_eq!((s.id, s.piece_size), (3, common::PieceSize::Bytes(2048)));
        assert_eq!(
            load_settings(Some(&path), 2).unwrap_err(),
            SettingsError::NoSuchPeer { path: path.clone(), peer: 2, defined: vec![1, 3] }
        );
        let broken = dir.path().join("broken.ini");
        std::fs::write(&broken, "tracker_ip = nowhere\n").unwrap();
        assert!(matches!(load_settings(Some(&broken), 1), Err(SettingsError::Config(_))));
    }
}
