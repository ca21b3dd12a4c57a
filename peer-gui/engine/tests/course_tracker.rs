//! Two of our engines find each other and complete a download through a
//! tracker that behaves like the course implementations (see
//! `support/course_tracker.rs`): cut requests, `\n\0` endings, the
//! requester listed in `peers`, `filename~` refused, `update` unanswered.

mod support;
use common::protocol::parse_query;
use peer::engine::DownloadState;
use support::course_tracker::{CourseTracker, Dialect, Refusal};
use support::*;

#[test]
fn two_engines_download_through_a_course_tracker() {
    let _ = env_logger::builder().is_test(true).try_init();
    let tracker = CourseTracker::start(Dialect { refusal: Refusal::Text, prefix: "" });
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
    assert!(leecher.engine.snapshot().tracker().unwrap().connected);
    // Only filename~ is left out after its refusal: an exact name is sent.
    assert_eq!(leecher.engine.search(parse_query("filename=\"a_report.bin\"").unwrap()).unwrap().len(), 1);
    assert!(tracker.seen.lock().requests.iter().any(|r| r == "look [filename=\"a_report.bin\"]"));
    let fillers = leecher.engine.search(parse_query("filler").unwrap()).unwrap().len();
    assert!((1..12).contains(&fillers), "the files before the cut are known, not those past it ({fillers})");
}

/// Another course tracker: answers nothing to a search it refuses, and
/// starts every reply with `> `.
#[test]
fn a_search_refused_by_silence_falls_back_to_look_all() {
    let _ = env_logger::builder().is_test(true).try_init();
    let tracker = CourseTracker::start(Dialect { refusal: Refusal::Silence, prefix: "> " });
    let data = random_bytes(50_000, 13);
    let seeder = seeder_with(tracker.addr, 1, "notes.txt", &data);
    let leecher = Peer::start(2, tracker.addr);
    leecher.wait_connected();
    let found = leecher.engine.search(parse_query("note").unwrap()).unwrap();
    assert_eq!(found.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["notes.txt"]);
    let status = leecher.download_and_wait(found[0].clone());
    assert_eq!(status.state, DownloadState::Done, "{status:?}");
    assert!(std::fs::read(leecher.dir.path().join("notes.txt")).unwrap() == data);
    assert!(leecher.engine.search(parse_query("nothing-like-it").unwrap()).unwrap().is_empty());
    let filename_contains = tracker.seen.lock().requests.iter().filter(|r| r.contains("filename~")).count();
    assert_eq!(filename_contains, 1, "asked once, then look [] for the rest of the connection");
    drop(seeder);
}
