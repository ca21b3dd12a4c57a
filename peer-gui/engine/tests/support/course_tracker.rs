//! A tracker as the course implementations behave (the shared protocol
//! notes), written apart from our codec: it reads at most 511 bytes per
//! request, so a long announce is cut and its rest taken as another
//! request; ends every reply with `\n\0`; lists the requester itself in
//! `peers`; refuses the `filename~` criterion; never answers `update`;
//! keeps keys in 33-byte fields. How it refuses and whether it starts
//! its replies with `> ` vary, as they do between course trackers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use parking_lot::Mutex;

/// A file as the tracker keeps it: `name length piecesize key`.
type Files = BTreeMap<String, [String; 4]>;

#[derive(Default)]
pub struct Seen {
    /// Every request as the tracker cut it, in arrival order.
    pub requests: Vec<String>,
}

/// How the tracker answers a search it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Erreur : ...`
    Text,
    /// Nothing at all.
    Silence,
}

#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    pub refusal: Refusal,
    /// Written before every reply (`"> "` in one course tracker).
    pub prefix: &'static str,
}

pub struct CourseTracker {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
}

impl CourseTracker {
    pub fn start(dialect: Dialect) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peers: Arc<Mutex<BTreeMap<SocketAddr, Files>>> = Arc::default();
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (peers, seen) = (peers.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &peers, &seen, dialect));
            }
        });
        Self { addr, seen }
    }
}

fn serve(mut stream: TcpStream, peers: &Mutex<BTreeMap<SocketAddr, Files>>, seen: &Mutex<Seen>, dialect: Dialect) {
    let ip = stream.peer_addr().unwrap().ip();
    let mut me: Option<SocketAddr> = None;
    let mut buf = [0u8; 511];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        let request = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
        seen.lock().requests.push(request.clone());
        let spaced = request.replace(['[', ']'], " ");
        let words: Vec<&str> = spaced.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["announce", "listen", port, rest @ ..] => {
                let id = SocketAddr::new(ip, port.parse().unwrap_or(0));
                me = Some(id);
                let seed = rest.iter().skip_while(|w| **w == "seed").take_while(|w| **w != "leech");
                let seed: Vec<&str> = seed.copied().collect();
                // A cut announce keeps its whole files, as sscanf would.
                // Keys live in 33-byte fields: 32 characters and a NUL.
                let files = seed
                    .chunks_exact(4)
                    .map(|f| (field(f[3]), [f[0], f[1], f[2], &field(f[3])].map(str::to_owned)))
                    .collect();
                peers.lock().insert(id, files);
                Some("ok".to_owned())
            }
            ["look", criteria @ ..] => {
                if criteria.iter().any(|c| c.contains('~')) {
                    (dialect.refusal == Refusal::Text).then(|| "Erreur : critere inconnu".to_owned())
                } else {
                    let wanted: Vec<String> = criteria
                        .iter()
                        .filter_map(|c| c.strip_prefix("filename="))
                        .map(|n| n.trim_matches('"').to_owned())
                        .collect();
                    let all = peers.lock();
                    let mut files: BTreeMap<&String, &[String; 4]> = BTreeMap::new();
                    for f in all.values().flat_map(|f| f.iter()) {
                        if wanted.iter().all(|n| *n == f.1[0]) {
                            files.insert(f.0, f.1);
                        }
                    }
                    let items: Vec<String> = files.values().map(|f| f.join(" ")).collect();
                    Some(format!("list [{}]", items.join(" ")))
                }
            }
            ["getfile", key] => {
                let all = peers.lock();
                let holders = all.iter().filter(|(_, files)| files.contains_key(&field(key))).map(|(p, _)| *p);
                // The requester too, as one course tracker does.
                let mut listed: Vec<SocketAddr> = holders.chain(me).collect();
                listed.dedup();
                let listed: Vec<String> = listed.iter().map(SocketAddr::to_string).collect();
                Some(format!("peers {key} [{}]", listed.join(" ")))
            }
            ["update", ..] => None,
            _ => Some("Erreur : commande inconnue".to_owned()),
        };
        if let Some(reply) = reply
            && stream.write_all(format!("{}{reply}\n\0", dialect.prefix).as_bytes()).is_err()
        {
            break;
        }
    }
    if let Some(id) = me {
        peers.lock().remove(&id);
    }
}

/// A key as a fixed 33-byte C field holds it.
fn field(key: &str) -> String {
    key.chars().take(32).collect()
}
