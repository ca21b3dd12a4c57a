//! What the app remembers between runs (through eframe's storage, with
//! the window's size and position and egui's memory, column widths
//! included): the tab shown and each tab's choices, by peer id.

use serde::{Deserialize, Serialize};

use super::App;
use super::view::Prefs;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    /// The peer id of the tab shown.
    pub shown: Option<u32>,
    /// Each tab's choices, by peer id.
    pub tabs: Vec<(u32, Prefs)>,
}

impl Persisted {
    pub fn of(app: &App) -> Self {
        Self {
            shown: app.tabs.get(app.selected).map(|t| t.engine.settings().id),
            tabs: app.tabs.iter().map(|t| (t.engine.settings().id, t.state.prefs)).collect(),
        }
    }

    /// Applies to the tabs of the same peers; others keep their defaults.
    pub fn apply(&self, app: &mut App) {
        for tab in &mut app.tabs {
            let id = tab.engine.settings().id;
            if let Some((_, prefs)) = self.tabs.iter().find(|(p, _)| *p == id) {
                tab.state.prefs = *prefs;
            }
        }
        if let Some(i) = self.shown.and_then(|id| app.tabs.iter().position(|t| t.engine.settings().id == id)) {
            app.selected = i;
        }
    }
}
