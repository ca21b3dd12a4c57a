//! One seeder → one leecher, many seeders → one leecher, over real
//! sockets with an in-process tracker.

mod support;
use peer::engine::DownloadState;
use support::*;

fn one_to_one(len: usize) {
    let tracker = Tracker::start();
    let seeder_dir = tempfile::tempdir().unwrap();
    let data = random_bytes(len, len as u64);
    std::fs::write(seeder_dir.path().join("file.bin"), &data).unwrap();
    let seeder = Peer::in_dir(1, tracker.addr, seeder_dir);
    seeder.wait_sharing();
    let leecher = Peer::start(2, tracker.addr);
    let entry = leecher.find("file.bin");
    assert_eq!(entry.length, len as u64);
    let status = leecher.download_and_wait(entry);
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    let got = std::fs::read(leecher.dir.path().join("file.bin")).unwrap();
    assert!(got == data, "downloaded bytes differ ({} vs {} bytes)", got.len(), data.len());
    let leftovers: Vec<_> = std::fs::read_dir(leecher.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part") || n.ends_with(".manifest"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn empty_file() {
    one_to_one(0);
}

#[test]
fn one_byte() {
    one_to_one(1);
}

#[test]
fn exactly_one_piece() {
    one_to_one(4096);
}

#[test]
fn one_piece_and_one_byte() {
    one_to_one(4097);
}

#[test]
fn several_mebibytes() {
    one_to_one(5 * 1024 * 1024 + 123);
}
