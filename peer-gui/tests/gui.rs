//! The desktop app driven with egui_kittest (no display needed) against
//! an in-process tracker and seeder.

#[path = "../engine/tests/support/mod.rs"]
mod support;
use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use crossbeam_channel::Receiver;
use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use peer::engine::{Engine, Event, Events};
use peer_gui::app::{App, Repaint, Tab, logger::LogLines};
use support::*;

/// The app with one tab for a fresh peer, and that peer's events.
fn app(tracker: SocketAddr) -> (Harness<'static, App>, Receiver<Event>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let rx = events.subscribe();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let engine = Engine::with_listener(settings(7, tracker, dir.path()), listener, events).unwrap();
    let app = App::new(vec![Tab::new(engine)], LogLines::default(), Repaint::default());
    let harness = Harness::builder().with_size([1100.0, 800.0]).build_ui_state(|ui, app: &mut App| app.draw(ui), app);
    (harness, rx, dir)
}

/// Steps the UI until `check` holds, waiting on engine changes between.
fn until(
    h: &mut Harness<'static, App>,
    changes: &Receiver<Event>,
    what: &str,
    check: impl Fn(&Harness<'static, App>) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        h.run_steps(2);
        if check(h) {
            return;
        }
        // The UI's own replies (a search) come without engine events:
        // step again at least every 100 ms.
        let step = (Instant::now() + std::time::Duration::from_millis(100)).min(deadline);
        let _ = changes.recv_deadline(step);
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
    }
}

