//! The status bar: tracker state (or the neighbours, in the distributed
//! mode), live totals, the last error (cut to fit, whole on hover).

use eframe::egui::{self, Color32, RichText, Ui};
use peer::engine::{DiscoveryState, LanStatus, NetworkStatus, Snapshot, TrackerStatus};

use super::{human_rate, plural};

const GOOD: Color32 = Color32::from_rgb(90, 170, 90);

pub fn status_bar(ui: &mut Ui, snapshot: &Snapshot) {
    let x = &snapshot.transfers;
    ui.horizontal(|ui| {
        let problem = match &snapshot.network {
            NetworkStatus::Tracker(t) => tracker(ui, t),
            NetworkStatus::Lan(l) => lan(ui, l),
        };
        ui.separator();
        ui.label(format!("down {}", human_rate(x.down_rate)));
        ui.label(format!("up {}", human_rate(x.up_rate)));
        ui.separator();
        ui.label(plural(x.connections.len(), "peer")).on_hover_text("connections to other peers, both ways");
        let active = snapshot.downloads.iter().filter(|d| !d.state.is_finished()).count();
        ui.label(format!("{active} active"));
        if let Some(text) = problem {
            ui.separator();
            ui.add(egui::Label::new(RichText::new(&text).color(ui.visuals().error_fg_color)).truncate())
                .on_hover_text(text);
        }
    });
}

/// A painted dot: the default fonts have no bullet glyph.
fn dot(ui: &mut Ui, colour: Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 4.5, colour);
}

/// The tracker's state; returns the error to show, if any.
fn tracker(ui: &mut Ui, t: &TrackerStatus) -> Option<String> {
    if t.connected {
        dot(ui, GOOD);
        ui.label(format!("Tracker {} connected", t.addr));
        if let Some(at) = t.last_announce.and_then(|at| at.elapsed().ok()) {
            ui.weak(format!("| told {}s ago", at.as_secs()))
                .on_hover_text("when the tracker last heard what this peer shares");
        }
        return None;
    }
    dot(ui, ui.visuals().error_fg_color);
    ui.label(format!("Tracker {} not connected", t.addr));
    t.last_error.as_ref().map(ToString::to_string)
}

/// The neighbours on the LAN; returns the problem to show, if any.
fn lan(ui: &mut Ui, l: &LanStatus) -> Option<String> {
    let n = l.neighbours.len();
    dot(ui, if n > 0 { GOOD } else { ui.visuals().warn_fg_color });
    let text = match n {
        0 => "LAN: looking for neighbours".to_owned(),
        n => format!("LAN: {}", plural(n, "neighbour")),
    };
    let hover = match &l.discovery {
        DiscoveryState::On { group } => format!("no tracker; discovery on {group}"),
        DiscoveryState::Off => "no tracker; discovery off (listed neighbours only)".to_owned(),
        DiscoveryState::Failed(why) => format!("no tracker; {why}"),
    };
    let listed: Vec<String> = l.neighbours.iter().map(|x| x.addr.to_string()).collect();
    let hover = if listed.is_empty() { hover } else { format!("{hover}\n{}", listed.join("\n")) };
    ui.label(text).on_hover_text(hover);
    match &l.discovery {
        DiscoveryState::Failed(why) if n == 0 => Some(why.clone()),
        _ => None,
    }
}
