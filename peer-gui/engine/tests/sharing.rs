//! What a peer shares, and how it finds the tracker.

mod support;
use std::net::SocketAddr;

use support::*;

#[test]
fn symlinks_out_of_the_folder_are_not_shared() {
    let tracker = Tracker::start();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"do not share").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inside.txt"), b"fine").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("leak.txt")).unwrap();
    // A link to a file deeper inside the folder is fine (sub-folders are
    // not shared themselves, so the link is its only way in).
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/deep.txt"), b"deep inside").unwrap();
    std::os::unix::fs::symlink(dir.path().join("sub/deep.txt"), dir.path().join("alias.txt")).unwrap();
    let p = Peer::in_dir(1, tracker.addr, dir);
    p.wait("the first scan", |e| e.snapshot().files.len() >= 2);
    let names: Vec<String> = p.engine.snapshot().files.iter().map(|f| f.entry.name.to_string()).collect();
    assert!(names.contains(&"inside.txt".to_owned()) && names.contains(&"alias.txt".to_owned()), "{names:?}");
    assert!(!names.contains(&"leak.txt".to_owned()), "a link out of the folder was shared: {names:?}");
    // Nor does the tracker hear of it.
    p.wait_connected();
    assert!(p.engine.search(vec![common::protocol::Criterion::name_contains("leak").unwrap()]).unwrap().is_empty());
}

#[test]
fn hidden_files_and_unsendable_names_are_not_shared() {
    let tracker = Tracker::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
    std::fs::write(dir.path().join("has blank.txt"), b"x").unwrap();
    std::fs::write(dir.path().join("ok.txt"), b"x").unwrap();
    let p = Peer::in_dir(1, tracker.addr, dir);
    p.wait("the first scan", |e| !e.snapshot().files.is_empty());
    let names: Vec<String> = p.engine.snapshot().files.iter().map(|f| f.entry.name.to_string()).collect();
    assert_eq!(names, vec!["ok.txt".to_owned()]);
}

#[test]
fn keys_are_cached_across_restarts() {
    let tracker = Tracker::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.bin"), random_bytes(100_000, 1)).unwrap();
    let first = Peer::in_dir(1, tracker.addr, dir);
    first.wait("the first scan", |e| !e.snapshot().files.is_empty());
    let key = first.engine.snapshot().files[0].entry.key.clone();
    let Peer { engine, dir, .. } = first;
    engine.shutdown();
    let cache = std::fs::read_to_string(dir.path().join(".eirb2share-keys")).unwrap();
    assert!(cache.contains(key.as_str()), "the key cache records the file");
    let again = Peer::in_dir(1, tracker.addr, dir);
    again.wait("the second scan", |e| !e.snapshot().files.is_empty());
    assert_eq!(again.engine.snapshot().files[0].entry.key, key);
}

#[test]
fn tracker_down_at_start_then_up() {
    // Reserve an address, start the peer while nothing listens there.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = probe.local_addr().unwrap();
    drop(probe);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("late.txt"), b"announced late").unwrap();
    let p = Peer::in_dir(1, addr, dir);
    p.wait("the error is reported", |e| {
        matches!(e.snapshot().tracker().unwrap().last_error, Some(peer::engine::TrackerError::Unreachable { .. }))
    });
    assert!(!p.engine.snapshot().tracker().unwrap().connected);
    // Now the tracker comes up on that address: the peer announces.
    let listener = tracker::bind(addr).unwrap();
    let config = common::config::TrackerConfig::parse(
        std::path::Path::new("t.ini"),
        "tracker_ip = 127.0.0.1\ntracker_port = 1\n",
    )
    .unwrap();
    let shutdown = tracker::Shutdown::new();
    let s = shutdown.clone();
    let t = std::thread::spawn(move || tracker::run(listener, config, s));
    p.wait_connected();
    let other = Peer::start(2, addr);
    assert_eq!(other.find("late.txt").length, 14);
    shutdown.trigger();
    t.join().unwrap().unwrap();
}

#[test]
fn the_server_refuses_replies_sent_as_requests() {
    use std::io::{BufRead, BufReader, Write};
    let tracker = Tracker::start();
    let p = seeder_with(tracker.addr, 1, "s.bin", &random_bytes(10_000, 2));
    let key = p.engine.snapshot().files[0].entry.key.clone();
    let mut s = std::net::TcpStream::connect(p.engine.settings().listen).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    // The start of a `data` message whose payload never ends: refused at
    // once, not buffered.
    s.write_all(format!("data {key} [0:").as_bytes()).unwrap();
    s.write_all(&[b'x'; 4096]).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.starts_with("error ") && line.contains("not a request"), "{line:?}");
}

