//! Keyboard shortcuts: Ctrl+F search, Ctrl+Q quit, and with no text field
//! focused Space (pause or resume the selected transfer), Delete (take a
//! finished one off the list) and Enter (download the selected result).

use eframe::egui::{self, Key, KeyboardShortcut, Modifiers};
use peer::engine::{Control, DownloadState, Snapshot};

use super::{Command, MainView, TabState, search};

pub fn shortcuts(ctx: &egui::Context, snapshot: &Snapshot, state: &mut TabState) -> Vec<Command> {
    let mut commands = Vec::new();
    let find = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);
    let quit = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);
    if ctx.input_mut(|i| i.consume_shortcut(&find)) {
        ctx.memory_mut(|m| m.request_focus(search::field_id()));
    }
    if ctx.input_mut(|i| i.consume_shortcut(&quit)) {
        commands.push(Command::Quit);
    }
    if ctx.memory(|m| m.focused().is_some()) {
        // Typing: keys belong to the field.
        return commands;
    }
    if state.prefs.main == MainView::Results
        && let Some(entry) = search::enter_downloads(ctx, state)
    {
        commands.push(Command::Download(entry));
    }
    // Only on the transfers the user sees; Delete only takes finished
    // ones off the list (cancelling needs the button, a deliberate click).
    let selected = state.selected.and_then(|id| snapshot.downloads.iter().find(|d| d.id == id));
    if state.prefs.main == MainView::Transfers
        && let Some(s) = selected
    {
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Space)) {
            match s.state {
                DownloadState::Paused => commands.push(Command::Control(s.id, Control::Resume)),
                _ if !s.state.is_finished() => commands.push(Command::Control(s.id, Control::Pause)),
                _ => {}
            }
        }
        if s.state.is_finished() && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Delete)) {
            commands.push(Command::Remove(s.id));
        }
    }
    commands
}
