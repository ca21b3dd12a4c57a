//! The status bar: tracker state, live totals, the last error (cut to
//! fit, whole on hover).

use eframe::egui::{self, Color32, RichText, Ui};
use peer::engine::Snapshot;

use super::{human_rate, plural};

pub fn status_bar(ui: &mut Ui, snapshot: &Snapshot) {
    let t = &snapshot.tracker;
    let x = &snapshot.transfers;
    ui.horizontal(|ui| {
        let (dot, text) = if t.connected {
            (Color32::from_rgb(90, 170, 90), format!("Tracker {} connected", t.addr))
        } else {
            (ui.visuals().error_fg_color, format!("Tracker {} not connected", t.addr))
        };
        // A painted dot: the default fonts have no bullet glyph.
        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
        ui.painter().circle_filled(rect.center(), 4.5, dot);
        ui.label(text);
        if t.connected
            && let Some(at) = t.last_announce.and_then(|at| at.elapsed().ok())
        {
            ui.weak(format!("| told {}s ago", at.as_secs()))
                .on_hover_text("when the tracker last heard what this peer shares");
        }
        ui.separator();
        ui.label(format!("down {}", human_rate(x.down_rate)));
        ui.label(format!("up {}", human_rate(x.up_rate)));
        ui.separator();
        ui.label(plural(x.connections.len(), "peer")).on_hover_text("connections to other peers, both ways");
        let active = snapshot.downloads.iter().filter(|d| !d.state.is_finished()).count();
        ui.label(format!("{active} active"));
        if let Some(err) = &t.last_error
            && !t.connected
        {
            ui.separator();
            let text = err.to_string();
            ui.add(egui::Label::new(RichText::new(&text).color(ui.visuals().error_fg_color)).truncate())
                .on_hover_text(text);
        }
    });
}
