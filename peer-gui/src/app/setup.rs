//! The first-run screen: the folder to share, the tracker and this peer's
//! port, checked as the user types and saved as a one-peer configuration.
//! What can wait (the folder chooser, the tracker's name lookup, writing
//! the file) runs on threads polled each frame.

mod check;
mod save;

use std::path::PathBuf;
use std::time::Duration;

use common::config::Host;
use eframe::egui::{self, Button, RichText, TextEdit, Ui};
use peer::engine::Settings;

pub use self::check::{FolderError, PortError, Problems, parse_port, split_host_port};
use self::check::{FolderState, expand};
use self::save::Job;
pub use self::save::SetupError;
use super::desktop::{self, Pending, Poll};
use super::launch::{Launch, start_app};
use super::{Repaint, logger::LogLines};

/// How long a silent folder chooser may keep Browse disabled: a portal can
/// take the request and never answer; rfd then waits forever.
pub const CHOOSER_PATIENCE: Duration = Duration::from_secs(60);
/// The note under the folder when no chooser answered.
pub const NO_CHOOSER: &str = "No folder chosen (no folder chooser available?): type the path.";
const SILENT_CHOOSER: &str = "The folder chooser has not answered: type the path, or Browse again.";

/// The first-run form, saved as a one-peer configuration at `path`.
#[derive(Debug)]
pub struct Setup {
    pub path: PathBuf,
    pub folder: String,
    /// A host name or IP address; `host:port` is split into both fields.
    pub host: String,
    pub tracker_port: String,
    /// The port this peer listens on (all addresses).
    pub port: String,
    problems: Problems,
    /// The last folder text looked at, and what is there.
    folder_seen: Option<(String, FolderState)>,
    browse: Option<Pending<Option<PathBuf>>>,
    browse_note: Option<&'static str>,
    saving: Option<Pending<Result<Settings, SetupError>>>,
    error: Option<SetupError>,
    logs: LogLines,
    repaint: Repaint,
}

