//! Save: the tracker looked up, the port and folder checked, the file
//! written and loaded, on a thread, before the peer starts.

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use common::config::Host;
use peer::engine::Settings;
use peer::engine::settings::{SettingsError, load_settings};

/// Why Save did not start the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    HostNotFound {
        host: String,
        error: String,
    },
    /// This peer's port cannot be listened on.
    Listen {
        port: u16,
        error: String,
    },
    Folder {
        dir: PathBuf,
        error: String,
    },
    Write {
        path: PathBuf,
        error: String,
    },
    Settings(SettingsError),
    Start(String),
    /// The thread doing the work died without an answer.
    Lost,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HostNotFound { host, error } => {
                write!(f, "Cannot find the tracker host {host:?} ({error}): check the name, or write its IP address.")
            }
            Self::Listen { port, error } => {
                write!(f, "Cannot listen on port {port} ({error}): choose another port (is a peer already running?).")
            }
            Self::Folder { dir, error } => {
                write!(f, "Cannot create the folder {} ({error}): choose another folder.", dir.display())
            }
            Self::Write { path, error } => {
                write!(f, "Cannot save the settings to {} ({error}): check that folder's permissions.", path.display())
            }
            Self::Settings(e) => write!(f, "The saved settings do not load: {e}"),
            Self::Start(e) => write!(f, "The peer could not start: {e}"),
            Self::Lost => f.write_str("Saving stopped unexpectedly: click Save again."),
        }
    }
}

impl std::error::Error for SetupError {}

/// What Save hands its thread: checked fields.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) path: PathBuf,
    pub(super) folder: PathBuf,
    pub(super) host: Host,
    pub(super) tracker_port: u16,
    pub(super) port: u16,
}

impl Job {
    /// Looks the tracker up, checks the port is free, creates the folder,
    /// writes and loads the file: all blocking, all before the peer starts.
    /// The lookup runs here rather than on Save's frame because a name
    /// without answer can hold the resolver for seconds.
    pub(super) fn run(self) -> Result<Settings, SetupError> {
        self.host
            .resolve(self.tracker_port)
            .map_err(|e| SetupError::HostNotFound { host: self.host.to_string(), error: e.to_string() })?;
        // Found now rather than when the engine starts, with the file
        // already saved and the screen gone.
        drop(
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, self.port))
                .map_err(|e| SetupError::Listen { port: self.port, error: e.to_string() })?,
        );
        std::fs::create_dir_all(&self.folder)
            .map_err(|e| SetupError::Folder { dir: self.folder.clone(), error: e.to_string() })?;
        // The host as typed: a name stays a name, looked up at each start.
        let text = format!(
            "# Written by the first-run screen of peer-gui.\ntracker_ip = {}\ntracker_port = {}\n\npeer1_ip = 0.0.0.0\npeer1_port = {}\npeer1_directory_path = {}\n",
            self.host,
            self.tracker_port,
            self.port,
            self.folder.display()
        );
        let write = |path: &Path, done: std::io::Result<()>| {
            done.map_err(|e| SetupError::Write { path: path.to_owned(), error: e.to_string() })
        };
        if let Some(dir) = self.path.parent() {
            write(dir, std::fs::create_dir_all(dir))?;
        }
        write(&self.path, std::fs::write(&self.path, text))?;
        load_settings(Some(&self.path), 1).map_err(SetupError::Settings)
    }
}
