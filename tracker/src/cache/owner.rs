//! Which connection speaks for a peer.
//!
//! A peer's lists belong to the connection that announced them (or took
//! the peer over) for as long as that connection is open: without this,
//! anyone sharing the peer's IP address (a NAT, a shared machine) could
//! hide its files with one `update` or replace them with one `announce`.
//! Once the connection has ended, any connection from the same address
//! may take the peer over, which course peers that open a connection per
//! request rely on.
//!
//! Each connection holds one `Owner`; the cache keeps a clone in every
//! peer the connection holds. The flag is set when the connection is
//! dropped, and earlier by the reactor as soon as it sees the client's
//! end: a client that closes and reconnects at once is served on the new
//! connection before a worker has read the old one's end, and must not
//! be refused for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Default)]
pub struct Owner(Arc<AtomicBool>);

impl Owner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The connection can send nothing more: it ended, failed, or its
    /// client closed its side.
    pub fn end(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_open(&self) -> bool {
        !self.0.load(Ordering::Acquire)
    }

    /// Whether both are the same connection's.
    pub fn is(&self, other: &Owner) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_are_one_connection_and_see_its_end() {
        let (a, b) = (Owner::new(), Owner::new());
        let held = a.clone();
        assert!(held.is(&a) && !held.is(&b));
        assert!(held.is_open());
        a.end();
        assert!(!held.is_open() && b.is_open());
    }
}
