//! The cache's rules, without sockets: announce and update, expiry,
//! who speaks for a peer, descriptions, and what one address may hold.

use std::sync::LazyLock;

use common::protocol::FileName;

use super::files::MAX_UNHELD;
use super::*;

/// One connection speaking for every peer, where a test is not about who
/// speaks.
static ONE: LazyLock<Owner> = LazyLock::new(Owner::new);

impl Cache {
    fn ann<K: AsRef<FileKey>>(
        &mut self,
        peer: PeerId,
        seed: Vec<FileEntry>,
        leech: impl IntoIterator<Item = K>,
        t: Instant,
    ) {
        self.announce(peer, &ONE, seed, leech, t).unwrap();
    }

    fn upd(&mut self, peer: PeerId, seed: &[FileRef], leech: &[FileRef], t: Instant) -> Result<(), Refused> {
        self.update(peer, &ONE, seed, leech, t)
    }
}

const NONE: [FileKey; 0] = [];

fn refs(keys: impl IntoIterator<Item = FileKey>) -> Vec<FileRef> {
    keys.into_iter().map(FileRef::Key).collect()
}

fn key(c: char) -> FileKey {
    FileKey::parse(c.to_string().repeat(32).as_bytes()).unwrap()
}
fn file(name: &str, len: u64, k: char) -> FileEntry {
    FileEntry { name: FileName::new(name).unwrap(), length: len, piece_size: 1024, key: key(k) }
}
fn peer(n: u8) -> PeerId {
    SocketAddr::from(([127, 0, 0, n], 5001))
}

#[test]
fn announce_replaces_and_expiry_forgets() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    c.ann(peer(1), vec![file("a", 10, 'a'), file("b", 20, 'b')], NONE, t0);
    c.ann(peer(2), vec![], vec![key('a')], t0);
    assert_eq!(c.getfile(&key('a'), Some(peer(2)), 10), vec![peer(1)]);
    assert_eq!(c.getfile(&key('a'), None, 10), vec![peer(1), peer(2)]);
    assert_eq!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10), vec![file("b", 20, 'b')]);
    // Announcing again replaces the lists: b is gone.
    c.ann(peer(1), vec![file("a", 10, 'a')], NONE, t0);
    assert!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10).is_empty());
    assert!(c.getfile(&key('b'), None, 10).is_empty());
    assert_eq!(c.expire(t0, Duration::from_secs(6)), vec![]);
    assert_eq!(c.file_count(), 1, "b, held by nobody, is forgotten by the maintenance pass");
    // peer 2 refreshes, peer 1 stays silent.
    c.touch(peer(2), &ONE, t0 + Duration::from_secs(5));
    let gone = c.expire(t0 + Duration::from_secs(8), Duration::from_secs(6));
    assert_eq!(gone, vec![peer(1)]);
    assert_eq!(c.getfile(&key('a'), None, 10), vec![peer(2)]);
    // Only a leecher holds part of it: not offered by look.
    assert!(c.look(&[], 10).is_empty());
    assert_eq!(c.file_count(), 1);
    c.expire(t0 + Duration::from_secs(20), Duration::from_secs(6));
    assert!(c.look(&[], 10).is_empty() && c.file_count() == 0, "nobody holds it any more");
}

#[test]
fn update_requires_announce_and_caps_apply() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    assert_eq!(c.upd(peer(9), &[], &[], t0), Err(Refused::NotAnnounced));
    for n in 1..=20 {
        c.ann(peer(n), vec![file("a", 10, 'a')], NONE, t0);
    }
    assert_eq!(c.getfile(&key('a'), None, 5).len(), 5);
    assert_eq!(c.look(&[], 1).len(), 1);
    // A sole holder updating keeps its file's name and size.
    c.ann(peer(30), vec![file("solo", 3, 'd')], NONE, t0);
    c.upd(peer(30), &refs([key('d')]), &[], t0).unwrap();
    assert_eq!(c.look(&[Criterion::Name(FileName::new("solo").unwrap())], 5), vec![file("solo", 3, 'd')]);
    c.upd(peer(1), &refs([key('c')]), &[], t0).unwrap();
    assert_eq!(c.getfile(&key('c'), None, 5), vec![peer(1)]);
    assert_eq!(c.sole_peer_at(peer(3).ip()), Some(peer(3)));
}

