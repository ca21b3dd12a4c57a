//! The transfers history: downloads that ended (done, failed, cancelled),
//! kept in `.eirb2share-history` in the shared folder (hidden, like the
//! key cache and the manifests, so it is never shared) so the transfers
//! list survives a restart. Only the last [`KEEP`] are kept.
//!
//! One line per download after a header line, fields separated by one
//! space, the error text last (names and keys hold no spaces):
//!
//! ```text
//! eirb2share-history 1
//! ID STATE STARTED_MS FINISHED_MS ACTIVE_MS FETCHED VERIFIED RETRYABLE NAME LENGTH PIECESIZE KEY [ERROR TEXT]
//! ```
//!
//! STATE is `done`, `cancelled` or `failed`; times are milliseconds since
//! the Unix epoch (ACTIVE_MS: milliseconds spent active, not paused);
//! FETCHED and VERIFIED are bytes; RETRYABLE is 0 or 1. The file is
//! replaced whole (written aside, then renamed), so a crash leaves the
//! old or the new list. A file that is not such a list is ignored with a
//! warning (and replaced at the next change); a bad line is skipped.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::protocol::FileEntry;

use super::download::{DownloadError, DownloadState, DownloadStatus, Times};

pub const FILE: &str = ".eirb2share-history";
const HEADER: &str = "eirb2share-history 1";
/// Downloads the history keeps, the latest.
pub const KEEP: usize = 200;
/// Bytes read at most: a foreign file cannot make a start read gigabytes
/// (KEEP lines take some 60 KB).
const MAX_READ: u64 = 1 << 20;

/// The downloads recorded in `dir`, oldest first, ids unique; empty when
/// there is no history or it cannot be read.
pub fn load(dir: &Path) -> Vec<DownloadStatus> {
    let path = dir.join(FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            log::warn!("cannot read the transfers history {}: {e}; starting with an empty list", path.display());
            return Vec::new();
        }
    };
    let mut lines = io::BufReader::new(file.take(MAX_READ)).lines();
    if !matches!(lines.next(), Some(Ok(ref h)) if h == HEADER) {
        log::warn!(
            "{} is not a transfers history this peer can read; starting with an empty list (it is replaced at the next change)",
            path.display()
        );
        return Vec::new();
    }
    let mut out: Vec<DownloadStatus> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut skipped = 0usize;
    // A line that is not UTF-8 is skipped like any unreadable line (not
    // the end of the list: the next save would lose the rest).
    for line in
        lines.take_while(|l| l.as_ref().is_ok() || l.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::InvalidData))
    {
        match line.ok().and_then(|line| parse(&line, dir)) {
            Some(s) if ids.insert(s.id) => out.push(s),
            _ => skipped += 1,
        }
    }
    if skipped > 0 {
        log::warn!("{}: {skipped} unreadable line(s) of the transfers history skipped", path.display());
    }
    let extra = out.len().saturating_sub(KEEP);
    out.drain(..extra);
    out
}

/// Replaces the history in `dir` with the last [`KEEP`] of `ended`
/// (downloads not ended are left out).
pub fn save(dir: &Path, ended: &[DownloadStatus]) -> io::Result<()> {
    let lines: Vec<String> = ended.iter().filter_map(line).collect();
    let kept = &lines[lines.len().saturating_sub(KEEP)..];
    let text: String =
        std::iter::once(HEADER).chain(kept.iter().map(String::as_str)).map(|l| format!("{l}\n")).collect();
    // Each save has its own temporary name: a save cannot write into
    // another's file.
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!("{FILE}.tmp{}", SAVES.fetch_add(1, Ordering::Relaxed)));
    let write = || -> io::Result<()> {
        let mut out = File::create(&tmp)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&tmp, dir.join(FILE))
    };
    write().inspect_err(|_| drop(std::fs::remove_file(&tmp)))
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn line(s: &DownloadStatus) -> Option<String> {
    let (state, retryable, message) = match &s.state {
        DownloadState::Done => ("done", false, String::new()),
        DownloadState::Cancelled => ("cancelled", true, String::new()),
        DownloadState::Error(e) => ("failed", e.is_retryable(), e.to_string().replace(['\n', '\r'], " ")),
        _ => return None,
    };
    Some(format!(
        "{} {state} {} {} {} {} {} {} {} {message}",
        s.id,
        millis(s.started),
        millis(s.finished.unwrap_or_else(SystemTime::now)),
        s.elapsed().as_millis(),
        s.fetched_bytes,
        s.verified_bytes,
        u8::from(retryable),
        s.entry,
    ))
}

