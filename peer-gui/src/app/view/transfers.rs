//! The transfers table: one row per download, columns that keep their
//! width, sortable; actions on the selected row in a toolbar that never
//! moves, and in each row's context menu.

use std::collections::HashMap;

use common::FileKey;
use eframe::egui::{self, Color32, RichText, Ui};
use egui_extras::{Column, TableBuilder};
use peer::engine::{Control, DownloadState, DownloadStatus, Snapshot, Transfers};

use super::{Command, Sort, SortBy, TabState, human_rate, human_size, plural};

const ROW: f32 = 22.0;

/// Per file key: the up rate and how many peers fetch it from us now.
fn uploading(t: &Transfers) -> HashMap<&FileKey, (f64, usize)> {
    let mut out: HashMap<&FileKey, (f64, usize)> = HashMap::new();
    for c in t.connections.iter().filter(|c| c.direction == peer::engine::Direction::Incoming) {
        if let Some(key) = &c.key {
            let e = out.entry(key).or_default();
            e.0 += c.up.rate;
            e.1 += 1;
        }
    }
    out
}

pub fn state_text(ui: &Ui, s: &DownloadStatus) -> (String, Color32) {
    let v = ui.visuals();
    match &s.state {
        DownloadState::Connecting => ("connecting".into(), v.weak_text_color()),
        DownloadState::Downloading => ("downloading".into(), v.hyperlink_color),
        DownloadState::Stalled(why) => (format!("waiting: {why}"), v.warn_fg_color),
        DownloadState::Paused => ("paused".into(), v.weak_text_color()),
        DownloadState::Done => ("done".into(), Color32::from_rgb(90, 170, 90)),
        DownloadState::Cancelled => ("cancelled".into(), v.weak_text_color()),
        DownloadState::Error(why) => (format!("error: {why}"), v.error_fg_color),
    }
}

fn sorted(downloads: &[DownloadStatus], sort: Sort) -> Vec<&DownloadStatus> {
    let mut rows: Vec<&DownloadStatus> = downloads.iter().rev().collect();
    match sort.by {
        SortBy::Added => {}
        SortBy::Name => rows.sort_by(|a, b| a.entry.name.as_str().cmp(b.entry.name.as_str())),
        SortBy::Size => rows.sort_by_key(|s| s.entry.length),
        SortBy::Progress => rows.sort_by(|a, b| a.fraction().total_cmp(&b.fraction())),
        SortBy::Down => rows.sort_by(|a, b| a.speed().total_cmp(&b.speed())),
    }
    if sort.descending {
        rows.reverse();
    }
    rows
}

/// A header that sorts by its column when clicked.
fn header(ui: &mut Ui, label: &str, by: SortBy, sort: &mut Sort) {
    let arrow = match (sort.by == by, sort.descending) {
        (true, false) => " ^",
        (true, true) => " v",
        _ => "",
    };
    if ui.add(egui::Button::new(RichText::new(format!("{label}{arrow}")).strong()).frame(false)).clicked() {
        *sort = Sort { by, descending: sort.by == by && !sort.descending };
    }
}

/// The actions on a download, as the toolbar and its context menu offer
/// them.
fn actions(ui: &mut Ui, s: &DownloadStatus, commands: &mut Vec<Command>) {
    let paused = s.state == DownloadState::Paused;
    let finished = s.state.is_finished();
    if paused && ui.button("Resume").on_hover_text("Space").clicked() {
        commands.push(Command::Control(s.id, Control::Resume));
        ui.close();
    }
    if !paused && !finished && ui.button("Pause").on_hover_text("Space").clicked() {
        commands.push(Command::Control(s.id, Control::Pause));
        ui.close();
    }
    if !finished && ui.button("Cancel").on_hover_text("stop and delete what was fetched").clicked() {
        commands.push(Command::Control(s.id, Control::Cancel));
        ui.close();
    }
    if matches!(s.state, DownloadState::Error(_) | DownloadState::Cancelled) && ui.button("Retry").clicked() {
        commands.push(Command::Retry(s.id));
        ui.close();
    }
    if let (DownloadState::Done, Some(path)) = (&s.state, &s.path)
        && ui.button("Open folder").clicked()
    {
        commands.push(Command::OpenFolder(path.parent().unwrap_or(path).to_owned()));
        ui.close();
    }
    let remove = if finished { "Remove from list" } else { "Cancel and remove" };
    if ui.button(remove).on_hover_text("Delete").clicked() {
        commands.push(Command::Remove(s.id));
        ui.close();
    }
}

/// Buttons acting on the selected download: they never move, whatever
/// the rows show.
fn toolbar(ui: &mut Ui, snapshot: &Snapshot, state: &TabState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let done = snapshot.downloads.iter().filter(|d| d.state == DownloadState::Done).count();
        if ui.add_enabled(done > 0, egui::Button::new("Clear finished").small()).clicked() {
            commands.push(Command::ClearFinished);
        }
        match state.selected.and_then(|id| snapshot.downloads.iter().find(|d| d.id == id)) {
            Some(s) => {
                ui.scope(|ui| {
                    ui.spacing_mut().button_padding = egui::vec2(4.0, 0.0);
                    actions(ui, s, commands);
                });
            }
            None if !snapshot.downloads.is_empty() => drop(ui.weak("select a row for its actions (or right-click it)")),
            None => {}
        }
    });
}