#[test]
fn update_descriptions_name_files_as_announce_does() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    let described = |e: FileEntry| FileRef::Described(e);
    c.ann(peer(1), vec![file("a", 10, 'a')], NONE, t0);
    c.upd(peer(1), &refs([key('a'), key('b')]), &[], t0).unwrap();
    assert_eq!(c.look(&[], 10), vec![file("a", 10, 'a')], "b is known by its key only");
    let seed = [described(file("b", 20, 'b')), described(file("renamed", 99, 'a')), FileRef::Key(key('c'))];
    c.upd(peer(1), &seed, &[described(file("leeched", 5, 'f'))], t0).unwrap();
    let renamed = vec![file("b", 20, 'b'), file("renamed", 99, 'a')];
    assert_eq!(c.look(&[], 10), renamed, "its only seeder renames a file");
    assert!(c.look(&[Criterion::Name(FileName::new("a").unwrap())], 10).is_empty(), "the name index follows");
    assert_eq!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10), vec![file("b", 20, 'b')]);
    // A leecher's description does not name the file for its seeders.
    c.ann(peer(2), vec![file("seeded", 7, 'f')], NONE, t0);
    assert_eq!(c.look(&[Criterion::Name(FileName::new("seeded").unwrap())], 10), vec![file("seeded", 7, 'f')]);
    // Like announce, a description replaces that of a file whose
    // holders all left and which is not forgotten yet.
    c.ann(peer(3), vec![file("old", 3, 'e')], NONE, t0);
    c.ann(peer(3), vec![], NONE, t0);
    c.upd(peer(1), &[described(file("new", 4, 'e'))], &[], t0).unwrap();
    assert_eq!(c.look(&[Criterion::Name(FileName::new("new").unwrap())], 10), vec![file("new", 4, 'e')]);
    assert!(c.look(&[Criterion::Name(FileName::new("old").unwrap())], 10).is_empty());
    assert_eq!(c.upd(peer(9), &seed, &[], t0), Err(Refused::NotAnnounced));
}

#[test]
fn the_sole_peer_at_an_address_follows_announces_and_expiry() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    let (a, b) = (peer(1), SocketAddr::from(([127, 0, 0, 1], 6000)));
    assert_eq!(c.sole_peer_at(a.ip()), None);
    c.ann(a, vec![], NONE, t0);
    c.ann(a, vec![], NONE, t0);
    assert_eq!(c.sole_peer_at(a.ip()), Some(a), "announcing again is still one peer");
    c.ann(b, vec![], NONE, t0 + Duration::from_secs(5));
    assert_eq!(c.sole_peer_at(a.ip()), None, "two peers: ambiguous");
    assert_eq!(c.expire(t0 + Duration::from_secs(8), Duration::from_secs(6)), vec![a]);
    assert_eq!(c.sole_peer_at(a.ip()), Some(b));
    c.expire(t0 + Duration::from_secs(20), Duration::from_secs(6));
    assert_eq!(c.sole_peer_at(a.ip()), None);
    assert_eq!(c.sizes().addresses, 0, "no entry left behind");
}

#[test]
fn unheld_files_answer_like_unknown_ones_until_the_pass_forgets_them() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    let mut c = Cache::new();
    c.ann(peer(1), vec![file("a", 10, 'a'), file("b", 20, 'b')], vec![key('c')], t0);
    c.upd(peer(1), &refs([key('a')]), &[], t0).unwrap();
    assert!(c.getfile(&key('b'), None, 10).is_empty() && c.getfile(&key('c'), None, 10).is_empty());
    assert!(c.look(&[], 10).iter().all(|f| f.key == key('a')));
    // b is taken back before the pass: it stays, with its name.
    c.upd(peer(1), &refs([key('a'), key('b')]), &[], t0).unwrap();
    c.expire(t0, ttl);
    assert_eq!(c.file_count(), 2, "c is forgotten, a and b stay");
    assert_eq!(c.look(&[Criterion::Name(FileName::new("b").unwrap())], 10), vec![file("b", 20, 'b')]);
    // Lost again after having been listed once: forgotten by the next pass.
    c.upd(peer(1), &refs([key('a')]), &[], t0).unwrap();
    c.expire(t0, ttl);
    assert_eq!(c.file_count(), 1);
}

#[test]
fn long_lists_change_by_difference() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    let k = |i: u32| FileKey::parse(format!("{i:032x}").as_bytes()).unwrap();
    let files = (0..40).map(|i| FileEntry { key: k(i), ..file(&format!("f{i}"), 1, 'a') }).collect();
    c.ann(peer(1), files, (100..140).map(k), t0);
    // Seeds 0..20 and 40..60, leeches 120..160: every kind of change.
    c.upd(peer(1), &refs((0..20).chain(40..60).map(k)), &refs((120..160).map(k)), t0).unwrap();
    for i in 0..160 {
        let held = (0..20).contains(&i) || (40..60).contains(&i) || (120..160).contains(&i);
        assert_eq!(c.getfile(&k(i), None, 10).len(), usize::from(held), "file {i}");
    }
    c.expire(t0, Duration::from_secs(60));
    assert_eq!(c.file_count(), 80);
}

