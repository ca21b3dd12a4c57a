//! How a file is cut into pieces, and the rule that picks the piece size.

use thiserror::Error;

/// Smallest piece size we choose for our own files.
pub const MIN_PIECE_SIZE: u32 = 4 * 1024;
/// Largest piece size we choose for our own files.
pub const MAX_CHOSEN_PIECE_SIZE: u32 = 4 * 1024 * 1024;
/// Largest piece size we accept from others: a piece is held in memory
/// whole while it is verified, so this bounds a download's buffers.
pub const MAX_PIECE_SIZE: u64 = 64 * 1024 * 1024;
/// Most pieces a file may have: bounds a buffermap to 2 MiB.
pub const MAX_PIECES: u64 = 1 << 24;
/// The piece count our rule aims for.
pub const TARGET_PIECES: u64 = 2048;

/// The piece size a peer cuts its own files into (`piece_size` in the
/// peers' configuration): our rule ([`piece_size_for`]) or a fixed
/// number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PieceSize {
    #[default]
    Auto,
    Bytes(u32),
}

impl PieceSize {
    /// Smallest fixed piece size accepted: below it, piece hashes would
    /// outweigh the data.
    pub const MIN: u32 = 256;

    /// `auto` or a number of bytes from [`PieceSize::MIN`] to
    /// [`MAX_PIECE_SIZE`].
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("auto") {
            return Some(Self::Auto);
        }
        let n: u32 = text.parse().ok()?;
        (Self::MIN..=MAX_PIECE_SIZE as u32).contains(&n).then_some(Self::Bytes(n))
    }

    /// How a file of `length` bytes is cut. A fixed size too small for a
    /// huge file (more than [`MAX_PIECES`] pieces) gives way to the
    /// smallest power of two that fits.
    pub fn layout(self, length: u64) -> Result<Layout, LayoutError> {
        match self {
            Self::Auto => Layout::for_length(length),
            Self::Bytes(n) => match Layout::new(length, u64::from(n)) {
                Err(LayoutError::TooManyPieces(_)) => {
                    Layout::new(length, length.div_ceil(MAX_PIECES).next_power_of_two())
                }
                other => other,
            },
        }
    }
}

impl std::fmt::Display for PieceSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Bytes(n) => write!(f, "{n}"),
        }
    }
}

/// A file's length and piece size, checked so that every derived number
/// (piece count, piece offsets and lengths) fits without overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    length: u64,
    piece_size: u32,
    pieces: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    #[error("the piece size is 0")]
    ZeroPieceSize,
    #[error("the piece size {0} is larger than the {MAX_PIECE_SIZE} bytes accepted")]
    PieceTooLarge(u64),
    #[error("a file of {0} bytes has more than {MAX_PIECES} pieces")]
    TooManyPieces(u64),
}

impl Layout {
    pub fn new(length: u64, piece_size: u64) -> Result<Self, LayoutError> {
        if piece_size == 0 {
            return Err(LayoutError::ZeroPieceSize);
        }
        if piece_size > MAX_PIECE_SIZE {
            return Err(LayoutError::PieceTooLarge(piece_size));
        }
        let pieces = length.div_ceil(piece_size);
        if pieces > MAX_PIECES {
            return Err(LayoutError::TooManyPieces(length));
        }
        Ok(Self { length, piece_size: piece_size as u32, pieces: pieces as u32 })
    }

    /// The layout our own files use (see [`piece_size_for`]); files above
    /// 64 TiB have too many pieces.
    pub fn for_length(length: u64) -> Result<Self, LayoutError> {
        Self::new(length, u64::from(piece_size_for(length)))
    }

    pub fn length(&self) -> u64 {
        self.length
    }
    pub fn piece_size(&self) -> u32 {
        self.piece_size
    }
    pub fn piece_count(&self) -> u32 {
        self.pieces
    }
    /// Byte offset of piece `index` in the file.
    pub fn offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.piece_size)
    }
    /// Length of piece `index`: the piece size, the last one shorter.
    /// `None` when the index is out of range.
    pub fn piece_len(&self, index: u32) -> Option<u32> {
        if index >= self.pieces {
            return None;
        }
        let rest = self.length - self.offset(index);
        Some(rest.min(u64::from(self.piece_size)) as u32)
    }
    /// Bytes of a buffermap for this file.
    pub fn buffermap_len(&self) -> usize {
        self.pieces.div_ceil(8) as usize
    }
}

/// The piece size we pick for a file of `length` bytes: the smallest power
/// of two that cuts the file into at most [`TARGET_PIECES`] pieces, kept
/// within 4 KiB..=4 MiB. So a 10 KiB file has three 4 KiB pieces, a 1 GiB
/// file 2048 pieces of 512 KiB, and a 4 GiB file 2048 pieces of 2 MiB;
/// only files above 8 GiB get more than 2048 pieces.
pub fn piece_size_for(length: u64) -> u32 {
    let wanted = length.div_ceil(TARGET_PIECES).max(1).next_power_of_two();
    wanted.clamp(u64::from(MIN_PIECE_SIZE), u64::from(MAX_CHOSEN_PIECE_SIZE)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_piece_size() {
        assert_eq!(PieceSize::parse("AUTO"), Some(PieceSize::Auto));
        assert_eq!(PieceSize::parse("2048"), Some(PieceSize::Bytes(2048)));
        for bad in ["0", "255", "67108865", "-1", "2k", ""] {
            assert_eq!(PieceSize::parse(bad), None, "{bad:?}");
        }
        assert_eq!(PieceSize::Bytes(2048).layout(10_000).unwrap().piece_size(), 2048);
        assert_eq!(PieceSize::Auto.layout(10_000).unwrap(), Layout::for_length(10_000).unwrap());
        // 2048-byte pieces would cut 64 GiB into 32 Mi pieces: too many.
        let huge = PieceSize::Bytes(2048).layout(64 << 30).unwrap();
        assert_eq!((huge.piece_size(), u64::from(huge.piece_count())), (4096, MAX_PIECES));
    }

    #[test]
    fn piece_size_rule() {
        assert_eq!(piece_size_for(0), 4096);
        assert_eq!(piece_size_for(10 * 1024), 4096);
        assert_eq!(Layout::for_length(10 * 1024).unwrap().piece_count(), 3);
        assert_eq!(piece_size_for(1 << 30), 512 * 1024);
        assert_eq!(piece_size_for(4 << 30), 2 << 20);
        assert_eq!(Layout::for_length(4 << 30).unwrap().piece_count(), 2048);
        assert!(Layout::for_length(1 << 60).is_err());
        assert_eq!(piece_size_for(1 << 40), 4 << 20);
        assert_eq!(piece_size_for(u64::MAX), 4 << 20);
    }

    #[test]
    fn pieces_and_last_piece() {
        let l = Layout::new(2049, 1024).unwrap();
        assert_eq!(l.piece_count(), 3);
        assert_eq!(l.piece_len(0), Some(1024));
        assert_eq!(l.piece_len(2), Some(1));
        assert_eq!(l.piece_len(3), None);
        assert_eq!(l.buffermap_len(), 1);
        assert_eq!(Layout::new(0, 1).unwrap().piece_count(), 0);
        assert_eq!(Layout::new(5, 0), Err(LayoutError::ZeroPieceSize));
        assert!(matches!(Layout::new(u64::MAX, 1), Err(LayoutError::TooManyPieces(_))));
        assert!(matches!(Layout::new(1, 1 << 40), Err(LayoutError::PieceTooLarge(_))));
    }
}
