//! `make bench-tracker-memory` (with the million-file phase of
//! `bench-tracker`): what the cache holds for 1,000,000 files from 100
//! peers (10,000 each, named and keyed as in that phase), structure by
//! structure, with `look` by exact name and by part of a name timed in
//! this process, without sockets, and what is left after the peers
//! expire (RSS given back is measured on the tracker process, which
//! sets its allocator up for it: see `million`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::{Criterion, FileEntry, FileName};
use tracker::cache::{Cache, Footprint, Owner};

const PEERS: usize = 100;
const FILES_PER_PEER: usize = 10_000;

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// VmRSS and VmHWM of this process, in bytes.
fn rss() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    (field("VmRSS:").unwrap_or(0usize) * 1024, field("VmHWM:").unwrap_or(0usize) * 1024)
}

fn print(f: &Footprint, files: usize) {
    let per = |b: usize| b as f64 / files as f64;
    for (what, bytes) in [
        ("file records (slab)", f.records),
        ("names beyond 24 bytes", f.names_heap),
        ("holder sets beyond 2", f.holders_heap),
        ("index by key", f.key_index),
        ("index by name", f.name_index),
        ("names for filename~", f.search),
        ("peers and their lists", f.peers),
        ("other", f.other),
        ("total", f.total()),
    ] {
        println!("  {what:<24} {:>10} {:>7.1} bytes/file", mib(bytes), per(bytes));
    }
}

fn percentiles(mut lat: Vec<Duration>) -> String {
    lat.sort();
    format!("p50 {:?}, p99 {:?}", lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

fn main() {
    let (before, _) = rss();
    let mut cache = Cache::new();
    let owner = Owner::new();
    let t0 = Instant::now();
    for p in 0..PEERS {
        let files = (0..FILES_PER_PEER)
            .map(|j| FileEntry {
                name: FileName::new(&format!("m{p}_{j}")).unwrap(),
                length: j as u64,
                piece_size: 4096,
                key: FileKey::parse(format!("{:064x}", (p * FILES_PER_PEER + j) as u128 + (1u128 << 100)).as_bytes())
                    .unwrap(),
            })
            .collect();
        let peer = SocketAddr::from(([127, 0, 0, 1], 20_000 + p as u16));
        cache.announce(peer, &owner, files, Vec::<FileKey>::new(), t0).unwrap();
    }
    let files = cache.file_count();
    let (full, peak) = rss();
    println!("{files} files from {PEERS} peers in one process: populated in {:.1} s", t0.elapsed().as_secs_f64());
    println!(
        "RSS before {}, after {} (peak {}): {:.0} bytes per file",
        mib(before),
        mib(full),
        mib(peak),
        (full - before) as f64 / files as f64
    );
    let footprint = cache.footprint();
    print(&footprint, files);
    println!("  per peer (its entry and lists): {:.0} bytes", footprint.peers as f64 / PEERS as f64);

    let mut rng = fastrand::Rng::with_seed(3);
    let mut time = |criterion: &dyn Fn(&mut fastrand::Rng) -> Criterion, n: usize| {
        let lat: Vec<Duration> = (0..n)
            .map(|_| {
                let c = [criterion(&mut rng)];
                let t = Instant::now();
                std::hint::black_box(cache.look(&c, 1000));
                t.elapsed()
            })
            .collect();
        percentiles(lat)
    };
    let exact = |r: &mut fastrand::Rng| {
        Criterion::Name(FileName::new(&format!("m{}_{}", r.usize(..PEERS), r.usize(..FILES_PER_PEER))).unwrap())
    };
    println!("look by exact name: {} (20,000 lookups)", time(&exact, 20_000));
    let part = |r: &mut fastrand::Rng| {
        Criterion::NameContains(format!("m{}_{}", r.usize(..PEERS), r.usize(..FILES_PER_PEER)).into())
    };
    println!("look filename~ matching about 11: {} (1,000 lookups)", time(&part, 1000));
    let none = |r: &mut fastrand::Rng| Criterion::NameContains(format!("zq{}", r.u32(..)).into());
    println!("look filename~ matching none: {} (1,000 lookups)", time(&none, 1000));

    let t = Instant::now();
    cache.expire(t0 + Duration::from_secs(3600), Duration::from_secs(60));
    let pass = t.elapsed();
    // This process keeps glibc's default thresholds: the memory given
    // back is measured on the tracker process by `bench-tracker`.
    println!(
        "after the peers expired ({pass:?} pass): {} files, tables {}",
        cache.file_count(),
        mib(cache.footprint().total())
    );
}
