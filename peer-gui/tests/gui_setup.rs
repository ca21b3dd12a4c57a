//! The first-run screen driven with egui_kittest (no display needed):
//! fields checked as typed, Save disabled while anything is wrong, the
//! tracker's host name saved as typed and the peer started.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use eframe::egui::{self, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use peer_gui::app::launch::{Launch, Setup};
use peer_gui::app::setup::{FolderError, NO_CHOOSER, PortError, SetupError};
use peer_gui::app::{Repaint, logger::LogLines};

const TIMEOUT: Duration = Duration::from_secs(30);
const SAVE: &str = "Save and start";

type H = Harness<'static, Launch>;

/// The screen with empty tracker and port fields, a folder to create in
/// `dir`, and a channel that hears every repaint the screen asks for
/// (its threads ask one when they answer).
fn screen(dir: &Path) -> (H, Receiver<()>) {
    let mut setup = Setup::new(dir.join("config/config.ini"), LogLines::default(), Repaint::default());
    setup.folder = dir.join("shared").display().to_string();
    setup.host.clear();
    setup.tracker_port.clear();
    setup.port.clear();
    let (tx, rx) = mpsc::channel();
    let mut h = Harness::builder()
        .with_size([900.0, 600.0])
        .with_context_setup(move |ctx| {
            ctx.set_request_repaint_callback(move |_| {
                let _ = tx.send(());
            })
        })
        .build_ui_state(|ui, l: &mut Launch| l.draw(ui), Launch::Setup(Box::new(setup)));
    // The grid's first frame only measures: no field takes focus yet.
    h.run_steps(2);
    (h, rx)
}

fn setup(h: &H) -> &Setup {
    match h.state() {
        Launch::Setup(s) => s,
        other => panic!("not on the setup screen: {other:?}"),
    }
}

fn type_in(h: &mut H, field: &str, text: &str) {
    h.get_by_role_and_label(Role::TextInput, field).focus();
    h.run_steps(1);
    h.get_by_role_and_label(Role::TextInput, field).type_text(text);
    h.run_steps(2);
}

fn save_disabled(h: &H) -> bool {
    h.get_by_role_and_label(Role::Button, SAVE).accesskit_node().is_disabled()
}

/// Steps until `check` holds, waiting on the screen's repaints between.
fn until(h: &mut H, repaints: &Receiver<()>, what: &str, check: impl Fn(&H) -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        h.run_steps(1);
        if check(h) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        while repaints.try_recv().is_ok() {}
        // A repaint asked between the step and the drain is not lost for
        // long: step again at least every 100 ms.
        let _ = repaints.recv_timeout(Duration::from_millis(100));
    }
}

/// A port nothing listens on now (the peer binds it again right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_typed_host_name_and_port_are_saved_and_the_peer_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, repaints) = screen(dir.path());
    assert!(save_disabled(&h), "empty fields");
    type_in(&mut h, "Tracker host", "localhost");
    type_in(&mut h, "Tracker port", "5000");
    type_in(&mut h, "This peer's port", &free_port().to_string());
    assert!(setup(&h).problems().none(), "{:?}", setup(&h).problems());
    assert!(!save_disabled(&h));
    h.get_by_role_and_label(Role::Button, SAVE).click();
    until(&mut h, &repaints, "the peer running", |h| !matches!(h.state(), Launch::Setup(_)));
    assert!(matches!(h.state(), Launch::Running(app) if app.tabs.len() == 1), "{:?}", h.state());

    let config = dir.path().join("config/config.ini");
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(saved.lines().any(|l| l == "tracker_ip = localhost"), "the name as typed:\n{saved}");
    let settings = peer::engine::settings::load_settings(Some(&config), 1).unwrap();
    let loopback: [SocketAddr; 2] = ["127.0.0.1:5000".parse().unwrap(), "[::1]:5000".parse().unwrap()];
    let tracker = settings.tracker().expect("the centralised mode");
    assert!(loopback.contains(&tracker), "{tracker}");
    assert!(dir.path().join("shared").is_dir(), "the folder is created");
}

#[test]
fn a_pasted_host_and_port_fill_both_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _repaints) = screen(dir.path());
    h.get_by_role_and_label(Role::TextInput, "Tracker host").focus();
    h.run_steps(1);
    h.event(egui::Event::Paste("localhost:5000".into()));
    h.run_steps(2);
    assert_eq!((setup(&h).host.as_str(), setup(&h).tracker_port.as_str()), ("localhost", "5000"));
    assert_eq!(setup(&h).problems().host, None);
}

