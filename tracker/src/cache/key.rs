//! File keys as the cache stores them: packed, two hex digits per byte,
//! inside the file's record. Keys are opaque tokens of 1 to 128 hex
//! digits, but nearly all are 32 (course peers) or 64 (ours): those take
//! 33 bytes and no allocation, where the text took a 16-byte pointer and
//! 80 bytes of heap. The rare longer key keeps its first 64 digits here
//! and its whole text beside the record (`Files::long_keys`).

use common::FileKey;

/// Digits packed inline.
const INLINE_DIGITS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key's length in digits; tells apart keys that pack alike
    /// ("a" and "a0"), and says whether the key is long.
    digits: u8,
    packed: [u8; INLINE_DIGITS / 2],
}

impl Key {
    pub fn new(key: &FileKey) -> Self {
        let hex = key.as_str().as_bytes();
        // A FileKey holds at most 128 digits.
        let digits = u8::try_from(hex.len()).unwrap_or(u8::MAX);
        let mut packed = [0u8; INLINE_DIGITS / 2];
        for (i, &c) in hex.iter().take(INLINE_DIGITS).enumerate() {
            // A FileKey holds hex digits only: the fallback is never taken.
            let value = char::from(c).to_digit(16).unwrap_or(0) as u8;
            packed[i / 2] |= if i % 2 == 0 { value << 4 } else { value };
        }
        Self { digits, packed }
    }

    /// Longer than what is packed: equal `Key`s then only share their
    /// first 64 digits, and the whole text is kept apart.
    pub fn is_long(&self) -> bool {
        usize::from(self.digits) > INLINE_DIGITS
    }

    /// The key's text, lower case; a long key's is `long`.
    pub fn to_file_key(self, long: Option<&FileKey>) -> FileKey {
        if let Some(long) = long.filter(|_| self.is_long()) {
            return long.clone();
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = usize::from(self.digits).min(INLINE_DIGITS);
        let hex: Vec<u8> = (0..digits)
            .map(|i| {
                let byte = self.packed[i / 2];
                HEX[usize::from(if i % 2 == 0 { byte >> 4 } else { byte & 15 })]
            })
            .collect();
        // Hex digits are a valid key; an empty key is never stored.
        FileKey::parse(&hex).unwrap_or_else(|_| FileKey::from_digest(&[0; common::key::KEY_BYTES]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_key(hex: &str) -> FileKey {
        FileKey::parse(hex.as_bytes()).unwrap()
    }

    fn key(hex: &str) -> Key {
        Key::new(&file_key(hex))
    }

    #[test]
    fn keys_that_differ_stay_apart() {
        let words = ["0", "00", "000", "a", "a0", "0a", "ab", "ba", "f".repeat(64).as_str()].map(String::from);
        for (i, a) in words.iter().enumerate() {
            for (j, b) in words.iter().enumerate() {
                assert_eq!(key(a) == key(b), i == j, "{a} vs {b}");
            }
        }
        assert_eq!(key("8905E92AFEB80FC7722EC89EB0BF0966"), key("8905e92afeb80fc7722ec89eb0bf0966"));
        assert!(!key(&"1".repeat(64)).is_long() && key(&"1".repeat(65)).is_long());
        assert_eq!(std::mem::size_of::<Key>(), 33);
    }

    #[test]
    fn the_text_comes_back_lower_case() {
        for hex in ["0", "a0", "8905e92afeb80fc7722ec89eb0bf0966", &"0123456789abcdef".repeat(4)] {
            assert_eq!(key(&hex.to_uppercase()).to_file_key(None), file_key(hex));
        }
        let long = file_key(&"ab".repeat(64));
        assert_eq!(Key::new(&long).to_file_key(Some(&long)), long);
    }
}
