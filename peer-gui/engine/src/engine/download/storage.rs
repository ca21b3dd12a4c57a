//! A download's files on disk: the data goes to `.NAME.KEY.part` in the
//! destination folder, written at each piece's offset; a small manifest
//! `.NAME.KEY.manifest` beside it lists the verified pieces so a restart
//! resumes. On completion the data is flushed and the `.part` file is
//! renamed atomically to NAME. An existing NAME is never overwritten.
//!
//! Both files get their space when the download starts: a download that
//! cannot fit fails at once, and one that started is not stopped when
//! something else fills the disk, nor does it forget what it verified
//! (the manifest is rewritten in place, always the same length, so a save
//! needs no new block). A save cut by a crash may mix old and new bytes of
//! the list: harmless, as every piece it lists is checked against its hash
//! again on resume.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::protocol::{FileEntry, FileName};
use common::{BufferMap, FileKey, Layout};

#[derive(Debug)]
pub struct Storage {
    pub part: PathBuf,
    pub manifest: PathBuf,
    pub target: PathBuf,
    file: File,
    /// The manifest, kept open and rewritten in place.
    manifest_file: File,
    /// The same file opened with `O_DIRECT` where the file system allows:
    /// whole aligned pieces go straight to the device, without the copy
    /// into the page cache that dominated the CPU of a download.
    direct: Option<File>,
}

impl Storage {
    /// Opens (or creates) the `.part` file for `entry` in `dir` and its
    /// manifest, and reserves their space. On failure, files this call
    /// created are removed.
    pub fn open(dir: &Path, entry: &FileEntry) -> io::Result<Self> {
        let (part, manifest) = paths(dir, &entry.name, &entry.key);
        let mut created = Created { part: (!part.exists()).then(|| part.clone()), manifest: None };
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&part)?;
        file.set_len(entry.length)?;
        reserve(&file, entry.length)?;
        created.manifest = (!manifest.exists()).then(|| manifest.clone());
        let manifest_file = OpenOptions::new().write(true).create(true).truncate(false).open(&manifest)?;
        if created.manifest.is_some() {
            // A new download: an empty list, on disk before any piece.
            let layout = Layout::new(entry.length, entry.piece_size)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            write_manifest(&manifest_file, entry, &BufferMap::empty(layout.piece_count()))?;
        }
        let direct = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(&part).ok()
        };
        let storage = Self { part, manifest, target: dir.join(entry.name.as_str()), file, manifest_file, direct };
        created.keep();
        Ok(storage)
    }

    pub fn write_piece(&self, layout: &Layout, index: u32, bytes: &[u8]) -> io::Result<()> {
        let offset = layout.offset(index);
        let aligned = |n: u64| n.is_multiple_of(super::aligned::BLOCK as u64);
        if let Some(direct) = &self.direct
            && aligned(offset)
            && aligned(bytes.len() as u64)
            && aligned(bytes.as_ptr() as u64)
        {
            match direct.write_all_at(bytes, offset) {
                // Some file systems accept O_DIRECT at open and refuse the
                // write: the buffered handle still works.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                other => return other,
            }
        }
        self.file.write_all_at(bytes, offset)
    }

    pub fn read_piece(&self, layout: &Layout, index: u32, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.resize(layout.piece_len(index).unwrap_or(0) as usize, 0);
        self.file.read_exact_at(buf, layout.offset(index))
    }

    /// Records the verified pieces, in place.
    pub fn save_manifest(&self, entry: &FileEntry, verified: &BufferMap) -> io::Result<()> {
        write_manifest(&self.manifest_file, entry, verified)
    }

    /// Flushes the data and renames it to its final name, refusing to
    /// replace an existing file. Removes the manifest.
    pub fn finish(self) -> io::Result<PathBuf> {
        self.file.sync_all()?;
        drop(self.direct);
        drop(self.file);
        drop(self.manifest_file);
        // hard_link fails if the target exists: no overwrite, no race.
        std::fs::hard_link(&self.part, &self.target).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(e.kind(), format!("{} already exists; it was not replaced", self.target.display()))
            } else {
                e
            }
        })?;
        std::fs::remove_file(&self.part)?;
        let _ = std::fs::remove_file(&self.manifest);
        Ok(self.target)
    }
}

/// Files a failed [`Storage::open`] created, removed unless kept.
struct Created {
    part: Option<PathBuf>,
    manifest: Option<PathBuf>,
}