#[test]
fn a_file_announced_again_after_its_holders_left_takes_the_new_name() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    c.ann(peer(1), vec![file("old", 10, 'a')], NONE, t0);
    c.ann(peer(1), vec![], NONE, t0);
    c.ann(peer(2), vec![file("new", 99, 'a')], NONE, t0);
    let name = |n: &str| [Criterion::Name(FileName::new(n).unwrap())];
    assert!(c.look(&name("old"), 10).is_empty());
    assert_eq!(c.look(&name("new"), 10), vec![file("new", 99, 'a')]);
    // Held by someone: the first name stays.
    c.ann(peer(3), vec![file("other", 5, 'a')], NONE, t0);
    assert_eq!(c.look(&[], 10), vec![file("new", 99, 'a')]);
    assert_eq!(c.sizes().names, 1, "no stale name index");
    assert_eq!(c.files.named("new"), 1);
    // Same name, another size.
    c.ann(peer(2), vec![], NONE, t0);
    c.ann(peer(3), vec![], NONE, t0);
    c.ann(peer(4), vec![file("new", 7, 'a')], NONE, t0);
    assert_eq!(c.look(&name("new"), 10), vec![file("new", 7, 'a')]);
    assert_eq!(c.files.named("new"), 1);
    assert_eq!(c.sizes().names, 1);
}

#[test]
fn unheld_files_beyond_the_bound_are_forgotten_at_once() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    let n = MAX_UNHELD + 100;
    let k = |i: usize| FileKey::parse(format!("{i:x}").as_bytes()).unwrap();
    c.ann(peer(1), vec![], (0..n).map(k), t0);
    c.upd(peer(1), &[], &[], t0).unwrap();
    assert_eq!(c.sizes().unheld, MAX_UNHELD);
    assert_eq!(c.file_count(), MAX_UNHELD, "the other 100 went at once");
    // Beyond the bound, a file moving from seeded to leeched stays.
    c.ann(peer(2), vec![file("moved", 3, 'e')], NONE, t0);
    c.upd(peer(2), &[], &refs([key('e')]), t0).unwrap();
    c.ann(peer(3), vec![file("other", 4, 'e')], NONE, t0);
    assert_eq!(c.getfile(&key('e'), None, 10), vec![peer(2), peer(3)], "held all along: it stays");
    c.expire(t0, Duration::from_secs(60));
    assert_eq!(c.file_count(), 1);
}

fn at(ip: u8, port: u16) -> PeerId {
    SocketAddr::from(([127, 0, 0, ip], port))
}

fn named(c: &Cache, name: &str) -> Vec<FileEntry> {
    c.look(&[Criterion::Name(FileName::new(name).unwrap())], 10)
}

#[test]
fn a_peer_belongs_to_its_connection_while_that_is_open() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    let mut c = Cache::new();
    let (first, second) = (Owner::new(), Owner::new());
    let p = peer(1);
    c.announce(p, &first, vec![file("a", 10, 'a')], NONE, t0).unwrap();
    assert_eq!(c.update(p, &second, &[], &[], t0), Err(Refused::Held(p)), "hiding its files");
    assert_eq!(c.announce(p, &second, vec![], NONE, t0), Err(Refused::Held(p)), "replacing them");
    assert_eq!(c.speaker(p.ip(), &second), Err(Refused::Held(p)));
    assert_eq!(c.speaker(p.ip(), &first), Ok(p));
    assert_eq!(c.look(&[], 10), vec![file("a", 10, 'a')], "nothing changed");
    // Only its own connection keeps it alive.
    c.touch(p, &second, t0 + ttl);
    assert_eq!(c.expire(t0 + ttl + Duration::from_secs(1), ttl), vec![p]);

    c.announce(p, &first, vec![file("a", 10, 'a')], NONE, t0).unwrap();
    first.end();
    // Closed: the next connection from its address takes it over, by
    // update (as course peers that connect per request do) or announce.
    assert_eq!(c.speaker(p.ip(), &second), Ok(p));
    c.update(p, &second, &refs([key('b')]), &[], t0).unwrap();
    assert_eq!(c.getfile(&key('b'), None, 10), vec![p]);
    let third = Owner::new();
    assert_eq!(c.announce(p, &third, vec![], NONE, t0), Err(Refused::Held(p)), "now the second's");
    second.end();
    c.announce(p, &third, vec![], NONE, t0).unwrap();
    assert!(c.getfile(&key('b'), None, 10).is_empty());
}

