//! Every dialect row of the shared protocol notes, server side, one test
//! each: the tracker must serve every course client as it is.

mod support;
use support::*;

fn announce_a(c: &mut Client) {
    assert_eq!(c.ask(&format!("announce listen 2222 seed [file_a.dat 10 4 {KEY_A}] leech []")), "ok");
}

#[test]
fn request_ending_crlf_gets_crlf_reply() {
    let t = TestTracker::start();
    let mut c = t.client();
    c.send("look []\r\n");
    assert_eq!(c.recv_raw(), "list []\r\n");
}

#[test]
fn request_ending_lf_gets_lf_reply_without_cr() {
    // One course peer keeps a `\r` as part of the last word: never send it one.
    let t = TestTracker::start();
    let mut c = t.client();
    c.send("look []\n");
    assert_eq!(c.recv_raw(), "list []\n");
}

#[test]
fn request_ending_lf_nul() {
    let t = TestTracker::start();
    let mut c = t.client();
    c.send("look []\n\0look []\n\0");
    assert_eq!(c.recv(), "list []");
    assert_eq!(c.recv(), "list []");
}

#[test]
fn request_without_line_end_is_served_after_a_pause() {
    let t = TestTracker::with(|c| c.line_pause = std::time::Duration::from_millis(50));
    let mut c = t.client_from(31);
    c.send(format!("announce listen 2222 seed [file_a.dat 10 4 {KEY_A}] leech [] "));
    assert_eq!(c.recv(), "ok");
    c.send("look []");
    assert_eq!(c.recv(), format!("list [file_a.dat 10 4 {KEY_A}]"));
}

/// Issue: one course peer sends `announce`/`look` with a trailing blank
/// and no line end, then lines ended by `\n`, and reads every reply up to
/// `\r\n`. Each reply on that connection ends with `\r\n`.
#[test]
fn a_client_that_never_ends_its_lines_gets_crlf_for_good() {
    let t = TestTracker::with(|c| c.line_pause = std::time::Duration::from_millis(50));
    let mut c = t.client_from(32);
    c.send(format!("announce listen 2222 seed [file_a.dat 10 4 {KEY_A}] leech [] "));
    assert_eq!(c.recv_raw(), "ok\r\n");
    c.send(format!("update seed [{KEY_A}] leech []\n"));
    assert_eq!(c.recv_raw(), "ok\r\n", "a later \\n request still gets \\r\\n");
    c.send("look [filename=\"file_a.dat\"] ");
    assert_eq!(c.recv_raw(), format!("list [file_a.dat 10 4 {KEY_A}]\r\n"));
    c.send("bogus\n");
    assert!(c.recv_raw().ends_with("\r\n"), "errors too");
    assert_eq!(c.ask("look []"), format!("list [file_a.dat 10 4 {KEY_A}]"), "the connection stays open");
}

/// Issue: two course peers send `update` with the `announce` form of
/// each file, one of them with upper-case keys and no line end.
#[test]
fn update_with_file_descriptions_terminated_and_not() {
    let t = TestTracker::with(|c| c.line_pause = std::time::Duration::from_millis(50));
    let mut c = t.client_from(33);
    assert_eq!(c.ask("announce listen 2222 seed [] leech []"), "ok");
    for _ in 0..4 {
        // More than the 3 malformed requests that would close it.
        c.send(format!("update seed [file_a.dat 10 4 {}] leech []\n", KEY_A.to_uppercase()));
        assert_eq!(c.recv_raw(), "ok\n");
    }
    assert_eq!(c.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} []"), "the requester is not listed");
    let mut other = t.client_from(34);
    assert_eq!(other.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} [127.0.0.33:2222]"));
    assert_eq!(other.ask("look []"), format!("list [file_a.dat 10 4 {KEY_A}]"), "described by the update");
    // Unterminated, upper case, keys mixed in, both sections described:
    // a leecher's description does not name a file.
    let key_c = "c".repeat(32);
    c.send(format!("update seed [{} b 5 2 {}] leech [c 1 1 {key_c}]", KEY_A.to_uppercase(), KEY_B.to_uppercase()));
    assert_eq!(c.recv_raw(), "ok\r\n");
    assert_eq!(other.ask(&format!("getfile {KEY_B}")), format!("peers {KEY_B} [127.0.0.33:2222]"));
    assert_eq!(other.ask(&format!("getfile {key_c}")), format!("peers {key_c} [127.0.0.33:2222]"));
    let both = format!("list [b 5 2 {KEY_B} file_a.dat 10 4 {KEY_A}]");
    assert_eq!(c.ask("look []"), both, "still open; c, only leeched, is not offered");
}

/// A `\n` client whose line stalls in the middle (segments retransmitted)
/// is not answered for half a request: a line that reads as cut short
/// gets four pauses to go on, and its client keeps its `\n` replies.
#[test]
fn a_line_stalled_in_the_middle_is_not_answered_in_half() {
    let t = TestTracker::with(|c| c.line_pause = std::time::Duration::from_millis(500));
    let mut c = t.client_from(36);
    c.send("announce listen 2222 seed [file_a.dat 10 4 ");
    // Twice the pause, half the cut line's (2 s): nothing may come back
    // yet. A whole second of margin either side.
    c.reader.get_ref().set_read_timeout(Some(std::time::Duration::from_millis(1000))).unwrap();
    let mut early = [0u8; 64];
    let waited = std::io::Read::read(c.reader.get_mut(), &mut early);
    assert!(
        waited.is_err(),
        "answered after one pause: {:?}",
        waited.map(|n| String::from_utf8_lossy(&early[..n]).into_owned())
    );
    c.reader.get_ref().set_read_timeout(Some(TIMEOUT)).unwrap();
    c.send(format!("{KEY_A}] leech []\n"));
    assert_eq!(c.recv_raw(), "ok\n", "one reply, the request's, ended like it");
    assert_eq!(c.ask("look []"), format!("list [file_a.dat 10 4 {KEY_A}]"));
}

