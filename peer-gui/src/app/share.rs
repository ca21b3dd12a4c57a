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
    paths: Vec<PathBuf>,
    dir: PathBuf,
    done: impl FnOnce(Vec<Result<String, AddError>>) + Send + 'static,
) -> std::io::Result<CopyJob> {
    let job = CopyJob::default();
    {
        let mut p = job.progress.lock();
        p.files = paths.len();
        p.total = paths.iter().filter_map(|p| std::fs::metadata(p).ok()).filter(|m| m.is_file()).map(|m| m.len()).sum();
    }
    let me = job.clone();
    std::thread::Builder::new().name("add-files".into()).spawn(move || {
        let outcomes: Vec<_> = paths.iter().map(|p| add_one(p, &dir, &me)).collect();
        me.progress.lock().finished = true;
        done(outcomes);
    })?;
    Ok(job)
}

fn add_one(path: &Path, dir: &Path, job: &CopyJob) -> Result<String, AddError> {
    let shown = path.display().to_string();
    let name = path.file_name().and_then(|n| n.to_str()).filter(|n| !n.starts_with('.'));
    let Some(name) = name.map(str::to_owned) else {
        return Err(AddError::NoName(shown));
    };
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
    let temp = dir.join(format!(".{name}.adding"));
    let copied = copy(path, &temp, job).map_err(|e| match e.kind() {
        std::io::ErrorKind::Interrupted => AddError::Cancelled(name.clone()),
        _ => io(e),
    });
    // A hard link fails when the name exists: never replaces a file that
    // appeared meanwhile.
    let linked = copied.and_then(|()| {
        std::fs::hard_link(&temp, &target).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => AddError::NameTaken(name.clone()),
            _ => io(e),
        })
    });
    let _ = std::fs::remove_file(&temp);
    linked?;
    job.progress.lock().copied_files += 1;
    Ok(name)
}

fn copy(from: &Path, to: &Path, job: &CopyJob) -> std::io::Result<()> {
    let mut input = std::fs::File::open(from)?;
    let mut output = std::fs::OpenOptions::new().write(true).create_new(true).open(to)?;
    let mut buf = vec![0; CHUNK];
    loop {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        output.write_all(&buf[..n])?;
        job.progress.lock().bytes += n as u64;
    }
    output.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(paths: Vec<PathBuf>, dir: &Path) -> Vec<Result<String, AddError>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let job = start(paths, dir.to_owned(), move |o| drop(tx.send(o))).unwrap();
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
