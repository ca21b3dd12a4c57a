//! Peer engine.
