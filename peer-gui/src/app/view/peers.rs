//! Every peer this tab's peer is connected to, both ways: address, the
//! file, what it is doing and the rates; in the distributed mode, its
//! neighbours first.

use eframe::egui::{self, Ui};
use egui_extras::{Column, TableBuilder};
use peer::engine::{Activity, Direction, How, LanStatus, Snapshot};

use super::human_rate;

pub fn peers(ui: &mut Ui, snapshot: &Snapshot) {
    if let Some(lan) = snapshot.lan() {
        neighbours(ui, lan);
        ui.separator();
    }
    let connections = &snapshot.transfers.connections;
    if connections.is_empty() {
        ui.weak("No peer connected.");
        return;
    }
    TableBuilder::new(ui)
        .id_salt("peers")
        .striped(true)
        .resizable(true)
        .column(Column::initial(150.0).at_least(90.0).clip(true))
        .column(Column::remainder().at_least(100.0).clip(true))
        .column(Column::initial(170.0).at_least(80.0).clip(true))
        .columns(Column::initial(90.0).at_least(60.0), 2)
        .header(20.0, |mut h| {
            for title in ["Peer", "File", "Doing", "Down", "Up"] {
                h.col(|ui| drop(ui.strong(title)));
            }
        })
        .body(|body| {
            body.rows(20.0, connections.len(), |mut row| {
                let c = &connections[row.index()];
                row.col(|ui| drop(ui.label(c.peer.to_string())));
                row.col(|ui| drop(ui.add(egui::Label::new(c.file.as_ref().map_or("-", |f| f.as_str())).truncate())));
                let doing = match (c.activity(), c.direction, c.neighbour) {
                    (Activity::Downloading, ..) => "sending to us",
                    (Activity::Uploading, ..) => "fetching from us",
                    (Activity::Idle, Direction::Incoming, Some(_)) => "neighbour link",
                    (Activity::Idle, Direction::Outgoing, _) => "idle (we fetch from it)",
                    (Activity::Idle, Direction::Incoming, None) => "idle (it fetches from us)",
                };
                row.col(|ui| {
                    let label = ui.label(doing);
                    if let Some(at) = c.neighbour {
                        label.on_hover_text(format!("the link neighbour {at} sends its searches on"));
                    }
                });
                row.col(|ui| drop(ui.label(human_rate(c.down.rate))));
                row.col(|ui| drop(ui.label(human_rate(c.up.rate))));
            });
        });
}

/// The neighbours on the LAN: where, how they came, for how long.
fn neighbours(ui: &mut Ui, lan: &LanStatus) {
    if lan.neighbours.is_empty() {
        ui.weak("No neighbour yet: looking for peers on the local network.");
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!("Neighbours ({})", lan.neighbours.len()));
        for n in &lan.neighbours {
            let how = match n.how {
                How::Discovered => "found by discovery",
                How::Listed => "listed in the configuration",
                How::JoinedUs => "joined us",
            };
            let since = n.since.elapsed().map_or(0, |d| d.as_secs());
            let since = if since < 120 { format!("{since} s") } else { format!("{} min", since / 60) };
            ui.label(n.addr.to_string()).on_hover_text(format!("{how}, neighbour for {since}"));
            ui.weak(format!("({since})"));
        }
    });
}
