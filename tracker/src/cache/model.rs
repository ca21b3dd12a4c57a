//! The cache against a naive model: random announces, updates and
//! expiry from a few peers over a small pool of files (keys of 32, 64
//! and 100 digits, two of them alike in their first 64; names shared
//! by several files, in mixed case), checking every kind of `look`,
//! `getfile` and the counts after each step.

use std::collections::{BTreeMap, BTreeSet};

use common::protocol::FileName;

use super::*;

const NAMES: [&str; 4] = ["Report.pdf", "report.PDF", "notes.txt", "Été.png"];

fn pool() -> Vec<FileEntry> {
    let long = "ab".repeat(32);
    let keys = [
        format!("{:032x}", 1),
        format!("{:032x}", 2),
        "f".repeat(64),
        "0123456789abcdef".repeat(4),
        format!("{long}{}", "1".repeat(36)),
        format!("{long}{}", "2".repeat(36)),
        format!("{long}{}", "2".repeat(37)),
        "7".repeat(5),
    ];
    keys.iter()
        .enumerate()
        .map(|(i, k)| FileEntry {
            name: FileName::new(NAMES[i % NAMES.len()]).unwrap(),
            length: 100 * i as u64,
            piece_size: 1 << (i % 3),
            key: FileKey::parse(k.as_bytes()).unwrap(),
        })
        .collect()
}

#[derive(Default)]
struct Model {
    /// Peer -> (seeded, leeched, last seen in ticks), by index in the pool.
    peers: BTreeMap<PeerId, (BTreeSet<usize>, BTreeSet<usize>, u64)>,
}

impl Model {
    fn offered(&self, pool: &[FileEntry], criteria: &[Criterion]) -> Vec<FileEntry> {
        let seeded: BTreeSet<usize> = self.peers.values().flat_map(|p| p.0.iter().copied()).collect();
        let mut found: Vec<FileEntry> =
            seeded.into_iter().map(|i| pool[i].clone()).filter(|f| criteria.iter().all(|c| c.matches(f))).collect();
        found.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key)));
        found
    }

    fn holders(&self, file: usize) -> Vec<PeerId> {
        self.peers.iter().filter(|(_, p)| p.0.contains(&file) || p.1.contains(&file)).map(|(id, _)| *id).collect()
    }
}

#[test]
fn the_cache_answers_as_a_naive_model_does() {
    let pool = pool();
    let owner = Owner::new();
    let t0 = Instant::now();
    let ttl = Duration::from_secs(10);
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut cache, mut model) = (Cache::new(), Model::default());
    let subset =
        |rng: &mut fastrand::Rng| -> BTreeSet<usize> { (0..pool.len()).filter(|_| rng.u8(..3) == 0).collect() };
    let mut found = 0;
    for step in 0..3000u64 {
        let now = t0 + Duration::from_secs(step);
        let peer = SocketAddr::from(([127, 0, 0, rng.u8(1..4)], 5000 + u16::from(rng.u8(..2))));
        match rng.u8(..10) {
            0..=4 => {
                let (seed, leech) = (subset(&mut rng), subset(&mut rng));
                let entries = seed.iter().map(|&i| pool[i].clone()).collect();
                cache.announce(peer, &owner, entries, leech.iter().map(|&i| &pool[i].key), now).unwrap();
                model.peers.insert(peer, (seed, leech, step));
            }
            5..=7 => {
                let (seed, leech) = (subset(&mut rng), subset(&mut rng));
                let seed_refs: Vec<FileRef> = seed.iter().map(|&i| FileRef::Described(pool[i].clone())).collect();
                let leech_refs: Vec<FileRef> = leech.iter().map(|&i| FileRef::Key(pool[i].key.clone())).collect();
                let done = cache.update(peer, &owner, &seed_refs, &leech_refs, now);
                assert_eq!(done.is_ok(), model.peers.contains_key(&peer), "step {step}");
                if done.is_ok() {
                    model.peers.insert(peer, (seed, leech, step));
                }
            }
            _ => {
                let mut gone: Vec<PeerId> = cache.expire(now, ttl);
                gone.sort();
                let expected: Vec<PeerId> =
                    model.peers.iter().filter(|(_, p)| step - p.2 > ttl.as_secs()).map(|(id, _)| *id).collect();
                assert_eq!(gone, expected, "step {step}");
                model.peers.retain(|id, _| !gone.contains(id));
                let held = (0..pool.len()).filter(|&i| !model.holders(i).is_empty()).count();
                assert_eq!(cache.file_count(), held, "step {step}: files held after the pass");
            }
        }
        assert_eq!(cache.peer_count(), model.peers.len(), "step {step}");
        let mut queries = vec![vec![]];
        queries.extend(NAMES.map(|n| vec![Criterion::Name(FileName::new(n).unwrap())]));
        queries.extend(["report", "PDF", "été", "x", ".p"].map(|p| vec![Criterion::NameContains(p.into())]));
        queries.push(vec![Criterion::NameContains("re".into()), Criterion::Size(common::protocol::Cmp::Gt, 150)]);
        for criteria in &queries {
            let answer = cache.look(criteria, 100);
            assert_eq!(answer, model.offered(&pool, criteria), "step {step}: look {criteria:?}");
            found += answer.len();
        }
        for (i, file) in pool.iter().enumerate() {
            assert_eq!(cache.getfile(&file.key, None, 100), model.holders(i), "step {step}: getfile {i}");
        }
    }
    assert!(found > 10_000, "the looks found files ({found})");
}
