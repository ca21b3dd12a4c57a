//! What this peer shares, with what each file uploaded, and the peers it
//! is connected to.

use eframe::egui::{self, Ui};
use egui_extras::{Column, TableBuilder};
use peer::engine::{Activity, Direction, Snapshot};

use super::{human_rate, human_size, plural};

/// Shared files, virtualised: only visible rows are laid out.
pub fn local_files(ui: &mut Ui, snapshot: &Snapshot) {
    ui.heading(format!("Shared files ({})", snapshot.files.len()));
    if snapshot.files.is_empty() {
        ui.weak("Nothing shared yet: put files in the shared folder; they are shared within seconds.");
        return;
    }
    let t = &snapshot.transfers;
    TableBuilder::new(ui)
        .id_salt("files")
        .striped(true)
        .max_scroll_height(220.0)
        .column(Column::remainder().at_least(140.0).clip(true))
        .column(Column::exact(80.0))
        .column(Column::exact(90.0))
        .column(Column::exact(90.0))
        .column(Column::exact(90.0))
        .column(Column::exact(70.0))
        .header(20.0, |mut h| {
            for title in ["Name", "Size", "State", "Uploaded", "Up", "Peers"] {
                h.col(|ui| drop(ui.strong(title)));
            }
        })
        .body(|body| {
            body.rows(20.0, snapshot.files.len(), |mut row| {
                let f = &snapshot.files[row.index()];
                let uploads = t.uploads.get(&f.entry.key);
                let rate: f64 = t
                    .connections
                    .iter()
                    .filter(|c| c.direction == Direction::Incoming && c.key.as_ref() == Some(&f.entry.key))
                    .map(|c| c.up.rate)
                    .sum();
                row.col(|ui| {
                    ui.add(egui::Label::new(f.entry.name.as_str()).truncate())
                        .on_hover_text(format!("key {}", f.entry.key));
                });
                row.col(|ui| drop(ui.label(human_size(f.entry.length))));
                row.col(|ui| drop(ui.label(if f.partial { "downloading" } else { "shared" })));
                row.col(|ui| drop(ui.label(uploads.map_or("-".into(), |u| human_size(u.bytes)))));
                row.col(|ui| drop(ui.label(if rate > 0.0 { human_rate(rate) } else { "-".into() })));
                row.col(|ui| {
                    let n = uploads.map_or(0, |u| u.peers.len());
                    ui.label(n.to_string()).on_hover_text(format!("sent pieces to {}", plural(n, "peer")));
                });
            });
        });
}

/// Every connection of this peer, both ways.
pub fn peers(ui: &mut Ui, snapshot: &Snapshot) {
    let connections = &snapshot.transfers.connections;
    egui::CollapsingHeader::new(format!("Peers ({})", connections.len())).id_salt("peers").default_open(true).show(
        ui,
        |ui| {
            if connections.is_empty() {
                ui.weak("No peer connected.");
                return;
            }
            egui::Grid::new("peers-grid").striped(true).num_columns(5).show(ui, |ui| {
                for title in ["Peer", "File", "Doing", "Down", "Up"] {
                    ui.strong(title);
                }
                ui.end_row();
                for c in connections.iter() {
                    ui.label(c.peer.to_string());
                    ui.label(c.file.as_ref().map_or("-", |f| f.as_str()));
                    let doing = match (c.activity(), c.direction) {
                        (Activity::Downloading, _) => "sending to us",
                        (Activity::Uploading, _) => "fetching from us",
                        (Activity::Idle, Direction::Outgoing) => "idle (we fetch from it)",
                        (Activity::Idle, Direction::Incoming) => "idle (it fetches from us)",
                    };
                    ui.label(doing);
                    ui.label(human_rate(c.down.rate));
                    ui.label(human_rate(c.up.rate));
                    ui.end_row();
                }
            });
        },
    );
}
