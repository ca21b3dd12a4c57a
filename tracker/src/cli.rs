//! The `tracker` command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use common::config::TrackerConfig;

/// Eirb2Share tracker: knows which peer shares which file.
///
/// Logs go to stderr (to the journal, with their levels, under systemd);
/// RUST_LOG sets the level (info by default). SIGINT or SIGTERM stops it
/// cleanly.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Configuration file [default: install/tracker/config.ini if it
    /// exists here (the project's), else /etc/eirb2share/tracker.ini (the
    /// package's)].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen on this IP instead of the file's tracker_ip.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// Listen on this port instead of the file's tracker_port (0: any free port).
    #[arg(long)]
    pub port: Option<u16>,
}

/// Where the tracker looks for its configuration without `--config`, in
/// order: the project's, when started from the checkout (`make
/// run_tracker`), then the one the Debian package installs.
pub const CONFIG_CANDIDATES: [&str; 2] = ["install/tracker/config.ini", "/etc/eirb2share/tracker.ini"];

/// The given file, else the first candidate that exists (else the last,
/// so that the error names the installed path).
pub fn config_path(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let found = CONFIG_CANDIDATES.iter().map(PathBuf::from).find(|p| p.exists());
        found.unwrap_or_else(|| PathBuf::from(CONFIG_CANDIDATES[CONFIG_CANDIDATES.len() - 1]))
    })
}

pub fn main() -> ExitCode {
    crate::journal::init_logger();
    let args = Args::parse();
    let path = config_path(args.config);
    let mut config = match TrackerConfig::load(&path) {
        Ok(c) => c,
        Err(e) => {
            crate::journal::fatal(format_args!("{e}"));
            return ExitCode::from(2);
        }
    };
    config.addr = SocketAddr::new(args.ip.unwrap_or(config.addr.ip()), args.port.unwrap_or(config.addr.port()));
    // The status page follows the protocol's IP (`--ip` included).
    config.http = config.http.map(|http| SocketAddr::new(config.addr.ip(), http.port()));
    let listener = match crate::bind(config.addr) {
        Ok(l) => l,
        Err(e) => {
            crate::journal::fatal(format_args!(
                "cannot listen on {}: {e} (is another tracker running, or is the address not local?)",
                config.addr
            ));
            return ExitCode::from(1);
        }
    };
    let http = config.http.and_then(bind_http);
    let shutdown = crate::Shutdown::new();
    let on_signal = shutdown.clone();
    if let Err(e) = ctrlc::set_handler(move || on_signal.trigger()) {
        log::warn!("cannot handle SIGINT/SIGTERM: {e}");
    }
    let shared = std::sync::Arc::new(crate::handler::Shared::new(config, shutdown));
    match crate::run_with_http(listener, http, shared) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::journal::fatal(format_args!("stopped on error: {e}"));
            ExitCode::from(1)
        }
    }
}

/// The status page is a convenience: a port that cannot be had is a
/// logged error, and the protocol is served without it.
fn bind_http(addr: SocketAddr) -> Option<std::net::TcpListener> {
    match crate::bind(addr) {
        Ok(l) => Some(l),
        Err(e) => {
            log::error!(
                "cannot serve the status page on {addr}: {e}; serving the protocol without it \
                 (set tracker_http_port to a free port, or to 0 to turn the page off)"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_the_given_one_else_the_installed_one_outside_the_project() {
        assert_eq!(config_path(Some("x.ini".into())), PathBuf::from("x.ini"));
        // Tests run in tracker/, where no install/tracker/config.ini is.
        assert_eq!(config_path(None), PathBuf::from("/etc/eirb2share/tracker.ini"));
    }
}
