//! Disk space: a download that cannot fit fails at once and leaves
//! nothing behind; one that started survives the disk filling up. Needs
//! root to mount small tmpfs file systems (CI runs as root).

mod support;
use std::process::Command;
use std::sync::Arc;

use peer::engine::{DownloadError, DownloadState};
use support::fake::{Behaviour, FakePeer};
use support::*;

struct Mount(tempfile::TempDir);

impl Mount {
    /// A tmpfs of `size` (as mount's `size=`), or None without root.
    fn tmpfs(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        if !mounted.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(Self(dir))
    }

    /// The folder as a peer's (unmounted when the returned guard drops).
    fn folder(&self) -> tempfile::TempDir {
        tempfile::TempDir::new_in(self.0.path()).unwrap()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_download_that_cannot_fit_fails_at_once_and_leaves_nothing() {
    let Some(disk) = Mount::tmpfs("1m") else { return };
    let tracker = Tracker::start();
    let data = random_bytes(3 << 20, 9);
    let _seeder = seeder_with(tracker.addr, 1, "huge.bin", &data);
    let leecher = Peer::in_dir(2, tracker.addr, disk.folder());
    let status = leecher.download_and_wait(leecher.find("huge.bin"));
    assert!(matches!(status.state, DownloadState::Error(DownloadError::DiskFull { .. })), "{:?}", status.state);
    assert_eq!(status.fetched_pieces, 0, "nothing fetched to be thrown away");
    // The key cache and the transfers history (which records the failure)
    // are the folder's bookkeeping, not the download's.
    let bookkeeping = [".eirb2share-keys", ".eirb2share-history"];
    // The history is saved once the failure is published: wait for it.
    leecher.wait("the history saved", |_| {
        let names = names(leecher.dir.path());
        names.iter().any(|n| n == ".eirb2share-history") && !names.iter().any(|n| n.contains(".tmp"))
    });
    let left: Vec<String> =
        names(leecher.dir.path()).into_iter().filter(|n| !bookkeeping.contains(&n.as_str())).collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}

#[test]
fn a_started_download_survives_the_disk_filling_up_and_keeps_its_manifest() {
    let Some(disk) = Mount::tmpfs("4m") else { return };
    let tracker = Tracker::start();
    let data = Arc::new(random_bytes(1 << 20, 10));
    let seeder = FakePeer::start(tracker.addr, "fits.bin", data.clone(), digest_of(&data), Behaviour::FirstOnly);
    seeder.gate.set(false);
    let leecher = Peer::in_dir(3, tracker.addr, disk.folder());
    let id = leecher.engine.download(leecher.find("fits.bin")).unwrap();
    leecher.wait("the download's files in place", |e| e.snapshot().files.iter().any(|f| f.partial));
    // Something else takes every free byte.
    let mut filler = std::fs::File::create(disk.0.path().join("filler")).unwrap();
    let block = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    drop(filler);
    seeder.gate.set(true);
    leecher.wait("done", |e| e.download_status(id).is_some_and(|s| s.state.is_finished()));
    let status = leecher.engine.download_status(id).unwrap();
    assert_eq!(status.state, DownloadState::Done);
    assert!(std::fs::read(leecher.dir.path().join("fits.bin")).unwrap() == *data);
    let left: Vec<String> =
        names(leecher.dir.path()).into_iter().filter(|n| n.ends_with("tmp") || n.ends_with(".part")).collect();
    assert!(left.is_empty(), "no temporary file left: {left:?}");
}
