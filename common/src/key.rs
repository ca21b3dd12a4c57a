//! File keys: the opaque hex token that names a file on the network.
//!
//! To a tracker a key is just a bounded hex string (course peers use
//! 32-character MD5 keys, some in upper case). Our own keys are 32 hex
//! characters too (128 bits, so they fit the course trackers' fixed
//! fields), computed by [`crate::hashing`]; they commit to every piece's
//! hash so a downloader can verify each piece on arrival.

use std::fmt;

/// The longest key accepted on the wire, in hex characters (SHA-512 size).
pub const MAX_KEY_LEN: usize = 128;

/// Bytes in one of our own keys (32 hex characters).
pub const KEY_BYTES: usize = 16;

/// A normalised (lowercase) hex key, 1 to [`MAX_KEY_LEN`] characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey(Box<str>);

/// Why a word is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is {0} characters long, more than the {MAX_KEY_LEN} allowed")]
    TooLong(usize),
    #[error("the key contains a character that is not hexadecimal")]
    NotHex,
}

impl FileKey {
    /// Parses a hex key leniently: either case, normalised to lowercase.
    pub fn parse(word: &[u8]) -> Result<Self, KeyError> {
        if word.is_empty() {
            return Err(KeyError::Empty);
        }
        if word.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong(word.len()));
        }
        if !word.iter().all(u8::is_ascii_hexdigit) {
            return Err(KeyError::NotHex);
        }
        let mut hex = word.to_vec();
        hex.make_ascii_lowercase();
        // Hex digits are ASCII: this cannot fail.
        String::from_utf8(hex).map(|hex| Self(hex.into_boxed_str())).map_err(|_| KeyError::NotHex)
    }

    /// The key of a 128-bit commitment, as our own files have.
    pub fn from_digest(digest: &[u8; KEY_BYTES]) -> Self {
        Self(hex::encode(digest).into_boxed_str())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The raw bytes when this has the length of our keys (32 hex
    /// characters); an MD5 key has that length too.
    pub fn digest(&self) -> Option<[u8; KEY_BYTES]> {
        let mut out = [0u8; KEY_BYTES];
        hex::decode_to_slice(self.0.as_bytes(), &mut out).ok()?;
        Some(out)
    }

    /// The first characters, for display in tight places.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl AsRef<FileKey> for FileKey {
    fn as_ref(&self) -> &FileKey {
        self
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileKey({})", self.0)
    }
}

impl std::str::FromStr for FileKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::parse(s.trim().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_bounds_length() {
        let k = FileKey::parse(b"8905E92AFEB80FC7722EC89EB0BF0966").unwrap();
        assert_eq!(k.as_str(), "8905e92afeb80fc7722ec89eb0bf0966");
        assert_eq!(k.digest().map(hex::encode).as_deref(), Some(k.as_str()), "an MD5 key has our keys' length");
        assert_eq!(FileKey::parse(&[b'a'; 64]).unwrap().digest(), None, "64 characters are not one of our keys");
        assert_eq!(FileKey::parse(b""), Err(KeyError::Empty));
        assert_eq!(FileKey::parse(b"xyz"), Err(KeyError::NotHex));
        assert_eq!(FileKey::parse(&[b'a'; 129]), Err(KeyError::TooLong(129)));
        let d = [7u8; KEY_BYTES];
        assert_eq!(FileKey::from_digest(&d).digest(), Some(d));
    }
}
