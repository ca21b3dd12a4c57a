//! Drawing one peer's tab from an engine snapshot. Nothing here does any
//! work: clicks become [`Command`]s that the app runs off the UI thread.

mod details;
mod files;
pub mod graph;
mod keys;
pub mod log;
mod peers;
pub mod search;
mod status;
pub mod transfers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::FileKey;
use common::protocol::FileEntry;
use eframe::egui::{self, Ui};
use peer::engine::{Control, Snapshot};
use serde::{Deserialize, Serialize};

use self::graph::Speeds;
use self::log::LogView;
use self::search::Availability;
use super::logger::LogLine;
use super::share::CopyProgress;
pub use peer::engine::stats::human_bytes as human_size;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Search with the text of the search field.
    Search,
    /// Download the result line typed or pasted in the search field.
    DownloadPasted,
    Download(FileEntry),
    Control(u64, Control),
    Copy(String),
    OpenFolder(PathBuf),
    /// Forget a download (cancelling it first if it runs).
    Remove(u64),
    /// Start a failed or cancelled download again.
    Retry(u64),
    ClearFinished,
    /// The native file dialog, to add files to the shared folder.
    PickFiles,
    /// Copy these files into the shared folder.
    AddPaths(Vec<PathBuf>),
    CancelCopy,
    Quit,
    /// New upload and download limits, bytes per second (0: none).
    SetLimits {
        upload: u64,
        download: u64,
    },
}

/// What the transfers table is sorted by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortBy {
    /// Newest first.
    #[default]
    Added,
    Name,
    Size,
    Progress,
    Down,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    pub by: SortBy,
    pub descending: bool,
}

/// What the middle of a tab shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MainView {
    #[default]
    Transfers,
    Results,
    Shared,
}

/// What the pane under it shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaneView {
    #[default]
    Details,
    Peers,
    Speed,
    Log,
}

/// A tab's choices, remembered between runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub main: MainView,
    pub pane: PaneView,
    pub sort: Sort,
    pub log: LogView,
}

/// The per-tab state the UI keeps between frames.
#[derive(Debug, Default)]
pub struct TabState {
    pub prefs: Prefs,
    pub query: String,
    /// Inline message under the search field (what is wrong, or done),
    /// and when it was said: news fades, errors stay until the next one.
    pub message: Option<(bool, String)>,
    pub message_at: Option<std::time::Instant>,
    pub searching: bool,
    /// The last search's results, and how many peers hold each.
    pub results: Vec<FileEntry>,
    pub availability: HashMap<FileKey, Availability>,
    pub result_selected: Option<usize>,
    /// The download whose details show under the table.
    pub selected: Option<u64>,
    /// Files being copied into the shared folder.
    pub copying: Option<CopyProgress>,
    /// The path field shown when no file dialog answers.
    pub path_field: Option<String>,
    pub speeds: Speeds,
    /// A first Delete on a running transfer, waiting for the second.
    pub confirm_remove: Option<(u64, std::time::Instant)>,
    /// The rate limits as edited, KiB/s (0: none); `None` until read
    /// from the engine.
    pub limits: Option<Limits>,
}

impl TabState {
    /// Shows `text` under the search field: `ok` news, or what went wrong.
    pub fn say(&mut self, ok: bool, text: impl Into<String>) {
        self.message = Some((ok, text.into()));
        self.message_at = Some(std::time::Instant::now());
    }

    /// The message to show now: news only for [`NEWS_FOR`].
    pub fn current_message(&self) -> Option<&(bool, String)> {
        let fresh = self.message_at.is_none_or(|at| at.elapsed() < NEWS_FOR);
        self.message.as_ref().filter(|(ok, _)| !ok || fresh)
    }
}

/// How long news ("Downloading X", "3 result(s)") stays under the field.
const NEWS_FOR: std::time::Duration = std::time::Duration::from_secs(8);

/// Upload and download limits in KiB/s, 0 for none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub upload: u64,
    pub download: u64,
}

/// The tab's rate limits, applied when changed.
fn limits(ui: &mut Ui, snapshot: &Snapshot, state: &mut TabState, commands: &mut Vec<Command>) {
    let kib = |rate: u64| rate.div_ceil(1024);
    let current = Limits { upload: kib(snapshot.limits.upload), download: kib(snapshot.limits.download) };
    let edited = state.limits.get_or_insert(current);
    ui.horizontal(|ui| {
        ui.label("Limits:");
        ui.label("up");
        ui.add(egui::DragValue::new(&mut edited.upload).range(0..=10_000_000).suffix(" KiB/s"));
        ui.label("down");
        ui.add(egui::DragValue::new(&mut edited.download).range(0..=10_000_000).suffix(" KiB/s"));
        ui.weak("(0: none)");
        if *edited != current && ui.button("Apply").clicked() {
            // A limit not edited keeps its exact value (the field shows it
            // rounded to KiB).
            let pick = |edited: u64, shown: u64, exact: u64| if edited == shown { exact } else { edited * 1024 };
            commands.push(Command::SetLimits {
                upload: pick(edited.upload, current.upload, snapshot.limits.upload),
                download: pick(edited.download, current.download, snapshot.limits.download),
            });
        }
    });
}

