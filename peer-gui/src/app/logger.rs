//! Log records for the app's log panel: a `log` logger that keeps the
//! last lines in a bounded buffer and still writes to stderr through
//! `env_logger` (RUST_LOG applies to both).

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

/// Lines kept for the log panel.
pub const KEEP: usize = 500;

#[derive(Debug, Clone, Default)]
pub struct LogLines(Arc<Mutex<VecDeque<String>>>);

impl LogLines {
    pub fn push(&self, line: String) {
        let mut lines = self.0.lock();
        if lines.len() == KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().iter().cloned().collect()
    }
}

struct Tee {
    inner: env_logger::Logger,
    lines: LogLines,
}

impl log::Log for Tee {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.inner.matches(record) {
            self.lines.push(format!("{:<5} {}", record.level(), record.args()));
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the logger (info by default); returns the panel's buffer.
pub fn install() -> LogLines {
    // The windowing crates are chatty at info; RUST_LOG still overrides.
    let default = "info,winit=warn,eframe=warn,egui_glow=warn,egui_winit=warn";
    let inner = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default)).build();
    let lines = LogLines::default();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Tee { inner, lines: lines.clone() })).is_ok() {
        log::set_max_level(max);
    }
    lines
}
