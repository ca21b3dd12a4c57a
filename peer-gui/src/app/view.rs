//! Drawing one peer's tab from an engine snapshot. Nothing here does any
//! work: clicks become [`Command`]s that the app runs off the UI thread.

use common::protocol::FileEntry;
use eframe::egui::{self, Color32, RichText, Ui};

use peer::engine::{Control, DownloadState, DownloadStatus, Snapshot};

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

/// The per-tab state the UI keeps between frames.
#[derive(Debug, Default)]
pub struct TabState {
    pub query: String,
    /// Inline message under the search field (what is wrong, or done).
    pub message: Option<(bool, String)>,
    pub searching: bool,
    /// The last search's results.
    pub results: Vec<FileEntry>,
}

pub use peer::engine::stats::human_bytes as human_size;

/// The whole window for one peer: tabs, status bar, log, and the search,
/// results, downloads and files. Returns what the user asked for.
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
        ui.horizontal(|ui| {
            for (i, title) in titles.iter().enumerate() {
                ui.selectable_value(selected, i, title);
            }
        });
    });
    egui::Panel::bottom("status").show(ui, |ui| status_bar(ui, snapshot));
    egui::Panel::bottom("log").resizable(true).show(ui, |ui| log_panel(ui, logs));
    egui::CentralPanel::default().show(ui, |ui| {
        search_bar(ui, state, &mut commands);
        ui.separator();
        results(ui, &state.results, &mut commands);
        ui.separator();
        downloads(ui, snapshot, &mut commands);
        ui.separator();
        local_files(ui, snapshot);
    });
    commands
}

pub fn search_bar(ui: &mut Ui, state: &mut TabState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let label = ui.label("Search");
        let field = ui.add(
            egui::TextEdit::singleline(&mut state.query)
                .hint_text(r#"filename="file.txt"  filesize>"1048576"  or words, or paste a result line"#)
                .desired_width(ui.available_width() - 190.0),
        );
        let field = field.labelled_by(label.id);
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.add_enabled(!state.searching, egui::Button::new("Search")).clicked() || enter {
            commands.push(Command::Search);
        }
        if ui.button("Download").on_hover_text("Download the result line pasted in the field").clicked() {
            commands.push(Command::DownloadPasted);
        }
    });
    if let Some((ok, text)) = &state.message {
        let color = if *ok { ui.visuals().weak_text_color() } else { Color32::from_rgb(220, 80, 60) };
        ui.label(RichText::new(text).color(color));
    }
}

pub fn results(ui: &mut Ui, results: &[FileEntry], commands: &mut Vec<Command>) {
    ui.heading(format!("Results ({})", results.len()));
    if results.is_empty() {
        ui.weak("No results yet: search for a name or criteria.");
        return;
    }
    egui::ScrollArea::vertical().id_salt("results").max_height(160.0).show_rows(
        ui,
        ui.text_style_height(&egui::TextStyle::Body) + 6.0,
        results.len(),
        |ui, rows| {
            for entry in &results[rows] {
                ui.horizontal(|ui| {
                    ui.label(entry.name.as_str());
                    ui.weak(human_size(entry.length));
                    ui.weak(format!("pieces of {}", human_size(entry.piece_size)));
                    ui.monospace(entry.key.short()).on_hover_text(entry.key.as_str());
                    if ui.small_button("Copy line").clicked() {
                        commands.push(Command::Copy(entry.to_string()));
                    }
                    if ui.small_button(format!("Download {}", entry.name)).clicked() {
                        commands.push(Command::Download(entry.clone()));
                    }
                });
            }
        },
    );
}

fn state_text(s: &DownloadStatus) -> (String, Color32) {
    match &s.state {
        DownloadState::Connecting => ("connecting".into(), Color32::GRAY),
        DownloadState::Downloading => ("downloading".into(), Color32::from_rgb(80, 160, 230)),
        DownloadState::Stalled(why) => (format!("waiting: {why}"), Color32::from_rgb(220, 170, 60)),
        DownloadState::Paused => ("paused".into(), Color32::GRAY),
        DownloadState::Done => ("done".into(), Color32::from_rgb(90, 180, 90)),
        DownloadState::Cancelled => ("cancelled".into(), Color32::GRAY),
        DownloadState::Error(why) => (format!("error: {why}"), Color32::from_rgb(220, 80, 60)),
    }
}

