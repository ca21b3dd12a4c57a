//! Hostile clients against the sharing side (issue 14): bursts of
//! connections under a low descriptor limit, clients that ask and never
//! read, shared files swapped for links out of the folder, and indices
//! past the end of a file.

/// Only this test uses it: it runs the `peer` binary, which the app's
/// tests (sharing `support`) do not build.
#[path = "support/hostile.rs"]
mod hostile_support;
mod support;

use std::io::Write;
use std::net::TcpStream;

use common::Layout;
use common::protocol::FileEntry;
use hostile_support::{Client, SharingProcess, burst, piece_of, proc_status, sample_max};
use peer::engine::DownloadState;
use support::*;

fn layout_of(entry: &FileEntry) -> Layout {
    Layout::new(entry.length, entry.piece_size).unwrap()
}

#[test]
fn a_burst_of_connections_keeps_threads_bounded_and_downloads_served() {
    let tracker = Tracker::start();
    let data = random_bytes(2 << 20, 41);
    let sharing = SharingProcess::start(tracker.addr, "burst.bin", &data, 256, "");
    let pid = sharing.pid();
    let (stop, most) = sample_max(move || proc_status(pid, "Threads:"));
    // Far more connections than the server serves (64) and than its
    // descriptors allow (256), all at once, and kept open.
    let held = burst(sharing.addr, 1000);
    let leecher = Peer::start(2, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("burst.bin"));
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert!(std::fs::read(leecher.dir.path().join("burst.bin")).unwrap() == data, "downloaded file differs");
    drop(stop);
    let most = most.join().unwrap();
    assert!(most < 64, "the sharing peer ran {most} threads");
    drop(held);
}

#[test]
fn descriptors_running_out_before_the_cap_do_not_lock_downloads_out() {
    let tracker = Tracker::start();
    let data = random_bytes(1 << 20, 50);
    // Fewer descriptors than the cap of 64 connections.
    let sharing = SharingProcess::start(tracker.addr, "few.bin", &data, 48, "");
    let held = burst(sharing.addr, 300);
    let leecher = Peer::start(2, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("few.bin"));
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert!(std::fs::read(leecher.dir.path().join("few.bin")).unwrap() == data, "downloaded file differs");
    sharing.wait_line("serving at most");
    drop(held);
}

#[test]
fn clients_that_ask_and_never_read_do_not_grow_the_peer() {
    let tracker = Tracker::start();
    let data = random_bytes(64 << 20, 42);
    // Pieces of 1 MiB, four to a request: a request asks for 4 MiB.
    let extra = "piece_size = 1048576\nmax_message_size = 4194304";
    let sharing = SharingProcess::start(tracker.addr, "big.bin", &data, 1024, extra);
    let entry = Peer::start(2, tracker.addr).find("big.bin");
    let layout = layout_of(&entry);
    let pid = sharing.pid();
    let (stop, most) = sample_max(move || proc_status(pid, "VmRSS:"));
    let hostile: Vec<TcpStream> = (0..200u32)
        .map(|c| {
            let mut s = TcpStream::connect(sharing.addr).unwrap();
            let i = (c * 4) % (layout.piece_count() - 3);
            let _ = writeln!(s, "getpieces {} [{i} {} {} {}]", entry.key, i + 1, i + 2, i + 3);
            s
        })
        .collect();
    // Each one is being answered (bytes wait for it) or was closed to
    // make room: the server has done all it will for them.
    for s in &hostile {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let _ = s.peek(&mut [0u8; 1]);
    }
    let mut honest = Client::connect(sharing.addr, &entry.key, layout);
    assert_eq!(honest.get_pieces(&[5]).unwrap(), vec![(5, piece_of(&data, layout, 5).to_vec())]);
    drop(stop);
    let most = most.join().unwrap();
    assert!(most < 200 * 1024, "the sharing peer grew to {} MiB", most / 1024);
    drop(hostile);
}

