//! Shared foundation of the tracker and the peer: the Eirb2Share wire
//! protocol ([`protocol`]), configuration files ([`config`]), file keys
//! and piece hashing ([`key`], [`hashing`], [`layout`], [`buffermap`]).
//! Nothing in this crate opens a socket.

pub mod buffermap;
pub mod config;
pub mod hashing;
pub mod key;
pub mod layout;
pub mod protocol;

pub use buffermap::BufferMap;
pub use key::FileKey;
pub use layout::{Layout, PieceSize};
