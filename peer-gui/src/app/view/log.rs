//! The log panel: the app's log lines, newest at the bottom.

use eframe::egui::{self, Ui};

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
