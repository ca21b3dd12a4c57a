//! The transfers list across restarts, and the commands that edit it:
//! remove, clear finished, retry.

mod support;
use peer::engine::{Control, DownloadError, DownloadState, DownloadStatus, Event};
use support::*;

fn failed_with(status: &DownloadStatus) -> &DownloadError {
    match &status.state {
        DownloadState::Error(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Waits for `event` among the engine's events (others are skipped).
fn wait_event(peer: &Peer, event: &Event) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match peer.changes.recv_deadline(deadline) {
            Ok(e) if e == *event => return,
            Ok(_) => {}
            Err(_) => panic!("timed out waiting for {event:?}"),
        }
    }
}

#[test]
fn ended_downloads_come_back_after_a_restart_and_never_count_as_running() {
    let tracker = Tracker::start();
    let data = random_bytes(300_000, 51);
    let seeder = seeder_with(tracker.addr, 1, "done.bin", &data);
    let gone = entry_of("gone.bin", &random_bytes(10_000, 52));
    let _ghost = announce_at(tracker.addr, closed_port(), &gone);
    let leecher = Peer::start(2, tracker.addr);
    let done = leecher.download_and_wait(leecher.find("done.bin"));
    assert_eq!(done.state, DownloadState::Done);
    let failed = leecher.download_and_wait(gone.clone());
    let message = failed_with(&failed).to_string();
    let Peer { engine, dir, .. } = leecher;
    engine.shutdown();
    drop(seeder);

    let again = Peer::in_dir(2, tracker.addr, dir);
    let list = again.engine.snapshot().downloads;
    assert_eq!(list.iter().map(|s| s.id).collect::<Vec<_>>(), [done.id, failed.id], "in order, same ids");
    let (d, f) = (&list[0], &list[1]);
    assert_eq!((d.state.clone(), &d.entry, d.path.clone()), (DownloadState::Done, &done.entry, done.path.clone()));
    let ms = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert_eq!((ms(d.started), d.finished.map(ms)), (ms(done.started), done.finished.map(ms)), "times kept");
    assert_eq!(d.elapsed().as_millis(), done.elapsed().as_millis());
    assert_eq!(d.fetched_bytes, data.len() as u64);
    assert_eq!(failed_with(f), &DownloadError::EarlierRun { message, retryable: true });
    assert!(f.can_retry());
    assert_eq!(again.engine.find_download(&gone.key), None, "a restored failure is not running");
    again.engine.control(f.id, Control::Pause);
    assert_eq!(again.engine.download_status(f.id).map(|s| s.state), Some(f.state.clone()), "no thread to control");
    let fresh = again.engine.download(entry_of("new.bin", &random_bytes(1000, 53))).unwrap();
    assert!(fresh > done.id && fresh > failed.id, "a new id never repeats one of the history");
}

#[test]
fn removed_and_cleared_downloads_stay_gone_after_a_restart() {
    let tracker = Tracker::start();
    let seeders = [
        seeder_with(tracker.addr, 1, "a.bin", &random_bytes(50_000, 54)),
        seeder_with(tracker.addr, 2, "b.bin", &random_bytes(50_000, 55)),
        // Slow enough to be removed while it runs.
        capped_seeder(tracker.addr, 3, "slow.bin", &random_bytes(1 << 20, 56), 64 << 10),
    ];
    let leecher = Peer::start(4, tracker.addr);
    let a = leecher.download_and_wait(leecher.find("a.bin")).id;
    let b = leecher.download_and_wait(leecher.find("b.bin")).id;
    let slow_entry = leecher.find("slow.bin");
    let slow = leecher.engine.download(slow_entry.clone()).unwrap();
    leecher.wait("slow.bin under way", |e| e.download_status(slow).is_some_and(|s| s.fetched_pieces > 0));
    let (part, manifest) =
        peer::engine::download::storage::paths(leecher.dir.path(), &slow_entry.name, &slow_entry.key);
    assert!(part.exists());

    leecher.engine.remove(slow).unwrap();
    wait_event(&leecher, &Event::DownloadRemoved(slow));
    assert_eq!(leecher.engine.download_status(slow).map(|s| s.id), None);
    leecher.wait("the removed download's files deleted, as a cancel does", |_| !part.exists() && !manifest.exists());
    assert!(matches!(leecher.engine.remove(slow), Err(DownloadError::UnknownDownload { id }) if id == slow));

    leecher.engine.remove(a).unwrap();
    wait_event(&leecher, &Event::DownloadRemoved(a));
    assert!(leecher.dir.path().join("a.bin").exists(), "removing from the list keeps the file");
    assert_eq!(leecher.engine.clear_finished(), 1);
    wait_event(&leecher, &Event::DownloadRemoved(b));
    assert_eq!(leecher.engine.clear_finished(), 0);
    assert!(leecher.engine.snapshot().downloads.is_empty());

    let Peer { engine, dir, .. } = leecher;
    engine.shutdown();
    drop(seeders);
    let again = Peer::in_dir(4, tracker.addr, dir);
    assert!(again.engine.snapshot().downloads.is_empty(), "{:?}", again.engine.snapshot().downloads);
}

#[test]
fn a_failed_download_is_retried_in_place_once_a_holder_is_back() {
    let tracker = Tracker::start();
    let data = random_bytes(200_000, 57);
    let entry = entry_of("r.bin", &data);
    let ghost = announce_at(tracker.addr, closed_port(), &entry);
    let leecher = Peer::start(5, tracker.addr);
    let failed = leecher.download_and_wait(entry.clone());
    assert!(matches!(failed.state, DownloadState::Error(DownloadError::Unreachable(_))), "{failed:?}");
    assert!(matches!(leecher.engine.retry(999), Err(DownloadError::UnknownDownload { id: 999 })));
    drop(ghost);

    let seeder = seeder_with(tracker.addr, 6, "r.bin", &data);
    assert_eq!(leecher.engine.retry(failed.id), Ok(failed.id), "same id, same place");
    wait_event(&leecher, &Event::DownloadAdded(failed.id));
    leecher.wait("retried download done", |e| {
        e.download_status(failed.id).is_some_and(|s| s.state == DownloadState::Done)
    });
    assert_eq!(leecher.engine.snapshot().downloads.len(), 1);
    assert!(std::fs::read(leecher.dir.path().join("r.bin")).unwrap() == data);
    let again = leecher.engine.retry(failed.id);
    assert!(matches!(again, Err(DownloadError::NotRetryable { id, .. }) if id == failed.id), "{again:?}");
    drop(seeder);
}

#[test]
fn a_corrupt_history_gives_an_empty_list_not_a_failure() {
    let tracker = Tracker::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".eirb2share-history"), b"\x00\x01 garbage\nmore").unwrap();
    let peer = Peer::in_dir(7, tracker.addr, dir);
    assert!(peer.engine.snapshot().downloads.is_empty());
}

#[test]
fn removing_a_failed_download_deletes_what_it_left_so_it_does_not_come_back() {
    let tracker = Tracker::start();
    let data = random_bytes(100_000, 58);
    let entry = entry_of("left.bin", &data);
    let ghost = announce_at(tracker.addr, closed_port(), &entry);
    let leecher = Peer::start(8, tracker.addr);
    let failed = leecher.download_and_wait(entry.clone());
    assert!(matches!(failed.state, DownloadState::Error(_)), "{failed:?}");
    // What a download that failed after its storage opened leaves.
    let (part, manifest) = peer::engine::download::storage::paths(leecher.dir.path(), &entry.name, &entry.key);
    std::fs::write(&part, vec![0; data.len()]).unwrap();
    std::fs::write(&manifest, b"left by a failed run").unwrap();
    leecher.engine.remove(failed.id).unwrap();
    assert!(!part.exists() && !manifest.exists(), "the removed download's files stay");
    drop(ghost);
    let Peer { engine, dir, .. } = leecher;
    engine.shutdown();
    let again = Peer::in_dir(8, tracker.addr, dir);
    assert!(again.engine.snapshot().downloads.is_empty(), "{:?}", again.engine.snapshot().downloads);
}