/// Issue: an unterminated request that does not parse was never answered.
#[test]
fn an_unterminated_request_that_does_not_parse_gets_its_error() {
    let t = TestTracker::with(|c| c.line_pause = std::time::Duration::from_millis(50));
    let mut c = t.client_from(35);
    c.send("update seed [not-a-key] ");
    assert!(c.recv_raw().starts_with("error bad key"), "answered after the pause");
    c.send("announce listen 2222 seed [file_a.dat 10");
    assert!(c.recv_raw().starts_with("error "), "a cut request too");
    assert_eq!(c.ask("look []"), "list []", "the connection stays open");
    for _ in 0..3 {
        c.send("hello ");
        assert!(c.recv_raw().starts_with("error "));
    }
    assert!(c.is_closed(), "closed after 3 malformed requests in a row, as terminated ones");
}

#[test]
fn list_spacing_and_brackets() {
    let t = TestTracker::start();
    let mut c = t.client();
    assert_eq!(c.ask(&format!("announce listen 2222 seed [ file_a.dat  10 4 {KEY_A}  ] leech [ ]")), "ok");
    assert_eq!(c.ask("look [ ]"), format!("list [file_a.dat 10 4 {KEY_A}]"));
    assert_eq!(c.ask("look\t[]"), format!("list [file_a.dat 10 4 {KEY_A}]"));
}

#[test]
fn empty_sections_omitted() {
    let t = TestTracker::start();
    let mut c = t.client();
    assert_eq!(c.ask("announce listen 2222"), "ok");
    assert_eq!(c.ask(&format!("update leech [{KEY_A}]")), "ok");
    assert_eq!(c.ask(&format!("getfile {KEY_A}")), format!("peers {KEY_A} []"), "not to itself");
}

#[test]
fn look_with_straight_and_typographic_quotes() {
    let t = TestTracker::start();
    let mut c = t.client();
    announce_a(&mut c);
    let want = format!("list [file_a.dat 10 4 {KEY_A}]");
    assert_eq!(c.ask("look [filename=\"file_a.dat\"]"), want);
    assert_eq!(c.ask("look [filename=\u{201d}file_a.dat\u{201d}]"), want);
    assert_eq!(c.ask("look [filename=\u{201c}file_a.dat\u{201d}]"), want);
}

#[test]
fn look_no_match_is_an_empty_list() {
    let t = TestTracker::start();
    let mut c = t.client();
    assert_eq!(c.ask("look [filename=\"nothing\"]"), "list []");
}

#[test]
fn upper_case_keys_are_the_same_key() {
    let t = TestTracker::start();
    let mut seeder = t.client_from(32);
    let mut other = t.client_from(33);
    assert_eq!(seeder.ask(&format!("announce listen 2222 seed [a 1 1 {}]", KEY_A.to_uppercase())), "ok");
    assert_eq!(other.ask(&format!("getfile {}", KEY_A.to_uppercase())), format!("peers {KEY_A} [127.0.0.32:2222]"));
}

#[test]
fn md5_keys_are_opaque_tokens() {
    // 32-character keys (the subject's MD5, and ours) and longer ones.
    let t = TestTracker::start();
    let mut c = t.client_from(34);
    let long = "ab".repeat(32);
    assert_eq!(c.ask(&format!("announce listen 1 seed [a 1 1 {KEY_A} b 1 1 {long}]")), "ok");
    assert_eq!(c.ask("look []"), format!("list [a 1 1 {KEY_A} b 1 1 {long}]"));
}

#[test]
fn several_commands_in_one_read() {
    let t = TestTracker::start();
    let mut c = t.client();
    c.send(format!("announce listen 2222 seed [file_a.dat 10 4 {KEY_A}]\nlook []\r\ngetfile {KEY_A}\n"));
    assert_eq!(c.recv(), "ok");
    assert_eq!(c.recv(), format!("list [file_a.dat 10 4 {KEY_A}]"));
    assert_eq!(c.recv(), format!("peers {KEY_A} []"));
}

#[test]
fn one_command_over_several_reads() {
    let t = TestTracker::start();
    let mut c = t.client();
    let line = format!("announce listen 2222 seed [file_a.dat 10 4 {KEY_A}]\n");
    for chunk in line.as_bytes().chunks(7) {
        c.send(chunk);
    }
    assert_eq!(c.recv(), "ok", "exactly one reply");
    assert_eq!(c.ask("look []"), format!("list [file_a.dat 10 4 {KEY_A}]"));
}

#[test]
fn long_announce_is_not_cut() {
    // Two course trackers cap reads at 511 or 2047 bytes; we must not.
    let t = TestTracker::start();
    let mut c = t.client();
    let files: String = (0..200).map(|i| format!("file_{i:03}.dat {i} 1024 {i:064x} ")).collect();
    assert_eq!(c.ask(&format!("announce listen 2222 seed [{files}] leech []")), "ok");
    let list = c.ask("look []");
    assert_eq!(list.matches(".dat").count(), 200);
}