fn parse(line: &str, dir: &Path) -> Option<DownloadStatus> {
    let f: Vec<&str> = line.splitn(13, ' ').collect();
    if f.len() < 12 {
        return None;
    }
    let number = |i: usize| f[i].parse::<u64>().ok();
    let time = |i: usize| number(i).map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    let id = number(0).filter(|&id| id > 0)?;
    let times = Times {
        started: time(2)?,
        finished: time(3)?,
        active: Duration::from_millis(number(4)?),
        fetched_bytes: number(5)?,
        verified_bytes: number(6)?,
    };
    let retryable = match f[7] {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let entry = FileEntry::parse_line(&f[8..12].join(" ")).ok()?;
    let message = f.get(12).copied().unwrap_or("").to_owned();
    let state = match f[1] {
        "done" => DownloadState::Done,
        "cancelled" => DownloadState::Cancelled,
        "failed" => DownloadState::Error(DownloadError::EarlierRun { message, retryable }),
        _ => return None,
    };
    let done = state == DownloadState::Done;
    let mut status = DownloadStatus::ended(id, entry, state, times);
    if done {
        status.path = Some(dir.join(status.entry.name.as_str()));
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> FileEntry {
        FileEntry::parse_line(&format!("{name} 10000 4096 {}", "ab".repeat(16))).unwrap()
    }

    fn ended(id: u64, name: &str, state: DownloadState) -> DownloadStatus {
        let mut s = DownloadStatus::new(id, entry(name));
        s.add_verified(4096, None);
        s.set_state(state);
        s
    }

    #[test]
    fn ended_downloads_come_back_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let failed = DownloadState::Error(DownloadError::NoPeer);
        let list = [
            ended(3, "a.bin", DownloadState::Done),
            ended(5, "b.bin", failed),
            ended(7, "c.bin", DownloadState::Cancelled),
            DownloadStatus::new(9, entry("running.bin")),
        ];
        save(dir.path(), &list).unwrap();
        let back = load(dir.path());
        assert_eq!(back.iter().map(|s| s.id).collect::<Vec<_>>(), [3, 5, 7], "the running one is not history");
        assert_eq!(back[0].state, DownloadState::Done);
        assert_eq!(back[0].path, Some(dir.path().join("a.bin")));
        assert_eq!((back[0].fetched_bytes, back[0].verified_bytes), (4096, 4096));
        assert_eq!(back[0].entry, list[0].entry);
        assert_eq!(back[0].elapsed().as_millis(), list[0].elapsed().as_millis(), "active time kept, frozen");
        let message = DownloadError::NoPeer.to_string();
        assert_eq!(back[1].state, DownloadState::Error(DownloadError::EarlierRun { message, retryable: true }));
        assert!(back[1].can_retry() && back[2].can_retry());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [FILE], "no temporary file left");
    }

    #[test]
    fn only_the_latest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let list: Vec<DownloadStatus> =
            (1..=KEEP as u64 + 5).map(|id| ended(id, "a.bin", DownloadState::Done)).collect();
        save(dir.path(), &list).unwrap();
        let back = load(dir.path());
        assert_eq!(back.len(), KEEP);
        assert_eq!(back[0].id, 6);
    }

    #[test]
    fn a_foreign_or_damaged_file_gives_an_empty_or_partial_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"\xff\xfe not ours\n1 done").unwrap();
        assert!(load(dir.path()).is_empty());
        save(dir.path(), &[ended(4, "a.bin", DownloadState::Done)]).unwrap();
        let mut text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        text.push_str("4 done 1 2 3 4 5 0 dup.bin 10 4096 zz\n7 weird 1 2 3 4 5 0 x 1 2 3\n8 done 1 2\n");
        std::fs::write(dir.path().join(FILE), text).unwrap();
        let back = load(dir.path());
        assert_eq!(back.iter().map(|s| s.id).collect::<Vec<_>>(), [4], "bad lines skipped, not the good one");
        assert!(load(&dir.path().join("missing")).is_empty());
    }
}
