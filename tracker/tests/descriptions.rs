//! Seeders that describe one key differently: `look` gives the
//! description seeders at the most addresses give, the first given
//! among equals, whoever announced first.

mod support;
use support::*;

#[test]
fn look_gives_the_description_most_addresses_seed() {
    let t = TestTracker::start();
    let honest = format!("report.pdf 1234 1024 {KEY_A}");
    let forged = format!("report.pdf 999999999 1024 {KEY_A}");
    let announce = |ip: u8, port: u16, file: &str| {
        let mut c = t.client_from(ip);
        assert_eq!(c.ask(&format!("announce listen {port} seed [{file}] leech []")), "ok");
        c
    };
    let mut asker = t.client_from(60);
    let look = |c: &mut Client| c.ask("look [filename=\"report.pdf\"]");
    // The forger learnt the key and announced first, from many ports.
    let _forgers: Vec<Client> = (1..=3).map(|port| announce(62, port, &forged)).collect();
    let owner = announce(61, 1, &honest);
    assert_eq!(look(&mut asker), format!("list [{forged}]"), "one address each: the first given");
    let mut second = announce(63, 1, &honest);
    assert_eq!(look(&mut asker), format!("list [{honest}]"), "two addresses to one");
    // A seeder that names no file (update with bare keys) counts for
    // what look gave it.
    let mut downloader = announce(64, 1, "");
    assert_eq!(downloader.ask(&format!("update seed [{KEY_A}] leech []")), "ok");
    assert_eq!(second.ask("update seed [] leech []"), "ok");
    assert_eq!(look(&mut asker), format!("list [{honest}]"), "still two addresses to one");
    drop(owner);
    assert_eq!(downloader.ask("update seed [] leech []"), "ok");
    let mut owner_again = t.client_from(61);
    assert_eq!(owner_again.ask("update seed [] leech []"), "ok");
    assert_eq!(look(&mut asker), format!("list [{forged}]"), "only the forger seeds it now");
}