fn has_text(h: &Harness<'static, App>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

fn type_in_search(h: &mut Harness<'static, App>, text: &str) {
    h.get_by_role_and_label(Role::TextInput, "Search").focus();
    h.run_steps(1);
    h.get_by_role_and_label(Role::TextInput, "Search").type_text(text);
    h.run_steps(1);
}

#[test]
fn search_paste_and_download_show_progress_then_the_file() {
    let tracker = Tracker::start();
    let seed_dir = tempfile::tempdir().unwrap();
    let data = random_bytes(600_000, 11);
    std::fs::write(seed_dir.path().join("x.txt"), &data).unwrap();
    let seeder = Peer::in_dir(1, tracker.addr, seed_dir);
    seeder.wait_sharing();
    let (mut h, changes, dir) = app(tracker.addr);
    until(&mut h, &changes, "connected", |h| has_text(h, "connected") && !has_text(h, "not connected"));

    type_in_search(&mut h, r#"filename="x.txt""#);
    h.get_by_role_and_label(Role::Button, "Search").click();
    until(&mut h, &changes, "the result row", |h| has_text(h, "Results (1)") && has_text(h, "x.txt"));
    // How many peers hold it, from the tracker.
    until(&mut h, &changes, "the result's availability", |h| has_text(h, "1 peer"));

    // The seed's way: paste the result line, click Download (the search
    // bar's: it comes first).
    let line = h.state().tabs[0].state.results[0].to_string();
    h.state_mut().tabs[0].state.query.clear();
    type_in_search(&mut h, &line);
    h.query_all_by_label("Download").next().expect("the search bar's Download").click();
    until(&mut h, &changes, "a transfer row", |h| has_text(h, "Transfers (1)"));
    until(&mut h, &changes, "the download done", |h| has_text(h, "done"));
    h.get_by_label("Shared files (1)").click();
    until(&mut h, &changes, "the file in the local list", |h| has_text(h, "shared"));
    assert!(std::fs::read(dir.path().join("x.txt")).unwrap() == data);
}

#[test]
fn a_tracker_that_is_down_shows_in_the_status_bar() {
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let (mut h, changes, _dir) = app(addr);
    until(&mut h, &changes, "the status bar error", |h| has_text(h, "not connected") && has_text(h, "unreachable"));
}

#[test]
fn a_malformed_pasted_line_shows_an_inline_message() {
    let tracker = Tracker::start();
    let (mut h, _changes, _dir) = app(tracker.addr);
    type_in_search(&mut h, "this is not a result line");
    h.get_by_role_and_label(Role::Button, "Download").click();
    h.run_steps(2);
    assert!(has_text(&h, "Not a result line"), "no inline message");
    type_in_search(&mut h, " ../../etc/passwd 1 1 ab");
    h.get_by_role_and_label(Role::Button, "Download").click();
    h.run_steps(2);
    assert!(has_text(&h, "Not a result line"));
}

#[test]
fn the_transfers_table_shows_rates_and_peers_then_time_and_average() {
    let tracker = Tracker::start();
    let data = random_bytes(1 << 20, 12);
    // About 4 s: long enough to see the download move.
    let seeder = capped_seeder(tracker.addr, 1, "slow.bin", &data, 250_000);
    let (mut h, changes, dir) = app(tracker.addr);
    let entry = seeder.find("slow.bin");
    let id = h.state().tabs[0].engine.download(entry).unwrap();
    until(&mut h, &changes, "a moving row with its peer", |h| {
        has_text(h, "Transfers (1)") && has_text(h, "KiB/s") && has_text(h, "1 / 0")
    });
    // Selecting the row shows the seeder among its peers.
    h.state_mut().tabs[0].state.selected = Some(id);
    let seeder_addr = seeder.engine.settings().listen.to_string();
    until(&mut h, &changes, "the seeder in the details", |h| has_text(h, &seeder_addr) && has_text(h, "sends to us"));
    until(&mut h, &changes, "the download done", |h| has_text(h, "done"));
    // Done: how long it took and at what average rate, not an ETA.
    let status = h.state().tabs[0].engine.download_status(id).unwrap();
    let took = peer_gui::app::view::transfers::duration(status.elapsed().as_secs());
    assert!(has_text(&h, &format!("{took} at ")), "no elapsed time shown");
    assert!(std::fs::read(dir.path().join("slow.bin")).unwrap() == data);
}

#[test]
fn a_sharing_tab_shows_what_it_uploaded() {
    let tracker = Tracker::start();
    let (mut h, changes, dir) = app(tracker.addr);
    let data = random_bytes(300_000, 13);
    std::fs::write(dir.path().join("up.bin"), &data).unwrap();
    until(&mut h, &changes, "the file shared", |h| has_text(h, "Shared files (1)"));
    h.get_by_label("Shared files (1)").click();
    let leecher = Peer::start(2, tracker.addr);
    let status = leecher.download_and_wait(leecher.find("up.bin"));
    assert_eq!(status.state, peer::engine::DownloadState::Done);
    // Its size shows twice: in Size, and in Uploaded once it all went out.
    let size = peer_gui::app::view::human_size(data.len() as u64);
    until(&mut h, &changes, "the upload total", |h| h.query_all_by_label(&size).count() >= 2);
}

#[test]
fn a_tracker_that_stops_turns_the_status_bar_red() {
    let tracker = Tracker::start();
    let (mut h, changes, _dir) = app(tracker.addr);
    until(&mut h, &changes, "connected", |h| has_text(h, "connected") && !has_text(h, "not connected"));
    drop(tracker);
    until(&mut h, &changes, "the tracker lost", |h| has_text(h, "not connected"));
}

#[test]
fn rate_limits_set_in_the_app_reach_the_engine() {
    let tracker = Tracker::start();
    let (mut h, _changes, _dir) = app(tracker.addr);
    h.get_by_label("Speed").click();
    h.run_steps(2);
    assert!(h.query_by_label("Apply").is_none(), "nothing changed yet");
    h.state_mut().tabs[0].state.limits = Some(peer_gui::app::view::Limits { upload: 100, download: 0 });
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Apply").click();
    h.run_steps(2);
    let limits = h.state().tabs[0].engine.rate_limits();
    assert_eq!((limits.upload.rate(), limits.download.rate()), (100 * 1024, 0));
    assert!(h.query_by_label("Apply").is_none(), "applied");
}

/// A file as the windowing layer hands it over when dropped.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl eframe::egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_file_dropped_on_the_window_ends_up_shared() {
    let tracker = Tracker::start();
    let (mut h, changes, dir) = app(tracker.addr);
    let outside = tempfile::tempdir().unwrap();
    let data = random_bytes(3 << 20, 14);
    let path = outside.path().join("dropped.bin");
    std::fs::write(&path, &data).unwrap();
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(path)));
    until(&mut h, &changes, "the dropped file shared", |h| {
        has_text(h, "Shared files (1)") && has_text(h, "dropped.bin") && has_text(h, "shared")
    });
    assert!(std::fs::read(dir.path().join("dropped.bin")).unwrap() == data);
    // The tracker knows it: another peer finds it.
    let other = Peer::start(2, tracker.addr);
    assert_eq!(other.find("dropped.bin").length, data.len() as u64);
}

