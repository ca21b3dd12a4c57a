//! The headless `peer` command: the engine without a window.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::config::PeersConfig;
use common::protocol::FileEntry;

use crate::engine::{DownloadState, Engine, Settings};

/// Eirb2Share peer, without a window.
///
/// Logs go to stderr (RUST_LOG sets the level, warn by default); results
/// go to stdout.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Peers' configuration file [default: install/peers/config.ini here,
    /// config.ini beside the executable, install/peers/config.ini above it,
    /// then ~/.config/eirb2share/config.ini].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Which peer of the file to be (peerN_* keys).
    #[arg(long, global = true, default_value_t = 1)]
    pub peer: u32,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Share this peer's folder until stopped (SIGINT/SIGTERM).
    Share,
    /// Ask the tracker; prints result lines `name length piecesize key`.
    Search {
        /// Criteria such as `filename="a.txt"`, `filesize>"1048576"`,
        /// `filename~"part"`; a plain word searches names containing it.
        #[arg(required = true)]
        criteria: Vec<String>,
    },
    /// Download a file given its result line (or its key) into this
    /// peer's folder; exits 0 once the file is complete and verified.
    Download {
        /// `name length piecesize key`, as `search` prints it, or a key.
        what: String,
    },
    /// Print a file's key.
    Hash { file: PathBuf },
}

pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("peer: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    if let Command::Hash { file } = &args.command {
        let digest = common::hashing::digest_file(file).map_err(|e| format!("cannot hash {}: {e}", file.display()))?;
        println!("{}", digest.key);
        return Ok(ExitCode::SUCCESS);
    }
    let settings = load_settings(args.config.as_deref(), args.peer)?;
    let engine = Engine::start(settings).map_err(|e| e.to_string())?;
    match args.command {
        Command::Share => share(engine),
        Command::Search { criteria } => search(&engine, &criteria),
        Command::Download { what } => download(&engine, &what),
        Command::Hash { .. } => unreachable!("handled above"),
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

fn share(engine: Engine) -> Result<ExitCode, String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let signalled = std::sync::atomic::AtomicBool::new(false);
    ctrlc::set_handler(move || {
        // The first signal stops cleanly; a second one does not wait.
        if signalled.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        let _ = tx.try_send(());
    })
    .map_err(|e| format!("cannot handle signals: {e}"))?;
    let s = engine.settings();
    eprintln!("peer {} sharing {} on {} (tracker {}); Ctrl-C stops", s.id, s.dir.display(), s.listen, s.tracker);
    let _ = rx.recv();
    engine.shutdown();
    Ok(ExitCode::SUCCESS)
}

fn search(engine: &Engine, words: &[String]) -> Result<ExitCode, String> {
    let criteria = common::protocol::parse_query(&words.join(" ")).map_err(|e| e.to_string())?;
    wait_for_tracker(engine)?;
    let results = engine.search(criteria)?;
    let mut out = std::io::stdout().lock();
    for entry in &results {
        let _ = writeln!(out, "{entry}");
    }
    if results.is_empty() {
        eprintln!("no file matches");
    }
    Ok(ExitCode::SUCCESS)
}

fn wait_for_tracker(engine: &Engine) -> Result<(), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = engine.snapshot().tracker;
        if status.connected {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(status.last_error.unwrap_or_else(|| format!("tracker unreachable at {}", status.addr)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `download` gives up after this long without a verified piece.
const NO_PROGRESS: Duration = Duration::from_secs(60);

fn resolve(engine: &Engine, what: &str) -> Result<FileEntry, String> {
    if let Ok(entry) = FileEntry::parse_line(what) {
        return Ok(entry);
    }
    let key = what
        .trim()
        .parse::<common::FileKey>()
        .map_err(|_| format!("{what:?} is neither a result line (name length piecesize key) nor a key"))?;
    engine
        .search(Vec::new())?
        .into_iter()
        .find(|e| e.key == key)
        .ok_or_else(|| format!("the tracker lists no file with key {key}"))
}

fn download(engine: &Engine, what: &str) -> Result<ExitCode, String> {
    wait_for_tracker(engine)?;
    let entry = resolve(engine, what)?;
    // A download left by an earlier run resumes with the engine: follow it.
    let id = match engine.find_download(&entry.key) {
        Some(id) => id,
        None => engine.download(entry.clone()).map_err(|e| e.to_string())?,
    };
    let mut last_progress = (0u64, std::time::Instant::now());
    let mut err = std::io::stderr();
    loop {
        let Some(s) = engine.download_status(id) else { return Err("the download vanished".into()) };
        let bar = 30;
        let filled = (s.fraction() * bar as f32) as usize;
        let eta = s.eta().map_or("--".into(), |d| format!("{}s", d.as_secs()));
        let _ = write!(
            err,
            "\r[{}{}] {:5.1}% {:8.1} MB/s ETA {eta:>5} peers {} {:?}   ",
            "=".repeat(filled),
            " ".repeat(bar - filled),
            s.fraction() * 100.0,
            s.speed() / 1e6,
            s.peers,
            s.state
        );
        match s.state {
            DownloadState::Done => {
                let _ = writeln!(err);
                eprintln!("{} complete: {}", entry.name, s.path.map(|p| p.display().to_string()).unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            DownloadState::Error(why) => {
                let _ = writeln!(err);
                return Err(format!("download of {} failed: {why}", entry.name));
            }
            DownloadState::Cancelled => return Err("cancelled".into()),
            state => {
                if s.verified_bytes != last_progress.0 {
                    last_progress = (s.verified_bytes, std::time::Instant::now());
                } else if last_progress.1.elapsed() > NO_PROGRESS {
                    let _ = writeln!(err);
                    return Err(format!(
                        "no progress for {}s ({state:?}); the partial file is kept, run the same command to resume",
                        NO_PROGRESS.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}
