//! A full disk stops the download with a clear error and keeps what was
//! verified. Needs root to mount a 1 MiB tmpfs (CI runs as root).

mod support;
use std::process::Command;

use peer::engine::{DownloadError, DownloadState};
use support::*;

struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_stops_with_a_clear_error_and_keeps_verified_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(dir.path()).output();
    if !mounted.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let _mount = Mount(dir.path().to_owned());
    let tracker = Tracker::start();
    let seed_dir = tempfile::tempdir().unwrap();
    let data = random_bytes(3 << 20, 9);
    std::fs::write(seed_dir.path().join("huge.bin"), &data).unwrap();
    let seeder = Peer::in_dir(1, tracker.addr, seed_dir);
    seeder.wait_sharing();
    let leecher = Peer::in_dir(2, tracker.addr, dir);
    let status = leecher.download_and_wait(leecher.find("huge.bin"));
    match &status.state {
        DownloadState::Error(DownloadError::DiskFull { .. }) => {}
        other => panic!("expected a disk-full error, got {other:?}"),
    }
    assert!(status.verified_bytes > 0 && status.verified_bytes < data.len() as u64);
    let names: Vec<String> = std::fs::read_dir(leecher.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".part")), "the partial file is kept: {names:?}");
    assert!(!names.contains(&"huge.bin".to_owned()), "no file under its final name: {names:?}");
}