#[test]
fn space_pauses_and_delete_twice_removes_the_selected_transfer() {
    let tracker = Tracker::start();
    let data = random_bytes(1 << 20, 15);
    let seeder = capped_seeder(tracker.addr, 1, "paused.bin", &data, 100_000);
    let (mut h, changes, _dir) = app(tracker.addr);
    let id = h.state().tabs[0].engine.download(seeder.find("paused.bin")).unwrap();
    h.state_mut().tabs[0].state.selected = Some(id);
    h.run_steps(1);
    h.key_press(eframe::egui::Key::Space);
    let engine = h.state().tabs[0].engine.clone();
    let state = move || engine.download_status(id).unwrap().state;
    until(&mut h, &changes, "paused", |_| state() == peer::engine::DownloadState::Paused);
    h.key_press(eframe::egui::Key::Space);
    until(&mut h, &changes, "resumed", |_| state() != peer::engine::DownloadState::Paused);
    // Delete on a running transfer asks for a second press.
    h.key_press(eframe::egui::Key::Delete);
    h.run_steps(2);
    assert!(h.state().tabs[0].engine.download_status(id).is_some(), "removed on the first press");
    h.key_press(eframe::egui::Key::Delete);
    let engine = h.state().tabs[0].engine.clone();
    until(&mut h, &changes, "removed", |_| engine.download_status(id).is_none());
}

#[test]
fn each_tab_remembers_its_views_by_peer() {
    use peer_gui::app::view::{MainView, PaneView};
    let tracker = Tracker::start();
    let (mut h, _changes, _dir) = app(tracker.addr);
    h.run_steps(1);
    h.get_by_label("Log").click();
    h.get_by_label("Shared files (0)").click();
    h.run_steps(1);
    let saved = h.state().persisted();
    let (mut again, _changes, _dir2) = app(tracker.addr);
    again.state_mut().restore(&saved);
    let prefs = again.state().tabs[0].state.prefs;
    assert_eq!((prefs.main, prefs.pane), (MainView::Shared, PaneView::Log));
    again.run_steps(1);
    assert!(has_text(&again, "Nothing shared yet"), "the shared view is shown");
}

#[test]
fn the_distributed_mode_shows_neighbours_and_searches_a_plain_name() {
    // A seeder with no tracker, and the app's peer listing it.
    let lan = |neighbours| {
        peer::engine::Lan::new(common::config::Lan { discovery_port: 0, ..Default::default() }, neighbours)
    };
    let seed_dir = tempfile::tempdir().unwrap();
    std::fs::write(seed_dir.path().join("lan.txt"), b"found hop by hop").unwrap();
    let mut s = settings(1, "127.0.0.1:1".parse().unwrap(), seed_dir.path());
    s.network = peer::engine::Network::Lan(lan(Vec::new()));
    let seeder = Peer::with_settings(s, seed_dir);
    seeder.wait("the first scan", |e| !e.snapshot().files.is_empty());
    let seeder_addr = seeder.engine.settings().listen;

    let dir = tempfile::tempdir().unwrap();
    let events = Events::default();
    let changes = events.subscribe();
    let mut s = settings(7, "127.0.0.1:1".parse().unwrap(), dir.path());
    s.network = peer::engine::Network::Lan(lan(vec![seeder_addr]));
    let engine = Engine::with_listener(s, TcpListener::bind("127.0.0.1:0").unwrap(), events).unwrap();
    let app = App::new(vec![Tab::new(engine)], LogLines::default(), Repaint::default());
    let mut h = Harness::builder().with_size([1100.0, 800.0]).build_ui_state(|ui, app: &mut App| app.draw(ui), app);
    until(&mut h, &changes, "the neighbour in the status bar", |h| has_text(h, "LAN: 1 neighbour"));
    h.query_all_by_label_contains("Peers (").next().expect("the Peers view").click();
    until(&mut h, &changes, "the neighbour listed", |h| has_text(h, &seeder_addr.to_string()));

    // A plain word is the whole name in this mode.
    type_in_search(&mut h, "lan.txt");
    h.get_by_role_and_label(Role::Button, "Search").click();
    until(&mut h, &changes, "the result row", |h| has_text(h, "Results (1)") && has_text(h, "lan.txt"));
    until(&mut h, &changes, "the result's availability", |h| has_text(h, "1 peer"));
}