/// `12.5 MiB/s`.
pub fn human_rate(bytes_per_second: f64) -> String {
    format!("{}/s", human_size(bytes_per_second as u64))
}

/// `1 peer`, `2 peers`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// What a frame of one tab draws from, besides its state.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    pub logs: &'a [Arc<LogLine>],
    /// This tab's peer id (its log lines).
    pub peer: u32,
    pub folder: &'a Path,
    /// Every tab's title, and the one shown.
    pub titles: &'a [String],
}

/// A row of views to choose from.
fn chooser<T: PartialEq + Copy>(ui: &mut Ui, current: &mut T, choices: &[(T, String)]) {
    for (value, label) in choices {
        ui.selectable_value(current, *value, label.as_str());
    }
}

/// The whole window for one peer: tabs, status bar, search, the main
/// view (transfers, results or shared files) and the pane under it
/// (details, peers, speed, log). Returns what the user asked for.
pub fn layout(ui: &mut Ui, inputs: Inputs<'_>, state: &mut TabState, selected: &mut usize) -> Vec<Command> {
    let mut commands = keys::shortcuts(ui.ctx(), inputs.snapshot, state);
    let snapshot = inputs.snapshot;
    if inputs.titles.len() > 1 {
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for (i, title) in inputs.titles.iter().enumerate() {
                    ui.selectable_value(selected, i, title);
                }
            });
        });
    }
    egui::Panel::bottom("status").show(ui, |ui| status::status_bar(ui, snapshot));
    egui::Panel::bottom("pane").resizable(true).default_size(220.0).show(ui, |ui| {
        let pane = [
            (PaneView::Details, "Details".to_owned()),
            (PaneView::Peers, format!("Peers ({})", snapshot.transfers.connections.len())),
            (PaneView::Speed, "Speed".to_owned()),
            (PaneView::Log, "Log".to_owned()),
        ];
        // The pane keeps its height whatever its view holds.
        ui.set_min_height(ui.available_height());
        ui.horizontal(|ui| chooser(ui, &mut state.prefs.pane, &pane));
        ui.separator();
        match state.prefs.pane {
            PaneView::Details => {
                egui::ScrollArea::vertical().id_salt("details").auto_shrink([false, false]).show(ui, |ui| {
                    details::details(ui, snapshot, inputs.folder, state, &mut commands);
                });
            }
            PaneView::Peers => peers::peers(ui, snapshot),
            PaneView::Speed => {
                limits(ui, snapshot, state, &mut commands);
                graph::speed_graph(ui, &state.speeds);
            }
            PaneView::Log => log::log_panel(ui, inputs.logs, inputs.peer, &mut state.prefs.log),
        }
    });
    egui::CentralPanel::default().show(ui, |ui| {
        search::search_bar(ui, state, snapshot.lan().is_some(), &mut commands);
        ui.add_space(4.0);
        let main = [
            (MainView::Transfers, format!("Transfers ({})", snapshot.downloads.len())),
            (MainView::Results, format!("Results ({})", state.results.len())),
            (MainView::Shared, format!("Shared files ({})", snapshot.files.len())),
        ];
        ui.horizontal(|ui| {
            chooser(ui, &mut state.prefs.main, &main);
            ui.separator();
            search::message(ui, state);
        });
        ui.separator();
        match state.prefs.main {
            MainView::Transfers => transfers::table(ui, snapshot, state, &mut commands),
            MainView::Results => search::results(ui, state, &mut commands),
            MainView::Shared => files::local_files(ui, snapshot, inputs.folder, state, &mut commands),
        }
    });
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_fades_and_errors_stay() {
        let mut state = TabState::default();
        state.say(true, "Downloading x.bin");
        assert!(state.current_message().is_some());
        let long_ago = std::time::Instant::now().checked_sub(NEWS_FOR * 2);
        state.message_at = long_ago;
        assert!(state.current_message().is_none(), "old news still shown");
        state.say(false, "disk full");
        state.message_at = long_ago;
        assert_eq!(state.current_message().map(|(_, t)| t.as_str()), Some("disk full"));
    }

    #[test]
    fn counts_read_right() {
        assert_eq!(
            (plural(1, "peer"), plural(2, "peer"), plural(0, "peer")),
            ("1 peer".into(), "2 peers".into(), "0 peers".into())
        );
        assert_eq!(transfers::duration(0), "under 1 s");
        assert_eq!(transfers::duration(75), "1 min 15 s");
    }
}
