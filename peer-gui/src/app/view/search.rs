//! The search field (criteria, words or a pasted result line) and the
//! last search's results.

use common::protocol::FileEntry;
use eframe::egui::{self, RichText, Ui};

use super::{Command, TabState, human_size};

pub fn search_bar(ui: &mut Ui, state: &mut TabState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let label = ui.label("Search");
        let field = ui.add(
            egui::TextEdit::singleline(&mut state.query)
                .hint_text(r#"filename="file.txt"  filesize>"1048576"  or words, or paste a result line"#)
                .desired_width(ui.available_width() - 190.0),
        );
        let field = field.labelled_by(label.id);
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.add_enabled(!state.searching, egui::Button::new("Search")).clicked() || enter {
            commands.push(Command::Search);
        }
        if ui.button("Download").on_hover_text("Download the result line pasted in the field").clicked() {
            commands.push(Command::DownloadPasted);
        }
    });
    if let Some((ok, text)) = state.current_message() {
        let color = if *ok { ui.visuals().weak_text_color() } else { ui.visuals().error_fg_color };
        ui.label(RichText::new(text).color(color));
    }
}

pub fn results(ui: &mut Ui, results: &[FileEntry], commands: &mut Vec<Command>) {
    ui.heading(format!("Results ({})", results.len()));
    if results.is_empty() {
        ui.weak("No results yet: search for a name or criteria.");
        return;
    }
    egui::ScrollArea::vertical().id_salt("results").max_height(160.0).show_rows(
        ui,
        ui.text_style_height(&egui::TextStyle::Body) + 6.0,
        results.len(),
        |ui, rows| {
            for entry in &results[rows] {
                ui.horizontal(|ui| {
                    ui.label(entry.name.as_str());
                    ui.weak(human_size(entry.length));
                    ui.weak(format!("pieces of {}", human_size(entry.piece_size)));
                    ui.monospace(entry.key.short()).on_hover_text(entry.key.as_str());
                    if ui.small_button("Copy line").clicked() {
                        commands.push(Command::Copy(entry.to_string()));
                    }
                    if ui.small_button(format!("Download {}", entry.name)).clicked() {
                        commands.push(Command::Download(entry.clone()));
                    }
                });
            }
        },
    );
}
