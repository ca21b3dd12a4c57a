//! What the window shows before (or instead of) the peers: a first-run
//! screen when no configuration exists anywhere, and start-up errors (a
//! double-clicked app has no terminal to print them to).

use std::path::{Path, PathBuf};

use eframe::egui::{self, RichText, Ui};

pub use super::setup::Setup;
use super::{App, Repaint, Tab, logger::LogLines};
use peer::engine::{Engine, Settings};

pub enum Launch {
    // Boxed: the form is much larger than the running app's handle.
    Setup(Box<Setup>),
    Failed(String),
    Running(App),
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Setup(_) => f.write_str("Launch::Setup"),
            Self::Failed(e) => write!(f, "Launch::Failed({e})"),
            Self::Running(app) => write!(f, "Launch::Running({} tabs)", app.tabs.len()),
        }
    }
}

impl Launch {
    pub fn draw(&mut self, ui: &mut Ui) {
        let next = match self {
            Self::Running(app) => {
                app.draw(ui);
                None
            }
            Self::Failed(message) => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.heading("The peer could not start");
                    ui.label(RichText::new(message.as_str()).color(ui.visuals().error_fg_color));
                    ui.label("Fix the cause (for example stop the other program using the address) and start again.");
                });
                None
            }
            Self::Setup(setup) => setup.draw(ui),
        };
        if let Some(next) = next {
            *self = next;
        }
    }
}

impl eframe::App for Launch {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if let Self::Running(app) = self {
            eframe::set_value(storage, eframe::APP_KEY, &app.persisted());
        }
    }
}

impl Launch {
    /// Takes back the views an earlier run remembered (the window's size
    /// and position eframe restores itself).
    pub fn restore(&mut self, storage: Option<&dyn eframe::Storage>) {
        if let (Self::Running(app), Some(storage)) = (self, storage)
            && let Some(saved) = eframe::get_value::<super::Persisted>(storage, eframe::APP_KEY)
        {
            app.restore(&saved);
        }
    }
}

/// Starts one engine per settings and the app over them.
pub fn start_app(all: Vec<Settings>, logs: LogLines, repaint: Repaint) -> Result<App, String> {
    let mut tabs = Vec::new();
    for settings in all {
        let id = settings.id;
        let listener = std::net::TcpListener::bind(settings.listen)
            .map_err(|e| format!("peer {id}: cannot listen on {}: {e} (is it already running?)", settings.listen))?;
        let events = peer::engine::Events::default();
        events.on_event(repaint.notifier());
        let engine = Engine::with_listener(settings, listener, events).map_err(|e| format!("peer {id}: {e}"))?;
        tabs.push(Tab::new(engine));
    }
    Ok(App::new(tabs, logs, repaint))
}

/// The configuration to use, or `None` for the first-run screen.
pub fn existing_config(given: Option<&Path>) -> Option<PathBuf> {
    peer::engine::settings::find_config(given).ok()
}
