//! The app's contact with the desktop: notifications, the file manager,
//! the native file choosers. None of it may block a frame or panic: each
//! call that can wait (D-Bus, a dialog the user keeps open) runs on a
//! short-lived thread and answers through a [`Pending`] polled each frame.
//! Any of these services can be missing (no D-Bus session, no portal, a
//! bare window manager); the app then falls back on typed paths.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use eframe::egui;

/// An answer being worked out on its own thread. It may never come: rfd
/// waits without limit for a portal that took the request (and spins if
/// the bus drops meanwhile), and a thread cannot be cancelled. So callers
/// never wait on it in a frame, and use [`Self::waited`] to let the user
/// retry or type instead.
#[derive(Debug)]
pub struct Pending<T> {
    rx: Receiver<T>,
    since: Instant,
}

/// Where a [`Pending`] stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<T> {
    Waiting,
    Ready(T),
    /// The thread could not start or died without answering.
    Lost,
}

impl<T: Send + 'static> Pending<T> {
    /// Runs `work` on a thread named `name`; its answer repaints `ctx` so
    /// the frame that polls it comes without waiting for input.
    pub fn spawn(ctx: &egui::Context, name: &str, work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            // The receiver may be gone (a newer request replaced it).
            let _ = tx.send(work());
            ctx.request_repaint();
        });
        if let Err(e) = spawned {
            // The sender died with the closure: the first poll says Lost.
            log::error!("cannot start a thread for {name}: {e}");
        }
        Self { rx, since: Instant::now() }
    }
}

impl<T> Pending<T> {
    /// The answer if it came; never blocks.
    pub fn poll(&self) -> Poll<T> {
        match self.rx.try_recv() {
            Ok(answer) => Poll::Ready(answer),
            Err(TryRecvError::Empty) => Poll::Waiting,
            Err(TryRecvError::Disconnected) => Poll::Lost,
        }
    }

    /// Blocks up to `timeout` for the answer: for tests and worker
    /// threads, never for a frame.
    pub fn wait(&self, timeout: Duration) -> Poll<T> {
        match self.rx.recv_timeout(timeout) {
            Ok(answer) => Poll::Ready(answer),
            Err(mpsc::RecvTimeoutError::Timeout) => Poll::Waiting,
            Err(mpsc::RecvTimeoutError::Disconnected) => Poll::Lost,
        }
    }

    /// How long the answer has been awaited.
    pub fn waited(&self) -> Duration {
        self.since.elapsed()
    }
}

/// Notifications waiting on D-Bus at once; more are dropped, so a stuck
/// notification service cannot pile up threads.
const MAX_NOTIFYING: usize = 4;
static NOTIFYING: AtomicUsize = AtomicUsize::new(0);

/// A desktop notification, sent from a background thread. Without a
/// notification service (no D-Bus session, no daemon) it is logged at
/// debug level and dropped: the app shows the same news in its window.
pub fn notify(summary: &str, body: &str) {
    if NOTIFYING.fetch_add(1, Ordering::AcqRel) >= MAX_NOTIFYING {
        NOTIFYING.fetch_sub(1, Ordering::AcqRel);
        log::debug!("notification dropped, {MAX_NOTIFYING} still waiting on the desktop: {summary}");
        return;
    }
    let (owned, body) = (summary.to_owned(), body.to_owned());
    let spawned = std::thread::Builder::new().name("notify".into()).spawn(move || {
        let summary = owned;
        let shown = notify_rust::Notification::new().appname("Eirb2Share").summary(&summary).body(&body).show();
        if let Err(e) = shown {
            log::debug!("no desktop notification ({e}): {summary}");
        }
        NOTIFYING.fetch_sub(1, Ordering::AcqRel);
    });
    if let Err(e) = spawned {
        NOTIFYING.fetch_sub(1, Ordering::AcqRel);
        log::debug!("no desktop notification (cannot start a thread: {e}): {summary}");
    }
}

