//! Piece hashes and our file key.
//!
//! Key definition (normative, see docs/PROTOCOL.md):
//!
//! ```text
//! H_i = SHA-256(piece i)                     for i in 0..n
//! C   = SHA-256(u64_be(length) || u64_be(piece_size) || H_0 || ... || H_(n-1))
//! key = the first 16 bytes of C
//! ```
//!
//! written as 32 lowercase hex characters: the length of the subject's
//! MD5 keys, which course trackers store in fixed 33-byte fields; 128
//! bits keep second preimages out of reach (docs/PROTOCOL.md, section 4).
//! Committing to the layout as well as the hashes means a result line
//! `name length piecesize key` is self-certifying: a peer cannot serve a hash list for another layout.
//! `sha2` picks the CPU's SHA extensions at run time when present.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::key::{FileKey, KEY_BYTES};
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
    let commitment: [u8; 32] = h.finalize().into();
    let mut key = [0u8; KEY_BYTES];
    key.copy_from_slice(&commitment[..KEY_BYTES]);
    FileKey::from_digest(&key)
}

/// The key that a key of the first format (all 32 bytes of the
/// commitment, 64 hex characters, used until 2026-12) stands for today:
/// its first half. `None` for any other length. Lets the key cache and
/// resume manifests of that format be carried over without hashing again.
pub fn key_from_legacy(old: &FileKey) -> Option<FileKey> {
    let hex = old.as_str();
    (hex.len() == 2 * LEGACY_KEY_BYTES).then(|| FileKey::parse(&hex.as_bytes()[..2 * KEY_BYTES]).ok()).flatten()
}

/// Bytes in a key of the first format.
const LEGACY_KEY_BYTES: usize = 32;

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

/// Hashes a whole file, cut into pieces of `piece_size`.
pub fn digest_file(path: &Path, piece_size: crate::PieceSize) -> io::Result<FileDigest> {
    let file = File::open(path)?;
    let length = file.metadata()?.len();
    let layout = piece_size.layout(length).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
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

    /// The key of a known file, as written in docs/PROTOCOL.md section 4:
    /// any other implementation of the definition must find this value.
    #[test]
    fn golden_key_of_a_known_file() {
        // 10,000 bytes `i % 251`, cut in 4096-byte pieces (3 pieces).
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let d = digest_reader(&data[..], Layout::new(10_000, 4096).unwrap()).unwrap();
        assert_eq!(d.key.as_str(), GOLDEN_KEY);
        let mut full = Sha256::new();
        full.update(10_000u64.to_be_bytes());
        full.update(4096u64.to_be_bytes());
        d.hashes.iter().for_each(|h| full.update(h));
        assert!(hex::encode(full.finalize()).starts_with(GOLDEN_KEY), "the key is the commitment's first 128 bits");
        let empty = digest_reader(&[][..], Layout::new(0, 2048).unwrap()).unwrap();
        assert_eq!(empty.key.as_str(), GOLDEN_EMPTY_KEY);
    }

    #[test]
    fn a_key_of_the_first_format_stands_for_its_first_half() {
        let old = FileKey::parse(GOLDEN_FIRST_FORMAT.as_bytes()).unwrap();
        assert_eq!(key_from_legacy(&old).unwrap().as_str(), GOLDEN_KEY);
        let today = FileKey::parse(GOLDEN_KEY.as_bytes()).unwrap();
        assert_eq!(key_from_legacy(&today), None, "a key of today is not carried over");
        assert_eq!(key_from_legacy(&FileKey::parse(&[b'a'; 40]).unwrap()), None);
    }

    /// The same file's key in the first format: the whole commitment.
    const GOLDEN_FIRST_FORMAT: &str = "363c9c5ec9f9f166a8f484502be7ca5b2ee445c0a10817798364cd7722b79442";

    const GOLDEN_KEY: &str = "363c9c5ec9f9f166a8f484502be7ca5b";
    const GOLDEN_EMPTY_KEY: &str = "f07c62d7c7c8c5a201217233e372921e";

    #[test]
    fn empty_file_and_short_reader() {
        let d = digest_reader(&[][..], Layout::for_length(0).unwrap()).unwrap();
        assert!(d.hashes.is_empty());
        assert_eq!(d.key.as_str().len(), 32);
        let err = digest_reader(&[1u8; 10][..], Layout::new(20, 4).unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
