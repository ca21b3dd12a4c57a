//! A download's files on disk: the data goes to `.NAME.KEY.part` in the
//! destination folder, written at each piece's offset; a small manifest
//! `.NAME.KEY.manifest` beside it lists the verified pieces so a restart
//! resumes. On completion the data is flushed and the `.part` file is
//! renamed atomically to NAME. An existing NAME is never overwritten.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
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
    /// The same file opened with `O_DIRECT` where the file system allows:
    /// whole aligned pieces go straight to the device, without the copy
    /// into the page cache that dominated the CPU of a download.
    direct: Option<File>,
}

impl Storage {
    /// Opens (or creates) the `.part` file for `entry` in `dir`.
    pub fn open(dir: &Path, entry: &FileEntry) -> io::Result<Self> {
        let (part, manifest) = paths(dir, &entry.name, &entry.key);
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&part)?;
        file.set_len(entry.length)?;
        let direct = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(&part).ok()
        };
        Ok(Self { part, manifest, target: dir.join(entry.name.as_str()), file, direct })
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

    /// Records the verified pieces (write to a temporary name, rename).
    pub fn save_manifest(&self, entry: &FileEntry, verified: &BufferMap) -> io::Result<()> {
        let tmp = self.manifest.with_extension("manifest.tmp");
        let mut out = File::create(&tmp)?;
        writeln!(out, "{MANIFEST_HEADER}")?;
        writeln!(out, "{entry}")?;
        writeln!(out, "{}", hex::encode(verified.as_bytes()))?;
        out.sync_data()?;
        std::fs::rename(&tmp, &self.manifest)
    }

    /// Flushes the data and renames it to its final name, refusing to
    /// replace an existing file. Removes the manifest.
    pub fn finish(self) -> io::Result<PathBuf> {
        self.file.sync_all()?;
        drop(self.direct);
        drop(self.file);
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
