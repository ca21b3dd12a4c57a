//! Files by part of their name, for `look [filename~"x"]`.
//!
//! Every name, lower-cased, sits in one buffer, each followed by a
//! newline, which no name nor search holds: a search is one SIMD
//! substring scan of that buffer (a million names of 20 bytes are 21 MB,
//! a few milliseconds), where testing each file's name one by one was a
//! cache miss and a lower-casing per file. A hit is mapped back to its
//! file through the entries' offsets.
//!
//! A file renamed or forgotten leaves its bytes behind, marked gone;
//! once they are most of the buffer, the maintenance pass packs it
//! (`compact`) and tells the files their new entries.

use memchr::memmem;

use super::files::FileNo;

/// An entry's number in [`Search`].
pub type Entry = u32;

/// The file of an entry whose name was removed.
const GONE: FileNo = FileNo::MAX;

#[derive(Debug, Default)]
pub struct Search {
    /// Lower-cased names, each followed by `\n`.
    text: Vec<u8>,
    /// Where each entry begins in `text`, in order.
    starts: Vec<u32>,
    /// Each entry's file, or `GONE`.
    files: Vec<FileNo>,
    /// Bytes of the entries that are gone.
    dead: usize,
}

impl Search {
    /// Adds `file`'s `name`; returns its entry.
    pub fn insert(&mut self, name: &str, file: FileNo) -> Entry {
        let entry = self.starts.len() as Entry;
        // The buffer is bounded by memory long before 4 GB.
        self.starts.push(self.text.len() as u32);
        self.text.extend_from_slice(name.to_lowercase().as_bytes());
        self.text.push(b'\n');
        self.files.push(file);
        entry
    }

    pub fn remove(&mut self, entry: Entry) {
        let at = entry as usize;
        if let Some(file) = self.files.get_mut(at).filter(|f| **f != GONE) {
            *file = GONE;
            self.dead += self.end(at) - self.starts[at] as usize;
        }
    }

    /// Calls `each` with the files whose name contains `part`, ignoring
    /// case as `filename~` does (each file once, in the order they were
    /// named), while it returns true.
    pub fn find(&self, part: &str, mut each: impl FnMut(FileNo) -> bool) {
        let part = part.to_lowercase();
        // No name holds a newline: such a part would only match across two.
        if part.is_empty() || part.contains('\n') {
            return;
        }
        let finder = memmem::Finder::new(part.as_bytes());
        let (mut from, mut entry) = (0, 0);
        while let Some(hit) = finder.find(&self.text[from..]) {
            let at = from + hit;
            // Hits come in order: search only the entries after the last.
            entry += self.starts[entry..].partition_point(|&s| s as usize <= at) - 1;
            let file = self.files[entry];
            if file != GONE && !each(file) {
                return;
            }
            // One hit per name is enough.
            from = self.end(entry);
            entry += 1;
        }
    }

    /// Packs the buffer once the entries gone are most of it; returns
    /// each file's new entry, or nothing if it was left as it is.
    pub fn compact(&mut self) -> Option<Vec<(FileNo, Entry)>> {
        if self.dead * 2 <= self.text.len() {
            return None;
        }
        let old = std::mem::take(self);
        let mut moved = Vec::with_capacity(old.files.len());
        for (at, &file) in old.files.iter().enumerate().filter(|(_, f)| **f != GONE) {
            let entry = self.starts.len() as Entry;
            self.starts.push(self.text.len() as u32);
            self.text.extend_from_slice(&old.text[old.starts[at] as usize..old.end(at)]);
            self.files.push(file);
            moved.push((file, entry));
        }
        Some(moved)
    }

    /// Entries, gone ones included.
    pub fn entries(&self) -> usize {
        self.starts.len()
    }

    pub fn bytes(&self) -> usize {
        self.text.capacity() + (self.starts.capacity() + self.files.capacity()) * 4
    }

    /// Where entry `at` ends, its newline included.
    fn end(&self, at: usize) -> usize {
        self.starts.get(at + 1).map_or(self.text.len(), |&s| s as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(search: &Search, part: &str) -> Vec<FileNo> {
        let mut files = Vec::new();
        search.find(part, |f| {
            files.push(f);
            true
        });
        files
    }

    #[test]
    fn finds_parts_of_names_ignoring_case_once_per_file() {
        let mut s = Search::default();
        let notes = s.insert("Notes.TXT", 7);
        s.insert("report-notes-notes.pdf", 8);
        s.insert("ÉTÉ.png", 9);
        assert_eq!(found(&s, "notes"), [7, 8]);
        assert_eq!(found(&s, "NOTES.t"), [7]);
        assert_eq!(found(&s, "été"), [9]);
        assert_eq!(found(&s, "txt\nreport"), [] as [FileNo; 0], "no hit across two names");
        assert_eq!(found(&s, "zzz"), [] as [FileNo; 0]);
        s.remove(notes);
        s.remove(notes);
        assert_eq!(found(&s, "notes"), [8]);
        let mut first = None;
        s.find("e", |f| {
            first = Some(f);
            false
        });
        assert_eq!(first, Some(8), "stops when asked");
    }

    #[test]
    fn packs_once_mostly_gone_and_says_where_files_moved() {
        let mut s = Search::default();
        let entries: Vec<Entry> = (0..10).map(|i| s.insert(&format!("file{i}"), i)).collect();
        for &e in &entries[..4] {
            s.remove(e);
        }
        assert!(s.compact().is_none(), "four of ten gone: left as it is");
        s.remove(entries[4]);
        s.remove(entries[5]);
        let moved = s.compact().expect("six of ten gone: packed");
        assert_eq!(moved, [(6, 0), (7, 1), (8, 2), (9, 3)]);
        assert_eq!(s.entries(), 4);
        assert_eq!(found(&s, "file"), [6, 7, 8, 9]);
        assert_eq!(found(&s, "file8"), [8]);
        for (_, e) in moved {
            s.remove(e);
        }
        assert!(s.compact().is_some());
        assert_eq!((s.entries(), s.bytes()), (0, 0), "nothing held once every name is gone");
    }
}
