//! The details of the selected download: where it goes, its pieces, and
//! each peer it talks to (what it sent, its rates, dropped peers).

use eframe::egui::{self, RichText, Ui};
use peer::engine::Snapshot;

use super::{Command, TabState, human_rate, human_size, plural};

/// The selected download: where it goes, and each peer it talks to.
pub fn details(
    ui: &mut Ui,
    snapshot: &Snapshot,
    folder: &std::path::Path,
    state: &mut TabState,
    commands: &mut Vec<Command>,
) {
    let Some(s) = state.selected.and_then(|id| snapshot.downloads.iter().find(|d| d.id == id)) else {
        state.selected = None;
        ui.weak("Select a transfer to see its pieces and its peers.");
        return;
    };
    ui.horizontal(|ui| {
        ui.strong(s.entry.name.as_str());
        ui.weak(format!("{} in pieces of {}", human_size(s.entry.length), human_size(s.entry.piece_size)));
        if ui.small_button("Copy result line").clicked() {
            commands.push(Command::Copy(s.entry.to_string()));
        }
    });
    match &s.path {
        Some(path) => drop(ui.weak(format!("Saved as {}", path.display()))),
        None => drop(ui.weak(format!("Saving into {}", folder.display()))),
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
