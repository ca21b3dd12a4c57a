//! Sharing files the user drops on the window or picks in a dialog:
//! copied into the shared folder on a background thread with progress.
//! A copy is written under a hidden name (the scanner skips those) and
//! linked to its final name only when complete, which also refuses to
//! replace a file already there: a half-copied file is never shared and
//! an existing one never overwritten.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

const CHUNK: usize = 1 << 20;

/// What a copy job did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyProgress {
    pub files: usize,
    pub copied_files: usize,
    pub bytes: u64,
    pub total: u64,
    /// The file being copied.
    pub current: String,
    pub finished: bool,
}

/// Why a file was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{0} is a folder: add the files inside it")]
    Folder(String),
    #[error("{0} is already in the shared folder")]
    AlreadyThere(String),
    #[error("a file named {0} is already shared: rename yours to add it")]
    NameTaken(String),
    #[error("{0} has no usable file name")]
    NoName(String),
    #[error("{0} is hidden: hidden files are not shared")]
    Hidden(String),
    #[error("{0} cannot be shared under this name (no blanks or control characters): rename it")]
    BadName(String),
    #[error("cannot copy {name}: {source}")]
    Io { name: String, source: std::io::Error },
    #[error("adding {0} was cancelled")]
    Cancelled(String),
}

/// A running copy: its progress, and a way to stop it.
#[derive(Debug, Clone, Default)]
pub struct CopyJob {
    pub progress: Arc<Mutex<CopyProgress>>,
    cancel: Arc<AtomicBool>,
}

impl CopyJob {
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CopyProgress {
        self.progress.lock().clone()
    }
}

/// Copies `paths` into `dir` on a thread; `done` gets each file's outcome
/// once all are through.
pub fn start(
    thread_name: String,
    paths: Vec<PathBuf>,
    dir: PathBuf,
    done: impl FnOnce(Vec<Result<String, AddError>>) + Send + 'static,
) -> std::io::Result<CopyJob> {
    let job = CopyJob::default();
    job.progress.lock().files = paths.len();
    let me = job.clone();
    std::thread::Builder::new().name(thread_name).spawn(move || {
        // Sizes are read here: a slow disk never stalls the window.
        let total = paths.iter().filter_map(|p| std::fs::metadata(p).ok()).filter(|m| m.is_file()).map(|m| m.len());
        me.progress.lock().total = total.sum();
        clear_stale(&dir);
        let outcomes: Vec<_> = paths.iter().map(|p| add_one(p, &dir, &me)).collect();
        me.progress.lock().finished = true;
        done(outcomes);
    })?;
    Ok(job)
}

fn add_one(path: &Path, dir: &Path, job: &CopyJob) -> Result<String, AddError> {
    let shown = path.display().to_string();
    let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
        return Err(AddError::NoName(shown));
    };
    if name.starts_with('.') {
        return Err(AddError::Hidden(name));
    }
    // What the scanner would refuse to share (and the protocol to carry).
    if common::protocol::FileName::new(&name).is_err() {
        return Err(AddError::BadName(name));
    }
    let io = |source| AddError::Io { name: name.clone(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(AddError::Folder(name));
    }
    let target = dir.join(&name);
    if path.parent().and_then(|p| p.canonicalize().ok()) == dir.canonicalize().ok() {
        return Err(AddError::AlreadyThere(name));
    }
    if target.exists() {
        return Err(AddError::NameTaken(name));
    }
    job.progress.lock().current = name.clone();
    // Short and unique: two copies of one name (two tabs on one folder)
    // never share a temporary file.
    let temp = dir.join(format!("{TEMP_PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let copied = match copy(path, &temp, job) {
        Ok(()) => Ok(()),
        Err(Copy::Create(e)) => return Err(io(e)),
        Err(Copy::Cancelled) => Err(AddError::Cancelled(name.clone())),
        Err(Copy::Io(e)) => Err(io(e)),
    };
    let linked = copied.and_then(|()| {
        publish(&temp, &target).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => AddError::NameTaken(name.clone()),
            _ => io(e),
        })
    });
    let _ = std::fs::remove_file(&temp);
    linked?;
    job.progress.lock().copied_files += 1;
    Ok(name)
}

