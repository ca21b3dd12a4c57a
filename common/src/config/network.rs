//! How a peer finds others: through a tracker (`mode = centralised`, the
//! default) or on its own local network with no tracker (`mode =
//! distributed`, PROTOCOL.md section 10): the discovery and search keys,
//! and each peer's static neighbours (`peerX_neighbours`).

use std::net::{Ipv4Addr, SocketAddr};

use super::{ConfigError, ConfigErrorKind, Fields, Host};

/// `mode`: how the peers of a file find each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// `tracker_ip`, `tracker_port`: the tracker every peer talks to.
    /// `tracker_ip` may be a host name, looked up when the file loads.
    Centralised { tracker: SocketAddr },
    /// No tracker: discovery, neighbours and searches hop by hop.
    Distributed(Lan),
}

impl Network {
    /// The tracker, in the centralised mode.
    pub fn tracker(&self) -> Option<SocketAddr> {
        match self {
            Self::Centralised { tracker } => Some(*tracker),
            Self::Distributed(_) => None,
        }
    }
}

/// The distributed mode's keys (read in either mode, so one file can
/// switch with its `mode` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lan {
    /// `discovery_port` (5050): the UDP port every peer of the network
    /// shares; 0 turns discovery off (static neighbours only).
    pub discovery_port: u16,
    /// `discovery_group` (239.255.42.42): a class-D multicast group, or a
    /// broadcast address such as 192.168.1.255.
    pub discovery_group: Ipv4Addr,
    /// `look_ttl` (5): hops a search travels, 0 to 255.
    pub look_ttl: u8,
    /// `max_neighbours` (5): discovery answers joined.
    pub max_neighbours: usize,
}

impl Default for Lan {
    fn default() -> Self {
        Self { discovery_port: 5050, discovery_group: Ipv4Addr::new(239, 255, 42, 42), look_ttl: 5, max_neighbours: 5 }
    }
}

impl Fields<'_> {
    /// `mode` and what it needs: the tracker keys in the centralised mode
    /// (in the distributed one they may stay in the file, unread and
    /// never looked up), the LAN keys in both.
    pub(super) fn network(&mut self) -> Result<Network, ConfigError> {
        let distributed =
            self.get("mode", Some(false), "centralised or distributed", |v| match v.to_ascii_lowercase().as_str() {
                "centralised" | "centralized" => Some(false),
                "distributed" => Some(true),
                _ => None,
            })?;
        let d = Lan::default();
        let lan = Lan {
            discovery_port: self.get(
                "discovery_port",
                Some(d.discovery_port),
                "a UDP port from 1 to 65535 (0: no discovery)",
                |v| v.parse().ok(),
            )?,
            discovery_group: self.get(
                "discovery_group",
                Some(d.discovery_group),
                "a multicast group such as 239.255.42.42, or a broadcast address",
                |v| {
                    v.parse::<Ipv4Addr>()
                        .ok()
                        .filter(|ip| ip.is_multicast() || ip.is_broadcast() || ip.octets()[3] == 255)
                },
            )?,
            look_ttl: self.get("look_ttl", Some(d.look_ttl), "a number of hops from 0 to 255", |v| v.parse().ok())?,
            max_neighbours: self.count("max_neighbours", d.max_neighbours)?,
        };
        if distributed {
            self.entries.remove("tracker_ip");
            self.entries.remove("tracker_port");
            return Ok(Network::Distributed(lan));
        }
        Ok(Network::Centralised { tracker: self.tracker()? })
    }

    /// `peerX_neighbours`: `host:port` list, comma-separated, each name
    /// looked up now (IPv4 first).
    pub(super) fn neighbours(&mut self, key: &str) -> Result<Vec<SocketAddr>, ConfigError> {
        let line = self.entries.get(key).map(|e| e.line);
        let expected = "host:port addresses separated by commas, such as 127.0.0.2:5002, 127.0.0.3:5003";
        let listed: Vec<(Host, u16)> = self.get(key, Some(Vec::new()), expected, |v| {
            v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(host_port).collect()
        })?;
        listed
            .into_iter()
            .map(|(host, port)| {
                host.resolve(port).map_err(|e| ConfigError {
                    kind: ConfigErrorKind::HostNotFound,
                    ..ConfigError::new(
                        self.path,
                        line,
                        Some(key),
                        format!("cannot find the host {host} ({e}): check the name, or write an IP address"),
                    )
                })
            })
            .collect()
    }
}

/// `host:port`, `a.b.c.d:port` or `[v6]:port`; the port 1..65535.
fn host_port(text: &str) -> Option<(Host, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    // An IPv6 address takes brackets, or its last group reads as the port.
    if host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
    Some((Host::parse(host).ok()?, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(host_port("127.0.0.2:5002"), Some((Host::Ip("127.0.0.2".parse().unwrap()), 5002)));
        assert_eq!(host_port("[::1]:7"), Some((Host::Ip("::1".parse().unwrap()), 7)));
        assert_eq!(host_port("peer.lan:7"), Some((Host::Name("peer.lan".into()), 7)));
        for bad in ["127.0.0.2", "127.0.0.2:0", "127.0.0.2:70000", ":5", "a b:5", "::1:5"] {
            assert_eq!(host_port(bad), None, "{bad}");
        }
    }
}
