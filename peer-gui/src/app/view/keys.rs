//! Keyboard shortcuts: Ctrl+F search, Ctrl+Q quit, and with no text field
//! focused Space (pause or resume the selected transfer), Delete (remove
//! it; twice for one still running) and Enter (download the selected
//! result).

use eframe::egui::{self, Key, KeyboardShortcut, Modifiers};
use peer::engine::{Control, DownloadState, Snapshot};

use super::{Command, MainView, TabState, search};

/// How long a first Delete on a running transfer waits for the second.
const CONFIRM_FOR: std::time::Duration = std::time::Duration::from_secs(4);

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
    // Only on the transfers the user sees.
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
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Delete)) {
            // A running one loses what it fetched: Delete twice.
            let confirmed = state.confirm_remove.is_some_and(|(id, at)| id == s.id && at.elapsed() < CONFIRM_FOR);
            if s.state.is_finished() || confirmed {
                state.confirm_remove = None;
                commands.push(Command::Remove(s.id));
            } else {
                state.confirm_remove = Some((s.id, std::time::Instant::now()));
                state.say(false, format!("Press Delete again to cancel {} and delete what it fetched", s.entry.name));
            }
        }
    }
    commands
}
