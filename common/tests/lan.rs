//! The distributed (trackerless) mode's messages (docs/PROTOCOL.md,
//! section 10): the subject's examples, canonical writing, round trips,
//! typed errors for malformed input, and no panic on any bytes.

use std::net::{IpAddr, SocketAddr};

use common::FileKey;
use common::protocol::frame::next_line;
use common::protocol::lan::MAX_DATAGRAM;
use common::protocol::*;
use proptest::prelude::*;

const KEY: &str = "8905e92afeb80fc7722ec89eb0bf0966";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}
fn file(name: &str, length: u64, piece_size: u64) -> FileEntry {
    FileEntry { name: FileName::new(name).unwrap(), length, piece_size, key: FileKey::parse(KEY.as_bytes()).unwrap() }
}
fn lan(line: &str) -> Result<LanMessage, ParseError> {
    LanMessage::parse(line.as_bytes(), &Limits::default())
}
fn written(m: &LanMessage) -> String {
    let mut out = Vec::new();
    m.write(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}
fn datagram(d: &Discovery) -> Vec<u8> {
    let mut out = Vec::new();
    d.write(&mut out).unwrap();
    out
}
fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}
fn search(name: &str, ttl: u8, origin: &str) -> LanMessage {
    LanMessage::Look(Search {
        criteria: vec![Criterion::Name(FileName::new(name).unwrap())],
        ttl,
        origin: addr(origin),
    })
}

