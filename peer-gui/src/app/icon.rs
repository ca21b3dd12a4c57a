//! The window's icon (taskbar, window switcher), from the same drawing as
//! the menus' icons (`install/icons/`, made by `make icons`).

use std::sync::Arc;

use eframe::egui::IconData;

/// The 256-pixel PNG: the largest size a window manager commonly shows.
const PNG: &[u8] = include_bytes!("../../../install/icons/hicolor/256x256/apps/eirb2share.png");

/// The decoded icon, or `None` (logged) if the PNG cannot be read: a
/// window without an icon beats no window.
pub fn window_icon() -> Option<Arc<IconData>> {
    match eframe::icon_data::from_png_bytes(PNG) {
        Ok(icon) => Some(Arc::new(icon)),
        Err(e) => {
            log::warn!("the window's icon cannot be decoded: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_icon_decodes_to_a_square_with_an_opaque_middle_and_clear_corners() {
        let icon = window_icon().expect("the committed PNG decodes");
        assert_eq!((icon.width, icon.height), (256, 256));
        assert_eq!(icon.rgba.len(), 256 * 256 * 4);
        let alpha = |x: usize, y: usize| icon.rgba[(y * 256 + x) * 4 + 3];
        assert_eq!(alpha(128, 128), 255);
        assert_eq!(alpha(0, 0), 0);
    }
}
