//! Two of our engines find each other and complete a download through a
//! tracker that behaves like the course implementations (see
//! `support/course_tracker.rs`): cut requests, `\n\0` endings, the
//! requester listed in `peers`, `filename~` refused, `update` unanswered.

mod support;
use common::protocol::parse_query;
use peer::engine::DownloadState;
use support::course_tracker::CourseTracker;
use support::*;

#[test]
fn two_engines_download_through_a_course_tracker() {
    let _ = env_logger::builder().is_test(true).try_init();
    let tracker = CourseTracker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(300_000, 12);
    std::fs::write(dir.path().join("a_report.bin"), &data).unwrap();
    // Enough files for an announce longer than the 511 bytes the tracker
    // reads at a time: the files past the cut are lost to it.
    for i in 0..12 {
        std::fs::write(dir.path().join(format!("z_filler_with_a_long_name_{i:02}.txt")), [i]).unwrap();
    }
    let seeder = Peer::in_dir(1, tracker.addr, dir);
    seeder.wait_sharing();
    let leecher = Peer::start(2, tracker.addr);
    leecher.wait_connected();
    // A plain word is a `filename~` search, refused: `look []`, filtered here.
    let query = parse_query("report").unwrap();
    let mut found = Vec::new();
    leecher.wait("the file found by a plain word", |e| {
        found = e.search(query.clone()).unwrap_or_default();
        !found.is_empty()
    });
    assert_eq!(found.len(), 1, "{found:?}");
    let entry = found.remove(0);
    assert_eq!((entry.name.as_str(), entry.length), ("a_report.bin", data.len() as u64));
    let status = leecher.download_and_wait(entry);
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert!(std::fs::read(leecher.dir.path().join("a_report.bin")).unwrap() == data, "byte-identical");
    let updated = |_: &peer::engine::Engine| tracker.seen.lock().requests.iter().any(|r| r.starts_with("update"));
    leecher.wait("an update, which goes unanswered", updated);
    // What the tracker saw: a cut announce, and our fallback searches.
    let seen = tracker.seen.lock();
    assert!(seen.requests.iter().any(|r| r.len() == 511 && r.starts_with("announce")), "an announce was cut");
    assert!(seen.requests.iter().any(|r| r.contains("filename~")));
    assert!(seen.requests.iter().any(|r| r == "look []"));
    drop(seen);
    // The session survived every fault: the tracker is still usable.
    assert!(leecher.engine.snapshot().tracker.connected);
    let fillers = leecher.engine.search(parse_query("filler").unwrap()).unwrap().len();
    assert!((1..12).contains(&fillers), "the files before the cut are known, not those past it ({fillers})");
}