#[test]
fn subject_discovery() {
    let ask = Discovery::parse(br#"neighbourhood "FileShare" 1"#).unwrap();
    assert_eq!(ask, Discovery::ask());
    assert!(ask.is_ours());
    assert_eq!(datagram(&ask), br#"neighbourhood "FileShare" 1"#);
    let answer = Discovery::parse(b"neighbour \"FileShare\" 1 2222\n").unwrap();
    assert_eq!(answer, Discovery::answer(2222));
    assert!(answer.is_ours());
    assert_eq!(datagram(&answer), br#"neighbour "FileShare" 1 2222"#);
}

#[test]
fn discovery_is_lenient() {
    for text in [
        &b"neighbourhood \"FileShare\" 1\r\n"[..],
        b"neighbourhood \"FileShare\" 1\0",
        b"\n  NEIGHBOURHOOD\t \"FileShare\"   \"1\"  \n",
        b"neighborhood FileShare 1",
        "neighbourhood \u{201c}FileShare\u{201d} 1".as_bytes(),
    ] {
        assert_eq!(Discovery::parse(text), Ok(Discovery::ask()), "{:?}", String::from_utf8_lossy(text));
    }
    assert_eq!(Discovery::parse(b"Neighbor \"FileShare\" 1 9\r\n"), Ok(Discovery::answer(9)));
}

#[test]
fn foreign_discovery_parses_and_is_recognised() {
    let other = Discovery::parse(br#"neighbourhood "Other App" 2.0"#).unwrap();
    assert_eq!(other, Discovery::Neighbourhood { app: label("Other App"), version: label("2.0") });
    assert!(!other.is_ours());
    let newer = Discovery::parse(br#"neighbour "FileShare" 2 2222"#).unwrap();
    assert!(!newer.is_ours());
    assert_eq!(newer.version().as_str(), "2");
    let spaced = Discovery::Neighbour { app: label("A B"), version: label("1 beta"), port: 5 };
    assert_eq!(datagram(&spaced), br#"neighbour "A B" "1 beta" 5"#);
    assert_eq!(Discovery::parse(&datagram(&spaced)), Ok(spaced));
}

#[test]
fn malformed_discovery_is_a_typed_error() {
    let err = |d: &[u8]| Discovery::parse(d).unwrap_err();
    assert_eq!(err(b""), ParseError::Empty);
    assert_eq!(err(b"\r\n\0"), ParseError::Empty);
    assert!(matches!(err(br#"hello "FileShare" 1"#), ParseError::UnknownCommand(_)));
    assert!(matches!(err(b"neighbourhood"), ParseError::UnexpectedEnd(_)));
    assert!(matches!(err(br#"neighbourhood "FileShare""#), ParseError::UnexpectedEnd(_)));
    assert!(matches!(err(br#"neighbour "FileShare" 1"#), ParseError::UnexpectedEnd(_)));
    assert_eq!(err(br#"neighbour "FileShare" 1 0"#), ParseError::BadPort(0));
    assert_eq!(err(br#"neighbour "FileShare" 1 65536"#), ParseError::BadPort(65536));
    assert!(matches!(err(br#"neighbour "FileShare" 1 x"#), ParseError::BadNumber { .. }));
    assert!(matches!(err(br#"neighbourhood "FileShare 1"#), ParseError::Expected { .. }), "unclosed quote");
    assert!(matches!(err(br#"neighbourhood ""  1"#), ParseError::Expected { .. }), "empty name");
    assert!(matches!(err(br#"neighbourhood "File"Share 1"#), ParseError::Expected { .. }));
    assert!(matches!(err(b"neighbourhood \"File\xffShare\" 1"), ParseError::Expected { .. }), "not UTF-8");
    assert!(matches!(err(b"neighbourhood \"File\x01\" 1"), ParseError::Expected { .. }), "control");
    assert!(matches!(err(br#"neighbourhood "FileShare" 1 2"#), ParseError::Trailing(_)));
    assert!(matches!(err(b"neighbourhood \"FileShare\" 1\nneighbourhood"), ParseError::Trailing(_)));
    let mut big = br#"neighbourhood "FileShare" "#.to_vec();
    big.resize(100_000, b'1');
    assert_eq!(err(&big), ParseError::MessageTooLong { limit: MAX_DATAGRAM });
    big.truncate(MAX_DATAGRAM + 1);
    assert_eq!(err(&big), ParseError::MessageTooLong { limit: MAX_DATAGRAM });
    big.truncate(MAX_DATAGRAM);
    assert!(Discovery::parse(&big).is_ok(), "a datagram of exactly the limit is accepted");
}

#[test]
fn subject_join_reuses_the_tracker_announce() {
    assert_eq!(lan("announce listen 2222"), Ok(LanMessage::Join { port: 2222 }));
    assert_eq!(written(&LanMessage::Join { port: 2222 }), "announce listen 2222\n");
    // The tracker codec reads the same line as an announce of no files.
    assert_eq!(
        TrackerRequest::parse(b"announce listen 2222", &Limits::default()),
        Ok(TrackerRequest::Announce { port: 2222, seed: vec![], leech: vec![] })
    );
    // Sections sent anyway are read and not used.
    let with_files = format!("announce listen 7 seed [a 1 1 {KEY}] leech []");
    assert_eq!(lan(&with_files), Ok(LanMessage::Join { port: 7 }));
    assert_eq!(lan("ok"), Ok(LanMessage::Ok));
    assert_eq!(lan("OK"), Ok(LanMessage::Ok));
    assert_eq!(written(&LanMessage::Ok), "ok\n");
    assert_eq!(lan("announce listen 0"), Err(ParseError::BadPort(0)));
    assert!(matches!(lan("announce 2222"), Err(ParseError::Expected { .. })));
}

#[test]
fn subject_look() {
    let expected = search("file_a.dat", 5, "127.0.0.1:2222");
    assert_eq!(lan(r#"look [filename="file_a.dat"] 5 127.0.0.1:2222"#), Ok(expected.clone()));
    assert_eq!(lan(r#"look filename="file_a.dat" 5 127.0.0.1:2222"#), Ok(expected.clone()), "without brackets");
    assert_eq!(lan("LOOK  [ filename=\u{201d}file_a.dat\u{201d} ]\t5  127.0.0.1:2222 "), Ok(expected.clone()));
    assert_eq!(written(&expected), "look [filename=\"file_a.dat\"] 5 127.0.0.1:2222\n");
    let LanMessage::Look(s) = expected else { unreachable!() };
    assert_eq!(s.exact_name().map(FileName::as_str), Some("file_a.dat"));

    let v6 = lan(r#"look [filename="a"] 0 [::1]:80"#).unwrap();
    assert_eq!(v6, search("a", 0, "[::1]:80"));
    assert_eq!(written(&v6), "look [filename=\"a\"] 0 [::1]:80\n");
    let any = lan(r#"look [filesize>"10" filename~"rep"] 255 10.0.0.1:9"#).unwrap();
    let LanMessage::Look(s) = any else { panic!("{any:?}") };
    assert_eq!((s.criteria.len(), s.ttl, s.exact_name()), (2, 255, None));
}

#[test]
fn look_errors_are_typed() {
    let ttl = |t: &str| lan(&format!(r#"look [filename="a"] {t} 1.2.3.4:5"#));
    assert_eq!(ttl("256"), Err(ParseError::NumberTooLarge { field: "TTL", bits: 8 }));
    assert_eq!(ttl("99999999999999999999999"), Err(ParseError::NumberTooLarge { field: "TTL", bits: 8 }));
    assert!(matches!(ttl("-1"), Err(ParseError::BadNumber { .. })));
    assert!(matches!(ttl("x"), Err(ParseError::BadNumber { .. })));
    let origin = |a: &str| lan(&format!(r#"look [filename="a"] 3 {a}"#));
    assert!(matches!(origin("1.2.3.4"), Err(ParseError::BadAddress(_))));
    assert!(matches!(origin("host.lan:5"), Err(ParseError::BadAddress(_))), "host names refused");
    assert!(matches!(origin("::1:5"), Err(ParseError::BadPort(_) | ParseError::BadAddress(_))));
    assert_eq!(origin("1.2.3.4:0"), Err(ParseError::BadPort(0)));
    assert!(matches!(origin("1.2.3.4:5 x"), Err(ParseError::Trailing(_))));
    assert!(matches!(lan(r#"look [filename="a"] 3"#), Err(ParseError::UnexpectedEnd(_))));
    assert!(matches!(lan(r#"look [filename="a"]"#), Err(ParseError::UnexpectedEnd(_))));
    assert!(matches!(lan(r#"look [filename="a" 3 1.2.3.4:5"#), Err(ParseError::BadCriterion(_))));
    assert!(matches!(lan("look [name=\"a\"] 3 1.2.3.4:5"), Err(ParseError::BadCriterion(_))));
    assert!(matches!(lan("lok [filename=\"a\"] 3 1.2.3.4:5"), Err(ParseError::UnknownCommand(_))));
}

#[test]
fn subject_answers() {
    let seeder = format!("file at 10.0.0.2:2222 have file_a.dat 2097152 1024 {KEY} seeders [10.0.0.2:2222]");
    let expected = LanMessage::Found {
        at: addr("10.0.0.2:2222"),
        file: file("file_a.dat", 2097152, 1024),
        seeders: vec![addr("10.0.0.2:2222")],
        leechers: vec![],
    };
    assert_eq!(lan(&seeder), Ok(expected.clone()));
    assert_eq!(written(&expected), format!("{seeder}\n"));

    let leecher = format!(
        "file at 10.0.0.3:7 have file_a.dat 2097152 1024 {KEY} seeders [10.0.0.2:2222 [::1]:9] leechers [10.0.0.3:7]"
    );
    let expected = LanMessage::Found {
        at: addr("10.0.0.3:7"),
        file: file("file_a.dat", 2097152, 1024),
        seeders: vec![addr("10.0.0.2:2222"), addr("[::1]:9")],
        leechers: vec![addr("10.0.0.3:7")],
    };
    assert_eq!(lan(&leecher), Ok(expected.clone()));
    assert_eq!(written(&expected), format!("{leecher}\n"));
    let loose = format!(
        "FILE  AT 10.0.0.3:7 HAVE file_a.dat 2097152 1024 {} leechers [ 10.0.0.3:7 ] seeders [10.0.0.2:2222 [::1]:9 ]",
        KEY.to_uppercase()
    );
    assert_eq!(lan(&loose), Ok(expected));

    assert_eq!(lan("file at 10.0.0.4:1"), Ok(LanMessage::NotFound { at: addr("10.0.0.4:1") }));
    assert_eq!(written(&LanMessage::NotFound { at: addr("[::1]:1") }), "file at [::1]:1\n");
    let no_lists = lan(&format!("file at 1.2.3.4:5 have a 1 1 {KEY}")).unwrap();
    assert!(
        matches!(no_lists, LanMessage::Found { ref seeders, ref leechers, .. } if seeders.is_empty() && leechers.is_empty())
    );
}

#[test]
fn answer_errors_are_typed() {
    assert!(matches!(lan("file"), Err(ParseError::UnexpectedEnd(_))));
    assert!(matches!(lan("file 1.2.3.4:5"), Err(ParseError::Expected { .. })));
    assert!(matches!(lan("file at"), Err(ParseError::UnexpectedEnd(_))));
    assert!(matches!(lan("file at 1.2.3.4"), Err(ParseError::BadAddress(_))));
    assert!(matches!(lan("file at 1.2.3.4:5 has a 1 1 k"), Err(ParseError::Expected { .. })));
    assert!(matches!(lan("file at 1.2.3.4:5 have a 1"), Err(ParseError::UnexpectedEnd(_))));
    assert!(matches!(lan("file at 1.2.3.4:5 have a 1 0 k"), Err(ParseError::BadLayout(_))));
    assert!(matches!(lan("file at 1.2.3.4:5 have a 1 1 xyz"), Err(ParseError::BadKey(_))));
    assert!(matches!(lan(&format!("file at 1.2.3.4:5 have a 1 1 {KEY}]")), Err(ParseError::Trailing(_))));
    let base = format!("file at 1.2.3.4:5 have a 1 1 {KEY}");
    assert!(matches!(lan(&format!("{base} seeders [1.2.3.4]")), Err(ParseError::BadAddress(_))));
    assert!(matches!(lan(&format!("{base} seeders [1.2.3.4:5")), Err(ParseError::UnexpectedEnd(_))));
    assert!(matches!(lan(&format!("{base} seeders 1.2.3.4:5")), Err(ParseError::Expected { .. })));
    assert_eq!(lan(&format!("{base} seeders [] seeders []")), Err(ParseError::Duplicate("seeders")));
    assert!(matches!(lan(&format!("{base} seeders [] peers []")), Err(ParseError::Trailing(_))));
    assert!(matches!(lan("file at 1.2.3.4:5 have ../x 1 1 k"), Err(ParseError::BadFileName { .. })));
    let limits = Limits { max_items: 3, ..Limits::default() };
    let many = format!("{base} seeders [{}]", "1.2.3.4:5 ".repeat(4));
    assert_eq!(LanMessage::parse(many.as_bytes(), &limits), Err(ParseError::TooManyItems { limit: 3 }));
}

#[test]
fn long_empty_and_non_utf8_lines_are_typed_errors() {
    let limits = Limits { max_line: 64 * 1024, ..Limits::default() };
    let long = format!("look [filename=\"{}\"] 1 1.2.3.4:5", "a".repeat(100_000));
    assert_eq!(LanMessage::parse(long.as_bytes(), &limits), Err(ParseError::LineTooLong { limit: 64 * 1024 }));
    assert!(matches!(lan(&long), Err(ParseError::BadFileName { .. })), "within the default limit");
    assert_eq!(lan(""), Err(ParseError::Empty));
    assert_eq!(lan(" \t "), Err(ParseError::Empty));
    let bytes = |b: &[u8]| LanMessage::parse(b, &Limits::default());
    assert!(matches!(bytes(b"look [filename=\"\xff\"] 1 1.2.3.4:5"), Err(ParseError::BadCriterion(_))));
    assert!(matches!(bytes(b"file at 1.2.3.4:5 have \xc3 1 1 k"), Err(ParseError::BadFileName { .. })));
    assert!(matches!(bytes(b"file at \xff:5"), Err(ParseError::BadAddress(_))));
    assert!(matches!(bytes(b"\xff\xfe"), Err(ParseError::UnknownCommand(_))));
}

#[test]
fn peer_messages_are_left_to_the_peer_codec() {
    assert!(matches!(lan(&format!("interested {KEY}")), Err(ParseError::UnknownCommand(_))));
    assert!(matches!(lan(&format!("getfile {KEY}")), Err(ParseError::UnknownCommand(_))));
}

fn limits() -> Limits {
    Limits { max_line: 1 << 16, max_items: 1000, max_message: 1 << 16 }
}

fn socket() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)]
        .prop_flat_map(|ip| (1..=u16::MAX).prop_map(move |port| SocketAddr::new(ip, port)))
}

fn name() -> impl Strategy<Value = FileName> {
    "[A-Za-z0-9_.\\-\\[\\]()é\"]{1,40}".prop_filter_map("valid names", |s: String| FileName::new(&s).ok())
}

fn criterion() -> impl Strategy<Value = Criterion> {
    prop_oneof![
        3 => name().prop_map(Criterion::Name),
        1 => "[a-zA-Z0-9_.]{1,20}".prop_map(|s: String| Criterion::name_contains(&s).unwrap()),
        1 => any::<u64>().prop_map(|n| Criterion::Size(Cmp::Gt, n)),
    ]
}

fn key() -> impl Strategy<Value = FileKey> {
    prop_oneof!["[0-9a-f]{32}", "[0-9a-f]{64}"].prop_map(|s: String| FileKey::parse(s.as_bytes()).unwrap())
}

fn message() -> impl Strategy<Value = LanMessage> {
    let addrs = || prop::collection::vec(socket(), 0..5);
    let entry = (name(), any::<u64>(), 1..=u64::MAX, key()).prop_map(|(name, length, piece_size, key)| FileEntry {
        name,
        length,
        piece_size,
        key,
    });
    prop_oneof![
        (1..=u16::MAX).prop_map(|port| LanMessage::Join { port }),
        Just(LanMessage::Ok),
        (prop::collection::vec(criterion(), 0..4), any::<u8>(), socket())
            .prop_map(|(criteria, ttl, origin)| LanMessage::Look(Search { criteria, ttl, origin })),
        (socket(), entry, addrs(), addrs()).prop_map(|(at, file, seeders, leechers)| LanMessage::Found {
            at,
            file,
            seeders,
            leechers
        }),
        socket().prop_map(|at| LanMessage::NotFound { at }),
    ]
}

fn text_label() -> impl Strategy<Value = Label> {
    "[A-Za-z0-9._\\- é]{1,30}".prop_filter_map("not blank", |s: String| Label::new(&s).ok())
}

fn discovery() -> impl Strategy<Value = Discovery> {
    prop_oneof![
        (text_label(), text_label()).prop_map(|(app, version)| Discovery::Neighbourhood { app, version }),
        (text_label(), text_label(), 1..=u16::MAX).prop_map(|(app, version, port)| Discovery::Neighbour {
            app,
            version,
            port
        }),
    ]
}

proptest! {
    #[test]
    fn lan_messages_round_trip(m in message()) {
        let mut out = Vec::new();
        m.write(&mut out).unwrap();
        let (line, used) = next_line(&out, limits().max_line).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(LanMessage::parse(line.text, &limits()).unwrap(), m);
    }

    #[test]
    fn discovery_round_trips(d in discovery(), end in prop_oneof![Just(""), Just("\n"), Just("\r\n")]) {
        let mut out = Vec::new();
        d.write(&mut out).unwrap();
        prop_assert!(out.len() <= MAX_DATAGRAM);
        prop_assert!(!out.ends_with(b"\n"));
        out.extend_from_slice(end.as_bytes());
        prop_assert_eq!(Discovery::parse(&out).unwrap(), d);
    }

    #[test]
    fn truncated_lan_messages_never_panic(m in message(), cut in any::<prop::sample::Index>()) {
        let mut out = Vec::new();
        m.write(&mut out).unwrap();
        let cut = cut.index(out.len());
        let _ = LanMessage::parse(&out[..cut], &limits());
        let _ = Discovery::parse(&out[..cut]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_lan(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        let _ = LanMessage::parse(&bytes, &limits());
        let _ = Discovery::parse(&bytes);
    }

    #[test]
    fn structured_garbage_never_panics_lan(words in prop::collection::vec(
        prop_oneof!["neighbourhood", "neighbour", "\"FileShare\"", "\"", "\u{201c}", "announce", "listen", "ok",
            "look", "file", "at", "have", "seeders", "leechers", "\\[", "\\]", "[0-9]{1,25}", "[0-9a-f]{32}",
            "filename=\"x\"", "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}:[0-9]{1,6}", "\\[::1\\]:[0-9]{1,5}",
            "\\x00", "\r", "\n"],
        0..20), sep in prop_oneof![Just(" "), Just(""), Just("  ")]) {
        let line = words.join(sep);
        let _ = LanMessage::parse(line.as_bytes(), &limits());
        let _ = Discovery::parse(line.as_bytes());
    }
}
