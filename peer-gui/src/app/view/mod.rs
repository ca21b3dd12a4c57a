//! Drawing one peer's tab from an engine snapshot. Nothing here does any
//! work: clicks become [`Command`]s that the app runs off the UI thread.

mod files;
mod log;
mod search;
mod status;
pub mod transfers;

use common::protocol::FileEntry;
use eframe::egui::{self, Ui};
use peer::engine::{Control, Snapshot};

pub use self::files::{local_files, peers};
pub use self::log::log_panel;
pub use self::search::{results, search_bar};
pub use self::status::status_bar;
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
    OpenFolder(std::path::PathBuf),
}

/// What the transfers table is sorted by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Newest first.
    #[default]
    Added,
    Name,
    Size,
    Progress,
    Down,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sort {
    pub by: SortBy,
    pub descending: bool,
}

/// The per-tab state the UI keeps between frames.
#[derive(Debug, Default)]
pub struct TabState {
    pub query: String,
    /// Inline message under the search field (what is wrong, or done).
    pub message: Option<(bool, String)>,
    pub searching: bool,
    /// The last search's results.
    pub results: Vec<FileEntry>,
    /// The download whose details show under the table.
    pub selected: Option<u64>,
    pub sort: Sort,
}

/// `12.5 MiB/s`.
pub fn human_rate(bytes_per_second: f64) -> String {
    format!("{}/s", human_size(bytes_per_second as u64))
}

/// `1 peer`, `2 peers`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// The whole window for one peer: tabs, status bar, log, and the search,
/// results, transfers, peers and shared files. Returns what the user
/// asked for.
pub fn layout(
    ui: &mut Ui,
    snapshot: &Snapshot,
    state: &mut TabState,
    logs: &[String],
    titles: &[String],
    selected: &mut usize,
) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::Panel::top("tabs").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            for (i, title) in titles.iter().enumerate() {
                ui.selectable_value(selected, i, title);
            }
        });
    });
    egui::Panel::bottom("status").show(ui, |ui| status_bar(ui, snapshot));
    egui::Panel::bottom("log").resizable(true).show(ui, |ui| log_panel(ui, logs));
    egui::CentralPanel::default().show(ui, |ui| {
        egui::ScrollArea::vertical().id_salt("main").auto_shrink([false, false]).show(ui, |ui| {
            search_bar(ui, state, &mut commands);
            ui.separator();
            results(ui, &state.results, &mut commands);
            ui.separator();
            transfers::table(ui, snapshot, state, &mut commands);
            transfers::details(ui, snapshot, state, &mut commands);
            ui.separator();
            peers(ui, snapshot);
            ui.separator();
            local_files(ui, snapshot);
        });
    });
    commands
}
