//! The desktop app over the engine facade. Each frame draws owned engine
//! snapshots; user actions become [`view::Command`]s run on short-lived
//! threads (searching waits on the tracker, starting a download touches
//! the disk), which report back through the engine and `request_repaint`.
//! The UI thread never waits on disk, network or hashing.

pub mod desktop;
pub mod icon;
pub mod launch;
pub mod logger;
mod persist;
pub mod setup;
pub mod share;
pub mod view;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use common::protocol::{Criterion, FileEntry};
use eframe::egui::{self, Ui};
use parking_lot::Mutex;

use self::view::search::Availability;
use self::view::{Command, Inputs, TabState};
use peer::engine::{DownloadState, Engine, Network, TrackerError};

pub use self::persist::Persisted;

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
    /// Files being copied into the shared folder.
    copy: Option<share::CopyJob>,
    /// The file dialog's answer, once it comes.
    picking: Option<desktop::Pending<Option<Vec<PathBuf>>>>,
    /// Whether each download was finished when last seen: a change to
    /// done or failed is notified once (not for those restored finished).
    finished: HashMap<u64, bool>,
    /// The number of the latest search.
    search: Arc<AtomicU64>,
}

enum Reply {
    Searched(Result<Vec<FileEntry>, TrackerError>),
    /// How many peers hold a result of search number `.0`.
    Holders(u64, common::FileKey, Availability),
    Message(bool, String),
    /// A download started from a pasted line: show the transfers.
    Started(String),
}

impl Tab {
    pub fn new(engine: Engine) -> Self {
        let s = engine.settings();
        let title = format!("Peer {} | {}", s.id, s.listen);
        Self {
            title,
            engine: Arc::new(engine),
            state: TabState::default(),
            replies: Arc::default(),
            copy: None,
            picking: None,
            finished: HashMap::new(),
            search: Arc::default(),
        }
    }
}

impl std::fmt::Debug for Tab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tab").field("title", &self.title).finish_non_exhaustive()
    }
}

/// The whole app: one tab per peer, each with its own log panel.
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
        if self.tabs.is_empty() {
            ui.label("No peer to show.");
            return;
        }
        let now = std::time::Instant::now();
        self.selected = self.selected.min(self.tabs.len() - 1);
        let mut shown = None;
        for (i, tab) in self.tabs.iter_mut().enumerate() {
            // Every tab's graph and notifications go on while another shows.
            let snapshot = tab.engine.snapshot();
            let t = &snapshot.transfers;
            tab.state.speeds.sample(now, t.down_rate, t.up_rate);
            take_replies(tab);
            poll_background(tab, ui.ctx(), &self.repaint);
            notify_finished(tab, &snapshot.downloads);
            if i == self.selected {
                shown = Some(snapshot);
            }
        }
        let Some(snapshot) = shown else { return };
        let titles: Vec<String> = self.tabs.iter().map(|t| t.title.clone()).collect();
        let logs = self.logs.snapshot();
        let tab = &mut self.tabs[self.selected];
        let mut selected = self.selected;
        let inputs = Inputs {
            snapshot: &snapshot,
            logs: &logs,
            peer: tab.engine.settings().id,
            folder: &tab.engine.settings().dir,
            titles: &titles,
        };
        let mut commands = view::layout(ui, inputs, &mut tab.state, &mut selected);
        commands.extend(dropped_files(ui, &tab.title));
        for command in commands {
            run(tab, command, ui.ctx(), &self.repaint);
        }
        self.selected = selected;
    }

    /// What to remember of the app between runs.
    pub fn persisted(&self) -> Persisted {
        Persisted::of(self)
    }

    /// Takes back what an earlier run remembered.
    pub fn restore(&mut self, saved: &Persisted) {
        saved.apply(self);
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.persisted());
    }
}

