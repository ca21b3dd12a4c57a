//! The status page, `/metrics` and the JSON API through a real HTTP
//! client against a tracker whose two ports are bound on 127.0.0.1:0;
//! bad HTTP requests get errors and the protocol side keeps answering.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(TIMEOUT)).build().into()
}

/// Status, content type and body of a GET.
fn get(t: &TestTracker, path: &str) -> (u16, String, String) {
    let url = format!("http://{}{path}", t.http.unwrap());
    let mut response = agent().get(&url).call().unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = response.body_mut().with_config().limit(64 << 20).read_to_string().unwrap();
    (status, kind, body)
}

fn json(t: &TestTracker, path: &str) -> (u16, Value) {
    let (status, kind, body) = get(t, path);
    assert_eq!(kind, "application/json", "{path}");
    (status, serde_json::from_str(&body).unwrap())
}

/// A raw request, and the status of the reply (0 if the server closed
/// without one).
fn raw(addr: SocketAddr, bytes: &[u8]) -> u16 {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(bytes).unwrap();
    status_of(&mut s)
}

fn status_of(s: &mut TcpStream) -> u16 {
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok()).unwrap_or(0)
}

const ODD_NAME: &str = "<b>x<i>&\"q'";

#[test]
fn the_page_lists_an_announced_peer_and_its_file_with_its_name_escaped() {
    let t = TestTracker::with_http();
    let mut peer = t.client_from(2);
    let seed = format!("[{ODD_NAME} 1048576 262144 {KEY_A} report.pdf 2000 1000 {KEY_B}]");
    assert_eq!(peer.ask(&format!("announce listen 6001 seed {seed} leech []")), "ok");

    let (status, kind, page) = get(&t, "/");
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("http-equiv=\"refresh\""), "the page refreshes itself");
    assert!(page.contains("127.0.0.2:6001"), "the peer is listed");
    assert!(page.contains("report.pdf"), "its file is listed");
    assert!(page.contains("&lt;b&gt;x&lt;i&gt;&amp;&quot;q&#39;"), "the odd name is there, escaped");
    assert!(!page.contains("<b>x"), "no peer-given markup reaches the page");
    assert!(!page.contains("<script"), "readable without JavaScript");

    let (_, _, found) = get(&t, "/?q=%3Cb%3E");
    assert!(found.contains("&lt;b&gt;x") && !found.contains("report.pdf"), "the search box filters by name");
    let (_, _, none) = get(&t, "/?q=nothing-like-it");
    assert!(!none.contains("report.pdf") && !none.contains("&lt;b&gt;x"));
}

