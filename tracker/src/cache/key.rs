//! File keys as the cache stores them: inline, two hex digits per byte,
//! so that finding a file or comparing a peer's lists follows no pointer.
//! With many files every pointer followed is a cache miss, and misses
//! were most of the time an `update` took.

use common::FileKey;

/// Digits kept inline: ours are 64, course peers' 32. Longer keys (up to
/// [`common::key::MAX_KEY_LEN`], rare) stay on the heap.
const INLINE_DIGITS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `digits` tells apart keys that pack alike ("a" and "a0").
    Inline {
        digits: u8,
        packed: [u8; INLINE_DIGITS / 2],
    },
    Long(FileKey),
}

impl From<&FileKey> for Key {
    fn from(key: &FileKey) -> Self {
        let hex = key.as_str().as_bytes();
        if hex.len() > INLINE_DIGITS {
            return Self::Long(key.clone());
        }
        let digits = hex.len() as u8; // at most INLINE_DIGITS
        let mut packed = [0u8; INLINE_DIGITS / 2];
        for (i, &c) in hex.iter().enumerate() {
            // A FileKey holds hex digits only: the fallback is never taken.
            let value = char::from(c).to_digit(16).unwrap_or(0) as u8;
            packed[i / 2] |= if i % 2 == 0 { value << 4 } else { value };
        }
        Self::Inline { digits, packed }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline { digits, packed } => {
                for i in 0..usize::from(*digits) {
                    let byte = packed[i / 2];
                    write!(f, "{:x}", if i % 2 == 0 { byte >> 4 } else { byte & 15 })?;
                }
                Ok(())
            }
            Self::Long(key) => f.write_str(key.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex: &str) -> Key {
        Key::from(&FileKey::parse(hex.as_bytes()).unwrap())
    }

    #[test]
    fn keys_that_differ_stay_apart() {
        let words =
            ["0", "00", "000", "a", "a0", "0a", "ab", "ba", "f".repeat(64).as_str(), &"f".repeat(65)].map(String::from);
        for (i, a) in words.iter().enumerate() {
            for (j, b) in words.iter().enumerate() {
                assert_eq!(key(a) == key(b), i == j, "{a} vs {b}");
            }
        }
        assert_eq!(key("8905E92AFEB80FC7722EC89EB0BF0966"), key("8905e92afeb80fc7722ec89eb0bf0966"));
        assert!(matches!(key(&"1".repeat(64)), Key::Inline { digits: 64, .. }));
        assert!(matches!(key(&"1".repeat(128)), Key::Long(_)));
    }
}