/// Temporary copies start with this (hidden: the scanner skips them).
const TEMP_PREFIX: &str = ".adding-";
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Removes temporary copies an interrupted run left (over a day old, so
/// another app's copy in progress is left alone).
fn clear_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let stale = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && stale.is_some_and(|age| age > std::time::Duration::from_secs(86_400))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Gives the complete copy its name, never replacing a file that
/// appeared meanwhile: a hard link fails if the name exists; where links
/// are not supported (FAT, some network mounts) a rename after a check.
fn publish(temp: &Path, target: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(temp, target) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            if target.exists() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            log::debug!("no hard link in {} ({e}): renaming", target.display());
            std::fs::rename(temp, target)
        }
        other => other,
    }
}

enum Copy {
    /// The temporary file could not be made (nothing of ours to remove).
    Create(std::io::Error),
    Cancelled,
    Io(std::io::Error),
}

fn copy(from: &Path, to: &Path, job: &CopyJob) -> Result<(), Copy> {
    let mut input = std::fs::File::open(from).map_err(Copy::Create)?;
    let mut output = std::fs::OpenOptions::new().write(true).create_new(true).open(to).map_err(Copy::Create)?;
    let mut buf = vec![0; CHUNK];
    loop {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(Copy::Cancelled);
        }
        let n = match input.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Io(e)),
        };
        if n == 0 {
            break;
        }
        output.write_all(&buf[..n]).map_err(Copy::Io)?;
        job.progress.lock().bytes += n as u64;
    }
    output.sync_all().map_err(Copy::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(paths: Vec<PathBuf>, dir: &Path) -> Vec<Result<String, AddError>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let job = start("test-add".into(), paths, dir.to_owned(), move |o| drop(tx.send(o))).unwrap();
        let out = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert!(job.snapshot().finished);
        out
    }

    #[test]
    fn files_are_copied_and_nothing_is_overwritten() {
        let from = tempfile::tempdir().unwrap();
        let shared = tempfile::tempdir().unwrap();
        std::fs::write(from.path().join("a.txt"), b"new").unwrap();
        std::fs::write(from.path().join("b.txt"), b"bb").unwrap();
        std::fs::write(shared.path().join("b.txt"), b"mine").unwrap();
        std::fs::create_dir(from.path().join("sub")).unwrap();
        let out = run(
            vec![
                from.path().join("a.txt"),
                from.path().join("b.txt"),
                from.path().join("sub"),
                from.path().join("gone"),
            ],
            shared.path(),
        );
        assert_eq!(out[0].as_ref().ok().map(String::as_str), Some("a.txt"));
        assert!(matches!(out[1], Err(AddError::NameTaken(_))));
        assert!(matches!(out[2], Err(AddError::Folder(_))));
        assert!(matches!(out[3], Err(AddError::Io { .. })));
        assert_eq!(std::fs::read(shared.path().join("a.txt")).unwrap(), b"new");
        assert_eq!(std::fs::read(shared.path().join("b.txt")).unwrap(), b"mine", "an existing file is kept");
        let names: Vec<_> = std::fs::read_dir(shared.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn a_file_already_in_the_folder_is_not_copied_onto_itself() {
        let shared = tempfile::tempdir().unwrap();
        std::fs::write(shared.path().join("a.txt"), b"x").unwrap();
        let out = run(vec![shared.path().join("a.txt")], shared.path());
        assert!(matches!(out[0], Err(AddError::AlreadyThere(_))));
        assert_eq!(std::fs::read(shared.path().join("a.txt")).unwrap(), b"x");
    }
}
