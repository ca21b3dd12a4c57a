//! The headless `peer` command: the engine without a window.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::protocol::FileEntry;

use crate::engine::settings::load_settings;
use crate::engine::{DownloadState, Engine};

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
