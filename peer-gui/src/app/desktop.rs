//! Placeholder until the desktop module lands (replaced on merge).
use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use eframe::egui;

#[derive(Debug)]
pub struct OpenError(pub String);
impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn notify(_summary: &str, _body: &str) {}

pub fn open_folder(dir: &Path) -> Result<(), OpenError> {
    std::process::Command::new("xdg-open").arg(dir).spawn().map(drop).map_err(|e| OpenError(e.to_string()))
}

pub fn pick_files(_ctx: &egui::Context) -> Receiver<Option<Vec<PathBuf>>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let _ = tx.send(None);
    rx
}
