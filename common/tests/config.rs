//! Configuration: the shipped files load, and each malformed case names
//! the file, the line or key, and what was expected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::{ConfigError, ConfigErrorKind, Lan, Network, PeersConfig, TrackerConfig};

fn install(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../install").join(rel)
}

#[test]
fn shipped_tracker_file() {
    let c = TrackerConfig::load(&install("tracker/config.ini")).unwrap();
    assert_eq!(c.addr, "127.0.0.100:5000".parse().unwrap());
    assert_eq!(c.interval, Duration::from_millis(10_000));
    assert!(c.workers >= 1);
    assert_eq!(c.peer_ttl, Duration::from_secs(300));
}

#[test]
fn shipped_peers_file() {
    let c = PeersConfig::load(&install("peers/config.ini")).unwrap();
    assert_eq!(c.network.tracker(), Some("127.0.0.100:5000".parse().unwrap()));
    assert_eq!(c.peers.len(), 5);
    for (i, p) in c.peers.iter().enumerate() {
        let x = i as u32 + 1;
        assert_eq!(p.id, x);
        assert_eq!(p.addr, format!("127.0.0.{x}:5001").parse().unwrap());
        assert_eq!(p.interval, Duration::from_millis(100_000));
        assert_eq!(p.directory, PathBuf::from(format!("install/peers/peer{x}_files")));
        assert_eq!(p.max_peers, 5);
        assert!(install(&format!("peers/peer{x}_files")).is_dir());
    }
    assert_eq!(c.max_message_size, 1 << 20);
}

fn tracker_err(text: &str) -> ConfigError {
    TrackerConfig::parse(Path::new("t.ini"), text).unwrap_err()
}

const GOOD: &str = "tracker_ip = 127.0.0.100\ntracker_port = 5000\n";

