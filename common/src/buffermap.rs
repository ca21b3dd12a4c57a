//! Buffermaps: which pieces of a file a peer holds.
//!
//! Bit order (our choice; the subject leaves it open): piece `i` is bit
//! `7 - i % 8` of byte `i / 8`, i.e. the most significant bit first, as in
//! BitTorrent. Padding bits after the last piece are written as zero and
//! ignored on reading.

#[derive(Clone, PartialEq, Eq)]
pub struct BufferMap {
    bytes: Vec<u8>,
    pieces: u32,
}

impl BufferMap {
    pub fn empty(pieces: u32) -> Self {
        Self { bytes: vec![0; pieces.div_ceil(8) as usize], pieces }
    }

    pub fn full(pieces: u32) -> Self {
        let mut map = Self { bytes: vec![0xff; pieces.div_ceil(8) as usize], pieces };
        map.clear_padding();
        map
    }

    /// Reads `ceil(pieces/8)` raw bytes; `None` if the length is wrong.
    pub fn from_bytes(pieces: u32, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != pieces.div_ceil(8) as usize {
            return None;
        }
        let mut map = Self { bytes: bytes.to_vec(), pieces };
        map.clear_padding();
        Some(map)
    }

    /// Whether the padding bits of a raw map are all zero, as we write them.
    pub fn padding_is_clear(pieces: u32, bytes: &[u8]) -> bool {
        let used = pieces % 8;
        used == 0 || bytes.last().is_none_or(|b| b & (0xff >> used) == 0)
    }

    fn clear_padding(&mut self) {
        let used = self.pieces % 8;
        if let (true, Some(last)) = (used != 0, self.bytes.last_mut()) {
            *last &= !(0xffu8 >> used);
        }
    }

    pub fn pieces(&self) -> u32 {
        self.pieces
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn has(&self, index: u32) -> bool {
        index < self.pieces && self.bytes[(index / 8) as usize] & (0x80 >> (index % 8)) != 0
    }

    /// Marks a piece held; out-of-range indices are ignored.
    pub fn set(&mut self, index: u32) {
        if index < self.pieces {
            self.bytes[(index / 8) as usize] |= 0x80 >> (index % 8);
        }
    }

    pub fn count(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    pub fn is_complete(&self) -> bool {
        self.count() == self.pieces
    }

    pub fn iter_set(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.pieces).filter(|&i| self.has(i))
    }
}

impl std::fmt::Debug for BufferMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BufferMap({}/{})", self.count(), self.pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msb_first_and_padding() {
        let mut m = BufferMap::empty(10);
        m.set(0);
        m.set(9);
        m.set(10);
        assert_eq!(m.as_bytes(), &[0x80, 0x40]);
        assert!(m.has(9) && !m.has(1) && !m.has(10));
        assert_eq!(m.count(), 2);
        let full = BufferMap::full(10);
        assert_eq!(full.as_bytes(), &[0xff, 0xc0]);
        assert!(full.is_complete());
        assert_eq!(BufferMap::from_bytes(10, &[0xff, 0xff]).unwrap(), full);
        assert!(BufferMap::from_bytes(10, &[0xff]).is_none());
        assert!(!BufferMap::padding_is_clear(10, &[0, 1]));
        assert!(BufferMap::padding_is_clear(16, &[0, 1]));
        assert_eq!(BufferMap::full(0).as_bytes(), &[] as &[u8]);
    }
}