impl Created {
    fn keep(mut self) {
        self.part = None;
        self.manifest = None;
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        for path in [self.part.take(), self.manifest.take()].into_iter().flatten() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Gives `file` its `len` bytes of disk now (already written ranges are
/// kept). A file system that cannot preallocate is left to allocate as
/// pieces come, as before.
fn reserve(file: &File, len: u64) -> io::Result<()> {
    use rustix::io::Errno;
    if len == 0 {
        return Ok(());
    }
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) | Err(Errno::OPNOTSUPP | Errno::NOSYS) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The whole manifest at offset 0; its length depends only on the entry,
/// so rewriting it needs no new block.
fn write_manifest(file: &File, entry: &FileEntry, verified: &BufferMap) -> io::Result<()> {
    let text = format!("{MANIFEST_HEADER}\n{entry}\n{}\n", hex::encode(verified.as_bytes()));
    file.write_all_at(text.as_bytes(), 0)?;
    // A manifest of another length (an older format) is cut to this one.
    if file.metadata()?.len() != text.len() as u64 {
        file.set_len(text.len() as u64)?;
    }
    file.sync_data()
}

pub fn paths(dir: &Path, name: &FileName, key: &FileKey) -> (PathBuf, PathBuf) {
    // Long names are cut (at a character boundary) so the bookkeeping
    // names stay within the 255-byte file name limit.
    let name = name.as_str();
    let cut = (0..=name.len().min(180)).rev().find(|&i| name.is_char_boundary(i)).unwrap_or(0);
    let stem = format!(".{}.{}", &name[..cut], &key.as_str()[..key.as_str().len().min(16)]);
    (dir.join(format!("{stem}.part")), dir.join(format!("{stem}.manifest")))
}

/// A manifest's first line.
const MANIFEST_HEADER: &str = "eirb2share-manifest 2";
/// The first line of a manifest of the first key format (64-character
/// keys): its key's first half is the file's key today, and the `.part`
/// file's name (16 characters of the key) is the same.
const FIRST_KEYS_HEADER: &str = "eirb2share-manifest 1";

/// Reads a manifest: the entry and the pieces it says are verified.
pub fn read_manifest(path: &Path) -> Option<(FileEntry, BufferMap)> {
    let mut lines = io::BufReader::new(File::open(path).ok()?).lines().map_while(Result::ok);
    let header = lines.next()?;
    let mut entry = FileEntry::parse_line(&lines.next()?).ok()?;
    match header.as_str() {
        MANIFEST_HEADER => {}
        FIRST_KEYS_HEADER => {
            // The pieces it lists are checked against the hash list,
            // itself checked against the new key, before any is trusted.
            entry.key = common::hashing::key_from_legacy(&entry.key)?;
            log::info!("{}: manifest of the first key format, carried over", path.display());
        }
        _ => return None,
    }
    let layout = Layout::new(entry.length, entry.piece_size).ok()?;
    let bytes = hex::decode(lines.next()?.trim()).ok()?;
    let map = BufferMap::from_bytes(layout.piece_count(), &bytes)?;
    Some((entry, map))
}

/// Every manifest in `dir`: downloads to resume.
pub fn manifests(dir: &Path) -> Vec<PathBuf> {
    let Ok(items) = std::fs::read_dir(dir) else { return Vec::new() };
    items
        .filter_map(Result::ok)
        .map(|i| i.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') && n.ends_with(".manifest"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_KEY: &str = "363c9c5ec9f9f166a8f484502be7ca5b";
    const FIRST_FORMAT_KEY: &str = "363c9c5ec9f9f166a8f484502be7ca5b2ee445c0a10817798364cd7722b79442";

    fn manifest(dir: &Path, header: &str, key: &str) -> PathBuf {
        let path = dir.join(".a.bin.363c9c5ec9f9f166.manifest");
        std::fs::write(&path, format!("{header}\na.bin 10000 4096 {key}\na0\n")).unwrap();
        path
    }

    #[test]
    fn a_manifest_of_the_first_key_format_is_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        let (entry, map) = read_manifest(&manifest(dir.path(), FIRST_KEYS_HEADER, FIRST_FORMAT_KEY)).unwrap();
        assert_eq!(entry.key.as_str(), NEW_KEY);
        assert_eq!((map.has(0), map.has(1), map.has(2)), (true, false, true));
        let (part, path) = paths(dir.path(), &entry.name, &entry.key);
        assert_eq!(path, dir.path().join(".a.bin.363c9c5ec9f9f166.manifest"), "same bookkeeping names");
        assert_eq!(part.file_name().unwrap(), ".a.bin.363c9c5ec9f9f166.part");
    }

    #[test]
    fn a_manifest_is_never_misread() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_manifest(&manifest(dir.path(), MANIFEST_HEADER, NEW_KEY)).unwrap().0.key.as_str(), NEW_KEY);
        assert!(read_manifest(&manifest(dir.path(), FIRST_KEYS_HEADER, NEW_KEY)).is_none(), "not a first-format key");
        assert!(read_manifest(&manifest(dir.path(), "eirb2share-manifest 3", NEW_KEY)).is_none(), "a later format");
    }
}
