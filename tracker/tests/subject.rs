//! The official subject's example session, over real sockets.

mod support;
use support::*;

#[test]
fn subject_example_session() {
    let t = TestTracker::start();
    let mut seeder = t.client_from(11);
    let mut leecher = t.client_from(12);
    assert_eq!(
        seeder.ask(&format!(
            "announce listen 2222 seed [file_a.dat 2097152 1024 {KEY_A} file_b.dat 3145728 1536 {KEY_B}] leech []"
        )),
        "ok"
    );
    assert_eq!(leecher.ask(&format!("announce listen 3333 seed [] leech [{KEY_A}]")), "ok");

    let a = format!("file_a.dat 2097152 1024 {KEY_A}");
    let b = format!("file_b.dat 3145728 1536 {KEY_B}");
    assert_eq!(leecher.ask(r#"look [filename="file_a.dat"]"#), format!("list [{a}]"));
    assert_eq!(leecher.ask(r#"look [filesize>"2097152"]"#), format!("list [{b}]"));
    assert_eq!(leecher.ask(r#"look [filesize<"3145728"]"#), format!("list [{a}]"));
    assert_eq!(leecher.ask(r#"look [filesize="3145728"]"#), format!("list [{b}]"));
    assert_eq!(leecher.ask(r#"look [piecesize="1536"]"#), format!("list [{b}]"));
    assert_eq!(leecher.ask(r#"look [piecesize<"1536"]"#), format!("list [{a}]"));
    assert_eq!(leecher.ask(r#"look [piecesize>"1024"]"#), format!("list [{b}]"));
    assert_eq!(leecher.ask(r#"look [filename="file_a.dat" filesize>"1048576"]"#), format!("list [{a}]"));
    assert_eq!(leecher.ask(r#"look [filename="file_a.dat" filesize>"9999999"]"#), "list []");
    assert_eq!(leecher.ask(r#"look [filename~"FILE_"]"#), format!("list [{a} {b}]"));
    assert_eq!(leecher.ask("look []"), format!("list [{a} {b}]"));

    // Seeders and leechers, never the requester itself.
    assert_eq!(leecher.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} [127.0.0.11:2222]"));
    assert_eq!(seeder.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} [127.0.0.12:3333]"));
    assert_eq!(leecher.ask(&format!("getfile {}", "f".repeat(64))), format!("peers {} []", "f".repeat(64)));

    // The leecher finished: it now seeds file_a too.
    assert_eq!(leecher.ask(&format!("update seed [{KEY_A}] leech []")), "ok");
    let mut third = t.client_from(13);
    assert_eq!(third.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} [127.0.0.11:2222 127.0.0.12:3333]"));
    // The seeder stops sharing file_b.
    assert_eq!(seeder.ask(&format!("update seed [{KEY_A}] leech []")), "ok");
    assert_eq!(third.ask(&format!("getfile {KEY_B}")), format!("peers {KEY_B} []"));
    assert_eq!(third.ask(r#"look [filename="file_b.dat"]"#), "list []");
}

#[test]
fn update_before_announce_is_an_error() {
    let t = TestTracker::start();
    let mut c = t.client_from(21);
    assert!(c.ask("update seed [] leech []").starts_with("error "));
}

#[test]
fn announce_again_replaces_the_lists() {
    let t = TestTracker::start();
    let mut c = t.client_from(22);
    assert_eq!(c.ask(&format!("announce listen 1 seed [a 1 1 {KEY_A}]")), "ok");
    assert_eq!(c.ask(&format!("announce listen 1 seed [b 1 1 {KEY_B}]")), "ok");
    assert_eq!(c.ask("look []"), format!("list [b 1 1 {KEY_B}]"));
}