#[test]
fn a_bad_port_shows_an_error_and_keeps_save_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _repaints) = screen(dir.path());
    type_in(&mut h, "Tracker host", "localhost");
    type_in(&mut h, "Tracker port", "5000");
    for (typed, problem) in [("70000", PortError::TooLarge), ("0", PortError::Zero), ("50x", PortError::NotANumber)] {
        match h.state_mut() {
            Launch::Setup(s) => s.port.clear(),
            other => panic!("left the setup screen: {other:?}"),
        }
        type_in(&mut h, "This peer's port", typed);
        assert_eq!(setup(&h).problems().port, Some(problem), "{typed}");
        assert!(save_disabled(&h), "{typed}");
    }
    assert!(h.query_by_label(&PortError::NotANumber.to_string()).is_some(), "the problem is shown");
    h.get_by_role_and_label(Role::Button, SAVE).click();
    h.run_steps(3);
    assert!(matches!(h.state(), Launch::Setup(_)));
    assert!(!dir.path().join("config/config.ini").exists(), "nothing saved");
}

#[test]
fn a_file_as_the_folder_and_a_spaced_host_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (mut h, _repaints) = screen(dir.path());
    match h.state_mut() {
        Launch::Setup(s) => s.folder = file.display().to_string(),
        other => panic!("{other:?}"),
    }
    h.run_steps(2);
    type_in(&mut h, "Tracker host", "my tracker");
    type_in(&mut h, "Tracker port", "5000");
    type_in(&mut h, "This peer's port", "5001");
    let problems = setup(&h).problems();
    assert_eq!(problems.folder, Some(FolderError::NotAFolder));
    assert_eq!(problems.host, Some(common::config::HostError::Space));
    assert!(save_disabled(&h));
    // A folder the configuration file would cut at a comment.
    match h.state_mut() {
        Launch::Setup(s) => s.folder = dir.path().join("My #1").display().to_string(),
        other => panic!("{other:?}"),
    }
    h.run_steps(2);
    assert_eq!(setup(&h).problems().folder, Some(FolderError::Unsaveable));
    assert!(save_disabled(&h));
}

#[test]
fn a_host_that_does_not_resolve_is_reported_and_nothing_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, repaints) = screen(dir.path());
    // `.invalid` never resolves (RFC 6761).
    type_in(&mut h, "Tracker host", "tracker.invalid");
    type_in(&mut h, "Tracker port", "5000");
    type_in(&mut h, "This peer's port", &free_port().to_string());
    h.get_by_role_and_label(Role::Button, SAVE).click();
    until(&mut h, &repaints, "the lookup's answer", |h| setup(h).error().is_some());
    assert!(matches!(setup(&h).error(), Some(SetupError::HostNotFound { .. })), "{:?}", setup(&h).error());
    assert!(!dir.path().join("config/config.ini").exists(), "nothing saved");
    assert!(!save_disabled(&h), "Save can be tried again");
}

/// No D-Bus session and no display: a folder chooser cannot show up on a
/// developer's screen. The Browse test runs only then.
fn headless() -> bool {
    let unset = |v: &str| std::env::var_os(v).is_none_or(|s| s.is_empty());
    let runtime_bus = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists());
    unset("DBUS_SESSION_BUS_ADDRESS") && unset("DISPLAY") && unset("WAYLAND_DISPLAY") && !runtime_bus
}

#[test]
fn browse_without_a_folder_chooser_says_to_type_the_path() {
    if !headless() {
        eprintln!("skipped: a desktop session is there and would show the chooser");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut h, repaints) = screen(dir.path());
    let typed = setup(&h).folder.clone();
    h.get_by_role_and_label(Role::Button, "Browse…").click();
    h.run_steps(1);
    until(&mut h, &repaints, "the chooser's answer", |h| !setup(h).choosing());
    assert!(h.query_by_label(NO_CHOOSER).is_some(), "a note says to type the path");
    assert_eq!(setup(&h).folder, typed, "the typed folder is kept");
    assert!(!h.get_by_role_and_label(Role::Button, "Browse…").accesskit_node().is_disabled());
}
