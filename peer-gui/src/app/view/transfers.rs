//! The transfers table (one row per download, fixed columns so buttons
//! never move) and the details of the selected one: its peers, what each
//! sent and takes, and where the file goes.

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

pub fn table(ui: &mut Ui, snapshot: &Snapshot, state: &mut TabState, commands: &mut Vec<Command>) {
    ui.heading(format!("Transfers ({})", snapshot.downloads.len()));
    if snapshot.downloads.is_empty() {
        ui.weak("Nothing downloading. Search above, then Download a result (or paste a result line).");
        return;
    }
    let up = uploading(&snapshot.transfers);
    let rows = sorted(&snapshot.downloads, state.sort);
    let mut sort = state.sort;
    egui::ScrollArea::horizontal().id_salt("transfers-h").show(ui, |ui| {
        TableBuilder::new(ui)
            .id_salt("transfers")
            .striped(true)
            .sense(egui::Sense::click())
            .max_scroll_height(200.0)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::remainder().at_least(120.0).clip(true))
            .column(Column::exact(70.0))
            .column(Column::exact(110.0))
            .columns(Column::exact(75.0), 2)
            .column(Column::exact(140.0))
            .column(Column::exact(50.0))
            .column(Column::exact(110.0).clip(true))
            .column(Column::exact(130.0))
            .header(ROW, |mut h| {
                h.col(|ui| header(ui, "Name", SortBy::Name, &mut sort));
                h.col(|ui| header(ui, "Size", SortBy::Size, &mut sort));
                h.col(|ui| header(ui, "Progress", SortBy::Progress, &mut sort));
                h.col(|ui| header(ui, "Down", SortBy::Down, &mut sort));
                h.col(|ui| drop(ui.strong("Up")));
                h.col(|ui| drop(ui.strong("ETA / time")));
                h.col(|ui| {
                    ui.strong("Peers").on_hover_text("peers sending to us / peers fetching from us");
                });
                h.col(|ui| drop(ui.strong("State")));
                h.col(|_| {});
            })
            .body(|body| {
                // Only the rows in view are laid out.
                body.rows(ROW, rows.len(), |mut row| {
                    let s = rows[row.index()];
                    row.set_selected(state.selected == Some(s.id));
                    let (up_rate, leechers) = up.get(&s.entry.key).copied().unwrap_or_default();
                    cells(&mut row, s, up_rate, leechers, commands);
                    if row.response().clicked() {
                        state.selected = (state.selected != Some(s.id)).then_some(s.id);
                    }
                });
            });
    });
    state.sort = sort;
}

