//! The headless `peer` command: the engine without a window.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use common::protocol::FileEntry;

use crate::engine::settings::load_settings;
use crate::engine::stats::human_bytes as human;
use crate::engine::{DownloadState, DownloadStatus, Engine, Event, Network, Resume, Transfers};

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
    /// Ask the tracker (or the network, in the distributed mode); prints
    /// result lines `name length piecesize key`.
    Search {
        /// Criteria such as `filename="a.txt"`, `filesize>"1048576"`,
        /// `filename~"part"`; a plain word searches names containing it
        /// (in the distributed mode: the whole name).
        #[arg(required = true)]
        criteria: Vec<String>,
    },
    /// Download a file given its result line (or its key) into this
    /// peer's folder; exits 0 once the file is complete and verified.
    Download {
        /// `name length piecesize key`, as `search` prints it, or a key.
        what: String,
        /// Once the file is complete, keep sharing (what a leecher in a
        /// swarm does) until SIGINT/SIGTERM.
        #[arg(long)]
        seed: bool,
    },
    /// Print a file's key.
    Hash {
        file: PathBuf,
        /// `auto` (our rule) or a number of bytes, as `piece_size` in the
        /// configuration.
        #[arg(long, default_value = "auto", value_parser = parse_piece_size)]
        piece_size: common::PieceSize,
    },
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
    if let Command::Hash { file, piece_size } = &args.command {
        let digest = common::hashing::digest_file(file, *piece_size)
            .map_err(|e| format!("cannot hash {}: {e}", file.display()))?;
        println!("{}", digest.key);
        return Ok(ExitCode::SUCCESS);
    }
    let settings = load_settings(args.config.as_deref(), args.peer).map_err(|e| e.to_string())?;
    // A search is a one-off: downloads left in the folder stay for
    // `share` or `download` to resume.
    let resume = if matches!(args.command, Command::Search { .. }) { Resume::Nothing } else { Resume::LeftDownloads };
    let engine = Engine::start_with(settings, resume).map_err(|e| e.to_string())?;
    match args.command {
        Command::Share => share(engine),
        Command::Search { criteria } => search(&engine, &criteria),
        Command::Download { what, seed } => {
            let done = download(&engine, &what)?;
            if seed { share(engine) } else { Ok(done) }
        }
        Command::Hash { .. } => unreachable!("handled above"),
    }
}

fn parse_piece_size(text: &str) -> Result<common::PieceSize, String> {
    common::PieceSize::parse(text).ok_or_else(|| {
        format!(
            "expected auto or a number of bytes from {} to {}",
            common::PieceSize::MIN,
            common::layout::MAX_PIECE_SIZE
        )
    })
}

