//! Piece hashes and our file key.
//!
//! Key definition (normative, see docs/PROTOCOL.md):
//!
//! ```text
//! H_i = SHA-256(piece i)                     for i in 0..n
//! key = SHA-256(u64_be(length) || u64_be(piece_size) || H_0 || ... || H_(n-1))
//! ```
//!
//! written as 64 lowercase hex characters. Committing to the layout as
//! well as the hashes means a result line `name length piecesize key` is
//! self-certifying: a peer cannot serve a hash list for another layout.
//! `sha2` picks the CPU's SHA extensions at run time when present.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::key::FileKey;
use crate::layout::Layout;

pub type PieceHash = [u8; 32];

/// A file's layout, the hash of every piece and the key they give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub layout: Layout,
    pub hashes: Vec<PieceHash>,
    pub key: FileKey,
}

pub fn hash_piece(bytes: &[u8]) -> PieceHash {
    Sha256::digest(bytes).into()
}

/// The key a layout and its piece hashes commit to.
pub fn key_of(layout: &Layout, hashes: &[PieceHash]) -> FileKey {
    let mut h = Sha256::new();
    h.update(layout.length().to_be_bytes());
    h.update(u64::from(layout.piece_size()).to_be_bytes());
    for piece in hashes {
        h.update(piece);
    }
    FileKey::from_digest(&h.finalize().into())
}

/// Whether a hash list is the one `key` commits to for `layout`.
pub fn hashes_match(key: &FileKey, layout: &Layout, hashes: &[PieceHash]) -> bool {
    hashes.len() == layout.piece_count() as usize && key_of(layout, hashes) == *key
}

/// Hashes `length` bytes from `reader` cut by `layout`. Fails with
/// `UnexpectedEof` if the reader ends early (a file shrinking under us).
pub fn digest_reader(mut reader: impl Read, layout: Layout) -> io::Result<FileDigest> {
    // Read several pieces per call: fewer syscalls, same hashing work.
    let piece = layout.piece_size() as usize;
    let per_read = (4 << 20) / piece.max(1);
    let mut buf = vec![0u8; piece * per_read.max(1)];
    let mut hashes = Vec::with_capacity(layout.piece_count() as usize);
    let mut index = 0;
    while index < layout.piece_count() {
        let want: usize = (index..layout.piece_count())
            .take(per_read.max(1))
            .filter_map(|i| layout.piece_len(i))
            .map(|l| l as usize)
            .sum();
        reader.read_exact(&mut buf[..want])?;
        for chunk in buf[..want].chunks(piece) {
            hashes.push(hash_piece(chunk));
            index += 1;
        }
    }
    let key = key_of(&layout, &hashes);
    Ok(FileDigest { layout, hashes, key })
}

/// Hashes a whole file with the piece size our rule picks for its length.
pub fn digest_file(path: &Path) -> io::Result<FileDigest> {
    let file = File::open(path)?;
    let length = file.metadata()?.len();
    let layout = Layout::for_length(length).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    digest_reader(file, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_commits_to_layout_and_content() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let layout = Layout::new(data.len() as u64, 4096).unwrap();
        let d = digest_reader(&data[..], layout).unwrap();
        assert_eq!(d.hashes.len(), 3);
        assert_eq!(d.hashes[2], hash_piece(&data[8192..]));
        assert!(hashes_match(&d.key, &layout, &d.hashes));
        let other = Layout::new(data.len() as u64, 8192).unwrap();
        let d2 = digest_reader(&data[..], other).unwrap();
        assert_ne!(d.key, d2.key, "another piece size gives another key");
        let mut bad = d.hashes.clone();
        bad[1][0] ^= 1;
        assert!(!hashes_match(&d.key, &layout, &bad));
        assert!(!hashes_match(&d.key, &layout, &d.hashes[..2]));
    }

    #[test]
    fn empty_file_and_short_reader() {
        let d = digest_reader(&[][..], Layout::for_length(0).unwrap()).unwrap();
        assert!(d.hashes.is_empty());
        assert_eq!(d.key.as_str().len(), 64);
        let err = digest_reader(&[1u8; 10][..], Layout::new(20, 4).unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