/// Why a folder could not be shown in the file manager.
#[derive(Debug)]
pub enum OpenError {
    /// Nothing at that path, or not a folder.
    Missing(PathBuf),
    /// `xdg-open` is not installed.
    NoOpener(PathBuf),
    /// `xdg-open` could not be started for another reason.
    Failed(PathBuf, io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(dir) => {
                write!(
                    f,
                    "{} is not a folder any more (moved or deleted?): create it or check the settings",
                    dir.display()
                )
            }
            Self::NoOpener(dir) => write!(
                f,
                "cannot open {}: xdg-open is not installed; install xdg-utils, or open the folder by hand",
                dir.display()
            ),
            Self::Failed(dir, e) => write!(f, "cannot open {} ({e}); open the folder by hand", dir.display()),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Failed(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Shows `dir` in the file manager through `xdg-open`, without waiting
/// for it.
pub fn open_folder(dir: &Path) -> Result<(), OpenError> {
    open_with("xdg-open", dir)
}

fn open_with(program: &str, dir: &Path) -> Result<(), OpenError> {
    // xdg-open on a missing path starts a program that then complains
    // where no one sees it: check first.
    if !dir.is_dir() {
        return Err(OpenError::Missing(dir.to_owned()));
    }
    let mut child = std::process::Command::new(program).arg(dir).spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => OpenError::NoOpener(dir.to_owned()),
        _ => OpenError::Failed(dir.to_owned(), e),
    })?;
    // Reaped on a thread: no zombie, and a handler-less desktop (xdg-open
    // exits non-zero) leaves a trace in the log.
    let (name, dir) = (program.to_owned(), dir.to_owned());
    let reaper = std::thread::Builder::new().name("xdg-open".into()).spawn(move || match child.wait() {
        Ok(status) if !status.success() => log::warn!("{name} {} ended with {status}", dir.display()),
        Ok(_) => {}
        Err(e) => log::debug!("waiting for {name}: {e}"),
    });
    if let Err(e) = reaper {
        log::debug!("{program} left unreaped (cannot start a thread: {e})");
    }
    Ok(())
}

/// The native "Add files" dialog (several files). `Some(files)` when a
/// chooser answered (empty: cancelled, or rfd's zenity fallback failed);
/// `None` when none could be shown (no portal, no D-Bus session, no
/// zenity), for a typed path instead.
pub fn pick_files(ctx: &egui::Context) -> Pending<Option<Vec<PathBuf>>> {
    Pending::spawn(ctx, "pick-files", || rfd::FileDialog::new().set_title("Add files").pick_files())
}

/// The native folder chooser, opened at `start`. `None` both when no
/// chooser could be shown and when the user cancelled: rfd does not tell
/// these apart for folders.
pub fn pick_folder(ctx: &egui::Context, start: Option<&Path>) -> Pending<Option<PathBuf>> {
    let start = start.filter(|s| s.is_dir()).map(Path::to_owned);
    Pending::spawn(ctx, "pick-folder", move || {
        let dialog = rfd::FileDialog::new().set_title("Folder to share");
        match start {
            Some(dir) => dialog.set_directory(dir).pick_folder(),
            None => dialog.pick_folder(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_reported_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        assert!(matches!(open_folder(&gone), Err(OpenError::Missing(p)) if p == gone));
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(open_folder(&file), Err(OpenError::Missing(_))));
    }

    #[test]
    fn a_missing_opener_is_its_own_error_naming_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_with("eirb2share-no-such-opener", dir.path()).unwrap_err();
        assert!(matches!(&e, OpenError::NoOpener(p) if p == dir.path()), "{e:?}");
    }

    #[test]
    fn a_pending_answer_arrives_and_repaints() {
        let ctx = egui::Context::default();
        let (tx, rx) = mpsc::channel();
        ctx.set_request_repaint_callback(move |_| {
            let _ = tx.send(());
        });
        let (go, wait) = mpsc::channel::<()>();
        let pending = Pending::spawn(&ctx, "test", move || {
            let _ = wait.recv();
            7
        });
        assert_eq!(pending.poll(), Poll::Waiting);
        go.send(()).unwrap();
        rx.recv_timeout(Duration::from_secs(30)).expect("no repaint");
        assert_eq!(pending.poll(), Poll::Ready(7));
        // One answer, then the thread ends and the channel says so.
        assert_eq!(pending.wait(Duration::from_secs(30)), Poll::Lost);
    }

    /// No D-Bus session and no display: nothing a test could pop up on a
    /// developer's screen. Tests that would show a dialog run only then.
    pub(crate) fn headless() -> bool {
        let unset = |v: &str| std::env::var_os(v).is_none_or(|s| s.is_empty());
        let runtime_bus = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists());
        unset("DBUS_SESSION_BUS_ADDRESS") && unset("DISPLAY") && unset("WAYLAND_DISPLAY") && !runtime_bus
    }

    #[test]
    fn without_a_session_the_choosers_answer_none_and_notify_is_silent() {
        if !headless() {
            eprintln!("skipped: a desktop session is there and would show the dialog");
            return;
        }
        let ctx = egui::Context::default();
        // rfd gives up at once without a session bus, then tries zenity:
        // absent, None; present but windowless, "cancelled". 30 s only
        // bounds a regression.
        let files = pick_files(&ctx).wait(Duration::from_secs(30));
        assert!(
            matches!(&files, Poll::Ready(None)) || matches!(&files, Poll::Ready(Some(v)) if v.is_empty()),
            "{files:?}"
        );
        assert_eq!(pick_folder(&ctx, None).wait(Duration::from_secs(30)), Poll::Ready(None));
        notify("Eirb2Share test", "nothing to show this to");
    }
}
