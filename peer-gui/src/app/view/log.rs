//! The log panel of one tab: its peer's records and the app's own, with
//! times, a level filter and other crates' lines hidden unless asked.

use std::sync::Arc;

use eframe::egui::{self, Color32, RichText, Ui};
use serde::{Deserialize, Serialize};

use crate::app::logger::LogLine;

/// The most detailed level shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl Level {
    const ALL: [Level; 5] = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];

    fn name(self) -> &'static str {
        match self {
            Level::Error => "Errors",
            Level::Warn => "Warnings",
            Level::Info => "Info",
            Level::Debug => "Debug",
            Level::Trace => "Trace",
        }
    }

    fn shows(self, level: log::Level) -> bool {
        let max = match self {
            Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
            Level::Trace => log::Level::Trace,
        };
        level <= max
    }
}

/// What the log panel of a tab shows (remembered between runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    pub level: Level,
    /// Also the libraries' lines (windowing, rendering).
    pub libraries: bool,
}

impl LogView {
    pub fn shows(&self, line: &LogLine, peer: u32) -> bool {
        line.peer.is_none_or(|p| p == peer) && (line.ours || self.libraries) && self.level.shows(line.level)
    }
}

fn level_color(ui: &Ui, level: log::Level) -> Color32 {
    let v = ui.visuals();
    match level {
        log::Level::Error => v.error_fg_color,
        log::Level::Warn => v.warn_fg_color,
        log::Level::Info => v.text_color(),
        log::Level::Debug | log::Level::Trace => v.weak_text_color(),
    }
}

/// The lines of `peer`'s tab, newest at the bottom (kept there while the
/// view is scrolled to the end).
pub fn log_panel(ui: &mut Ui, lines: &[Arc<LogLine>], peer: u32, view: &mut LogView) {
    let shown: Vec<&LogLine> = lines.iter().map(|l| l.as_ref()).filter(|l| view.shows(l, peer)).collect();
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("log-level").selected_text(view.level.name()).show_ui(ui, |ui| {
            for level in Level::ALL {
                ui.selectable_value(&mut view.level, level, level.name());
            }
        });
        ui.checkbox(&mut view.libraries, "Libraries").on_hover_text("also the windowing and rendering crates' lines");
        ui.weak(format!("{} of {} lines", shown.len(), lines.len()));
        if view.level >= Level::Debug && log::max_level() < log::LevelFilter::Debug {
            ui.weak("(start with RUST_LOG=debug to record debug lines)");
        }
    });
    let row = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
    egui::ScrollArea::both().id_salt("log-scroll").auto_shrink([false, false]).stick_to_bottom(true).show_rows(
        ui,
        row,
        shown.len(),
        |ui, rows| {
            for line in &shown[rows] {
                ui.horizontal(|ui| {
                    ui.monospace(RichText::new(&line.time).color(ui.visuals().weak_text_color()));
                    let level = format!("{:<5}", line.level);
                    ui.monospace(RichText::new(level).color(level_color(ui, line.level)));
                    ui.add(egui::Label::new(RichText::new(&line.text).monospace()).extend());
                });
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: log::Level, peer: Option<u32>, ours: bool) -> LogLine {
        LogLine { time: "12:00:00".into(), level, peer, ours, text: "x".into() }
    }

    #[test]
    fn a_tab_shows_its_peer_and_the_app_at_its_level() {
        let view = LogView::default();
        assert!(view.shows(&line(log::Level::Info, Some(2), true), 2));
        assert!(view.shows(&line(log::Level::Warn, None, true), 2), "the app's own lines show everywhere");
        assert!(!view.shows(&line(log::Level::Info, Some(3), true), 2), "another peer's line");
        assert!(!view.shows(&line(log::Level::Debug, Some(2), true), 2), "above the level");
        assert!(!view.shows(&line(log::Level::Warn, None, false), 2), "a library's line");
        let all = LogView { level: Level::Trace, libraries: true };
        assert!(all.shows(&line(log::Level::Debug, None, false), 2));
    }
}