impl Setup {
    pub fn new(path: PathBuf, logs: LogLines, repaint: Repaint) -> Self {
        let folder = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("Eirb2Share").display().to_string())
            .unwrap_or_default();
        Self {
            path,
            folder,
            // Where the shipped tracker configuration listens.
            host: "127.0.0.100".into(),
            tracker_port: "5000".into(),
            port: "5001".into(),
            problems: Problems::default(),
            folder_seen: None,
            browse: None,
            browse_note: None,
            saving: None,
            error: None,
            logs,
            repaint,
        }
    }

    /// What is wrong with the fields, as of the last frame.
    pub fn problems(&self) -> &Problems {
        &self.problems
    }

    /// Whether the folder chooser is open (or awaited).
    pub fn choosing(&self) -> bool {
        self.browse.is_some()
    }

    /// Why the last Save failed.
    pub fn error(&self) -> Option<&SetupError> {
        self.error.as_ref()
    }

    /// One stat per change of the folder text, not per frame.
    fn folder_state(&mut self) -> FolderState {
        if let Some((text, state)) = &self.folder_seen
            && *text == self.folder
        {
            return *state;
        }
        let state = match std::fs::metadata(expand(&self.folder)) {
            Ok(m) if m.is_dir() => FolderState::Folder,
            Ok(_) => FolderState::File,
            // Unreadable parents and the like: Save says what it is.
            Err(_) => FolderState::Missing,
        };
        self.folder_seen = Some((self.folder.clone(), state));
        state
    }

    fn check(&mut self) -> Problems {
        let (host, tracker_port) =
            split_host_port(&self.host).unwrap_or((self.host.clone(), self.tracker_port.clone()));
        let folder = if self.folder.trim().is_empty() {
            Some(FolderError::Empty)
        } else if [" #", " ;", "\n"].iter().any(|c| self.folder.contains(c)) {
            // The configuration file would read the rest as a comment.
            Some(FolderError::Unsaveable)
        } else {
            (self.folder_state() == FolderState::File).then_some(FolderError::NotAFolder)
        };
        Problems {
            folder,
            host: Host::parse(&host).err(),
            tracker_port: parse_port(&tracker_port).err(),
            port: parse_port(&self.port).err(),
        }
    }

    /// The checked fields, or `None` while something is wrong.
    fn job(&self) -> Option<Job> {
        let (host, tracker_port) =
            split_host_port(&self.host).unwrap_or((self.host.clone(), self.tracker_port.clone()));
        let folder = expand(&self.folder);
        Some(Job {
            path: self.path.clone(),
            folder: std::path::absolute(&folder).unwrap_or(folder),
            host: Host::parse(&host).ok()?,
            tracker_port: parse_port(&tracker_port).ok()?,
            port: parse_port(&self.port).ok()?,
        })
    }

    /// Takes the answers of the chooser and of Save; a saved configuration
    /// starts the peer.
    fn take_answers(&mut self, ctx: &egui::Context) -> Option<Launch> {
        if let Some(browse) = &self.browse {
            match browse.poll() {
                Poll::Ready(Some(dir)) => {
                    self.folder = dir.display().to_string();
                    self.browse = None;
                }
                Poll::Ready(None) | Poll::Lost => {
                    self.browse_note = Some(NO_CHOOSER);
                    self.browse = None;
                }
                Poll::Waiting if browse.waited() >= CHOOSER_PATIENCE => self.browse_note = Some(SILENT_CHOOSER),
                Poll::Waiting => ctx.request_repaint_after(CHOOSER_PATIENCE.saturating_sub(browse.waited())),
            }
        }
        let answer = match self.saving.as_ref()?.poll() {
            Poll::Waiting => return None,
            Poll::Ready(answer) => answer,
            Poll::Lost => Err(SetupError::Lost),
        };
        self.saving = None;
        let started =
            answer.and_then(|s| start_app(vec![s], self.logs.clone(), self.repaint.clone()).map_err(SetupError::Start));
        match started {
            Ok(app) => {
                // This frame drew nothing: draw the app at once.
                ctx.request_repaint();
                Some(Launch::Running(app))
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    pub(super) fn draw(&mut self, ui: &mut Ui) -> Option<Launch> {
        if let Some(next) = self.take_answers(ui.ctx()) {
            return Some(next);
        }
        self.problems = self.check();
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Welcome to Eirb2Share");
            ui.label("Choose the folder you share (downloads land there too) and the tracker to use.");
            ui.add_space(8.0);
            let edited =
                egui::Grid::new("setup").num_columns(2).spacing([8.0, 4.0]).show(ui, |ui| self.fields(ui)).inner;
            if edited {
                self.error = None;
                // The messages under the fields were drawn from the text
                // before this edit: show them afresh (Save uses them now).
                ui.ctx().request_repaint();
                self.problems = self.check();
            }
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                let ready = self.problems.none() && self.saving.is_none();
                if ui.add_enabled(ready, Button::new("Save and start")).clicked()
                    && let Some(job) = self.job()
                {
                    self.error = None;
                    self.saving = Some(Pending::spawn(ui.ctx(), "setup-save", move || job.run()));
                }
                if self.saving.is_some() {
                    ui.spinner();
                    ui.label("Looking up the tracker and saving…");
                }
            });
            if let Some(e) = &self.error {
                ui.label(RichText::new(e.to_string()).color(ui.visuals().error_fg_color));
            }
            ui.weak(format!("The settings are saved in {}", self.path.display()));
        });
        None
    }

    /// The form's rows; true when a field changed.
    fn fields(&mut self, ui: &mut Ui) -> bool {
        let mut edited = false;
        let label = ui.label("Shared folder");
        ui.horizontal(|ui| {
            let field = TextEdit::singleline(&mut self.folder).desired_width(380.0).hint_text("~/Eirb2Share");
            edited |= ui.add(field).labelled_by(label.id).changed();
            let patient = self.browse.as_ref().is_none_or(|b| b.waited() >= CHOOSER_PATIENCE);
            if ui.add_enabled(patient, Button::new("Browse…")).clicked() {
                let typed = expand(&self.folder);
                let start = typed.ancestors().find(|dir| dir.is_dir());
                self.browse = Some(desktop::pick_folder(ui.ctx(), start));
                self.browse_note = None;
            }
        });
        ui.end_row();
        let missing = !self.folder.trim().is_empty() && self.folder_state() == FolderState::Missing;
        let note = self.browse_note.or(missing.then_some("This folder will be created."));
        self.problem_row(ui, self.problems.folder.map(|e| e.to_string()), note);

        let label = ui.label("Tracker host");
        let field = TextEdit::singleline(&mut self.host)
            .desired_width(240.0)
            .hint_text("localhost, tracker.lan or 192.168.1.10");
        let response = ui.add(field).labelled_by(label.id);
        ui.end_row();
        // `host:port` pasted or typed: split once the user is done with it.
        let pasted = ui.input(|i| i.events.iter().any(|e| matches!(e, egui::Event::Paste(_))));
        if ((response.changed() && pasted) || response.lost_focus())
            && let Some((host, port)) = split_host_port(&self.host)
        {
            (self.host, self.tracker_port) = (host, port);
        }
        edited |= response.changed();
        self.problem_row(ui, self.problems.host.map(|e| e.to_string()), None);
        edited |= self.port_row(ui, "Tracker port", PortField::Tracker);
        edited |= self.port_row(ui, "This peer's port", PortField::Listen);
        edited
    }

    fn port_row(&mut self, ui: &mut Ui, name: &str, which: PortField) -> bool {
        let label = ui.label(name);
        let text = match which {
            PortField::Tracker => &mut self.tracker_port,
            PortField::Listen => &mut self.port,
        };
        let changed = ui.add(TextEdit::singleline(text).desired_width(80.0)).labelled_by(label.id).changed();
        ui.end_row();
        let problem = match which {
            PortField::Tracker => self.problems.tracker_port,
            PortField::Listen => self.problems.port,
        };
        self.problem_row(ui, problem.map(|e| e.to_string()), None);
        changed
    }

    /// Under a field: what is wrong in the error colour, else a weak note.
    fn problem_row(&self, ui: &mut Ui, problem: Option<String>, note: Option<&str>) {
        if problem.is_none() && note.is_none() {
            return;
        }
        ui.label("");
        match problem {
            Some(p) => ui.label(RichText::new(p).color(ui.visuals().error_fg_color)),
            None => ui.weak(note.unwrap_or_default()),
        };
        ui.end_row();
    }
}

#[derive(Debug, Clone, Copy)]
enum PortField {
    Tracker,
    Listen,
}