/// Files dropped on the window are added to the tab shown; while they
/// hover, the window says so.
fn dropped_files(ui: &mut Ui, title: &str) -> Option<Command> {
    let (hovering, dropped) = ui.input(|i| (!i.raw.hovered_files.is_empty(), i.raw.dropped_files.clone()));
    if hovering {
        let screen = ui.ctx().content_rect();
        let painter = ui.ctx().layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop")));
        painter.rect_filled(screen, 0.0, ui.visuals().extreme_bg_color.gamma_multiply(0.85));
        painter.text(
            screen.center(),
            egui::Align2::CENTER_CENTER,
            format!("Drop to share in {title}"),
            egui::FontId::proportional(22.0),
            ui.visuals().strong_text_color(),
        );
    }
    let paths: Vec<PathBuf> = dropped.into_iter().map(|f| f.path().to_owned()).collect();
    (!paths.is_empty()).then_some(Command::AddPaths(paths))
}

/// Downloads that finished or failed since last seen (`seen`: whether
/// each was finished then); one first seen finished is not news.
fn newly_finished(
    seen: &mut HashMap<u64, bool>,
    downloads: &[peer::engine::DownloadStatus],
) -> Vec<(String, DownloadState)> {
    let mut out = Vec::new();
    for d in downloads {
        let now = d.state.is_finished();
        if seen.insert(d.id, now) == Some(false) && now {
            out.push((d.entry.name.to_string(), d.state.clone()));
        }
    }
    out
}

/// Every tab's, not only the one shown.
fn notify_finished(tab: &mut Tab, downloads: &[peer::engine::DownloadStatus]) {
    for (name, state) in newly_finished(&mut tab.finished, downloads) {
        match state {
            DownloadState::Done => desktop::notify("Download finished", &format!("{name} is in the shared folder")),
            DownloadState::Error(e) => desktop::notify("Download failed", &format!("{name}: {e}")),
            _ => {}
        }
    }
}

fn take_replies(tab: &mut Tab) {
    for reply in tab.replies.lock().drain(..) {
        match reply {
            Reply::Searched(Ok(results)) => {
                tab.state.searching = false;
                tab.state.say(true, view::plural(results.len(), "result"));
                tab.state.availability = results.iter().map(|r| (r.key.clone(), Availability::Asking)).collect();
                tab.state.results = results;
                tab.state.result_selected = None;
                tab.state.prefs.main = view::MainView::Results;
            }
            Reply::Searched(Err(e)) => {
                tab.state.searching = false;
                tab.state.say(false, format!("Search failed: {e}"));
            }
            Reply::Holders(search, key, a) => {
                if search == tab.search.load(Ordering::SeqCst) {
                    tab.state.availability.insert(key, a);
                }
            }
            Reply::Message(ok, text) => tab.state.say(ok, text),
            Reply::Started(text) => {
                tab.state.say(true, text);
                tab.state.prefs.main = view::MainView::Transfers;
            }
        }
    }
}

/// The copy job's progress and the file dialog's answer.
fn poll_background(tab: &mut Tab, ctx: &egui::Context, repaint: &Repaint) {
    if let Some(job) = &tab.copy {
        let p = job.snapshot();
        tab.state.copying = (!p.finished).then_some(p);
        if tab.state.copying.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(200));
        }
    }
    let answer = match tab.picking.as_ref().map(desktop::Pending::poll) {
        None | Some(desktop::Poll::Waiting) => return,
        Some(desktop::Poll::Ready(answer)) => answer,
        Some(desktop::Poll::Lost) => None,
    };
    tab.picking = None;
    match answer {
        Some(paths) if !paths.is_empty() => run(tab, Command::AddPaths(paths), ctx, repaint),
        Some(_) => {}
        None => {
            tab.state.path_field.get_or_insert_default();
            tab.state
                .say(false, "No file dialog available: type the path of a file to add, or drop files on the window");
        }
    }
}