pub fn downloads(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    ui.heading(format!("Downloads ({})", snapshot.downloads.len()));
    for s in snapshot.downloads.iter().rev() {
        ui.horizontal(|ui| {
            ui.label(s.entry.name.as_str());
            ui.monospace(s.entry.key.short()).on_hover_text(s.entry.key.as_str());
            let eta = s.eta().map_or(String::new(), |d| format!(" | ETA {}s", d.as_secs()));
            ui.add(egui::ProgressBar::new(s.fraction()).desired_width(180.0).text(format!(
                "{} / {}",
                human_size(s.verified_bytes),
                human_size(s.entry.length)
            )));
            ui.weak(format!("{}/s{eta} | {} peers", human_size(s.speed() as u64), s.peers));
            let (text, color) = state_text(s);
            ui.label(RichText::new(text).color(color));
            let toggle = match s.state {
                DownloadState::Paused => Some(("Resume", Control::Resume)),
                _ if s.state.is_finished() => None,
                _ => Some(("Pause", Control::Pause)),
            };
            if let Some((label, control)) = toggle
                && ui.small_button(label).clicked()
            {
                commands.push(Command::Control(s.id, control));
            }
            if let (DownloadState::Done, Some(path)) = (&s.state, &s.path)
                && ui.small_button("Open folder").clicked()
            {
                commands.push(Command::OpenFolder(path.parent().unwrap_or(path).to_owned()));
            }
            if !s.state.is_finished() && ui.small_button("Cancel").clicked() {
                commands.push(Command::Control(s.id, Control::Cancel));
            }
        });
    }
}

/// Local files, virtualised: only visible rows are laid out.
pub fn local_files(ui: &mut Ui, snapshot: &Snapshot) {
    ui.heading(format!("Shared files ({})", snapshot.files.len()));
    let row = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical().id_salt("files").auto_shrink([false, true]).show_rows(
        ui,
        row,
        snapshot.files.len(),
        |ui, rows| {
            for f in &snapshot.files[rows] {
                ui.horizontal(|ui| {
                    ui.label(f.entry.name.as_str());
                    ui.weak(human_size(f.entry.length));
                    ui.monospace(f.entry.key.short());
                    ui.weak(if f.partial { "downloading" } else { "shared" });
                });
            }
        },
    );
}

pub fn status_bar(ui: &mut Ui, snapshot: &Snapshot) {
    let t = &snapshot.tracker;
    ui.horizontal(|ui| {
        let (dot, text) = if t.connected {
            (Color32::from_rgb(90, 180, 90), format!("Tracker {} connected", t.addr))
        } else {
            (Color32::from_rgb(220, 80, 60), format!("Tracker {} not connected", t.addr))
        };
        // A painted dot: the default fonts have no bullet glyph.
        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
        ui.painter().circle_filled(rect.center(), 4.5, dot);
        ui.label(text);
        if let Some(at) = t.last_announce.and_then(|at| at.elapsed().ok()) {
            ui.weak(format!("| last announce {}s ago", at.as_secs()));
        }
        let x = &snapshot.transfers;
        ui.weak(format!(
            "| down {}/s, up {}/s, {} peer connection(s)",
            human_size(x.down_rate as u64),
            human_size(x.up_rate as u64),
            x.connections.len()
        ));
        if let Some(err) = &t.last_error {
            ui.label(RichText::new(format!("| {err}")).color(Color32::from_rgb(220, 80, 60)));
        }
    });
}

pub fn log_panel(ui: &mut Ui, lines: &[String]) {
    egui::CollapsingHeader::new(format!("Log ({} lines)", lines.len())).id_salt("log").show(ui, |ui| {
        let row = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
        egui::ScrollArea::vertical().id_salt("log-scroll").max_height(140.0).stick_to_bottom(true).show_rows(
            ui,
            row,
            lines.len(),
            |ui, rows| {
                for line in &lines[rows] {
                    ui.monospace(line);
                }
            },
        );
    });
}
