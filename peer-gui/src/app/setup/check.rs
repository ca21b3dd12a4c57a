//! The first-run form's fields, checked as typed: pure functions of the
//! text (and of what is at the folder's path), so tests need no window.

use std::fmt;
use std::path::PathBuf;

use common::config::HostError;

/// What is wrong with each field now; all `None`: Save is enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    pub folder: Option<FolderError>,
    pub host: Option<HostError>,
    pub tracker_port: Option<PortError>,
    pub port: Option<PortError>,
}

impl Problems {
    pub fn none(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderError {
    Empty,
    /// The path exists and is a file.
    NotAFolder,
    /// A blank then `#` or `;` (a comment in the configuration file).
    Unsaveable,
}

impl fmt::Display for FolderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "Choose the folder to share (it is created if missing).",
            Self::NotAFolder => "This is a file, not a folder: choose a folder.",
            Self::Unsaveable => "A blank followed by # or ; cannot be saved in the settings: choose another folder.",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    Empty,
    NotANumber,
    Zero,
    TooLarge,
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "Write a port number, from 1 to 65535.",
            Self::NotANumber => "A port is a whole number, from 1 to 65535.",
            Self::Zero => "Port 0 cannot be used: choose one from 1 to 65535.",
            Self::TooLarge => "Ports go up to 65535.",
        })
    }
}

/// `5000` → 5000, with what is wrong otherwise.
pub fn parse_port(text: &str) -> Result<u16, PortError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PortError::Empty);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::NotANumber);
    }
    match text.parse::<u32>() {
        Ok(0) => Err(PortError::Zero),
        // Digits only: a parse error is an overflow.
        Ok(port) => u16::try_from(port).map_err(|_| PortError::TooLarge),
        Err(_) => Err(PortError::TooLarge),
    }
}

/// `tracker.lan:5000` or `[::1]:5000` → host and port texts; `None` for
/// a lone host (an IPv6 address has colons but no port).
pub fn split_host_port(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => v6.split_once("]:")?,
        None if text.matches(':').count() == 1 => text.split_once(':')?,
        None => return None,
    };
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| (host.to_owned(), port.to_owned()))
}

/// What is at the folder's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FolderState {
    Folder,
    Missing,
    File,
}

/// `~/x` → `$HOME/x`: people type it, the file needs the real path.
pub(super) fn expand(text: &str) -> PathBuf {
    let text = text.trim();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match (text.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_port(" 5000 "), Ok(5000));
        assert_eq!(parse_port(""), Err(PortError::Empty));
        assert_eq!(parse_port("50a"), Err(PortError::NotANumber));
        assert_eq!(parse_port("-1"), Err(PortError::NotANumber));
        assert_eq!(parse_port("0"), Err(PortError::Zero));
        assert_eq!(parse_port("65536"), Err(PortError::TooLarge));
        assert_eq!(parse_port("99999999999999999999"), Err(PortError::TooLarge));
    }

    #[test]
    fn host_and_port_split() {
        let split = |t: &str| split_host_port(t).map(|(h, p)| format!("{h}|{p}"));
        assert_eq!(split("localhost:5000").as_deref(), Some("localhost|5000"));
        assert_eq!(split("[::1]:5000").as_deref(), Some("::1|5000"));
        assert_eq!(split("::1"), None);
        assert_eq!(split("localhost:"), None);
        assert_eq!(split("localhost"), None);
    }

    #[test]
    fn a_tilde_is_the_home_folder() {
        let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else { return };
        assert_eq!(expand("~/x"), home.join("x"));
        assert_eq!(expand("~"), home);
        assert_eq!(expand("~x"), PathBuf::from("~x"));
    }
}