fn share(engine: Engine) -> Result<ExitCode, String> {
    let (tx, signals) = crossbeam_channel::bounded(1);
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
    let via = match &s.network {
        Network::Tracker(addr) => format!("tracker {addr}"),
        Network::Lan(lan) if lan.config.discovery_port == 0 => "distributed, no discovery".to_owned(),
        Network::Lan(lan) => {
            format!("distributed, discovery on {}:{}", lan.config.discovery_group, lan.config.discovery_port)
        }
    };
    eprintln!("peer {} sharing {} on {} ({via}); Ctrl-C stops", s.id, s.dir.display(), s.listen);
    let events = engine.subscribe();
    let mut last_summary: Option<Instant> = None;
    loop {
        crossbeam_channel::select! {
            recv(signals) -> _ => break,
            recv(events) -> event => match event {
                Ok(Event::Transfers) => {
                    // While something moves, a line every few seconds.
                    let t = engine.transfers();
                    if t.is_moving() && last_summary.is_none_or(|at| at.elapsed() >= SUMMARY_EVERY) {
                        last_summary = Some(Instant::now());
                        log::info!("{}", summary(&t));
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            },
        }
    }
    let t = engine.totals();
    log::info!(
        "stopping: {} ({} B) uploaded, {} ({} B) downloaded since start",
        human(t.uploaded),
        t.uploaded,
        human(t.downloaded),
        t.downloaded
    );
    engine.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// How often `share` logs its transfer summary while something moves.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

fn summary(t: &Transfers) -> String {
    format!(
        "{} peer(s) connected, up {}/s, down {}/s ({} uploaded, {} downloaded since start)",
        t.connections.len(),
        human(t.up_rate as u64),
        human(t.down_rate as u64),
        human(t.uploaded),
        human(t.downloaded)
    )
}

fn search(engine: &Engine, words: &[String]) -> Result<ExitCode, String> {
    let text = words.join(" ");
    let criteria = match engine.settings().network {
        Network::Tracker(_) => common::protocol::parse_query(&text),
        // The distributed mode searches by exact name.
        Network::Lan(_) => common::protocol::parse_exact_query(&text),
    }
    .map_err(|e| e.to_string())?;
    engine.wait_for_network(TRACKER_WAIT).map_err(|e| e.to_string())?;
    let results = engine.search(criteria).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for entry in &results {
        let _ = writeln!(out, "{entry}");
    }
    if results.is_empty() {
        eprintln!("no file matches");
    }
    Ok(ExitCode::SUCCESS)
}

/// How long a command waits for the tracker connection.
const TRACKER_WAIT: Duration = Duration::from_secs(10);
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
        .search(Vec::new())
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|e| e.key == key)
        .ok_or_else(|| format!("the tracker lists no file with key {key}"))
}

/// How long `download` waits for the next verified piece: [`NO_PROGRESS`],
/// or longer under a download limit so low that one reply (a request's
/// worth of pieces, at least one) takes more than half of that.
fn patience(engine: &Engine, entry: &FileEntry) -> Duration {
    let rate = engine.rate_limits().download.rate();
    if rate == 0 {
        return NO_PROGRESS;
    }
    let reply = (engine.settings().max_message as u64).max(entry.piece_size);
    NO_PROGRESS.max(Duration::from_secs(2 * reply / rate + 1))
}

fn download(engine: &Engine, what: &str) -> Result<ExitCode, String> {
    let events = engine.subscribe();
    engine.wait_for_network(TRACKER_WAIT).map_err(|e| e.to_string())?;
    let entry = resolve(engine, what)?;
    // A download left by an earlier run resumes with the engine: follow it.
    let id = match engine.find_download(&entry.key) {
        Some(id) => id,
        None => engine.download(entry.clone()).map_err(|e| e.to_string())?,
    };
    let mut progress = Progress::new();
    let mut last_progress = (0u64, Instant::now());
    loop {
        let Some(s) = engine.download_status(id) else { return Err("the download vanished".into()) };
        progress.show(&s, &engine.transfers());
        match s.state {
            DownloadState::Done => {
                progress.end();
                eprintln!("{} complete: {}", entry.name, s.path.map(|p| p.display().to_string()).unwrap_or_default());
                let from: Vec<String> =
                    s.sources.iter().map(|(peer, r)| format!("{peer} {} B ({} pieces)", r.bytes, r.pieces)).collect();
                log::info!("{} received from: {}", entry.name, from.join(", "));
                return Ok(ExitCode::SUCCESS);
            }
            DownloadState::Error(why) => {
                progress.end();
                return Err(format!("download of {} failed: {why}", entry.name));
            }
            DownloadState::Cancelled => return Err("cancelled".into()),
            state => {
                if s.verified_bytes != last_progress.0 {
                    last_progress = (s.verified_bytes, Instant::now());
                }
                let stuck_at = last_progress.1 + patience(engine, &s.entry);
                // Woken by the engine's events (progress, state, rates
                // twice a second while bytes move); the deadline only
                // ends a download that stopped moving.
                if events.recv_deadline(stuck_at).is_err() && Instant::now() >= stuck_at {
                    progress.end();
                    return Err(format!(
                        "no progress for {}s ({state:?}); the partial file is kept, run the same command to resume",
                        patience(engine, &s.entry).as_secs()
                    ));
                }
            }
        }
    }
}

/// The progress line on stderr: redrawn in place on a terminal; else (a
/// log file, a pipe) a plain line every few seconds.
struct Progress {
    terminal: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    fn new() -> Self {
        Self { terminal: std::io::stderr().is_terminal(), last: None, drawn: false }
    }

    fn show(&mut self, s: &DownloadStatus, t: &Transfers) {
        let every = if self.terminal { Duration::from_millis(200) } else { Duration::from_secs(5) };
        if self.last.is_some_and(|at| at.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let bar = 30;
        let filled = ((s.fraction() * bar as f32) as usize).min(bar);
        let eta = s.eta().map_or("--".into(), |d| format!("{}s", d.as_secs()));
        let line = format!(
            "[{}{}] {:5.1}% down {}/s up {}/s from {} peer(s) ETA {eta} {}",
            "=".repeat(filled),
            " ".repeat(bar - filled),
            s.fraction() * 100.0,
            human(s.speed() as u64),
            human(t.up_rate as u64),
            s.peers,
            state_word(&s.state)
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            // Clears what a longer line left.
            let _ = write!(err, "\r{line}\x1b[K");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
    }

    /// Ends the line in place, so what follows starts on its own.
    fn end(&mut self) {
        if std::mem::take(&mut self.drawn) {
            eprintln!();
        }
    }
}

fn state_word(state: &DownloadState) -> String {
    match state {
        DownloadState::Connecting => "connecting".into(),
        DownloadState::Downloading => "downloading".into(),
        DownloadState::Stalled(why) => format!("waiting: {why}"),
        DownloadState::Paused => "paused".into(),
        DownloadState::Done => "done".into(),
        DownloadState::Cancelled => "cancelled".into(),
        DownloadState::Error(e) => format!("error: {e}"),
    }
}
