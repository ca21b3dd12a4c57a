//! What this peer shares, with what each file uploaded, and the ways to
//! share more: drop files on the window, Add files, or the folder itself.

use std::path::Path;

use eframe::egui::{self, Ui};
use egui_extras::{Column, TableBuilder};
use peer::engine::{Direction, Snapshot};

use super::{Command, TabState, human_rate, human_size, plural};

fn add_bar(ui: &mut Ui, folder: &Path, state: &mut TabState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if ui.button("Add files...").on_hover_text("copy files into the shared folder").clicked() {
            commands.push(Command::PickFiles);
        }
        if ui.button("Open shared folder").clicked() {
            commands.push(Command::OpenFolder(folder.to_owned()));
        }
        ui.add(egui::Label::new(egui::RichText::new(folder.display().to_string()).weak()).truncate());
    });
    if state.path_field.is_some() {
        // No file dialog answered: the path by hand.
        ui.horizontal(|ui| {
            let Some(path) = state.path_field.as_mut() else { return };
            let label = ui.label("File to add");
            let field = ui.add(egui::TextEdit::singleline(path).hint_text("/home/me/file.pdf").desired_width(320.0));
            let field = field.labelled_by(label.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Add").clicked() || enter) && !path.trim().is_empty() {
                commands.push(Command::AddPaths(vec![path.trim().into()]));
                path.clear();
            }
            if ui.small_button("Close").clicked() {
                state.path_field = None;
            }
        });
    }
    if let Some(p) = &state.copying {
        ui.horizontal(|ui| {
            let fraction = if p.total == 0 { 1.0 } else { p.bytes as f32 / p.total as f32 };
            ui.add(egui::ProgressBar::new(fraction).desired_width(160.0).text(format!("{:.0}%", fraction * 100.0)));
            ui.label(format!(
                "adding {} ({} of {}): {}",
                plural(p.files, "file"),
                human_size(p.bytes),
                human_size(p.total),
                p.current
            ));
            if ui.small_button("Stop").clicked() {
                commands.push(Command::CancelCopy);
            }
        });
    }
}

/// Shared files, virtualised: only visible rows are laid out.
pub fn local_files(ui: &mut Ui, snapshot: &Snapshot, folder: &Path, state: &mut TabState, commands: &mut Vec<Command>) {
    add_bar(ui, folder, state, commands);
    if snapshot.files.is_empty() {
        ui.add_space(12.0);
        ui.vertical_centered(|ui| {
            ui.label("Nothing shared yet.");
            ui.weak("Drag files onto this window, click Add files, or put files in the shared folder:");
            ui.weak("they are shared within seconds.");
        });
        return;
    }
    let t = &snapshot.transfers;
    let height = ui.available_height().max(120.0);
    TableBuilder::new(ui)
        .id_salt("files")
        .striped(true)
        .resizable(true)
        .max_scroll_height(height)
        .column(Column::remainder().at_least(140.0).clip(true))
        .column(Column::initial(80.0).at_least(50.0))
        .column(Column::initial(90.0).at_least(50.0))
        .column(Column::initial(90.0).at_least(50.0))
        .column(Column::initial(90.0).at_least(50.0))
        .column(Column::initial(60.0).at_least(40.0))
        .header(20.0, |mut h| {
            for title in ["Name", "Size", "State", "Uploaded", "Up", "Peers"] {
                h.col(|ui| drop(ui.strong(title)));
            }
        })
        .body(|body| {
            body.rows(20.0, snapshot.files.len(), |mut row| {
                let f = &snapshot.files[row.index()];
                let uploads = t.uploads.get(&f.entry.key);
                let rate: f64 = t
                    .connections
                    .iter()
                    .filter(|c| c.direction == Direction::Incoming && c.key.as_ref() == Some(&f.entry.key))
                    .map(|c| c.up.rate)
                    .sum();
                row.col(|ui| {
                    ui.add(egui::Label::new(f.entry.name.as_str()).truncate())
                        .on_hover_text(format!("key {}", f.entry.key));
                });
                row.col(|ui| drop(ui.label(human_size(f.entry.length))));
                row.col(|ui| drop(ui.label(if f.partial { "downloading" } else { "shared" })));
                row.col(|ui| drop(ui.label(uploads.map_or("-".into(), |u| human_size(u.bytes)))));
                row.col(|ui| drop(ui.label(if rate > 0.0 { human_rate(rate) } else { "-".into() })));
                row.col(|ui| {
                    let n = uploads.map_or(0, |u| u.peers.len());
                    ui.label(n.to_string()).on_hover_text(format!("sent pieces to {}", plural(n, "peer")));
                });
            });
        });
}
