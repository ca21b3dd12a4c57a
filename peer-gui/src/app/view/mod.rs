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
    /// New upload and download limits, bytes per second (0: none).
    SetLimits {
        upload: u64,
        download: u64,
    },
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
    /// Inline message under the search field (what is wrong, or done),
    /// and when it was said: news fades, errors stay until the next one.
    pub message: Option<(bool, String)>,
    pub message_at: Option<std::time::Instant>,
    pub searching: bool,
    /// The last search's results.
    pub results: Vec<FileEntry>,
    /// The download whose details show under the table.
    pub selected: Option<u64>,
    pub sort: Sort,
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
            limits(ui, snapshot, state, &mut commands);
            ui.separator();
            local_files(ui, snapshot);
        });
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