/// Search words: protocol criteria, or plain words (names containing
/// them; in the distributed mode, which searches by exact name, the
/// whole name).
pub fn parse_query(text: &str, network: &Network) -> Result<Vec<Criterion>, String> {
    match network {
        Network::Tracker(_) => common::protocol::parse_query(text),
        Network::Lan(_) => common::protocol::parse_exact_query(text),
    }
    .map_err(|e| e.to_string())
}

/// Work off the UI thread: it may send replies as it goes, and returns
/// a last one.
type Work = Box<dyn FnOnce(&Engine, &dyn Fn(Reply)) -> Option<Reply> + Send>;

fn run(tab: &mut Tab, command: Command, ctx: &egui::Context, repaint: &Repaint) {
    let (engine, replies, wake) = (tab.engine.clone(), tab.replies.clone(), repaint.clone());
    // Named after the peer: its log lines go to its tab.
    let name = format!("peer{}-ui", tab.engine.settings().id);
    let background = move |work: Work| {
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let send = |reply| {
                replies.lock().push(reply);
                wake.request();
            };
            if let Some(reply) = work(&engine, &send) {
                send(reply);
            }
        });
        if let Err(e) = spawned {
            log::error!("cannot start a thread: {e}");
        }
    };
    match command {
        Command::Search if tab.state.searching => {}
        Command::Search => match parse_query(&tab.state.query, &tab.engine.settings().network) {
            Ok(criteria) => {
                tab.state.searching = true;
                let news = match tab.engine.settings().network {
                    Network::Tracker(_) => "Searching...",
                    Network::Lan(_) => "Searching the local network (a few seconds)...",
                };
                tab.state.say(true, news);
                // A newer search stops this one's holder queries, and its
                // late answers are dropped.
                let search = tab.search.fetch_add(1, Ordering::SeqCst) + 1;
                let current = tab.search.clone();
                background(Box::new(move |e, send| {
                    let found = e.search(criteria);
                    if let Ok(results) = &found {
                        // The results show first; their holders fill in.
                        let keys: Vec<_> = results.iter().take(MAX_ASKED).map(|r| r.key.clone()).collect();
                        send(Reply::Searched(found));
                        for key in keys {
                            if current.load(Ordering::SeqCst) != search {
                                break;
                            }
                            let a = match e.holders(&key) {
                                Ok(peers) => Availability::Holders(peers.len()),
                                Err(err) => Availability::Unknown(err.to_string()),
                            };
                            send(Reply::Holders(search, key, a));
                        }
                        return None;
                    }
                    Some(Reply::Searched(found))
                }));
            }
            Err(e) => {
                tab.state.say(false, format!("Cannot search: {e}. Example: filename=\"file.txt\" filesize>\"1048576\""))
            }
        },
        Command::DownloadPasted => match FileEntry::parse_line(&tab.state.query) {
            Ok(entry) => background(Box::new(move |e, _| Some(start_download(e, entry, true)))),
            Err(e) => tab.state.say(
                false,
                format!("Not a result line ({e}). Paste a line as search shows it: name length piecesize key"),
            ),
        },
        Command::Download(entry) => background(Box::new(move |e, _| Some(start_download(e, entry, false)))),
        Command::Control(id, control) => tab.engine.control(id, control),
        // These write the history (and retry reads a manifest): off the
        // UI thread, as a slow disk must not freeze the window.
        Command::Remove(id) => background(Box::new(move |e, _| {
            e.remove(id).err().map(|err| Reply::Message(false, format!("Cannot remove: {err}")))
        })),
        Command::Retry(id) => background(Box::new(move |e, _| {
            e.retry(id).err().map(|err| Reply::Message(false, format!("Cannot retry: {err}")))
        })),
        Command::ClearFinished => background(Box::new(move |e, _| {
            let n = e.clear_finished();
            Some(Reply::Message(true, format!("{} cleared", view::plural(n, "finished transfer"))))
        })),
        Command::Copy(text) => ctx.copy_text(text),
        Command::SetLimits { upload, download } => {
            let limits = tab.engine.rate_limits();
            limits.upload.set_rate(upload);
            limits.download.set_rate(download);
            tab.state.limits = None;
            log::info!("rate limits now: up {upload} B/s, down {download} B/s (0: none)");
        }
        Command::OpenFolder(dir) => {
            if let Err(e) = desktop::open_folder(&dir) {
                tab.state.say(false, e.to_string());
            }
        }
        Command::PickFiles => {
            // A dialog that never answered (a stuck portal) does not
            // block the button for the rest of the session.
            let stuck = tab.picking.as_ref().is_some_and(|p| p.waited() > setup::CHOOSER_PATIENCE);
            if tab.picking.is_none() || stuck {
                tab.picking = Some(desktop::pick_files(ctx));
            }
        }
        Command::AddPaths(paths) => add_paths(tab, paths, repaint),
        Command::CancelCopy => {
            if let Some(job) = &tab.copy {
                job.cancel();
            }
        }
        Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
    }
}

