//! One peer's settings, resolved from the peers' configuration file, and
//! where that file is looked for (the headless command and the app
//! share the lookup).

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
    /// How the files this peer shares are cut (keys already cached for
    /// unchanged files are kept).
    pub piece_size: common::PieceSize,
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
            piece_size: p.piece_size,
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
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("eirb2share/config.ini")
}

/// The given path, or the first candidate that exists.
pub fn find_config(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    config_candidates().into_iter().find(|p| p.exists()).ok_or_else(|| {
        format!(
            "no configuration found (looked for install/peers/config.ini here and above the executable, and {}); pass --config FILE",
            user_config().display()
        )
    })
}

pub fn load_settings(config: Option<&Path>, peer: u32) -> Result<Settings, String> {
    let path = find_config(config)?;
    let config = PeersConfig::load(&path).map_err(|e| e.to_string())?;
    Settings::from_config(&config, peer, &path).ok_or_else(|| {
        let known: Vec<String> = config.peers.iter().map(|p| p.id.to_string()).collect();
        format!("{}: no peer {peer} (peers defined: {})", path.display(), known.join(", "))
    })
}
