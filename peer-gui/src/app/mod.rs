//! The desktop app over the engine facade. Each frame draws owned engine
//! snapshots; user actions become [`view::Command`]s run on short-lived
//! threads (searching waits on the tracker, starting a download touches
//! the disk), which report back through the engine and `request_repaint`.
//! The UI thread never waits on disk, network or hashing.

pub mod desktop;
pub mod launch;
pub mod logger;
pub mod setup;
pub mod view;

use std::sync::{Arc, OnceLock};

use common::protocol::{Criterion, FileEntry};
use eframe::egui::{self, Ui};
use parking_lot::Mutex;

use self::view::{Command, TabState};
use peer::engine::{Engine, TrackerError};

/// The longest the window goes without a redraw.
const LIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// Lets engine threads repaint the UI once its context exists.
#[derive(Debug, Clone, Default)]
pub struct Repaint(Arc<OnceLock<egui::Context>>);

impl Repaint {
    pub fn set(&self, ctx: &egui::Context) {
        let _ = self.0.set(ctx.clone());
    }

    /// A repaint soon: coalesces bursts of engine events (progress moves a
    /// few times a second; nothing moving means no repaint at all).
    pub fn request(&self) {
        if let Some(ctx) = self.0.get() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    pub fn notifier(&self) -> Arc<dyn Fn() + Send + Sync> {
        let me = self.clone();
        Arc::new(move || me.request())
    }
}

/// One peer in the app: its engine and what its tab shows.
pub struct Tab {
    pub title: String,
    pub engine: Arc<Engine>,
    pub state: TabState,
    /// Answers from background commands, shown inline.
    replies: Arc<Mutex<Vec<Reply>>>,
}

enum Reply {
    Searched(Result<Vec<FileEntry>, TrackerError>),
    Message(bool, String),
}

impl Tab {
    pub fn new(engine: Engine) -> Self {
        let s = engine.settings();
        let title = format!("Peer {} | {}", s.id, s.listen);
        Self { title, engine: Arc::new(engine), state: TabState::default(), replies: Arc::default() }
    }
}

impl std::fmt::Debug for Tab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tab").field("title", &self.title).finish_non_exhaustive()
    }
}

/// The whole app: one tab per peer, a shared log panel.
#[derive(Debug)]
pub struct App {
    pub tabs: Vec<Tab>,
    pub selected: usize,
    pub logs: logger::LogLines,
    pub repaint: Repaint,
}

impl App {
    pub fn new(tabs: Vec<Tab>, logs: logger::LogLines, repaint: Repaint) -> Self {
        Self { tabs, selected: 0, logs, repaint }
    }

    /// Draws everything into `ui` and runs what the user asked for.
    pub fn draw(&mut self, ui: &mut Ui) {
        self.repaint.set(ui.ctx());
        // Rates fall, timers count and a dead tracker turns red without
        // any event: redraw at least once a second.
        ui.ctx().request_repaint_after(LIVE);
        let logs = self.logs.snapshot();
        if self.tabs.is_empty() {
            ui.label("No peer to show.");
            return;
        }
        self.selected = self.selected.min(self.tabs.len() - 1);
        let titles: Vec<String> = self.tabs.iter().map(|t| t.title.clone()).collect();
        let tab = &mut self.tabs[self.selected];
        take_replies(tab);
        let snapshot = tab.engine.snapshot();
        let mut selected = self.selected;
        let commands = view::layout(ui, &snapshot, &mut tab.state, &logs, &titles, &mut selected);
        for command in commands {
            run(tab, command, ui.ctx(), &self.repaint);
        }
        self.selected = selected;
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }
}

fn take_replies(tab: &mut Tab) {
    for reply in tab.replies.lock().drain(..) {
        match reply {
            Reply::Searched(Ok(results)) => {
                tab.state.searching = false;
                tab.state.say(true, view::plural(results.len(), "result"));
                tab.state.results = results;
            }
            Reply::Searched(Err(e)) => {
                tab.state.searching = false;
                tab.state.say(false, format!("Search failed: {e}"));
            }
            Reply::Message(ok, text) => tab.state.say(ok, text),
        }
    }
}

/// Search words: protocol criteria, or plain words (names containing them).
pub fn parse_query(text: &str) -> Result<Vec<Criterion>, String> {
    common::protocol::parse_query(text).map_err(|e| e.to_string())
}

fn run(tab: &mut Tab, command: Command, ctx: &egui::Context, repaint: &Repaint) {
    let (engine, replies, repaint) = (tab.engine.clone(), tab.replies.clone(), repaint.clone());
    let background = move |work: Box<dyn FnOnce(&Engine) -> Reply + Send>| {
        let spawned = std::thread::Builder::new().name("ui-command".into()).spawn(move || {
            let reply = work(&engine);
            replies.lock().push(reply);
            repaint.request();
        });
        if let Err(e) = spawned {
            log::error!("cannot start a thread: {e}");
        }
    };
    match command {
        Command::Search => match parse_query(&tab.state.query) {
            Ok(criteria) => {
                tab.state.searching = true;
                tab.state.say(true, "Searching...");
                background(Box::new(move |e| Reply::Searched(e.search(criteria))));
            }
            Err(e) => {
                tab.state.say(false, format!("Cannot search: {e}. Example: filename=\"file.txt\" filesize>\"1048576\""))
            }
        },
        Command::DownloadPasted => match FileEntry::parse_line(&tab.state.query) {
            Ok(entry) => background(Box::new(move |e| start_download(e, entry))),
            Err(e) => tab.state.say(
                false,
                format!("Not a result line ({e}). Paste a line as search shows it: name length piecesize key"),
            ),
        },
        Command::Download(entry) => background(Box::new(move |e| start_download(e, entry))),
        Command::Control(id, control) => tab.engine.control(id, control),
        Command::Copy(text) => ctx.copy_text(text),
        Command::SetLimits { upload, download } => {
            let limits = tab.engine.rate_limits();
            limits.upload.set_rate(upload);
            limits.download.set_rate(download);
            tab.state.limits = None;
            log::info!("rate limits now: up {upload} B/s, down {download} B/s (0: none)");
        }
        Command::OpenFolder(dir) => {
            if let Err(e) = std::process::Command::new("xdg-open").arg(&dir).spawn() {
                tab.state.say(false, format!("Cannot open {}: {e}", dir.display()));
            }
        }
    }
}

fn start_download(engine: &Engine, entry: FileEntry) -> Reply {
    match engine.download(entry.clone()) {
        Ok(_) => Reply::Message(true, format!("Downloading {}", entry.name)),
        Err(e) => Reply::Message(false, e.to_string()),
    }
}