#[test]
fn missing_file() {
    let e = TrackerConfig::load(Path::new("/nonexistent/config.ini")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/config.ini: cannot read the file"), "{e}");
}

#[test]
fn line_without_equals() {
    let e = tracker_err(&format!("{GOOD}tracker_interval 10\n"));
    assert_eq!(e.line, Some(3));
    assert!(e.to_string().contains("t.ini:3: expected `key = value`"), "{e}");
}

#[test]
fn bad_number() {
    let e = tracker_err(&format!("{GOOD}tracker_interval = ten\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("tracker_interval")));
    assert!(e.message.contains("milliseconds") && e.message.contains("\"ten\""), "{e}");
    assert!(tracker_err(&format!("{GOOD}tracker_workers = 0\n")).message.contains("positive"));
}

#[test]
fn bad_ip() {
    let e = tracker_err("tracker_ip = 127.0.0.300\ntracker_port = 5000\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("tracker_ip")));
    assert!(e.message.contains("IP address"), "{e}");
}

#[test]
fn port_out_of_range() {
    for port in ["0", "65536", "-1"] {
        let e = tracker_err(&format!("tracker_ip = 127.0.0.1\ntracker_port = {port}\n"));
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("tracker_port")), "{port}");
        assert!(e.message.contains("1 to 65535"), "{e}");
    }
}

#[test]
fn unknown_key() {
    let e = tracker_err(&format!("{GOOD}tracker_colour = blue\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("tracker_colour")));
    assert!(e.message.contains("unknown key"), "{e}");
    let p = PeersConfig::parse(
        Path::new("p.ini"),
        &format!("{GOOD}peer1_ip=127.0.0.1\npeer1_port=1\npeer1_directory_path=x\npeer1_speed=9\n"),
    )
    .unwrap_err();
    assert_eq!(p.key.as_deref(), Some("peer1_speed"));
}

#[test]
fn duplicate_key() {
    let e = tracker_err(&format!("{GOOD}tracker_port = 5001\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("tracker_port")));
    assert!(e.message.contains("first on line 2"), "{e}");
}

#[test]
fn missing_key() {
    let e = tracker_err("tracker_ip = 127.0.0.1\n");
    assert_eq!(e.key.as_deref(), Some("tracker_port"));
    assert!(e.message.contains("missing"), "{e}");
    let p =
        PeersConfig::parse(Path::new("p.ini"), &format!("{GOOD}peer2_ip=127.0.0.2\npeer2_port=5001\n")).unwrap_err();
    assert_eq!(p.key.as_deref(), Some("peer2_directory_path"));
}

#[test]
fn serde_ini_quirks_are_smoothed() {
    let text = "  # indented comment\n \ntracker_ip = 127.0.0.1 ; inline comment\n\ttracker_port=5000\n";
    let c = TrackerConfig::parse(Path::new("t.ini"), text).unwrap();
    assert_eq!(c.addr, "127.0.0.1:5000".parse().unwrap());
}

#[test]
fn leading_zero_peer_ids_and_bom_and_comment_values() {
    let base = "tracker_ip = 127.0.0.1\ntracker_port = 1\npeer1_ip=127.0.0.1\npeer1_port=1\npeer1_directory_path=x\n";
    let e = PeersConfig::parse(Path::new("p.ini"), &format!("{base}peer01_ip = 127.0.0.2\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("peer01_ip"));
    assert!(e.message.contains("unknown key"));
    let bom = format!("\u{feff}{GOOD}");
    assert!(TrackerConfig::parse(Path::new("t.ini"), &bom).is_ok());
    let e = tracker_err(&format!("{GOOD}tracker_workers = ; default\n"));
    assert!(e.message.contains("found \"\""), "{e}");
}

#[test]
fn piece_size_is_auto_by_default_set_for_all_or_per_peer() {
    use common::PieceSize;
    let peers = "tracker_ip = 127.0.0.100\ntracker_port = 5000\npeer1_ip = 127.0.0.1\npeer1_port = 5001\npeer1_directory_path = a\npeer2_ip = 127.0.0.2\npeer2_port = 5001\npeer2_directory_path = b\n";
    let load = |extra: &str| PeersConfig::parse(Path::new("p.ini"), &format!("{peers}{extra}"));
    let sizes = |c: PeersConfig| c.peers.iter().map(|p| p.piece_size).collect::<Vec<_>>();
    assert_eq!(sizes(load("").unwrap()), [PieceSize::Auto, PieceSize::Auto]);
    assert_eq!(sizes(load("piece_size = 2048\n").unwrap()), [PieceSize::Bytes(2048), PieceSize::Bytes(2048)]);
    assert_eq!(
        sizes(load("piece_size = 2048\npeer2_piece_size = auto\n").unwrap()),
        [PieceSize::Bytes(2048), PieceSize::Auto]
    );
    for bad in ["piece_size = 0\n", "peer1_piece_size = big\n", "piece_size = 100000000\n"] {
        let e = load(bad).unwrap_err();
        assert!(e.key.as_deref().is_some_and(|k| k.ends_with("piece_size")), "{bad:?}: {e}");
    }
}

#[test]
fn rate_limits_are_off_by_default_set_for_all_or_per_peer() {
    let peers = "tracker_ip = 127.0.0.100\ntracker_port = 5000\npeer1_ip = 127.0.0.1\npeer1_port = 5001\npeer1_directory_path = a\npeer2_ip = 127.0.0.2\npeer2_port = 5001\npeer2_directory_path = b\n";
    let load = |extra: &str| PeersConfig::parse(Path::new("p.ini"), &format!("{peers}{extra}"));
    let rates = |c: PeersConfig| c.peers.iter().map(|p| (p.max_upload_rate, p.max_download_rate)).collect::<Vec<_>>();
    assert_eq!(rates(load("").unwrap()), [(0, 0), (0, 0)]);
    assert_eq!(
        rates(load("max_upload_rate = 40000000\npeer2_max_upload_rate = 0\npeer2_max_download_rate = 1000\n").unwrap()),
        [(40_000_000, 0), (0, 1000)]
    );
    for bad in ["max_upload_rate = -1\n", "peer1_max_download_rate = fast\n", "max_download_rate = 1.5\n"] {
        let e = load(bad).unwrap_err();
        assert!(e.key.as_deref().is_some_and(|k| k.ends_with("_rate")), "{bad:?}: {e}");
    }
}

#[test]
fn per_ip_limits_default_to_lan_sizes_and_take_positive_counts() {
    let c = TrackerConfig::load(&install("tracker/config.ini")).unwrap();
    assert_eq!((c.max_connections_per_ip, c.max_peers_per_ip, c.max_files_per_ip), (64, 16, 100_000));
    let set = "tracker_max_connections_per_ip = 2\ntracker_max_peers_per_ip = 3\ntracker_max_files_per_ip = 4\n";
    let c = TrackerConfig::parse(Path::new("t.ini"), &format!("{GOOD}{set}")).unwrap();
    assert_eq!((c.max_connections_per_ip, c.max_peers_per_ip, c.max_files_per_ip), (2, 3, 4));
    for key in ["tracker_max_connections_per_ip", "tracker_max_peers_per_ip", "tracker_max_files_per_ip"] {
        let e = tracker_err(&format!("{GOOD}{key} = 0\n"));
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some(key)));
        assert!(e.message.contains("positive whole number"), "{e}");
    }
}

#[test]
fn the_status_page_listens_on_the_tracker_ip_at_8080_unless_set_or_turned_off() {
    let c = TrackerConfig::load(&install("tracker/config.ini")).unwrap();
    assert_eq!(c.http, Some("127.0.0.100:8080".parse().unwrap()));
    let with = |extra: &str| TrackerConfig::parse(Path::new("t.ini"), &format!("{GOOD}{extra}"));
    assert_eq!(with("").unwrap().http, Some("127.0.0.100:8080".parse().unwrap()));
    assert_eq!(with("tracker_http_port = 9090\n").unwrap().http, Some("127.0.0.100:9090".parse().unwrap()));
    assert_eq!(with("tracker_http_port = 0\n").unwrap().http, None);
    for bad in ["-1", "65536", "http"] {
        let e = tracker_err(&format!("{GOOD}tracker_http_port = {bad}\n"));
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("tracker_http_port")), "{bad}");
    }
}

/// A peers' file whose tracker is `host`, with one peer.
fn peers_with_tracker(host: &str) -> Result<PeersConfig, ConfigError> {
    let text = format!(
        "tracker_ip = {host}\ntracker_port = 5000\npeer1_ip = 0.0.0.0\npeer1_port = 5001\npeer1_directory_path = a\n"
    );
    PeersConfig::parse(Path::new("p.ini"), &text)
}

#[test]
fn the_peers_tracker_may_be_a_host_name_looked_up_ipv4_first() {
    // `localhost` resolves offline (/etc/hosts); IPv4 is preferred.
    let c = peers_with_tracker("localhost").unwrap();
    assert_eq!(c.network.tracker(), Some("127.0.0.1:5000".parse().unwrap()));
    // Addresses are taken as before, IPv6 too.
    assert_eq!(peers_with_tracker("127.0.0.100").unwrap().network.tracker(), Some("127.0.0.100:5000".parse().unwrap()));
    assert_eq!(peers_with_tracker("::1").unwrap().network.tracker(), Some("[::1]:5000".parse().unwrap()));
    assert_eq!(peers_with_tracker("[::1]").unwrap().network.tracker(), Some("[::1]:5000".parse().unwrap()));
}

#[test]
fn a_host_name_that_does_not_resolve_is_a_typed_error_on_its_line() {
    // `.invalid` never resolves (RFC 6761).
    let e = peers_with_tracker("tracker.invalid").unwrap_err();
    assert_eq!((e.kind, e.line, e.key.as_deref()), (ConfigErrorKind::HostNotFound, Some(1), Some("tracker_ip")));
}

#[test]
fn malformed_hosts_are_refused_without_a_lookup() {
    for bad in ["127.0.0.300", "my tracker", "localhost:5000", "tracker/lan"] {
        let e = peers_with_tracker(bad).unwrap_err();
        assert_eq!(
            (e.kind, e.line, e.key.as_deref()),
            (ConfigErrorKind::Invalid, Some(1), Some("tracker_ip")),
            "{bad}"
        );
    }
    // A bad port is reported before any lookup of the name.
    let text =
        "tracker_ip = tracker.invalid\ntracker_port = 0\npeer1_ip=0.0.0.0\npeer1_port=1\npeer1_directory_path=a\n";
    let e = PeersConfig::parse(Path::new("p.ini"), text).unwrap_err();
    assert_eq!((e.kind, e.key.as_deref()), (ConfigErrorKind::Invalid, Some("tracker_port")));
}

#[test]
fn the_tracker_itself_still_listens_on_an_ip_address() {
    let e = tracker_err("tracker_ip = localhost\ntracker_port = 5000\n");
    assert_eq!((e.kind, e.key.as_deref()), (ConfigErrorKind::Invalid, Some("tracker_ip")));
}

#[test]
fn shipped_distributed_file_needs_no_tracker() {
    let c = PeersConfig::load(&install("peers/config-distributed.ini")).unwrap();
    assert_eq!(c.network, Network::Distributed(Lan::default()));
    assert_eq!(c.peers.len(), 5);
    for (i, p) in c.peers.iter().enumerate() {
        assert_eq!(p.addr, format!("127.0.0.{}:5001", i + 1).parse().unwrap());
        assert!(p.neighbours.is_empty());
    }
}

const ONE_PEER: &str = "peer1_ip = 127.0.0.1\npeer1_port = 5001\npeer1_directory_path = a\n";

#[test]
fn distributed_mode_keys_and_static_neighbours() {
    let text = format!(
        "mode = Distributed\ndiscovery_port = 0\ndiscovery_group = 127.255.255.255\nlook_ttl = 255\nmax_neighbours = 2\n{ONE_PEER}peer1_neighbours = 127.0.0.2:5002, localhost:5003,\n"
    );
    let c = PeersConfig::parse(Path::new("p.ini"), &text).unwrap();
    let lan = Lan {
        discovery_port: 0,
        discovery_group: "127.255.255.255".parse().unwrap(),
        look_ttl: 255,
        max_neighbours: 2,
    };
    assert_eq!(c.network, Network::Distributed(lan));
    assert_eq!(c.peers[0].neighbours, ["127.0.0.2:5002".parse().unwrap(), "127.0.0.1:5003".parse().unwrap()]);
    // Tracker keys left in a distributed file are neither needed nor
    // looked up (`.invalid` never resolves).
    let with_tracker = format!("mode = distributed\ntracker_ip = tracker.invalid\ntracker_port = 5000\n{ONE_PEER}");
    assert!(PeersConfig::parse(Path::new("p.ini"), &with_tracker).is_ok());
    // The centralised mode still needs them, and reads the LAN keys.
    let e =
        PeersConfig::parse(Path::new("p.ini"), &format!("mode = centralised\nlook_ttl = 3\n{ONE_PEER}")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("tracker_ip"));
}

#[test]
fn bad_distributed_values_name_their_key() {
    for (line, key) in [
        ("mode = p2p", "mode"),
        ("look_ttl = 256", "look_ttl"),
        ("discovery_group = 10.0.0.1", "discovery_group"),
        ("discovery_port = 70000", "discovery_port"),
        ("max_neighbours = 0", "max_neighbours"),
        ("peer1_neighbours = 127.0.0.2", "peer1_neighbours"),
        ("peer1_neighbours = 127.0.0.2:5002 127.0.0.3:5003", "peer1_neighbours"),
    ] {
        let e = PeersConfig::parse(Path::new("p.ini"), &format!("mode = distributed\n{ONE_PEER}{line}\n")).unwrap_err();
        assert_eq!((e.kind, e.key.as_deref()), (ConfigErrorKind::Invalid, Some(key)), "{line}");
    }
    let e = PeersConfig::parse(
        Path::new("p.ini"),
        &format!("mode = distributed\n{ONE_PEER}peer1_neighbours = nowhere.invalid:5\n"),
    )
    .unwrap_err();
    assert_eq!((e.kind, e.line), (ConfigErrorKind::HostNotFound, Some(5)));
}