fn cells(
    row: &mut egui_extras::TableRow<'_, '_>,
    s: &DownloadStatus,
    up_rate: f64,
    leechers: usize,
    commands: &mut Vec<Command>,
) {
    let running = !s.state.is_finished() && s.state != DownloadState::Paused;
    row.col(|ui| {
        ui.add(egui::Label::new(s.entry.name.as_str()).truncate().selectable(false))
            .on_hover_text(format!("{}\nkey {}", s.entry.name, s.entry.key));
    });
    row.col(|ui| drop(ui.label(human_size(s.entry.length))));
    row.col(|ui| {
        let mut bar =
            egui::ProgressBar::new(s.fraction()).desired_width(100.0).text(format!("{:.0}%", s.fraction() * 100.0));
        if matches!(s.state, DownloadState::Error(_) | DownloadState::Cancelled) {
            bar = bar.fill(ui.visuals().widgets.inactive.bg_fill);
        }
        ui.add(bar);
    });
    row.col(|ui| drop(ui.label(if running { human_rate(s.speed()) } else { "-".into() })));
    row.col(|ui| drop(ui.label(if up_rate > 0.0 { human_rate(up_rate) } else { "-".into() })));
    row.col(|ui| {
        let text = match &s.state {
            DownloadState::Done => {
                format!("{} at {}", duration(s.elapsed().as_secs()), human_rate(s.average_rate()))
            }
            _ if running => s.eta().map_or("-".into(), |d| duration(d.as_secs())),
            _ => "-".into(),
        };
        ui.label(text);
    });
    row.col(|ui| {
        ui.label(format!("{} / {leechers}", s.peers)).on_hover_text(format!(
            "{} sending to us, {} fetching from us",
            plural(s.peers, "peer"),
            plural(leechers, "peer")
        ));
    });
    row.col(|ui| {
        let (text, color) = state_text(ui, s);
        ui.add(egui::Label::new(RichText::new(&text).color(color)).truncate()).on_hover_text(text);
    });
    row.col(|ui| {
        let toggle = match s.state {
            DownloadState::Paused => Some(("Resume", Control::Resume)),
            _ if s.state.is_finished() => None,
            _ => Some(("Pause", Control::Pause)),
        };
        if let Some((label, control)) = toggle
            && ui.add_sized([60.0, 18.0], egui::Button::new(label).small()).clicked()
        {
            commands.push(Command::Control(s.id, control));
        }
        if let (DownloadState::Done, Some(path)) = (&s.state, &s.path)
            && ui.add_sized([90.0, 18.0], egui::Button::new("Open folder").small()).clicked()
        {
            commands.push(Command::OpenFolder(path.parent().unwrap_or(path).to_owned()));
        }
        if !s.state.is_finished() && ui.add_sized([60.0, 18.0], egui::Button::new("Cancel").small()).clicked() {
            commands.push(Command::Control(s.id, Control::Cancel));
        }
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

/// The selected download: where it goes, and each peer it talks to.
pub fn details(ui: &mut Ui, snapshot: &Snapshot, state: &mut TabState, commands: &mut Vec<Command>) {
    let Some(s) = state.selected.and_then(|id| snapshot.downloads.iter().find(|d| d.id == id)) else {
        state.selected = None;
        return;
    };
    ui.separator();
    ui.horizontal(|ui| {
        ui.strong(s.entry.name.as_str());
        ui.weak(format!("{} in pieces of {}", human_size(s.entry.length), human_size(s.entry.piece_size)));
        if ui.small_button("Copy result line").clicked() {
            commands.push(Command::Copy(s.entry.to_string()));
        }
    });
    if let Some(path) = &s.path {
        ui.weak(format!("Saved as {}", path.display()));
    }
    let peers: Vec<_> =
        snapshot.transfers.connections.iter().filter(|c| c.key.as_ref() == Some(&s.entry.key)).collect();
    if peers.is_empty() && s.sources.is_empty() {
        ui.weak("No peer connected for this file.");
    }
    egui::Grid::new("download-peers").striped(true).num_columns(5).show(ui, |ui| {
        if !peers.is_empty() || !s.sources.is_empty() {
            for title in ["Peer", "Role", "Verified from it", "Down", "Up"] {
                ui.strong(title);
            }
            ui.end_row();
        }
        for c in &peers {
            ui.label(c.peer.to_string());
            let outgoing = c.direction == peer::engine::Direction::Outgoing;
            ui.label(if outgoing { "sends to us" } else { "fetches from us" });
            let got = s.sources.get(&c.peer).map_or(0, |r| r.bytes);
            ui.label(if outgoing { human_size(got) } else { "-".into() });
            ui.label(human_rate(c.down.rate));
            ui.label(human_rate(c.up.rate));
            ui.end_row();
        }
        // Sources no longer connected still count.
        for (addr, r) in s.sources.iter().filter(|(a, _)| !peers.iter().any(|c| c.peer == **a)) {
            ui.label(addr.to_string());
            ui.weak("gone");
            ui.label(format!("{} ({})", human_size(r.bytes), plural(r.pieces as usize, "piece")));
            ui.label("-");
            ui.label("-");
            ui.end_row();
        }
    });
    for dropped in &s.dropped {
        ui.label(
            RichText::new(format!("{dropped} dropped: it sent bad pieces or broke the protocol"))
                .color(ui.visuals().warn_fg_color),
        );
    }
}
