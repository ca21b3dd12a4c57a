//! Log records for the app's log panel: a `log` logger that keeps the
//! last records in a bounded buffer and still writes to stderr through
//! `env_logger` (RUST_LOG applies to both). Each record remembers the peer
//! it came from (engine threads are named `peer{id}-...`) so each tab
//! shows its own peer's lines.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

/// Records kept for the log panel.
pub const KEEP: usize = 1000;

/// One log record as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Local wall-clock time, `HH:MM:SS`.
    pub time: String,
    pub level: log::Level,
    /// The peer whose thread logged it; `None` for the app's own lines,
    /// which every tab shows.
    pub peer: Option<u32>,
    /// Logged by this project's crates, not by a library (winit, eframe).
    pub ours: bool,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct LogLines(Arc<Mutex<VecDeque<Arc<LogLine>>>>);

impl LogLines {
    pub fn push(&self, line: LogLine) {
        let mut lines = self.0.lock();
        if lines.len() == KEEP {
            lines.pop_front();
        }
        lines.push_back(Arc::new(line));
    }

    /// The records kept, oldest first (cheap: shared records).
    pub fn snapshot(&self) -> Vec<Arc<LogLine>> {
        self.0.lock().iter().cloned().collect()
    }
}

/// The peer id in an engine thread's name (`peer12-download-3`).
pub fn peer_of_thread(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("peer")?;
    let digits = rest.split('-').next()?;
    rest[digits.len()..].starts_with('-').then(|| digits.parse().ok()).flatten()
}

/// Targets of this project's crates.
fn is_ours(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    matches!(krate, "peer" | "peer_gui" | "common" | "tracker")
}

fn now() -> String {
    jiff::ZonedDateTime::now().strftime("%H:%M:%S").to_string()
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
            self.lines.push(LogLine {
                time: now(),
                level: record.level(),
                peer: std::thread::current().name().and_then(peer_of_thread),
                ours: is_ours(record.target()),
                text: record.args().to_string(),
            });
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
    let default = "info,winit=warn,eframe=warn,egui_glow=warn,egui_winit=warn,rfd=off";
    let inner = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default)).build();
    let lines = LogLines::default();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Tee { inner, lines: lines.clone() })).is_ok() {
        log::set_max_level(max);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_threads_name_their_peer() {
        assert_eq!(peer_of_thread("peer12-download-3"), Some(12));
        assert_eq!(peer_of_thread("peer1-serve-0"), Some(1));
        assert_eq!(peer_of_thread("peer-x"), None);
        assert_eq!(peer_of_thread("peer12"), None);
        assert_eq!(peer_of_thread("main"), None);
        assert_eq!(peer_of_thread("peerx1-a"), None);
    }

    #[test]
    fn library_targets_are_not_ours() {
        assert!(is_ours("peer::engine::download"));
        assert!(is_ours("peer_gui"));
        assert!(!is_ours("winit::platform_impl"));
        assert!(!is_ours("peerless"));
    }

    #[test]
    fn the_buffer_keeps_the_newest() {
        let lines = LogLines::default();
        for i in 0..KEEP + 5 {
            let text = i.to_string();
            lines.push(LogLine { time: now(), level: log::Level::Info, peer: None, ours: true, text });
        }
        let kept = lines.snapshot();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].text, "5");
    }
}
