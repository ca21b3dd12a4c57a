//! What the window shows before (or instead of) the peers: a first-run
//! screen when no configuration exists anywhere, and start-up errors (a
//! double-clicked app has no terminal to print them to).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use eframe::egui::{self, Color32, RichText, Ui};

use super::{App, Repaint, Tab, logger::LogLines};
use peer::engine::{Engine, Settings};

pub enum Launch {
    Setup(Setup),
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
                    ui.label(RichText::new(message.as_str()).color(Color32::from_rgb(220, 80, 60)));
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
}

/// The first-run form: the folder to share and the tracker's address,
/// saved as a one-peer configuration at `path`.
#[derive(Debug)]
pub struct Setup {
    pub path: PathBuf,
    /// The port this peer listens on (all addresses).
    pub port: u16,
    pub folder: String,
    pub tracker: String,
    message: Option<String>,
    logs: LogLines,
    repaint: Repaint,
}

impl Setup {
    pub fn new(path: PathBuf, logs: LogLines, repaint: Repaint) -> Self {
        let folder = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("Eirb2Share").display().to_string())
            .unwrap_or_default();
        Self { path, port: 5001, folder, tracker: "127.0.0.100:5000".into(), message: None, logs, repaint }
    }

    fn draw(&mut self, ui: &mut Ui) -> Option<Launch> {
        let mut start = false;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Welcome to Eirb2Share");
            ui.label("Choose the folder you share (downloads land there too) and the tracker to use.");
            ui.add_space(8.0);
            egui::Grid::new("setup").num_columns(2).show(ui, |ui| {
                let label = ui.label("Shared folder");
                ui.add(egui::TextEdit::singleline(&mut self.folder).desired_width(420.0)).labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Tracker address");
                ui.add(egui::TextEdit::singleline(&mut self.tracker).desired_width(200.0).hint_text("ip:port"))
                    .labelled_by(label.id);
                ui.end_row();
            });
            ui.add_space(8.0);
            start = ui.button("Save and start").clicked();
            if let Some(m) = &self.message {
                ui.label(RichText::new(m.as_str()).color(Color32::from_rgb(220, 80, 60)));
            }
            ui.weak(format!("The settings are saved in {}", self.path.display()));
        });
        if !start {
            return None;
        }
        match self.save_and_start() {
            Ok(app) => Some(Launch::Running(app)),
            Err(e) => {
                self.message = Some(e);
                None
            }
        }
    }

    fn save_and_start(&self) -> Result<App, String> {
        let tracker: SocketAddr = self.tracker.trim().parse().map_err(|_| {
            format!("{:?} is not an address: write ip:port, for example 127.0.0.100:5000", self.tracker)
        })?;
        let folder = PathBuf::from(self.folder.trim());
        if folder.as_os_str().is_empty() {
            return Err("choose a folder to share".into());
        }
        std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        let text = format!(
            "# Written by the first-run screen of peer-gui.\ntracker_ip = {}\ntracker_port = {}\n\npeer1_ip = 0.0.0.0\npeer1_port = {}\npeer1_directory_path = {}\n",
            tracker.ip(),
            tracker.port(),
            self.port,
            folder.display()
        );
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&self.path, text).map_err(|e| format!("cannot save {}: {e}", self.path.display()))?;
        let settings = peer::engine::settings::load_settings(Some(&self.path), 1).map_err(|e| e.to_string())?;
        start_app(vec![settings], self.logs.clone(), self.repaint.clone())
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
