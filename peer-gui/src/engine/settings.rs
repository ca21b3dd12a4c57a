//! One peer's settings, resolved from the peers' configuration file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::PeersConfig;
use common::protocol::Limits;

#[derive(Debug, Clone)]
pub struct Settings {
    pub id: u32,
    /// Where the server listens; outgoing connections use its IP.
    pub listen: SocketAddr,
    pub tracker: SocketAddr,
    pub update_interval: Duration,
    /// The shared folder (downloads land here too).
    pub dir: PathBuf,
    pub max_peers: usize,
    pub max_message: usize,
    pub download_threads: usize,
    pub hash_threads: usize,
}

impl Settings {
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
            tracker: config.tracker,
            update_interval: p.interval,
            dir,
            max_peers: p.max_peers,
            max_message: config.max_message_size,
            download_threads: config.download_threads,
            hash_threads: config.hash_threads,
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