pub fn table(ui: &mut Ui, snapshot: &Snapshot, state: &mut TabState, commands: &mut Vec<Command>) {
    toolbar(ui, snapshot, state, commands);
    if snapshot.downloads.is_empty() {
        ui.weak("Nothing downloading. Search above, then Download a result (or paste a result line).");
        return;
    }
    let up = uploading(&snapshot.transfers);
    let rows = sorted(&snapshot.downloads, state.prefs.sort);
    let mut sort = state.prefs.sort;
    // Under 760 px the up rate and peer counts give way (the details
    // below still show them).
    let wide = ui.available_width() >= 760.0;
    let height = ui.available_height().max(120.0);
    let mut table = TableBuilder::new(ui)
        .id_salt(if wide { "transfers" } else { "transfers-narrow" })
        .striped(true)
        .resizable(true)
        .sense(egui::Sense::click())
        .max_scroll_height(height)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::remainder().at_least(120.0).clip(true))
        .column(Column::initial(70.0).at_least(50.0))
        .column(Column::initial(110.0).at_least(60.0))
        .column(Column::initial(75.0).at_least(50.0));
    if wide {
        table = table.column(Column::initial(75.0).at_least(50.0));
    }
    table = table.column(Column::initial(140.0).at_least(60.0).clip(true));
    if wide {
        table = table.column(Column::initial(50.0).at_least(40.0));
    }
    table
        .column(Column::initial(110.0).at_least(60.0).clip(true))
        .header(ROW, |mut h| {
            h.col(|ui| header(ui, "Name", SortBy::Name, &mut sort));
            h.col(|ui| header(ui, "Size", SortBy::Size, &mut sort));
            h.col(|ui| header(ui, "Progress", SortBy::Progress, &mut sort));
            h.col(|ui| header(ui, "Down", SortBy::Down, &mut sort));
            if wide {
                h.col(|ui| drop(ui.strong("Up")));
            }
            h.col(|ui| drop(ui.strong("ETA / time")));
            if wide {
                h.col(|ui| {
                    ui.strong("Peers").on_hover_text("peers sending to us / peers fetching from us");
                });
            }
            h.col(|ui| drop(ui.strong("State")));
        })
        .body(|body| {
            // Only the rows in view are laid out.
            body.rows(ROW, rows.len(), |mut row| {
                let s = rows[row.index()];
                row.set_selected(state.selected == Some(s.id));
                let (up_rate, leechers) = up.get(&s.entry.key).copied().unwrap_or_default();
                cells(&mut row, s, wide.then_some((up_rate, leechers)));
                let response = row.response();
                if response.clicked() {
                    state.selected = (state.selected != Some(s.id)).then_some(s.id);
                }
                if response.double_clicked()
                    && let (DownloadState::Done, Some(path)) = (&s.state, &s.path)
                {
                    commands.push(Command::OpenFolder(path.parent().unwrap_or(path).to_owned()));
                }
                response.context_menu(|ui| {
                    state.selected = Some(s.id);
                    actions(ui, s, commands);
                });
            });
        });
    state.prefs.sort = sort;
}

/// `up`: this file's up rate and how many peers fetch it from us, when
/// the table is wide enough to show them.
fn cells(row: &mut egui_extras::TableRow<'_, '_>, s: &DownloadStatus, up: Option<(f64, usize)>) {
    let running = !s.state.is_finished() && s.state != DownloadState::Paused;
    row.col(|ui| {
        ui.add(egui::Label::new(s.entry.name.as_str()).truncate().selectable(false))
            .on_hover_text(format!("{}\nkey {}", s.entry.name, s.entry.key));
    });
    row.col(|ui| drop(ui.label(human_size(s.entry.length))));
    row.col(|ui| {
        let mut bar = egui::ProgressBar::new(s.fraction()).text(format!("{:.0}%", s.fraction() * 100.0));
        if matches!(s.state, DownloadState::Error(_) | DownloadState::Cancelled) {
            bar = bar.fill(ui.visuals().widgets.inactive.bg_fill);
        }
        ui.add(bar);
    });
    row.col(|ui| drop(ui.label(if running { human_rate(s.speed()) } else { "-".into() })));
    if let Some((up_rate, _)) = up {
        row.col(|ui| drop(ui.label(if up_rate > 0.0 { human_rate(up_rate) } else { "-".into() })));
    }
    row.col(|ui| {
        let text = match &s.state {
            DownloadState::Done => {
                format!("{} at {}", duration(s.elapsed().as_secs()), human_rate(s.average_rate()))
            }
            _ if running => s.eta().map_or("-".into(), |d| duration(d.as_secs())),
            _ => "-".into(),
        };
        ui.add(egui::Label::new(&text).truncate()).on_hover_text(text);
    });
    if let Some((_, leechers)) = up {
        row.col(|ui| {
            ui.label(format!("{} / {leechers}", s.peers)).on_hover_text(format!(
                "{} sending to us, {} fetching from us",
                plural(s.peers, "peer"),
                plural(leechers, "peer")
            ));
        });
    }
    row.col(|ui| {
        let (text, color) = state_text(ui, s);
        ui.add(egui::Label::new(RichText::new(&text).color(color)).truncate()).on_hover_text(text);
    });
}

/// `under 1 s`, `75 s`, `12 min 5 s`, `2 h 3 min`.
pub fn duration(secs: u64) -> String {
    match secs {
        0 => "under 1 s".into(),
        1..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}
