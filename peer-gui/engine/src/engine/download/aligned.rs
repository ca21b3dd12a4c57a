//! Piece buffers aligned for direct I/O: `O_DIRECT` writes need the
//! memory, the offset and the length aligned to the block size.

/// Alignment and granularity of direct writes.
pub const BLOCK: usize = 4096;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

/// A byte buffer whose start is 4 KiB-aligned.
pub struct AlignedBuf {
    blocks: Vec<Block>,
    len: usize,
}

impl AlignedBuf {
    pub fn copy_of(bytes: &[u8]) -> Self {
        let mut blocks = vec![Block([0; BLOCK]); bytes.len().div_ceil(BLOCK)];
        bytemuck::cast_slice_mut::<Block, u8>(&mut blocks)[..bytes.len()].copy_from_slice(bytes);
        Self { blocks, len: bytes.len() }
    }

    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<Block, u8>(&self.blocks)[..self.len]
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_exact() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let buf = AlignedBuf::copy_of(&data);
        assert_eq!(buf.as_slice(), &data[..]);
        assert_eq!(buf.as_slice().as_ptr() as usize % BLOCK, 0);
        assert!(AlignedBuf::copy_of(&[]).as_slice().is_empty());
    }
}