/// `/metrics` as name{labels} -> value, checked line by line against
/// the text format on the way: every sample belongs to a `# TYPE`d
/// family with `# HELP`, counters end in `_total`.
fn metrics(t: &TestTracker) -> Vec<prometheus_parse::Sample> {
    let (status, kind, text) = get(t, "/metrics");
    assert_eq!((status, kind.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    let (mut typed, mut helped) = (std::collections::HashMap::new(), std::collections::HashSet::new());
    for line in text.lines() {
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        match words.as_slice() {
            ["#", "HELP", name, _] => assert!(helped.insert(name.to_string()), "{line}"),
            ["#", "TYPE", name, kind] => assert!(typed.insert(name.to_string(), kind.to_string()).is_none()),
            _ => {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{line}");
                let family = [name, name.trim_end_matches("_sum"), name.trim_end_matches("_count")]
                    .into_iter()
                    .find(|f| typed.contains_key(*f))
                    .unwrap_or_else(|| panic!("no # TYPE for {line}"));
                assert!(helped.contains(family), "no # HELP for {family}");
                if typed[family] == "counter" {
                    assert!(family.ends_with("_total"), "{family}");
                }
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
    }
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(scrape.samples.len() >= 15, "{} samples", scrape.samples.len());
    scrape.samples
}

fn value(samples: &[prometheus_parse::Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    let sample = samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no {name} {label:?}"));
    match sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{name}: {:?}", sample.value),
    }
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_with_requests() {
    let t = TestTracker::with_http();
    let before = metrics(&t);
    let requests = |s: &[_], c| value(s, "eirb2share_tracker_requests_total", Some(("command", c)));
    let rejected = |s: &[_], k| value(s, "eirb2share_tracker_rejections_total", Some(("kind", k)));
    assert_eq!(value(&before, "eirb2share_tracker_peers", None), 0.0);
    assert!(value(&before, "process_resident_memory_bytes", None) > 0.0);

    let mut c = t.client_from(3);
    assert_eq!(c.ask(&format!("announce listen 7001 seed [a.bin 10 10 {KEY_A}] leech []")), "ok");
    for _ in 0..3 {
        assert!(c.ask("look []").starts_with("list ["));
    }
    assert!(c.ask("hello tracker").starts_with("error "));
    assert!(c.ask(&"x".repeat(2 << 20)).starts_with("error "), "a line past tracker_max_line");

    // Workers add their counts before they wait for work: after the
    // replies, soon.
    let mut after = Vec::new();
    let moved = eventually(|| {
        after = metrics(&t);
        requests(&after, "look") == requests(&before, "look") + 3.0
            && requests(&after, "announce") == requests(&before, "announce") + 1.0
    });
    assert!(moved, "look {} announce {}", requests(&after, "look"), requests(&after, "announce"));
    assert_eq!(requests(&after, "getfile"), requests(&before, "getfile"));
    assert_eq!(rejected(&after, "malformed"), rejected(&before, "malformed") + 1.0);
    assert_eq!(rejected(&after, "line_too_long"), rejected(&before, "line_too_long") + 1.0);
    assert_eq!(value(&after, "eirb2share_tracker_peers", None), 1.0);
    assert_eq!(value(&after, "eirb2share_tracker_files", None), 1.0);
    assert_eq!(value(&after, "eirb2share_tracker_connections", None), 1.0);
}

#[test]
fn the_api_pages_peers_and_files_as_json() {
    let t = TestTracker::with_http();
    let mut peers: Vec<Client> = (2..5).map(|n| t.client_from(n)).collect();
    for (i, c) in peers.iter_mut().enumerate() {
        let files: String = (0..5).map(|f| format!("p{i}-f{f}.txt 100 10 {:032x} ", i * 10 + f)).collect();
        assert_eq!(c.ask(&format!("announce listen 6000 seed [{files}] leech [{KEY_A}]")), "ok");
    }

    let (status, first) = json(&t, "/api/peers?limit=2");
    assert_eq!((status, first["total"].as_u64(), first["peers"].as_array().unwrap().len()), (200, Some(3), 2));
    let next = first["next"].as_u64().expect("a next page");
    let (_, second) = json(&t, &format!("/api/peers?limit=2&cursor={next}"));
    assert_eq!(second["peers"].as_array().unwrap().len(), 1);
    assert!(second["next"].is_null());
    let peer = &second["peers"][0];
    assert_eq!((peer["seeded"].as_u64(), peer["leeched"].as_u64()), (Some(5), Some(1)));
    assert!(peer["last_seen_secs"].as_f64().is_some_and(|s| s < 60.0));

    let (_, all) = json(&t, "/api/files?limit=1000");
    assert_eq!(all["total"].as_u64(), Some(16), "15 described files and one only leeched");
    let (_, found) = json(&t, "/api/files?search=P1-");
    let names: Vec<&str> = found["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("p1-")));
    assert_eq!(found["files"][0]["seeders"].as_u64(), Some(1));

    for bad in ["/api/files?limit=0", "/api/files?limit=1001", "/api/peers?cursor=abc", "/api/peers?limit=-1"] {
        let (status, body) = json(&t, bad);
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string(), "{bad}");
    }
}

#[test]
fn bad_http_requests_get_errors_and_the_protocol_is_unharmed() {
    let t = TestTracker::with_http();
    let http = t.http.unwrap();
    let mut peer = t.client();
    assert_eq!(get(&t, "/nowhere").0, 404);
    assert_eq!(raw(http, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 405);
    assert_eq!(raw(http, b"\x16\x03\x01 hello\r\n\r\n"), 400, "TLS or garbage");
    assert_eq!(raw(http, b"GET / HTTP/1.1 extra\r\n\r\n"), 400);

    // Huge headers: refused at 8 KiB, never buffered.
    let mut huge = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..20_000 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    assert_eq!(raw(http, &huge), 431, "a 1 MiB head");
    assert_eq!(peer.ask("look []"), "list []");

    // Slowloris: more stalled heads than the server has workers; each
    // gets 408 at the head deadline, and the protocol answers meanwhile.
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&http, TIMEOUT).unwrap();
            s.set_read_timeout(Some(4 * TIMEOUT)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: a").unwrap();
            s
        })
        .collect();
    for _ in 0..20 {
        let asked = Instant::now();
        assert_eq!(peer.ask("look []"), "list []");
        assert!(asked.elapsed() < Duration::from_secs(1), "a look took {:?}", asked.elapsed());
    }
    for s in &mut stalled {
        assert_eq!(status_of(s), 408);
    }
    assert!(started.elapsed() >= tracker::http::HEAD_TIMEOUT, "each stalled head had its full time");
    assert_eq!(get(&t, "/").0, 200, "the page is served again once they are gone");
    assert_eq!(peer.ask("look []"), "list []");
}

#[test]
fn the_protocol_answers_while_a_client_slowly_reads_a_large_files_page() {
    const PEERS: u32 = 100;
    const FILES_EACH: u32 = 10_000;
    let t = TestTracker::with_http();
    let filled = Instant::now();
    for p in 0..PEERS {
        let seed: Vec<common::protocol::FileEntry> = (0..FILES_EACH)
            .map(|f| {
                let i = p * FILES_EACH + f;
                common::protocol::FileEntry {
                    name: common::protocol::FileName::new(&format!("file-{i:07}.bin")).unwrap(),
                    length: u64::from(i) + 1,
                    piece_size: 1024,
                    key: common::FileKey::parse(format!("{i:032x}").as_bytes()).unwrap(),
                }
            })
            .collect();
        let id = SocketAddr::from(([127, 1, (p / 250) as u8, (p % 250) as u8 + 1], 6000));
        let owner = tracker::cache::Owner::new();
        t.shared
            .cache
            .lock()
            .announce(id, &owner, seed, std::iter::empty::<common::FileKey>(), Instant::now())
            .unwrap();
    }
    eprintln!("{} files announced in {:?}", PEERS * FILES_EACH, filled.elapsed());
    assert_eq!(t.sizes().files, (PEERS * FILES_EACH) as usize);

    // A client asks for the largest page, deep in the listing, and reads
    // only its first bytes: the server is now writing to it.
    let http = t.http.unwrap();
    // A small receive buffer, so the server has to wait on this reader.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect_timeout(&http.into(), TIMEOUT).unwrap();
    let mut slow: TcpStream = socket.into();
    slow.set_read_timeout(Some(TIMEOUT)).unwrap();
    slow.write_all(b"GET /api/files?cursor=999000&limit=1000 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut start = [0u8; 12];
    slow.read_exact(&mut start).unwrap();
    assert_eq!(&start, b"HTTP/1.1 200");

    // Meanwhile other clients keep asking for pages and the protocol is
    // answered within a bound each time.
    let t_http = http;
    let pages = std::thread::spawn(move || {
        (0..5)
            .map(|i| {
                raw(t_http, format!("GET /api/files?cursor={}&limit=1000 HTTP/1.1\r\n\r\n", i * 200_000).as_bytes())
            })
            .collect::<Vec<_>>()
    });
    let mut peer = t.client_from(9);
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let asked = Instant::now();
        assert!(peer.ask("look [filename=\"file-0000042.bin\"]").starts_with("list [file-0000042.bin 43 1024 "));
        slowest = slowest.max(asked.elapsed());
    }
    eprintln!("slowest look while pages were read: {slowest:?}");
    assert!(slowest < Duration::from_secs(2), "a look took {slowest:?}");
    assert_eq!(pages.join().unwrap(), [200; 5]);

    // The slow client still gets the whole page, a few bytes at a time.
    let mut rest = Vec::new();
    let mut chunk = [0u8; 64];
    loop {
        match slow.read(&mut chunk).unwrap() {
            0 => break,
            n => rest.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8(rest).unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let page: Value = serde_json::from_str(body).unwrap();
    assert_eq!(page["files"].as_array().unwrap().len(), 1000);
    assert_eq!(page["total"].as_u64(), Some(u64::from(PEERS * FILES_EACH)));
    assert!(page["next"].is_null());
}
