//! The tracker's host in the peers' file: an IP address as before, or a
//! host name (`localhost`, `tracker.lan`) looked up when the file loads.
//! The syntax check is public so the app's first-run screen can say what
//! is wrong as the user types, with the same rules the file is read by.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Why a text cannot name a host (before any lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    Empty,
    /// A blank inside the name.
    Space,
    /// Only digits and dots, yet not an IPv4 address (`127.0.0.300`).
    BadIpv4,
    /// A `:` in something that is not an IPv6 address (often a port).
    Colon,
    /// A character host names do not use.
    BadChar(char),
    /// Longer than the 253 characters DNS allows.
    TooLong,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("write the tracker's host name or IP address"),
            Self::Space => f.write_str("a host name has no spaces"),
            Self::BadIpv4 => f.write_str("not an IPv4 address: four numbers from 0 to 255, such as 192.168.1.10"),
            Self::Colon => f.write_str("not an IPv6 address; give the port on its own (host name, then port)"),
            Self::BadChar(c) => write!(f, "{c:?} cannot be in a host name (letters, digits, '-' and '.')"),
            Self::TooLong => f.write_str("too long for a host name (253 characters at most)"),
        }
    }
}

impl std::error::Error for HostError {}

/// How the tracker is named, once the text is known to be well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    /// Checks the syntax only (no lookup): an IP address, or a host name
    /// of letters, digits, `-`, `_` and `.`.
    pub fn parse(text: &str) -> Result<Self, HostError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(HostError::Empty);
        }
        if text.contains(char::is_whitespace) {
            return Err(HostError::Space);
        }
        // `[::1]` as in URLs.
        let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        if text.contains(':') {
            return Err(HostError::Colon);
        }
        // A resolver would take `127.0.0.300` as a name and fail slowly
        // or, worse, find something: refuse it as a mistyped address.
        if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(HostError::BadIpv4);
        }
        if let Some(c) = text.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
            return Err(HostError::BadChar(c));
        }
        if text.len() > 253 {
            return Err(HostError::TooLong);
        }
        Ok(Self::Name(text.to_owned()))
    }

    /// The address to connect to: an IP as is (no lookup, exactly as
    /// before names were accepted), a name through the system's resolver,
    /// IPv4 first as most LAN trackers listen on IPv4 only. Blocks for the
    /// lookup.
    pub fn resolve(&self, port: u16) -> io::Result<SocketAddr> {
        let name = match self {
            Self::Ip(ip) => return Ok(SocketAddr::new(*ip, port)),
            Self::Name(name) => name,
        };
        let all: Vec<SocketAddr> = (name.as_str(), port).to_socket_addrs()?.collect();
        all.iter()
            .find(|a| a.is_ipv4())
            .or_else(|| all.first())
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name has no address"))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Name(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert_eq!(Host::parse(" 10.0.0.1 "), Ok(Host::Ip("10.0.0.1".parse().unwrap())));
        assert_eq!(Host::parse("[::1]"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(Host::parse("tracker.lan"), Ok(Host::Name("tracker.lan".into())));
        assert_eq!(Host::parse(""), Err(HostError::Empty));
        assert_eq!(Host::parse("my tracker"), Err(HostError::Space));
        assert_eq!(Host::parse("127.0.0.300"), Err(HostError::BadIpv4));
        assert_eq!(Host::parse("localhost:5000"), Err(HostError::Colon));
        assert_eq!(Host::parse("tracker/lan"), Err(HostError::BadChar('/')));
        assert_eq!(Host::parse(&"a".repeat(254)), Err(HostError::TooLong));
    }

    #[test]
    fn an_ip_needs_no_lookup() {
        let host = Host::parse("192.0.2.1").unwrap();
        assert_eq!(host.resolve(7).unwrap(), "192.0.2.1:7".parse().unwrap());
    }
}