#[test]
fn a_connection_that_did_not_announce_speaks_for_the_only_free_peer_at_its_address() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    let (ours, course, asking) = (Owner::new(), Owner::new(), Owner::new());
    assert_eq!(c.speaker(peer(1).ip(), &asking), Err(Refused::NotAnnounced));
    c.announce(at(1, 1), &ours, vec![], NONE, t0).unwrap();
    c.announce(at(1, 2), &course, vec![], NONE, t0).unwrap();
    assert_eq!(c.speaker(peer(1).ip(), &asking), Err(Refused::NotAnnounced), "both are held");
    course.end();
    assert_eq!(c.speaker(peer(1).ip(), &asking), Ok(at(1, 2)), "behind one NAT, the course peer's");
    ours.end();
    assert_eq!(c.speaker(peer(1).ip(), &asking), Err(Refused::NotAnnounced), "two free peers: ambiguous");
}

#[test]
fn the_description_seeders_at_most_addresses_give_wins_ties_go_to_the_first() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    let (honest, forged) = (file("report.pdf", 1234, 'a'), file("evil.pdf", 999_999_999, 'a'));
    c.ann(at(1, 1), vec![honest.clone()], NONE, t0);
    // One address, many ports: one vote, a tie, the first description.
    for port in 1..=5 {
        c.ann(at(9, port), vec![forged.clone()], NONE, t0);
    }
    assert_eq!(c.look(&[], 10), vec![honest.clone()]);
    assert_eq!(c.sizes().disputes, 1);
    // A seeder by bare key stands for what look gave; another describes.
    c.ann(at(2, 1), vec![], NONE, t0);
    c.upd(at(2, 1), &refs([key('a')]), &[], t0).unwrap();
    c.ann(at(3, 1), vec![honest.clone()], NONE, t0);
    for ip in 10..=11 {
        c.ann(at(ip, 1), vec![forged.clone()], NONE, t0);
    }
    assert_eq!(c.look(&[], 10), vec![honest.clone()], "3 addresses each: the first given");
    c.ann(at(12, 1), vec![forged.clone()], NONE, t0);
    assert_eq!(c.look(&[], 10), vec![forged.clone()], "4 addresses to 3");
    assert!(named(&c, "report.pdf").is_empty() && named(&c, "evil.pdf") == vec![forged.clone()]);
    // The forgers leave: the seeders agree again, and the dispute goes.
    for ip in [9, 10, 11, 12] {
        for port in 1..=5 {
            c.ann(at(ip, port), vec![], NONE, t0);
        }
    }
    assert_eq!(named(&c, "report.pdf"), vec![honest.clone()]);
    assert!(named(&c, "evil.pdf").is_empty());
    assert_eq!((c.sizes().disputes, c.sizes().names), (0, 1));
    // A seeder that changes its description moves its vote.
    c.ann(at(3, 1), vec![file("report-v2.pdf", 1234, 'a')], NONE, t0);
    assert_eq!(c.look(&[], 10), vec![honest.clone()], "2 addresses to 1");
    c.ann(at(1, 1), vec![file("report-v2.pdf", 1234, 'a')], NONE, t0);
    assert_eq!(c.look(&[], 10), vec![file("report-v2.pdf", 1234, 'a')], "the bare seeder stays with report.pdf");
    c.ann(at(2, 1), vec![], NONE, t0);
    assert_eq!((c.sizes().disputes, c.sizes().names), (0, 1));
}

#[test]
fn expired_seeders_take_their_votes_with_them() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    let mut c = Cache::new();
    c.ann(at(1, 1), vec![file("a", 1, 'a')], NONE, t0);
    c.ann(at(2, 1), vec![file("b", 2, 'a')], NONE, t0 + ttl);
    c.ann(at(3, 1), vec![file("b", 2, 'a')], NONE, t0 + ttl);
    assert_eq!(c.look(&[], 10), vec![file("b", 2, 'a')]);
    c.expire(t0 + 2 * ttl, ttl);
    assert_eq!(c.look(&[], 10), vec![file("b", 2, 'a')]);
    assert_eq!((c.sizes().disputes, c.sizes().names), (0, 1));
    c.expire(t0 + 3 * ttl, ttl);
    assert_eq!(c.sizes(), Sizes { capacity: c.sizes().capacity, ..empty() });
}

