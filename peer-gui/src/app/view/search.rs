//! The search field (criteria, words or a pasted result line) and the
//! last search's results, with how many peers hold each.

use common::protocol::FileEntry;
use eframe::egui::{self, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::{Command, TabState, human_size, plural};

/// How many peers hold a result, as the tracker's `getfile` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Asking,
    /// Past the results whose holders are asked for.
    NotAsked,
    Holders(usize),
    /// The tracker could not be asked (the reason).
    Unknown(String),
}

/// The id of the search field (Ctrl+F focuses it).
pub fn field_id() -> egui::Id {
    egui::Id::unique("search-field")
}

/// `lan`: the distributed mode, which searches by whole file name.
pub fn search_bar(ui: &mut Ui, state: &mut TabState, lan: bool, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let label = ui.label("Search");
        let hint = if lan {
            r#"a whole file name such as holiday.zip (the local network searches exact names), or a result line"#
        } else {
            r#"words, filename="a.txt" filesize>"1048576", or a result line"#
        };
        let field = ui.add(
            egui::TextEdit::singleline(&mut state.query)
                .id(field_id())
                .hint_text(hint)
                .desired_width((ui.available_width() - 160.0).max(120.0)),
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
}

/// The last news or error, on one line (cut to fit, whole on hover) so
/// nothing below moves when it comes and goes.
pub fn message(ui: &mut Ui, state: &TabState) {
    if let Some((ok, text)) = state.current_message() {
        let color = if *ok { ui.visuals().weak_text_color() } else { ui.visuals().error_fg_color };
        ui.add(egui::Label::new(RichText::new(text).color(color)).truncate()).on_hover_text(text);
    }
}

fn availability(ui: &mut Ui, a: Option<&Availability>) {
    match a {
        None | Some(Availability::Asking) => drop(ui.weak("...")),
        Some(Availability::NotAsked) => drop(ui.weak("-").on_hover_text("not asked: narrow the search to see it")),
        Some(Availability::Holders(0)) => {
            ui.label(RichText::new("gone").color(ui.visuals().warn_fg_color))
                .on_hover_text("no peer is known to hold it any more");
        }
        Some(Availability::Holders(n)) => {
            ui.label(plural(*n, "peer")).on_hover_text("peers holding it, as the tracker or the answers say");
        }
        Some(Availability::Unknown(why)) => drop(ui.weak("?").on_hover_text(why.as_str())),
    }
}

/// The results; a double-click, or Enter on the selected one, downloads.
pub fn results(ui: &mut Ui, state: &mut TabState, commands: &mut Vec<Command>) {
    if state.results.is_empty() {
        ui.weak("No results yet: search for words of a name, or criteria such as filesize>\"1048576\".");
        return;
    }
    ui.horizontal(|ui| {
        if ui.small_button("Clear").clicked() {
            state.results.clear();
            state.result_selected = None;
        }
        ui.weak("Double-click a result (or select it and press Enter) to download it.");
    });
    if state.results.is_empty() {
        return;
    }
    let mut download = None;
    TableBuilder::new(ui)
        .id_salt("results")
        .striped(true)
        .resizable(true)
        .sense(egui::Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::remainder().at_least(120.0).clip(true))
        .column(Column::initial(80.0).at_least(50.0))
        .column(Column::initial(90.0).at_least(50.0))
        .column(Column::initial(70.0).at_least(40.0))
        .column(Column::exact(170.0))
        .header(20.0, |mut h| {
            h.col(|ui| drop(ui.strong("Name")));
            h.col(|ui| drop(ui.strong("Size")));
            h.col(|ui| drop(ui.strong("Pieces of")));
            h.col(|ui| drop(ui.strong("Peers")));
            h.col(|_| {});
        })
        .body(|body| {
            body.rows(22.0, state.results.len(), |mut row| {
                let i = row.index();
                let entry = &state.results[i];
                row.set_selected(state.result_selected == Some(i));
                row.col(|ui| {
                    ui.add(egui::Label::new(entry.name.as_str()).truncate().selectable(false))
                        .on_hover_text(format!("{}\nkey {}", entry.name, entry.key));
                });
                row.col(|ui| drop(ui.label(human_size(entry.length))));
                row.col(|ui| drop(ui.label(human_size(entry.piece_size))));
                row.col(|ui| availability(ui, state.availability.get(&entry.key)));
                row.col(|ui| {
                    if ui.small_button("Copy line").on_hover_text("copy the result line to share it").clicked() {
                        commands.push(Command::Copy(entry.to_string()));
                    }
                    if ui.small_button("Download").on_hover_text(format!("download {}", entry.name)).clicked() {
                        download = Some(entry.clone());
                    }
                });
                let response = row.response();
                if response.double_clicked() {
                    download = Some(entry.clone());
                } else if response.clicked() {
                    state.result_selected = Some(i);
                }
            });
        });
    if let Some(entry) = download {
        commands.push(Command::Download(entry));
    }
}

/// Enter with a result selected downloads it (the caller checks that no
/// text field has the keys).
pub fn enter_downloads(ctx: &egui::Context, state: &TabState) -> Option<FileEntry> {
    let enter = ctx.input(|i| i.key_pressed(egui::Key::Enter));
    enter.then(|| state.result_selected.and_then(|i| state.results.get(i).cloned())).flatten()
}
