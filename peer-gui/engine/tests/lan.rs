//! The distributed mode over real sockets on loopback: discovery on a
//! loopback multicast group, neighbours joined from a static list, the
//! search flood (TTL, loops, neighbours leaving), a download found that
//! way, and hostile input.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::protocol::{Criterion, FileName};
use peer::engine::{Engine, Events, Lan, Network, TrackerError};
use support::{Peer, TIMEOUT, random_bytes, settings};

/// A LAN peer on `ip` with `files`; `listener` bound on `ip` already
/// (so that others can list it before it starts).
fn lan_peer(id: u32, listener: TcpListener, lan: Lan, files: &[(&str, &[u8])]) -> Peer {
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in files {
        std::fs::write(dir.path().join(name), data).unwrap();
    }
    let mut s = settings(id, "127.0.0.1:1".parse().unwrap(), dir.path());
    s.listen = listener.local_addr().unwrap();
    s.network = Network::Lan(lan);
    let events = Events::default();
    let changes = events.subscribe();
    let engine = Engine::with_listener(s, listener, events).unwrap();
    let p = Peer { engine, changes, dir };
    if !files.is_empty() {
        p.wait("the first scan", |e| e.snapshot().files.len() == files.len());
    }
    p
}

fn bind(ip: [u8; 4]) -> TcpListener {
    TcpListener::bind(SocketAddr::from((ip, 0))).unwrap()
}

/// Static neighbours only (no discovery), answers collected for 1 s.
fn listed(neighbours: Vec<SocketAddr>, ttl: u8) -> Lan {
    let config = common::config::Lan { discovery_port: 0, look_ttl: ttl, ..Default::default() };
    Lan { collect: Duration::from_secs(1), ..Lan::new(config, neighbours) }
}

fn neighbours(p: &Peer) -> Vec<SocketAddr> {
    p.engine.snapshot().lan().unwrap().neighbours.iter().map(|n| n.addr).collect()
}

fn wait_neighbours(p: &Peer, want: &[SocketAddr]) {
    let mut want = want.to_vec();
    want.sort();
    p.wait(&format!("neighbours {want:?}"), |_| neighbours(p) == want);
}

fn by_name(name: &str) -> Vec<Criterion> {
    vec![Criterion::Name(FileName::new(name).unwrap())]
}

/// A UDP port free for discovery, and a group of our own: tests running
/// at once do not hear each other.
fn discovery() -> (u16, Ipv4Addr) {
    let port = UdpSocket::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
    (port, Ipv4Addr::new(239, 255, (port >> 8) as u8, port as u8))
}

#[test]
fn three_peers_find_each_other_by_loopback_multicast() {
    let (port, group) = discovery();
    let lan = Lan::new(
        common::config::Lan { discovery_port: port, discovery_group: group, ..Default::default() },
        Vec::new(),
    );
    let peers: Vec<Peer> = (2..5).map(|x| lan_peer(x.into(), bind([127, 0, 0, x]), lan.clone(), &[])).collect();
    let addrs: Vec<SocketAddr> = peers.iter().map(|p| p.engine.settings().listen).collect();
    for (i, p) in peers.iter().enumerate() {
        let others: Vec<SocketAddr> = addrs.iter().copied().filter(|&a| a != addrs[i]).collect();
        wait_neighbours(p, &others);
    }
    assert!(peers[0].engine.wait_for_network(Duration::ZERO).is_ok());
}

/// A socket in the discovery group on loopback, as another program.
fn group_socket(port: u16, group: Ipv4Addr) -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&SocketAddr::from(([0, 0, 0, 0], port)).into()).unwrap();
    s.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_if_v4(&Ipv4Addr::new(127, 0, 0, 9)).unwrap();
    s.into()
}

/// Accepts the join on `listener` and answers `ok`; returns the line.
fn accept_join(listener: &TcpListener) -> (TcpStream, String) {
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    stream.write_all(b"ok\n").unwrap();
    (stream, line)
}

