//! The Eirb2Share peer without a window: the [`engine`] (sharing,
//! serving, downloading) and the [`headless`] `peer` command. The desktop
//! app (`peer-gui`) is a crate on top of this one; nothing here links a
//! GUI library.

pub mod engine;
pub mod headless;