/// Replaces `path` by a symbolic link to `target`.
fn swap_for_link(path: &std::path::Path, target: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

#[test]
fn a_shared_file_swapped_for_a_link_out_of_the_folder_is_not_read() {
    let tracker = Tracker::start();
    let data = random_bytes(100_000, 43);
    let seeder = seeder_with(tracker.addr, 1, "report.bin", &data);
    let entry = seeder.engine.snapshot().files[0].entry.clone();
    let outside = tempfile::tempdir().unwrap();
    let secret = random_bytes(data.len(), 44);
    std::fs::write(outside.path().join("private.bin"), &secret).unwrap();
    swap_for_link(&seeder.dir.path().join("report.bin"), &outside.path().join("private.bin"));
    let layout = layout_of(&entry);
    let mut client = Client::connect(seeder.engine.settings().listen, &entry.key, layout);
    let reply = client.get_pieces(&[0, 1]);
    if let Ok(pieces) = &reply {
        let leaked = pieces.iter().any(|(i, bytes)| bytes == piece_of(&secret, layout, *i));
        assert!(!leaked, "the private file's bytes were served");
    }
    assert!(reply.is_err(), "a file that is no longer the one shared is refused: {:?}", reply.map(|p| p.len()));
}

#[test]
fn a_link_inside_the_folder_is_served_and_refused_once_it_leads_out() {
    let tracker = Tracker::start();
    let dir = tempfile::tempdir().unwrap();
    let (kept, moved) = (random_bytes(50_000, 45), random_bytes(60_000, 46));
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (name, data) in [("kept.bin", &kept), ("moved.bin", &moved)] {
        std::fs::write(dir.path().join("sub").join(name), data).unwrap();
        std::os::unix::fs::symlink(dir.path().join("sub").join(name), dir.path().join(name)).unwrap();
    }
    let p = Peer::in_dir(1, tracker.addr, dir);
    p.wait("both links shared", |e| e.snapshot().files.len() == 2);
    let files = p.engine.snapshot().files.clone();
    let entry = |name: &str| files.iter().find(|f| f.entry.name.as_str() == name).unwrap().entry.clone();
    let addr = p.engine.settings().listen;
    let (kept_entry, moved_entry) = (entry("kept.bin"), entry("moved.bin"));
    let layout = layout_of(&kept_entry);
    let mut client = Client::connect(addr, &kept_entry.key, layout);
    assert_eq!(client.get_pieces(&[1]).unwrap(), vec![(1, piece_of(&kept, layout, 1).to_vec())]);
    // The other link now leads out of the folder, to a file of its size.
    let outside = tempfile::tempdir().unwrap();
    let secret = random_bytes(moved.len(), 47);
    std::fs::write(outside.path().join("private.bin"), &secret).unwrap();
    swap_for_link(&p.dir.path().join("moved.bin"), &outside.path().join("private.bin"));
    let layout = layout_of(&moved_entry);
    let reply = Client::connect(addr, &moved_entry.key, layout).get_pieces(&[0]);
    assert!(reply.is_err(), "a link that now leads out of the folder is refused: {:?}", reply.map(|p| p.len()));
}

#[test]
fn pieces_past_the_end_of_the_file_are_refused_with_an_error() {
    let tracker = Tracker::start();
    let data = random_bytes(10_000, 48);
    let seeder = seeder_with(tracker.addr, 1, "small.bin", &data);
    let entry = seeder.engine.snapshot().files[0].entry.clone();
    let layout = layout_of(&entry);
    let count = layout.piece_count();
    let mut client = Client::connect(seeder.engine.settings().listen, &entry.key, layout);
    for asked in [vec![count], vec![0, count + 100], vec![u32::MAX]] {
        let text = client.get_pieces(&asked).expect_err("an index past the end is an invalid request");
        assert!(text.contains("out of range") && text.contains(&count.to_string()), "{text:?}");
    }
    // Not a malformed message: the connection still serves.
    assert_eq!(
        client.get_pieces(&[count - 1]).unwrap(),
        vec![(count - 1, piece_of(&data, layout, count - 1).to_vec())]
    );
}

#[test]
fn a_file_rewritten_with_the_same_bytes_is_served_again_after_the_next_scan() {
    let tracker = Tracker::start();
    let data = random_bytes(30_000, 49);
    let seeder = seeder_with(tracker.addr, 1, "same.bin", &data);
    let entry = seeder.engine.snapshot().files[0].entry.clone();
    let layout = layout_of(&entry);
    // A new file (another inode, another modification time) with the
    // same bytes takes its place: the next scan finds the same key.
    let path = seeder.dir.path().join("same.bin");
    let tmp = seeder.dir.path().join(".same.tmp");
    std::fs::write(&tmp, &data).unwrap();
    let later = std::fs::metadata(&path).unwrap().modified().unwrap() + std::time::Duration::from_secs(10);
    std::fs::File::options().write(true).open(&tmp).unwrap().set_modified(later).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let addr = seeder.engine.settings().listen;
    seeder.wait("the rewritten file served", |_| {
        Client::connect(addr, &entry.key, layout)
            .get_pieces(&[0])
            .is_ok_and(|p| p == [(0, data[..p[0].1.len()].to_vec())])
    });
}
