//! Each bound on input is a typed error: never a panic, never an
//! allocation sized by what the input claims.

use common::protocol::frame::next_line;
use common::protocol::*;
use common::{FileKey, Layout};

const KEY: &str = "8905e92afeb80fc7722ec89eb0bf0966";

fn req(line: &[u8]) -> Result<TrackerRequest, ParseError> {
    TrackerRequest::parse(line, &Limits::default())
}

#[test]
fn line_too_long() {
    let limits = Limits { max_line: 100, ..Limits::default() };
    let long = vec![b'a'; 2 << 20];
    assert_eq!(next_line(&long, limits.max_line), Err(ParseError::LineTooLong { limit: 100 }));
    let mut with_end = vec![b'a'; 101];
    with_end.push(b'\n');
    assert_eq!(next_line(&with_end, limits.max_line), Err(ParseError::LineTooLong { limit: 100 }));
}

#[test]
fn too_many_items() {
    let limits = Limits { max_items: 3, ..Limits::default() };
    let line = format!("update seed [{KEY} {KEY} {KEY} {KEY}]");
    assert_eq!(TrackerRequest::parse(line.as_bytes(), &limits), Err(ParseError::TooManyItems { limit: 3 }));
    let files = format!("announce listen 1 seed [{}]", format!("a 1 1 {KEY} ").repeat(4));
    assert_eq!(TrackerRequest::parse(files.as_bytes(), &limits), Err(ParseError::TooManyItems { limit: 3 }));
}

#[test]
fn numbers_overflow_or_negative() {
    let over = format!("announce listen 1 seed [a 99999999999999999999 1 {KEY}]");
    assert!(matches!(req(over.as_bytes()), Err(ParseError::NumberTooLarge { .. })));
    let neg = format!("announce listen 1 seed [a -5 1 {KEY}]");
    assert!(matches!(req(neg.as_bytes()), Err(ParseError::BadNumber { .. })));
    let index = format!("getpieces {KEY} [4294967296]");
    let none = |_: &FileKey| None;
    assert!(matches!(
        PeerMessage::decode(format!("{index}\n").as_bytes(), &Limits::default(), &none),
        Err(ParseError::NumberTooLarge { .. })
    ));
}

#[test]
fn ports_out_of_range() {
    assert_eq!(req(b"announce listen 0"), Err(ParseError::BadPort(0)));
    assert_eq!(req(b"announce listen 70000"), Err(ParseError::BadPort(70000)));
    assert!(TrackerReply::parse(format!("peers {KEY} [1.2.3.4:0]").as_bytes(), &Limits::default()).is_err());
}

#[test]
fn bad_file_names() {
    for name in [".", "..", "a/b", "..\\x", "../x", "a\0b"] {
        let line = format!("announce listen 1 seed [{name} 1 1 {KEY}]");
        assert!(matches!(req(line.as_bytes()), Err(ParseError::BadFileName { .. })), "{name:?}");
    }
    // `]x` reads as an empty list followed by junk.
    assert!(matches!(req(format!("announce listen 1 seed []x 1 1 {KEY}]").as_bytes()), Err(ParseError::Trailing(_))));
    assert!(FileName::new("]x").is_err());
    assert!(FileName::new(&"x".repeat(256)).is_err());
    assert!(FileName::new("a b").is_err());
    assert!(FileName::new("a\u{7f}").is_err());
}

#[test]
fn bad_keys_and_zero_piece_size() {
    assert!(matches!(req(b"getfile not-hex"), Err(ParseError::BadKey(_))));
    assert!(matches!(req(format!("getfile {}", "a".repeat(129)).as_bytes()), Err(ParseError::BadKey(_))));
    assert!(matches!(req(format!("announce listen 1 seed [a 1 0 {KEY}]").as_bytes()), Err(ParseError::BadLayout(_))));
}

#[test]
fn brackets_missing_or_nested() {
    assert!(matches!(req(format!("update seed {KEY}").as_bytes()), Err(ParseError::Expected { .. })));
    assert!(matches!(req(format!("update seed [{KEY}").as_bytes()), Err(ParseError::UnexpectedEnd(_))));
    assert!(req(format!("update seed [[{KEY}]]").as_bytes()).is_err());
    assert!(req(b"look [[filename=\"a\"]]").is_err());
    assert!(matches!(req(b"update seed [] seed []"), Err(ParseError::Duplicate("seed"))));
    assert!(matches!(req(b"look [] extra"), Err(ParseError::Trailing(_))));
}

