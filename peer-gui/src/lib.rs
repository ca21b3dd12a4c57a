//! The Eirb2Share desktop app (`peer-gui`), on top of the peer engine
//! (the `peer` crate).

pub mod app;
