//! A small live network for `make screenshot-tracker`: a few peers from
//! 127.0.0.2 on announce files and keep their connections open, look
//! and fetch for a while at a changing rate, and a few misbehaving
//! clients earn each kind of rejection. Prints `ready` on stdout after
//! SECONDS, then goes on at a steady rate and holds its connections
//! until stdin closes.
//!
//! `cargo run --release -p tracker --example status_demo -- 127.0.0.1:PORT [SECONDS]`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const FILES: [(&str, u64); 12] = [
    ("report.pdf", 1_048_576),
    ("holidays-2024.mp4", 734_003_200),
    ("thesis_final_v3.docx", 2_411_724),
    ("debian-13.1.0-amd64-netinst.iso", 754_974_720),
    ("lecture-07-networks.pdf", 5_872_025),
    ("dataset.csv", 48_234_496),
    ("song.flac", 31_457_280),
    ("slides<draft>&notes.odp", 3_145_728),
    ("photos.tar.gz", 1_288_490_188),
    ("README.md", 4_096),
    ("game-save.bin", 262_144),
    ("podcast-ep42.mp3", 62_914_560),
];

fn key(i: usize) -> String {
    format!("{:032x}", (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

fn connect(tracker: SocketAddr, from: u8) -> BufReader<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(IpAddr::from([127, 0, 0, from]), 0).into()).unwrap();
    s.connect(&tracker.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    BufReader::new(s)
}

fn ask(c: &mut BufReader<TcpStream>, line: &str) -> String {
    c.get_mut().write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    c.read_line(&mut reply).unwrap();
    reply
}

fn main() {
    let mut args = std::env::args().skip(1);
    let tracker: SocketAddr = args.next().expect("usage: status_demo TRACKER_ADDR [SECONDS]").parse().unwrap();
    let seconds: u64 = args.next().map_or(30, |s| s.parse().unwrap());

    // Five peers, each seeding a few files and leeching one.
    let mut peers: Vec<_> = (0..5u8).map(|p| connect(tracker, 2 + p)).collect();
    let mut seeded = Vec::new();
    for (p, c) in peers.iter_mut().enumerate() {
        let mine: Vec<usize> = (0..FILES.len()).filter(|i| (i + p) % 3 != 0).take(3 + p).collect();
        let seed: String = mine.iter().map(|&i| format!("{} {} 262144 {} ", FILES[i].0, FILES[i].1, key(i))).collect();
        seeded.push(mine.iter().map(|&i| key(i)).collect::<Vec<_>>().join(" "));
        let leech = key((p * 5 + 1) % FILES.len());
        let reply = ask(c, &format!("announce listen {} seed [{}] leech [{leech}]", 6001 + p, seed.trim_end()));
        assert_eq!(reply.trim_end(), "ok", "announce of peer {p}");
    }

    // Rejections: a malformed line, a slowloris, a connection too many,
    // an announce over the per-IP file limit.
    let mut odd = connect(tracker, 20);
    let _ = ask(&mut odd, "hello tracker");
    // The slowloris keeps sending, never ending its line, so it is never
    // silent long enough for its line to be taken as complete.
    let mut slow = connect(tracker, 21).into_inner();
    let mut dripping = slow.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = dripping.write_all(b"look [filename=");
        while dripping.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let crowd: Vec<_> = (0..5).map(|_| connect(tracker, 22)).collect();
    let mut greedy = connect(tracker, 23);
    let many: String = (0..30).map(|i| format!("part{i:02}.bin 1000 1000 {} ", key(100 + i))).collect();
    let _ = ask(&mut greedy, &format!("announce listen 7000 seed [{}] leech []", many.trim_end()));

    // Requests at a rate that rises and falls, for the chart, and on
    // until stdin closes, so the page shows a live rate.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let closed = done.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        closed.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let start = Instant::now();
    let mut n = 0usize;
    let mut ready = false;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let phase = (start.elapsed().as_secs_f64() / seconds as f64).min(0.85);
        let burst = 2 + (40.0 * (phase * std::f64::consts::PI).sin()) as usize;
        for _ in 0..burst {
            let (c, p) = (&mut peers[n % 5], n % 5);
            match n % 8 {
                0 | 1 | 4 => ask(c, "look [filesize>\"1000000\"]"),
                2 | 5 => ask(c, &format!("getfile {}", key(n % FILES.len()))),
                7 => ask(c, &format!("update seed [{}] leech [{}]", seeded[p], key((p * 5 + 1) % FILES.len()))),
                _ => ask(c, "look [filename~\"pdf\"]"),
            };
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
        if !ready && start.elapsed() >= Duration::from_secs(seconds) {
            // The slowloris has been closed by now (3 s in the demo's config).
            let _ = slow.read_to_end(&mut Vec::new());
            println!("ready");
            ready = true;
        }
    }
    // Every connection was held until now: the page counts them.
    drop((peers, odd, crowd, greedy));
}