#[test]
fn binary_messages_are_bounded() {
    let limits = Limits { max_line: 64, max_items: 10, max_message: 100 };
    let layout = |_: &FileKey| Layout::new(1 << 20, 16).ok();
    // A data message that never ends is refused once past its bound.
    let mut data = format!("data {KEY} [").into_bytes();
    for i in 0..20u32 {
        data.extend(format!("{i}:").as_bytes());
        data.extend([b'x'; 16]);
        data.push(b' ');
    }
    assert!(matches!(
        PeerMessage::decode(&data, &limits, &layout),
        Err(ParseError::MessageTooLong { .. } | ParseError::TooManyItems { .. })
    ));
    // Unknown key: the payload cannot be framed.
    let unknown = |_: &FileKey| None;
    assert!(matches!(
        PeerMessage::decode(format!("have {KEY} x\n").as_bytes(), &limits, &unknown),
        Err(ParseError::UnknownKey(_))
    ));
    // Index past the file's end.
    let small = |_: &FileKey| Layout::new(10, 4).ok();
    assert_eq!(
        PeerMessage::decode(format!("data {KEY} [3:ab]\n").as_bytes(), &limits, &small),
        Err(ParseError::BadPieceIndex(3))
    );
    // A piece longer than the layout says.
    assert!(PeerMessage::decode(format!("data {KEY} [2:abcd]\n").as_bytes(), &limits, &small).is_err());
    // An endless command word.
    assert!(PeerMessage::decode(&[b'z'; 100], &limits, &small).is_err());
}

// ---- Regressions from review ----

#[test]
fn raw_map_that_looks_ascii_is_not_misread_when_split() {
    // 24 pieces: the raw map `{}\n` looks like an empty ASCII set.
    let layout = |_: &FileKey| Layout::new(24, 1).ok();
    let map = common::BufferMap::from_bytes(24, b"{}\n").unwrap();
    let m = PeerMessage::Have { key: FileKey::parse(KEY.as_bytes()).unwrap(), map };
    let mut out = Vec::new();
    m.write(&mut out).unwrap();
    assert_eq!(PeerMessage::decode(&out[..out.len() - 1], &Limits::default(), &layout), Ok(None));
    assert_eq!(PeerMessage::decode(&out, &Limits::default(), &layout), Ok(Some((m, out.len()))));
}

#[test]
fn huge_raw_map_is_incomplete_not_too_long() {
    let limits = Limits { max_line: 1000, ..Limits::default() };
    let layout = |_: &FileKey| Layout::new(100_000, 1).ok();
    let mut partial = format!("have {KEY} ").into_bytes();
    partial.extend([0xff; 5000]);
    assert_eq!(PeerMessage::decode(&partial, &limits, &layout), Ok(None));
    partial.extend([0xff; 12_500 - 5000]);
    partial.push(b'\n');
    let (m, _) = PeerMessage::decode(&partial, &limits, &layout).unwrap().unwrap();
    assert!(matches!(m, PeerMessage::Have { map, .. } if map.is_complete()));
}

#[test]
fn have_without_blank_before_the_map_is_refused() {
    let layout = |_: &FileKey| Layout::new(8, 1).ok();
    assert!(PeerMessage::decode(format!("have {KEY}\n\x01\n").as_bytes(), &Limits::default(), &layout).is_err());
}

#[test]
fn streams_of_junk_are_bounded() {
    let limits = Limits { max_line: 64, ..Limits::default() };
    let nuls = vec![0u8; 100];
    assert_eq!(next_line(&nuls, 64), Err(ParseError::LineTooLong { limit: 64 }));
    assert!(PeerMessage::decode(&nuls, &limits, &|_: &FileKey| None).is_err());
    assert_eq!(next_line(&[0u8; 10], 64), Ok(None));
}

#[test]
fn crlf_line_of_exactly_max_length_is_accepted() {
    let (line, _) = next_line(b"abcd\r\n", 4).unwrap().unwrap();
    assert_eq!(line.text, b"abcd");
    assert_eq!(next_line(b"abcd\r", 4), Ok(None));
}

#[test]
fn zero_padded_index_is_read_the_same_whole_or_split() {
    let layout = |_: &FileKey| Layout::new(8, 4).ok();
    let msg = format!("data {KEY} [00000000001:abcd]\n");
    assert!(PeerMessage::decode(msg.as_bytes(), &Limits::default(), &layout).unwrap().is_some());
    let cut = msg.find(':').unwrap();
    assert_eq!(PeerMessage::decode(&msg.as_bytes()[..cut], &Limits::default(), &layout), Ok(None));
}

#[test]
fn piece_counts_are_capped() {
    assert!(Layout::new(u64::from(u32::MAX), 1).is_err());
    assert!(Layout::new(1 << 24, 1).is_ok());
}