#[test]
fn idle_connections_cannot_lock_others_out_of_the_server() {
    use peer::engine::server::MAX_CONNECTIONS;
    use std::io::{BufRead, BufReader, Read, Write};
    let tracker = Tracker::start();
    let p = seeder_with(tracker.addr, 1, "s.bin", &random_bytes(10_000, 3));
    let key = p.engine.snapshot().files[0].entry.key.clone();
    let addr = p.engine.settings().listen;
    let connect = || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    };
    // Every slot taken by a connection that never speaks.
    let mut idle: Vec<std::net::TcpStream> = (0..MAX_CONNECTIONS).map(|_| connect()).collect();
    // Make sure the server has registered them all: one more round trip
    // on the last one.
    let last = idle.last_mut().unwrap();
    last.write_all(format!("interested {key}\n").as_bytes()).unwrap();
    let mut line = Vec::new();
    BufReader::new(&*last).read_until(b'\n', &mut line).unwrap();
    // A newcomer is still served...
    let mut newcomer = connect();
    newcomer.write_all(format!("interested {key}\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    BufReader::new(&newcomer).read_until(b'\n', &mut reply).unwrap();
    assert!(reply.starts_with(b"have "), "{:?}", String::from_utf8_lossy(&reply));
    // ...because one of the idlest connections was closed to make room
    // (before the newcomer was accepted, so its end has arrived).
    let closed = idle[..MAX_CONNECTIONS - 1]
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            matches!((&**s).read(&mut [0u8; 16]), Ok(0))
        })
        .count();
    assert_eq!(closed, 1, "exactly one idle connection makes room");
}

/// Two download commands for one key at once (a double click) start one
/// download: the check and the insert were two lock sections.
#[test]
fn two_downloads_of_one_key_at_once_start_one() {
    let tracker = Tracker::start();
    let p = std::sync::Arc::new(Peer::start(2, tracker.addr));
    // Nobody has it: the download waits for peers until cancelled.
    let entry = common::protocol::FileEntry::parse_line(&format!("twice.bin 10 4096 {}", "ab".repeat(16))).unwrap();
    for round in 0..20 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let tries: Vec<_> = (0..2)
            .map(|_| {
                let (p, barrier, entry) = (p.clone(), barrier.clone(), entry.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    p.engine.download(entry).ok()
                })
            })
            .collect();
        let started: Vec<u64> = tries.into_iter().filter_map(|t| t.join().unwrap()).collect();
        assert_eq!(started.len(), 1, "round {round}: {started:?}");
        p.engine.control(started[0], peer::engine::Control::Cancel);
        p.wait("the cancel", |e| e.download_status(started[0]).is_some_and(|s| s.state.is_finished()));
    }
}

#[test]
fn a_file_moved_out_and_back_is_found_again() {
    // Maintenance every 100 ms: a file nobody holds is soon forgotten.
    let tracker = Tracker::with_settings("tracker_interval = 100\n");
    let dir = tempfile::tempdir().unwrap();
    let away = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"put back").unwrap();
    let p = Peer::in_dir(1, tracker.addr, dir);
    p.wait_sharing();
    let by_name = vec![common::protocol::Criterion::Name(common::protocol::FileName::new("a.txt").unwrap())];
    assert_eq!(p.engine.search(by_name.clone()).unwrap().len(), 1);
    std::fs::rename(p.dir.path().join("a.txt"), away.path().join("a.txt")).unwrap();
    p.wait("the tracker no longer lists it", |e| e.search(by_name.clone()).is_ok_and(|r| r.is_empty()));
    // Updates every 300 ms: half a second later, maintenance passes have
    // run since the tracker heard the file was gone.
    let gone = std::time::SystemTime::now() + std::time::Duration::from_millis(500);
    p.wait("maintenance passes", |e| e.snapshot().tracker().unwrap().last_announce.is_some_and(|t| t >= gone));
    std::fs::rename(away.path().join("a.txt"), p.dir.path().join("a.txt")).unwrap();
    p.wait("the file back in the folder", |e| !e.snapshot().files.is_empty());
    p.wait("the tracker lists it again", |e| e.search(by_name.clone()).is_ok_and(|r| r.len() == 1));
}