#[test]
fn discovery_of_another_application_or_version_and_garbage_are_ignored() {
    let (port, group) = discovery();
    let lan = Lan::new(
        common::config::Lan { discovery_port: port, discovery_group: group, ..Default::default() },
        Vec::new(),
    );
    let p = lan_peer(1, bind([127, 0, 0, 7]), lan, &[]);
    let me = p.engine.settings().listen;
    let udp = group_socket(port, group);
    let to = SocketAddr::from((group, port));
    let foreign = bind([127, 0, 0, 9]);
    let ours = bind([127, 0, 0, 9]);
    let (f, o) = (foreign.local_addr().unwrap().port(), ours.local_addr().unwrap().port());
    for datagram in [
        format!("neighbour \"OtherShare\" 1 {f}"),
        format!("neighbour \"FileShare\" 2 {f}"),
        format!("neighbour \"FileShare\" 1 {f} {f}"),
        format!("neighbor \"FileShare\" 1 {f}\nneighbour \"FileShare\" 1 {f}"),
        format!("neighbour \"FileShare\" 1 {f}{}", " ".repeat(600)),
        "\u{0}\u{ff}garbage".to_owned(),
        "neighbour \"FileShare\" 1 0".to_owned(),
    ] {
        udp.send_to(datagram.as_bytes(), to).unwrap();
    }
    // Datagrams from one socket arrive in order: once the valid answer
    // is joined, those before it were read and dropped.
    udp.send_to(format!("neighbour \"FileShare\" 1 {o}").as_bytes(), to).unwrap();
    let (_link, line) = accept_join(&ours);
    assert_eq!(line, format!("announce listen {}\n", me.port()));
    foreign.set_nonblocking(true).unwrap();
    assert_eq!(foreign.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    wait_neighbours(&p, &[SocketAddr::from(([127, 0, 0, 9], o))]);

    // It answers an ask of ours, to the group, with its TCP port.
    udp.send_to(b"neighbourhood \"FileShare\" 1", to).unwrap();
    udp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = [0; 600];
    loop {
        assert!(Instant::now() < deadline, "no answer to neighbourhood");
        let (n, from) = udp.recv_from(&mut buf).unwrap();
        if from.ip() == me.ip() && buf[..n] == *format!("neighbour \"FileShare\" 1 {}", me.port()).as_bytes() {
            break;
        }
    }
}

/// Four peers A-B-C-D in a chain from static lists; only D has the file.
#[test]
fn a_search_travels_its_ttl_down_a_chain_then_the_file_downloads() {
    let data = random_bytes(300_000, 17);
    let listeners: Vec<TcpListener> = (1..=4).map(|x| bind([127, 0, 0, 10 + x])).collect();
    let at: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut listeners = listeners.into_iter();
    let mut next = |id, list: &[SocketAddr], files: &[(&str, &[u8])]| {
        lan_peer(id, listeners.next().unwrap(), listed(list.to_vec(), 3), files)
    };
    let a = next(1, &[at[1]], &[]);
    let b = next(2, &[at[0], at[2]], &[]);
    let c = next(3, &[at[1], at[3]], &[]);
    let d = next(4, &[at[2]], &[("only_d.bin", &data)]);
    wait_neighbours(&a, &[at[1]]);
    wait_neighbours(&b, &[at[0], at[2]]);
    wait_neighbours(&c, &[at[1], at[3]]);
    wait_neighbours(&d, &[at[2]]);

    // Two hops are not enough: the search runs out at C, which says so.
    let short = a.engine.search_hops(by_name("only_d.bin"), Some(2)).unwrap();
    assert_eq!((short.files.len(), short.ran_out_at), (0, vec![at[2]]));
    // Three are (A's look_ttl).
    let found = a.engine.search_report(by_name("only_d.bin")).unwrap();
    assert_eq!((found.files.len(), found.answers, found.ran_out_at.len()), (1, 1, 0));
    let entry = found.files[0].clone();
    assert_eq!(a.engine.holders(&entry.key).unwrap(), [at[3]]);
    // A plain word is no search in this mode: names are exact.
    assert_eq!(
        a.engine.search(vec![Criterion::name_contains("only").unwrap()]).unwrap_err(),
        TrackerError::ExactNameOnly
    );

    let done = a.download_and_wait(entry);
    assert_eq!(done.state, peer::engine::DownloadState::Done);
    assert_eq!(std::fs::read(a.dir.path().join("only_d.bin")).unwrap(), data);
    drop((b, c, d));
}

/// A-B, B-C, C-A: A's search reaches B directly and through C; B answers once.
#[test]
fn a_search_reaching_a_peer_twice_is_answered_once() {
    let listeners: Vec<TcpListener> = (1..=3).map(|x| bind([127, 0, 0, 20 + x])).collect();
    let at: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut ls = listeners.into_iter();
    let a = lan_peer(1, ls.next().unwrap(), listed(vec![at[1], at[2]], 5), &[]);
    let b = lan_peer(2, ls.next().unwrap(), listed(vec![at[0], at[2]], 5), &[("looped.txt", b"once")]);
    let c = lan_peer(3, ls.next().unwrap(), listed(vec![at[0], at[1]], 5), &[]);
    wait_neighbours(&a, &[at[1], at[2]]);
    wait_neighbours(&b, &[at[0], at[2]]);
    wait_neighbours(&c, &[at[0], at[1]]);
    let found = a.engine.search_report(by_name("looped.txt")).unwrap();
    assert_eq!((found.files.len(), found.answers), (1, 1));
    drop((b, c));
}

/// A-B-D and A-C-D; B leaves: A drops it and still finds D's file via C.
#[test]
fn a_neighbour_that_leaves_is_dropped_and_searches_go_round_it() {
    let listeners: Vec<TcpListener> = (1..=4).map(|x| bind([127, 0, 0, 30 + x])).collect();
    let at: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut ls = listeners.into_iter();
    let a = lan_peer(1, ls.next().unwrap(), listed(vec![at[1], at[2]], 5), &[]);
    let b = lan_peer(2, ls.next().unwrap(), listed(vec![at[0], at[3]], 5), &[]);
    let c = lan_peer(3, ls.next().unwrap(), listed(vec![at[0], at[3]], 5), &[]);
    let d = lan_peer(4, ls.next().unwrap(), listed(vec![at[1], at[2]], 5), &[("far.txt", b"far away")]);
    wait_neighbours(&a, &[at[1], at[2]]);
    wait_neighbours(&d, &[at[1], at[2]]);
    b.engine.shutdown();
    wait_neighbours(&a, &[at[2]]);
    wait_neighbours(&d, &[at[2]]);
    let found = a.engine.search(by_name("far.txt")).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(a.engine.holders(&found[0].key).unwrap(), [at[3]]);
    drop((c, d));
}

/// Answers reaching `origin`, one connection each, as they come.
fn answers_at(origin: TcpListener) -> crossbeam_channel::Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for s in origin.incoming() {
            let Ok(mut s) = s else { return };
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            for line in text.lines() {
                if tx.send(line.to_owned()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn malformed_and_flooding_searches_are_refused_without_harm() {
    let p = lan_peer(1, bind([127, 0, 0, 40]), listed(Vec::new(), 5), &[("f.txt", b"data"), ("g.txt", b"more")]);
    let me = p.engine.settings().listen;
    let origin = bind([127, 0, 0, 41]);
    let o = origin.local_addr().unwrap();
    let answers = answers_at(origin);
    for bad in [
        format!("look [filename=\"f.txt\"] 256 {o}"),
        format!("look [filename=\"f.txt\"] 99999999999999999999 {o}"),
        format!("look [filename=\"f.txt\"] -1 {o}"),
        "look [filename=\"f.txt\"] 5 nowhere:7".to_owned(),
        "look [filename=\"f.txt\"] 5".to_owned(),
        "file at".to_owned(),
        "announce listen 0".to_owned(),
        // Longer than any search of this mode (16 KiB), or too many items.
        format!("look [filename=\"f.txt\"{}] 5 {o}", " filesize>\"1\"".repeat(2000)),
        format!("file at {o} have f.txt 4 4096 {} seeders [{}]", "a".repeat(32), vec![o.to_string(); 300].join(" ")),
    ] {
        let raw = TcpStream::connect(me).unwrap();
        raw.set_read_timeout(Some(TIMEOUT)).unwrap();
        writeln!(&raw, "{bad}").unwrap();
        let mut line = String::new();
        BufReader::new(&raw).read_line(&mut line).unwrap();
        assert!(line.starts_with("error "), "{bad} -> {line}");
    }
    // 100 distinct searches at once on one connection: 20 are taken (the
    // bound is 20 a second), the rest dropped.
    let mut raw = TcpStream::connect(me).unwrap();
    let flood: String =
        (0..100).map(|n| format!("look [filename=\"f.txt\" filesize<\"{}\"] 5 {o}\n", 10 + n)).collect();
    raw.write_all(flood.as_bytes()).unwrap();
    // Then a search for g.txt on the same connection, sent again until
    // the bucket has refilled enough to take it: its answer comes after
    // those of the searches taken before it (one thread sends answers,
    // in the order the searches came).
    let mut f_answers = 0;
    let deadline = Instant::now() + TIMEOUT;
    'sentinel: loop {
        assert!(Instant::now() < deadline, "the search for g.txt was never answered");
        writeln!(raw, "look [filename=\"g.txt\"] 5 {o}").unwrap();
        while let Ok(a) = answers.recv_timeout(Duration::from_millis(200)) {
            assert!(a.starts_with(&format!("file at {me} have ")) && a.ends_with(&format!("seeders [{me}]")), "{a}");
            if a.contains(" g.txt ") {
                break 'sentinel;
            }
            f_answers += 1;
        }
    }
    assert!((20..=25).contains(&f_answers), "{f_answers} answers to 100 searches");
    // The peer still serves.
    let mut fresh = TcpStream::connect(me).unwrap();
    writeln!(fresh, "look [filename=\"f.txt\"] 1 {o}").unwrap();
    let a = answers.recv_timeout(TIMEOUT).unwrap();
    assert!(a.contains(" f.txt 4 "), "{a}");
}
