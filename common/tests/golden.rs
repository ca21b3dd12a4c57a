//! Golden tests: the official subject's examples and every dialect row of
//! the shared notes, parsed to the values we expect and written back in
//! canonical form.

use common::protocol::frame::{next_line, pending_line};
use common::protocol::*;
use common::{BufferMap, FileKey, Layout};

const KEY_A: &str = "8905e92afeb80fc7722ec89eb0bf0966";
const KEY_B: &str = "330a57722ec8b0bf09669a2b35f88e9e";

fn key(s: &str) -> FileKey {
    FileKey::parse(s.as_bytes()).unwrap()
}
fn kref(s: &str) -> FileRef {
    FileRef::Key(key(s))
}
fn entry(name: &str, length: u64, piece_size: u64, k: &str) -> FileEntry {
    FileEntry { name: FileName::new(name).unwrap(), length, piece_size, key: key(k) }
}
fn req(line: &str) -> TrackerRequest {
    TrackerRequest::parse(line.as_bytes(), &Limits::default()).unwrap()
}
fn reply(line: &str) -> TrackerReply {
    TrackerReply::parse(line.as_bytes(), &Limits::default()).unwrap()
}
fn written_req(r: &TrackerRequest) -> String {
    let mut out = Vec::new();
    r.write(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}
fn written_reply(r: &TrackerReply) -> String {
    let mut out = Vec::new();
    r.write(&mut out, LineEnding::Lf).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn subject_announce() {
    let line =
        format!("announce listen 2222 seed [file_a.dat 2097152 1024 {KEY_A} file_b.dat 3145728 1536 {KEY_B}] leech []");
    let expected = TrackerRequest::Announce {
        port: 2222,
        seed: vec![entry("file_a.dat", 2097152, 1024, KEY_A), entry("file_b.dat", 3145728, 1536, KEY_B)],
        leech: vec![],
    };
    assert_eq!(req(&line), expected);
    assert_eq!(written_req(&expected), format!("{line}\n"));
    assert_eq!(written_reply(&reply("ok")), "ok\n");
}

#[test]
fn subject_look_and_list() {
    let look = req(r#"look [filename="file_a.dat" filesize>"1048576"]"#);
    let expected = TrackerRequest::Look {
        criteria: vec![Criterion::Name(FileName::new("file_a.dat").unwrap()), Criterion::Size(Cmp::Gt, 1048576)],
    };
    assert_eq!(look, expected);
    assert_eq!(written_req(&expected), "look [filename=\"file_a.dat\" filesize>\"1048576\"]\n");
    let list = format!("list [file_a.dat 2097152 1024 {KEY_A}]");
    assert_eq!(reply(&list), TrackerReply::List(vec![entry("file_a.dat", 2097152, 1024, KEY_A)]));
    assert_eq!(written_reply(&reply(&list)), format!("{list}\n"));
}

#[test]
fn subject_getfile_peers_update() {
    assert_eq!(req(&format!("getfile {KEY_A}")), TrackerRequest::GetFile { key: key(KEY_A) });
    let peers = format!("peers {KEY_A} [1.1.1.2:2222 1.1.1.3:3333]");
    let parsed = reply(&peers);
    assert_eq!(
        parsed,
        TrackerReply::Peers {
            key: key(KEY_A),
            peers: vec![PeerAddr::v4([1, 1, 1, 2].into(), 2222), PeerAddr::v4([1, 1, 1, 3].into(), 3333)],
        }
    );
    assert_eq!(written_reply(&parsed), format!("{peers}\n"));
    let update = format!("update seed [{KEY_A}] leech [{KEY_B}]");
    assert_eq!(req(&update), TrackerRequest::Update { seed: vec![kref(KEY_A)], leech: vec![kref(KEY_B)] });
    assert_eq!(written_req(&req(&update)), format!("{update}\n"));
}

fn layouts(k: &FileKey) -> Option<Layout> {
    (k.as_str() == KEY_A).then(|| Layout::new(10, 4).unwrap())
}

fn peer(bytes: &[u8]) -> (PeerMessage<'_>, usize) {
    PeerMessage::decode(bytes, &Limits::default(), &layouts).unwrap().unwrap()
}

#[test]
fn subject_peer_exchange() {
    let buf = format!("interested {KEY_A}\n");
    let (m, _) = peer(buf.as_bytes());
    assert_eq!(m, PeerMessage::Interested { key: key(KEY_A) });
    // 10 bytes in pieces of 4: three pieces, one buffermap byte.
    let have = [format!("have {KEY_A} ").as_bytes(), &[0b1010_0000], b"\n"].concat();
    let (m, used) = peer(&have);
    let mut map = BufferMap::empty(3);
    map.set(0);
    map.set(2);
    assert_eq!((m.clone(), used), (PeerMessage::Have { key: key(KEY_A), map }, have.len()));
    let mut out = Vec::new();
    m.write(&mut out).unwrap();
    assert_eq!(out, have);

    let buf = format!("getpieces {KEY_A} [0 2]\n");
    let (m, _) = peer(buf.as_bytes());
    assert_eq!(m, PeerMessage::GetPieces { key: key(KEY_A), indices: vec![0, 2] });
    // Piece bytes are raw and may hold blanks, brackets and line ends.
    let data = format!("data {KEY_A} [0:a] \n 2:x\n]\n");
    let (m, used) = peer(data.as_bytes());
    assert_eq!(used, data.len());
    let PeerMessage::Data { pieces, .. } = &m else { panic!("{m:?}") };
    assert_eq!(pieces, &[Piece { index: 0, bytes: b"a] \n" }, Piece { index: 2, bytes: b"x\n" }]);
    let mut out = Vec::new();
    m.write(&mut out).unwrap();
    assert_eq!(out, data.as_bytes());
}

#[test]
fn extension_hashes() {
    let h = [[0xab; 32], [0x01; 32], [0xff; 32]];
    let m = PeerMessage::Hashes { key: key(KEY_A), hashes: h.to_vec() };
    let mut out = Vec::new();
    m.write(&mut out).unwrap();
    assert!(out.starts_with(format!("hashes {KEY_A} [abab").as_bytes()));
    assert_eq!(peer(&out).0, m);
    assert_eq!(peer(format!("gethashes {KEY_A}\r\n").as_bytes()).0, PeerMessage::GetHashes { key: key(KEY_A) });
}

// ---- Dialect rows of the shared notes, one test each ----

#[test]
fn dialect_reply_ending_crlf() {
    let (line, used) = next_line(b"ok\r\n", 100).unwrap().unwrap();
    assert_eq!((reply_of(line.text), used), (TrackerReply::Ok, 4));
}

#[test]
fn dialect_reply_ending_lf() {
    let (line, _) = next_line(b"ok\n", 100).unwrap().unwrap();
    assert_eq!(reply_of(line.text), TrackerReply::Ok);
}

#[test]
fn dialect_reply_ending_lf_nul() {
    let buf = b"ok\n\0list []\n\0";
    let (line, used) = next_line(buf, 100).unwrap().unwrap();
    assert_eq!(reply_of(line.text), TrackerReply::Ok);
    let (line, _) = next_line(&buf[used..], 100).unwrap().unwrap();
    assert_eq!(reply_of(line.text), TrackerReply::List(vec![]));
}

fn reply_of(text: &[u8]) -> TrackerReply {
    TrackerReply::parse(text, &Limits::default()).unwrap()
}

#[test]
fn dialect_request_ending_crlf_and_lf() {
    for buf in [&b"look []\r\n"[..], b"look []\n"] {
        let (line, _) = next_line(buf, 100).unwrap().unwrap();
        assert_eq!(
            TrackerRequest::parse(line.text, &Limits::default()).unwrap(),
            TrackerRequest::Look { criteria: vec![] }
        );
    }
}

#[test]
fn dialect_request_without_ending_and_trailing_blank() {
    let buf = format!("announce listen 2222 seed [a 1 2 {KEY_A}] leech [] ");
    assert_eq!(next_line(buf.as_bytes(), 1000).unwrap(), None, "no end yet: wait");
    let line = pending_line(buf.as_bytes()).unwrap();
    assert_eq!(line.ending, None);
    assert!(matches!(req(std::str::from_utf8(line.text).unwrap()), TrackerRequest::Announce { port: 2222, .. }));
}

#[test]
fn dialect_list_spacing() {
    let r = req(&format!("announce listen 2222 seed [ a 1 2 {KEY_A}  ] leech [ ]"));
    assert_eq!(r, TrackerRequest::Announce { port: 2222, seed: vec![entry("a", 1, 2, KEY_A)], leech: vec![] });
    assert_eq!(
        reply("list [ a 1 2 8905e92afeb80fc7722ec89eb0bf0966  ]"),
        TrackerReply::List(vec![entry("a", 1, 2, KEY_A)])
    );
    assert_eq!(reply("list []"), TrackerReply::List(vec![]));
}

#[test]
fn dialect_empty_sections_omitted() {
    assert_eq!(req("announce listen 2222"), TrackerRequest::Announce { port: 2222, seed: vec![], leech: vec![] });
    assert_eq!(
        req(&format!("announce listen 7 leech [{KEY_A}]")),
        TrackerRequest::Announce { port: 7, seed: vec![], leech: vec![kref(KEY_A)] }
    );
    assert_eq!(
        req(&format!("update seed [{KEY_A}]")),
        TrackerRequest::Update { seed: vec![kref(KEY_A)], leech: vec![] }
    );
    assert_eq!(req("update"), TrackerRequest::Update { seed: vec![], leech: vec![] });
}

/// Two course peers send `update` with the `announce` form of each file,
/// one of them with upper-case keys; lists may mix both forms.
#[test]
fn dialect_update_with_file_descriptions() {
    let upper = KEY_A.to_uppercase();
    let r = req(&format!("update seed [file_a.dat 2097152 1024 {upper}] leech [file_b.dat 10 2048 {KEY_B}]"));
    let described = |e: FileEntry| FileRef::Described(e);
    assert_eq!(
        r,
        TrackerRequest::Update {
            seed: vec![described(entry("file_a.dat", 2097152, 1024, KEY_A))],
            leech: vec![described(entry("file_b.dat", 10, 2048, KEY_B))],
        }
    );
    assert_eq!(
        written_req(&r),
        format!("update seed [file_a.dat 2097152 1024 {KEY_A}] leech [file_b.dat 10 2048 {KEY_B}]\n")
    );
    let mixed = req(&format!("update seed [ {KEY_A} b 1 2 {KEY_B}  {KEY_B}] leech [{KEY_A}]"));
    assert_eq!(
        mixed,
        TrackerRequest::Update {
            seed: vec![kref(KEY_A), described(entry("b", 1, 2, KEY_B)), kref(KEY_B)],
            leech: vec![kref(KEY_A)],
        }
    );
    // A key right before a file named by a number is still a key.
    assert_eq!(
        req(&format!("update seed [{KEY_A} 2024 10 20 {KEY_B}]")),
        TrackerRequest::Update { seed: vec![kref(KEY_A), described(entry("2024", 10, 20, KEY_B))], leech: vec![] }
    );
    // A name that looks like a key is still a name when numbers follow.
    assert_eq!(
        req(&format!("update seed [{KEY_B} 3 4 {KEY_A}]")),
        TrackerRequest::Update { seed: vec![described(entry(KEY_B, 3, 4, KEY_A))], leech: vec![] }
    );
    assert_eq!(
        req(&format!("announce listen 1 leech [a 1 2 {KEY_A}]")),
        TrackerRequest::Announce { port: 1, seed: vec![], leech: vec![described(entry("a", 1, 2, KEY_A))] }
    );
    assert_eq!(
        req("update seed [abc 12 34 ]"),
        TrackerRequest::Update { seed: vec![kref("abc"), kref("12"), kref("34")], leech: vec![] },
        "short keys, a blank before ']'"
    );
    let bad = |line: &str| TrackerRequest::parse(line.as_bytes(), &Limits::default()).unwrap_err();
    assert!(matches!(bad("update seed [a 1 2 nothex]"), ParseError::BadKey(_)));
    assert!(matches!(bad("update seed [a 1 0 abcd]"), ParseError::BadLayout(_)));
    assert!(matches!(bad("update seed [x.txt 1 2]"), ParseError::BadKey(_)), "three words are not a file");
}

/// One course tracker starts every reply with `> ` (and pads it with NULs).
#[test]
fn dialect_reply_prefix() {
    assert_eq!(reply("> ok"), TrackerReply::Ok);
    assert_eq!(reply(&format!("> list [a 1 2 {KEY_A}]")), TrackerReply::List(vec![entry("a", 1, 2, KEY_A)]));
    let (line, _) = next_line(b"> OK\n\0\0\0\0", 100).unwrap().unwrap();
    assert_eq!(reply_of(line.text), TrackerReply::Ok);
    assert!(TrackerReply::parse(b">", &Limits::default()).is_err());
}

#[test]
fn dialect_look_quotes() {
    let want = TrackerRequest::Look { criteria: vec![Criterion::Name(FileName::new("file_a.dat").unwrap())] };
    assert_eq!(req(r#"look [filename="file_a.dat"]"#), want);
    assert_eq!(req("look [filename=\u{201d}file_a.dat\u{201d}]"), want);
    assert_eq!(req("look [filename=\u{201c}file_a.dat\u{201d}]"), want);
}

#[test]
fn dialect_look_no_match() {
    assert_eq!(reply("list []"), TrackerReply::List(vec![]));
    assert_eq!(reply("error no file matches"), TrackerReply::Error("no file matches".into()));
    assert!(matches!(TrackerReply::parse(b"File not found", &Limits::default()), Err(ParseError::UnknownCommand(_))));
}

#[test]
fn dialect_key_case() {
    assert_eq!(req(&format!("getfile {}", KEY_A.to_uppercase())), TrackerRequest::GetFile { key: key(KEY_A) });
}

#[test]
fn dialect_buffermap_raw() {
    let buf = [format!("have {KEY_A} ").as_bytes(), &[0xe0], b"\r\n"].concat();
    let (m, _) = peer(&buf);
    assert_eq!(m, PeerMessage::Have { key: key(KEY_A), map: BufferMap::full(3) });
}

#[test]
fn dialect_buffermap_ascii() {
    let mut want = BufferMap::empty(3);
    want.set(0);
    want.set(2);
    for text in ["101", "[101]", "[1 0 1]", "{0, 2}"] {
        let buf = format!("have {KEY_A} {text}\n");
        let (m, used) = peer(buf.as_bytes());
        assert_eq!(m, PeerMessage::Have { key: key(KEY_A), map: want.clone() }, "{text}");
        assert_eq!(used, format!("have {KEY_A} {text}\n").len());
    }
}

#[test]
fn dialect_piece_bytes_raw_only() {
    // Raw bytes are the protocol; base64 or text renderings cannot be
    // framed by length and are refused, not misread.
    let base64 = format!("data {KEY_A} [0:YWJjZA==]\n");
    assert!(PeerMessage::decode(base64.as_bytes(), &Limits::default(), &layouts).is_err());
}

#[test]
fn dialect_several_commands_in_one_read() {
    let buf = format!("getfile {KEY_A}\nlook []\r\n");
    let (first, used) = next_line(buf.as_bytes(), 1000).unwrap().unwrap();
    assert_eq!(req(std::str::from_utf8(first.text).unwrap()), TrackerRequest::GetFile { key: key(KEY_A) });
    let (second, _) = next_line(&buf.as_bytes()[used..], 1000).unwrap().unwrap();
    assert_eq!(second.text, b"look []");
}

#[test]
fn dialect_one_command_over_two_reads() {
    let full = format!("getfile {KEY_A}\n");
    let (a, _) = full.as_bytes().split_at(10);
    assert_eq!(next_line(a, 1000).unwrap(), None);
    assert!(next_line(full.as_bytes(), 1000).unwrap().is_some());
}

#[test]
fn dialect_peers_with_host_names() {
    let r = reply(&format!("peers {KEY_A} [peer-3.lan:5001 127.0.0.1:2222]"));
    let TrackerReply::Peers { peers, .. } = r else { panic!() };
    assert_eq!(peers[0], PeerAddr::Name { host: "peer-3.lan".into(), port: 5001 });
    assert_eq!(peers[0].to_string(), "peer-3.lan:5001");
}

#[test]
fn extension_name_contains_and_other_criteria() {
    let r = req(r#"look [filename~"FILE" piecesize="1024" filesize<"10"]"#);
    let TrackerRequest::Look { criteria } = &r else { panic!() };
    assert_eq!(criteria[0], Criterion::name_contains("FILE").unwrap());
    assert!(criteria[0].matches(&entry("my_file.txt", 1, 1, KEY_A)));
    assert_eq!(criteria[1], Criterion::PieceSize(Cmp::Eq, 1024));
    assert_eq!(criteria[2], Criterion::Size(Cmp::Lt, 10));
    assert_eq!(written_req(&r), "look [filename~\"FILE\" piecesize=\"1024\" filesize<\"10\"]\n");
}

#[test]
fn result_line_as_pasted() {
    let e = FileEntry::parse_line(&format!("  file_a.dat 2097152 1024 {KEY_A}\n")).unwrap();
    assert_eq!(e, entry("file_a.dat", 2097152, 1024, KEY_A));
    assert_eq!(e.to_string(), format!("file_a.dat 2097152 1024 {KEY_A}"));
    assert!(FileEntry::parse_line("../x 1 1 ab").is_err());
    assert!(FileEntry::parse_line(&format!("a 1 1 {KEY_A} extra")).is_err());
}

#[test]
fn error_text_is_one_clean_line_both_ways() {
    // Found by the fuzzer: a tab inside an error text must survive a round trip.
    let parsed = reply("error  bad\tthing\u{4} ");
    assert_eq!(parsed, TrackerReply::Error("bad thing".into()));
    assert_eq!(written_reply(&parsed), "error bad thing\n");
    assert_eq!(written_reply(&TrackerReply::Error("a\r\nb".into())), "error a  b\n");
}

#[test]
fn error_text_is_bounded_so_it_re_encodes_within_limits() {
    // Found by the fuzzer: invalid UTF-8 triples in size when read lossily.
    let mut line = b"error ".to_vec();
    line.extend([0xff; 1000]);
    let TrackerReply::Error(text) = TrackerReply::parse(&line, &Limits::default()).unwrap() else { panic!() };
    assert!(text.len() <= common::protocol::error::MAX_ERROR_TEXT);
    let mut out = Vec::new();
    TrackerReply::Error(text.clone()).write(&mut out, LineEnding::Lf).unwrap();
    assert_eq!(reply(std::str::from_utf8(&out).unwrap().trim_end()), TrackerReply::Error(text));
}

#[test]
fn user_queries_mix_criteria_and_words() {
    let q = parse_query(r#"report filesize>"10""#).unwrap();
    assert_eq!(q, vec![Criterion::name_contains("report").unwrap(), Criterion::Size(Cmp::Gt, 10)]);
    assert!(parse_query("filesize>\"big\"").is_err());
    assert_eq!(parse_query("   ").unwrap(), vec![]);
    // The distributed mode's: a bare word is the whole name.
    let q = common::protocol::parse_exact_query(r#"report.pdf filesize>"10""#).unwrap();
    assert_eq!(q, vec![Criterion::Name(FileName::new("report.pdf").unwrap()), Criterion::Size(Cmp::Gt, 10)]);
    assert!(common::protocol::parse_exact_query(".hidden/../x").is_err());
}