/// Search results whose holders are asked for (one `getfile` each).
const MAX_ASKED: usize = 100;

fn add_paths(tab: &mut Tab, paths: Vec<PathBuf>, repaint: &Repaint) {
    if tab.copy.as_ref().is_some_and(|job| !job.snapshot().finished) {
        tab.state.say(false, "Still adding the previous files: try again when they are in");
        return;
    }
    let (engine, replies, wake) = (tab.engine.clone(), tab.replies.clone(), repaint.clone());
    let dir = engine.settings().dir.clone();
    let done = move |outcomes: Vec<Result<String, share::AddError>>| {
        engine.rescan();
        let added: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().ok().cloned()).collect();
        let failed: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().err().map(|e| e.to_string())).collect();
        for e in &failed {
            log::warn!("not added: {e}");
        }
        let reply = match (added.len(), failed.first()) {
            (_, Some(first)) => Reply::Message(
                false,
                format!("{} added; {} not: {first}", view::plural(added.len(), "file"), failed.len()),
            ),
            (1, None) => Reply::Message(true, format!("{} added: shared within seconds", added[0])),
            (n, None) => Reply::Message(true, format!("{} added: shared within seconds", view::plural(n, "file"))),
        };
        replies.lock().push(reply);
        wake.request();
    };
    let name = format!("peer{}-add-files", tab.engine.settings().id);
    match share::start(name, paths, dir, done) {
        Ok(job) => {
            tab.state.copying = Some(job.snapshot());
            tab.state.prefs.main = view::MainView::Shared;
            tab.copy = Some(job);
        }
        Err(e) => tab.state.say(false, format!("Cannot start copying: {e}")),
    }
}

fn start_download(engine: &Engine, entry: FileEntry, pasted: bool) -> Reply {
    match engine.download(entry.clone()) {
        Ok(_) if pasted => Reply::Started(format!("Downloading {}", entry.name)),
        Ok(_) => Reply::Message(true, format!("Downloading {}", entry.name)),
        Err(e) => Reply::Message(false, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peer::engine::DownloadStatus;

    #[test]
    fn a_download_is_news_once_when_it_ends_not_when_restored() {
        let entry = FileEntry::parse_line(&format!("a.bin 10 4 {}", "ab".repeat(16))).unwrap();
        let mut running = DownloadStatus::new(1, entry.clone());
        let mut restored = DownloadStatus::new(2, entry);
        restored.state = DownloadState::Done;
        let mut seen = HashMap::new();
        assert!(newly_finished(&mut seen, &[running.clone(), restored.clone()]).is_empty());
        running.state = DownloadState::Done;
        let news = newly_finished(&mut seen, &[running.clone(), restored.clone()]);
        assert_eq!(news.len(), 1);
        assert_eq!(news[0].1, DownloadState::Done);
        assert!(newly_finished(&mut seen, &[running, restored]).is_empty(), "told once");
    }
}
