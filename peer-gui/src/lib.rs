//! The Eirb2Share peer: the [`engine`] (sharing, serving, downloading;
//! no GUI), used by the [`headless`] `peer` command and the desktop
//! [`app`] (`peer-gui`).

pub mod app;
pub mod engine;
pub mod headless;