fn empty() -> Sizes {
    Sizes { peers: 0, files: 0, names: 0, addresses: 0, disputes: 0, unheld: 0, capacity: 0 }
}

#[test]
fn each_address_is_held_to_its_limits() {
    let t0 = Instant::now();
    let mut c = Cache::with_limits(Limits { peers_per_ip: 2, files_per_ip: 5 });
    let k = |i: u32| FileKey::parse(format!("{i:032x}").as_bytes()).unwrap();
    let files =
        |r: std::ops::Range<u32>| r.map(|i| FileEntry { key: k(i), ..file(&format!("f{i}"), 1, 'a') }).collect();
    c.ann(at(1, 1), files(0..3), NONE, t0);
    c.ann(at(1, 2), vec![], [k(3), k(4)], t0);
    let ip = peer(1).ip();
    let too_many_peers = Err(Refused::TooManyPeers { ip, limit: 2 });
    assert_eq!(c.announce(at(1, 3), &ONE, vec![], NONE, t0), too_many_peers);
    let too_many_files = Err(Refused::TooManyFiles { ip, limit: 5 });
    assert_eq!(c.upd(at(1, 2), &refs([k(5)]), &refs([k(3), k(4)]), t0), too_many_files);
    assert_eq!(c.announce(at(1, 1), &ONE, files(0..4), NONE, t0), too_many_files);
    assert!(c.getfile(&k(5), None, 10).is_empty() && c.look(&[], 10).len() == 3, "refused: nothing changed");
    // Fewer files, then more again within the limit.
    c.upd(at(1, 2), &refs([k(3)]), &[], t0).unwrap();
    c.ann(at(1, 1), files(0..4), NONE, t0);
    assert_eq!(c.look(&[], 10).len(), 4);
    // Another address has its own.
    c.ann(at(2, 1), files(10..15), NONE, t0);
    c.ann(at(2, 2), vec![], NONE, t0);
    // A forgotten peer frees its share.
    c.expire(t0 + Duration::from_secs(120), Duration::from_secs(60));
    c.ann(at(1, 3), files(0..5), NONE, t0);
    assert_eq!(c.sizes().addresses, 1);
}

#[test]
fn a_flood_that_expired_leaves_nothing_behind() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    let mut c = Cache::new();
    let k = |i: u32| FileKey::parse(format!("{i:032x}").as_bytes()).unwrap();
    for p in 0..16u16 {
        let files =
            (0..2000).map(|i| FileEntry { key: k(u32::from(p) << 16 | i), ..file(&format!("f{p}_{i}"), 1, 'a') });
        c.ann(at(66, 1000 + p), files.collect(), (0..500).map(|i| k(1 << 30 | i)), t0);
    }
    // Contested descriptions and churn too.
    c.ann(at(67, 1), (0..100).map(|i| FileEntry { key: k(1 << 16 | i), ..file("x", 2, 'a') }).collect(), NONE, t0);
    c.upd(at(66, 1000), &[], &[], t0).unwrap();
    let flood = c.sizes();
    assert!(flood.files > 30_000 && flood.disputes == 100 && flood.unheld > 0, "{flood:?}");
    c.expire(t0 + 2 * ttl, ttl);
    let after = c.sizes();
    assert_eq!(after, Sizes { capacity: after.capacity, ..empty() });
    assert!(after.capacity < 1024, "the tables kept room for {} entries", after.capacity);
}

#[test]
fn a_key_whose_description_was_forgotten_is_described_again() {
    let t0 = Instant::now();
    let mut c = Cache::new();
    c.ann(peer(1), vec![file("a.txt", 3, 'a'), file("b.txt", 4, 'b')], NONE, t0);
    c.upd(peer(1), &refs([key('b')]), &[], t0).unwrap();
    c.expire(t0, Duration::from_secs(60));
    assert_eq!(c.file_count(), 1, "a.txt is forgotten");
    // Taken back by key only: the tracker cannot name it.
    c.upd(peer(1), &refs([key('a'), key('b')]), &[], t0).unwrap();
    assert!(named(&c, "a.txt").is_empty());
    c.ann(peer(1), vec![file("a.txt", 3, 'a'), file("b.txt", 4, 'b')], NONE, t0);
    assert_eq!(named(&c, "a.txt"), vec![file("a.txt", 3, 'a')]);
    assert_eq!(c.sizes().names, 2);
}
