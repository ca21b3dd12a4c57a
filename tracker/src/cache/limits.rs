//! What one IP address may hold, and why a request is refused.
//!
//! Memory is spent per peer and per file a peer holds, and peers are
//! told apart by address and port: without a bound, one address opening
//! thousands of connections, each announcing new ports and random keys,
//! grew the tracker by gigabytes and made every search slow. The bounds
//! are per address, so a flood from one address never refuses another.

use std::fmt;
use std::net::IpAddr;

use common::config::TrackerConfig;

use super::PeerId;
use super::holders::Holders;
use super::peers::PeerNo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Peers (distinct announced ports) at one address.
    pub peers_per_ip: usize,
    /// Seeded plus leeched keys over the peers of one address.
    pub files_per_ip: usize,
}

impl Limits {
    pub const NONE: Self = Self { peers_per_ip: usize::MAX, files_per_ip: usize::MAX };

    pub fn from_config(config: &TrackerConfig) -> Self {
        Self { peers_per_ip: config.max_peers_per_ip, files_per_ip: config.max_files_per_ip }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::NONE
    }
}

/// What the peers of one address hold.
#[derive(Debug, Default)]
pub struct AtIp {
    pub peers: Holders<PeerNo>,
    /// The lengths of their seed and leech lists, summed.
    pub files: usize,
}

/// Why the cache refused a request; its text is the `error` reply's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// An `update` from a connection that speaks for no known peer.
    NotAnnounced,
    /// Another open connection holds this peer.
    Held(PeerId),
    TooManyPeers {
        ip: IpAddr,
        limit: usize,
    },
    TooManyFiles {
        ip: IpAddr,
        limit: usize,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnnounced => write!(f, "update before announce: send announce first"),
            Self::Held(peer) => write!(
                f,
                "peer {peer} is held by another open connection: send from that connection, or close it first"
            ),
            Self::TooManyPeers { ip, limit } => {
                write!(f, "too many peers at {ip}: at most {limit} ports (tracker_max_peers_per_ip)")
            }
            Self::TooManyFiles { ip, limit } => write!(
                f,
                "too many files at {ip}: at most {limit} seeded and leeched over its peers (tracker_max_files_per_ip)"
            ),
        }
    }
}
