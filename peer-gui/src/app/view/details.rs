//! The details of the selected download: where it goes, its pieces, and
//! each peer it talks to (what it sent, its rates, dropped peers).

use eframe::egui::{self, RichText, Ui};
use peer::engine::{DownloadState, DownloadStatus, Snapshot};

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
    pieces_bar(ui, s);
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

/// Which pieces are in: one column per pixel, as full as the share of its
/// pieces verified (a file of many pieces still shows where its holes are).
fn pieces_bar(ui: &mut Ui, s: &DownloadStatus) {
    let width = ui.available_width().clamp(100.0, 900.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 14.0), egui::Sense::hover());
    let v = ui.visuals();
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, v.extreme_bg_color);
    let fill = v.selection.bg_fill;
    let (count, total) = match (&s.pieces, &s.state) {
        (Some(map), _) => {
            let n = map.pieces().max(1);
            let columns = (width as u32).min(n).max(1);
            // Runs of columns with the same fill are painted as one rect.
            let mut run: Option<(u32, f32)> = None;
            let col_width = width / columns as f32;
            let paint = |from: u32, to: u32, level: f32| {
                if level > 0.0 {
                    let x0 = rect.left() + from as f32 * col_width;
                    let x1 = rect.left() + to as f32 * col_width;
                    let r = egui::Rect::from_x_y_ranges(x0..=x1, rect.y_range());
                    painter.rect_filled(r, 0.0, fill.gamma_multiply(0.25 + 0.75 * level));
                }
            };
            for c in 0..columns {
                let (a, b) = (c as u64 * n as u64 / columns as u64, (c as u64 + 1) * n as u64 / columns as u64);
                let have = (a..b.max(a + 1)).filter(|&i| map.has(i as u32)).count() as f32;
                let level = (have / (b.max(a + 1) - a) as f32 * 4.0).round() / 4.0;
                match run {
                    Some((_, l)) if l == level => {}
                    Some((start, l)) => {
                        paint(start, c, l);
                        run = Some((c, level));
                    }
                    None => run = Some((c, level)),
                }
            }
            if let Some((start, l)) = run {
                paint(start, columns, l);
            }
            (map.count(), map.pieces())
        }
        (None, DownloadState::Done) => {
            painter.rect_filled(rect, 2.0, fill);
            let n = s.entry.length.div_ceil(s.entry.piece_size.max(1));
            (n as u32, n as u32)
        }
        (None, _) => (0, 0),
    };
    response.on_hover_text(format!("{count} of {} verified", plural(total as usize, "piece")));
}
