//! Named malformed inputs: each is answered with `error ...` (or the
//! connection is closed), and the tracker keeps serving afterwards.

mod support;
use support::*;

/// Sends `input`; expects an error reply; then checks the same
/// connection and a fresh one still get answers.
fn refused(input: impl AsRef<[u8]>) {
    let t = TestTracker::start();
    let mut c = t.client();
    c.send(input);
    let reply = c.recv();
    assert!(reply.starts_with("error "), "expected an error reply, got {reply:?}");
    assert_eq!(c.ask("look []"), "list []", "the connection survives one malformed request");
    assert_eq!(t.client().ask("look []"), "list []");
}

macro_rules! refused {
    ($($name:ident: $input:expr;)*) => {$(
        #[test]
        fn $name() {
            refused($input);
        }
    )*};
}

fn announce_one(entry: &str) -> String {
    format!("announce listen 2222 seed [{entry}] leech []\n")
}

refused! {
    binary_garbage: [0xde, 0xad, 0xbe, 0xef, 0xff, 0x00, 0x7f, b'\n'];
    invalid_utf8_in_name: [b"announce listen 1 seed [\xff\xfe 1 1 ".as_slice(), KEY_A.as_bytes(), b"]\n"].concat();
    unknown_command: "hello tracker\n";
    lone_bracket: "]\n";
    overflowing_length: announce_one(&format!("a 99999999999999999999 1 {KEY_A}"));
    negative_length: announce_one(&format!("a -1 1 {KEY_A}"));
    overflowing_piece_size: announce_one(&format!("a 1 184467440737095516150 {KEY_A}"));
    zero_piece_size: announce_one(&format!("a 1 0 {KEY_A}"));
    port_zero: "announce listen 0 seed [] leech []\n";
    port_70000: "announce listen 70000 seed [] leech []\n";
    port_not_a_number: "announce listen http seed [] leech []\n";
    port_missing: "announce listen\n";
    listen_missing: "announce 2222 seed [] leech []\n";
    open_bracket_missing: format!("announce listen 1 seed a 1 1 {KEY_A}] leech []\n");
    close_bracket_missing: format!("announce listen 1 seed [a 1 1 {KEY_A} leech []\n");
    nested_brackets: format!("announce listen 1 seed [[a 1 1 {KEY_A}]] leech []\n");
    entry_missing_a_field: announce_one("a 1 1");
    key_not_hex: announce_one("a 1 1 not-a-hex-key");
    key_too_long: format!("getfile {}\n", "a".repeat(200));
    getfile_without_key: "getfile\n";
    update_key_not_hex: "update seed [xyz] leech []\n";
    filename_dot_dot_slash: announce_one(&format!("../etc/passwd 1 1 {KEY_A}"));
    filename_dot: announce_one(&format!(". 1 1 {KEY_A}"));
    filename_dot_dot: announce_one(&format!(".. 1 1 {KEY_A}"));
    filename_with_slash: announce_one(&format!("dir/file 1 1 {KEY_A}"));
    filename_with_backslash: announce_one(&format!("..\\x 1 1 {KEY_A}"));
    filename_with_nul: announce_one(&format!("a\0b 1 1 {KEY_A}"));
    filename_with_control: announce_one(&format!("a\x07b 1 1 {KEY_A}"));
    filename_too_long: announce_one(&format!("{} 1 1 {KEY_A}", "n".repeat(300)));
    unknown_criterion: "look [colour=\"red\"]\n";
    criterion_not_a_number: "look [filesize>\"big\"]\n";
    criterion_overflowing: "look [filesize>\"99999999999999999999\"]\n";
    duplicate_section: "update seed [] seed []\n";
    trailing_words: "look [] please\n";
    too_many_items: format!("update seed [] leech [{}]\n", "a ".repeat(60_000));
    two_mib_line_with_end: [vec![b'x'; 2 << 20], b"\n".to_vec()].concat();
}

#[test]
fn two_mib_line_without_end_is_refused_without_buffering() {
    let t = TestTracker::start();
    let mut c = t.client();
    c.send(vec![b'y'; 2 << 20]);
    assert!(c.recv().starts_with("error line longer than"));
    // The rest of that line is dropped; the next line is served.
    c.send(b"yyyy\nlook []\n");
    assert_eq!(c.recv(), "list []");
}

#[test]
fn ten_thousand_files_in_one_announce_are_answered() {
    let t = TestTracker::start();
    let mut c = t.client();
    let files: String = (0..10_000).map(|i| format!("f{i:05} {i} 1024 {i:032x} ")).collect();
    let reply = c.ask(&format!("announce listen 2222 seed [{files}] leech []"));
    assert!(reply == "ok" || reply.starts_with("error "), "{reply}");
    assert_eq!(t.client().ask("look [filename=\"f09999\"]"), format!("list [f09999 9999 1024 {:032x}]", 9999));
}

#[test]
fn only_nul_bytes_and_blank_lines_are_ignored() {
    let t = TestTracker::start();
    let mut c = t.client();
    c.send(b"\0\0\n\r\n\n");
    assert_eq!(c.ask("look []"), "list []");
}

#[test]
fn three_malformed_in_a_row_close_the_connection() {
    let t = TestTracker::start();
    let mut c = t.client();
    c.send("bad\nworse\n");
    assert!(c.recv().starts_with("error "));
    assert!(c.recv().starts_with("error "));
    assert_eq!(c.ask("look []"), "list []", "a good request resets the count");
    c.send("one\ntwo\nthree\nlook []\n");
    for _ in 0..3 {
        assert!(c.recv().starts_with("error "));
    }
    assert!(c.is_closed(), "closed after the third, the fourth line is not answered");
    assert_eq!(t.client().ask("look []"), "list []");
}
