//! The shared folder: which files this peer holds, their keys and piece
//! hashes, and partial downloads whose verified pieces can be served.
//!
//! Keys are computed by [`Library::rescan`] (several files in parallel)
//! and cached by (name, size, modification time) in `.eirb2share-keys`
//! inside the folder, so a restart does not hash again. Hidden files
//! (`.name`, which includes our `.part` files) and symbolic links leading
//! out of the folder are not shared, and a shared file is read only while
//! it is still the file that was scanned (see [`LocalFile::scanned`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use common::hashing::{self, PieceHash, digest_file};
use common::protocol::{FileEntry, FileName};
use common::{BufferMap, FileKey, Layout};
use parking_lot::{Mutex, RwLock};

const CACHE_FILE: &str = ".eirb2share-keys";
/// The key cache's first line. A cache without it is of the first key
/// format (64-character keys), and carried over by [`parse_cache_line`].
const CACHE_HEADER: &str = "eirb2share-keys 2";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheFormat {
    FirstKeys,
    Current,
}

/// Why the shared folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("cannot use the shared folder {}: {source}", dir.display())]
    Folder { dir: PathBuf, source: io::Error },
}

/// A file this peer can serve pieces of.
#[derive(Debug)]
pub struct LocalFile {
    pub entry: FileEntry,
    pub layout: Layout,
    pub path: PathBuf,
    pub hashes: Arc<Vec<PieceHash>>,
    /// `None` for a complete file; the verified pieces of a download.
    pub partial: Option<Arc<Mutex<BufferMap>>>,
    /// Opened once, checked against `identity` then.
    handle: Mutex<Option<Arc<File>>>,
    identity: Identity,
}

impl LocalFile {
    /// A file this peer wrote itself (a download, complete or not): what
    /// it was is not recorded, but links are never followed and a complete
    /// file must have its length.
    pub fn new(
        entry: FileEntry,
        layout: Layout,
        path: PathBuf,
        hashes: Arc<Vec<PieceHash>>,
        partial: Option<Arc<Mutex<BufferMap>>>,
    ) -> Self {
        let identity = Identity { size: partial.is_none().then_some(entry.length), ..Identity::default() };
        Self { entry, layout, path, hashes, partial, handle: Mutex::new(None), identity }
    }

    /// A complete file found by a scan with modification time `mtime_ns`
    /// (the size is the entry's): reads are refused once `path` is no
    /// longer that file.
    pub fn scanned(
        entry: FileEntry,
        layout: Layout,
        path: PathBuf,
        hashes: Arc<Vec<PieceHash>>,
        mtime_ns: u128,
    ) -> Self {
        let identity = Identity::scanned(&path, entry.length, mtime_ns);
        Self { entry, layout, path, hashes, partial: None, handle: Mutex::new(None), identity }
    }

    /// Whether `other` reads the same file from the same path.
    pub fn same_source(&self, other: &Self) -> bool {
        self.path == other.path && self.identity == other.identity
    }

    pub fn has_piece(&self, index: u32) -> bool {
        match &self.partial {
            None => index < self.layout.piece_count(),
            Some(map) => map.lock().has(index),
        }
    }

    pub fn buffermap(&self) -> BufferMap {
        match &self.partial {
            None => BufferMap::full(self.layout.piece_count()),
            Some(map) => map.lock().clone(),
        }
    }

    /// Reads piece `index` into `buf` (resized to the piece's length).
    pub fn read_piece(&self, index: u32, buf: &mut Vec<u8>) -> io::Result<()> {
        let len = self
            .layout
            .piece_len(index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "piece index out of range"))?;
        let file = self.open()?;
        buf.resize(len as usize, 0);
        file.read_exact_at(buf, self.layout.offset(index))
    }

    /// The file's handle, opened on first use and kept: what was checked
    /// then is what is read, whatever later happens to the path.
    pub fn open(&self) -> io::Result<Arc<File>> {
        // Opened outside the lock: no thread waits on another's disk I/O.
        if let Some(f) = self.handle.lock().clone() {
            return Ok(f);
        }
        let opened = self.identity.open(&self.path)?;
        Ok(self.handle.lock().get_or_insert(Arc::new(opened)).clone())
    }
}

/// What a shared file was when it was scanned: `None` where unknown.
/// A path swapped since (for a link out of the folder, another file, new
/// contents) is refused until the next scan has looked at it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Identity {
    /// A link inside the folder: its target, canonical, as scanned.
    target: Option<PathBuf>,
    /// Device and inode.
    file_id: Option<(u64, u64)>,
    size: Option<u64>,
    mtime_ns: Option<u128>,
    /// A link that led out of the folder by the time it was looked at.
    outside: bool,
}

impl Identity {
    fn scanned(path: &Path, size: u64, mtime_ns: u128) -> Self {
        let mut id = Self { size: Some(size), mtime_ns: Some(mtime_ns), ..Self::default() };
        let Ok(mut meta) = std::fs::symlink_metadata(path) else { return id };
        if meta.file_type().is_symlink() {
            let root = path.parent().and_then(|dir| dir.canonicalize().ok());
            match (path.canonicalize(), root) {
                (Ok(target), Some(root)) if target.starts_with(&root) => {
                    let Ok(m) = std::fs::symlink_metadata(&target) else { return id };
                    meta = m;
                    id.target = Some(target);
                }
                _ => {
                    id.outside = true;
                    return id;
                }
            }
        }
        // Changed since the scan's listing: its size and time will not
        // match, and the next scan looks at it again.
        if meta.len() == size && mtime_of(&meta) == mtime_ns {
            id.file_id = Some((meta.dev(), meta.ino()));
        }
        id
    }

    /// Opens `path` without following a link, then checks the handle (not
    /// the path again, which could change in between).
    fn open(&self, path: &Path) -> io::Result<File> {
        let changed = |why: &str| io::Error::other(format!("changed since it was shared: {why}"));
        if self.outside {
            return Err(changed("it is a link leading out of the shared folder"));
        }
        let at = match &self.target {
            Some(target) if path.canonicalize().ok().as_ref() != Some(target) => {
                return Err(changed("the link no longer leads to the file scanned"));
            }
            Some(target) => target.as_path(),
            None => path,
        };
        // Non-blocking, so a FIFO put in its place cannot hold the opener.
        let mut options = std::fs::OpenOptions::new();
        options.read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let file = options.open(at).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => changed("it is now a symbolic link"),
            _ => e,
        })?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(changed("it is no longer a regular file"));
        }
        if self.file_id.is_some_and(|id| id != (meta.dev(), meta.ino())) {
            return Err(changed("another file took its place"));
        }
        if self.size.is_some_and(|size| size != meta.len()) || self.mtime_ns.is_some_and(|t| t != mtime_of(&meta)) {
            return Err(changed("it was modified"));
        }
        Ok(file)
    }
}

fn mtime_of(meta: &std::fs::Metadata) -> u128 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Stamp {
    name: String,
    size: u64,
    mtime_ns: u128,
}

#[derive(Debug, Clone)]
struct Cached {
    piece_size: u64,
    key: FileKey,
    hashes: Arc<Vec<PieceHash>>,
}

/// What a rescan changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub added: Vec<FileName>,
    pub removed: Vec<FileName>,
    pub hashed: usize,
}

#[derive(Debug)]
pub struct Library {
    dir: PathBuf,
    files: RwLock<HashMap<FileKey, Arc<LocalFile>>>,
    cache: Mutex<HashMap<Stamp, Cached>>,
    /// Bumped on every change of the file set, so views can cache lists.
    version: std::sync::atomic::AtomicU64,
    /// How new files are cut into pieces.
    piece_size: common::PieceSize,
}

impl Library {
    pub fn open(dir: &Path, piece_size: common::PieceSize) -> Result<Self, LibraryError> {
        std::fs::create_dir_all(dir).map_err(|source| LibraryError::Folder { dir: dir.to_owned(), source })?;
        let lib = Self {
            dir: dir.to_owned(),
            files: RwLock::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            version: std::sync::atomic::AtomicU64::new(0),
            piece_size,
        };
        lib.load_cache();
        Ok(lib)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn layout(&self, key: &FileKey) -> Option<Layout> {
        self.files.read().get(key).map(|f| f.layout)
    }

    pub fn get(&self, key: &FileKey) -> Option<Arc<LocalFile>> {
        self.files.read().get(key).cloned()
    }

    pub fn files(&self) -> Vec<Arc<LocalFile>> {
        let mut all: Vec<_> = self.files.read().values().cloned().collect();
        all.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
        all
    }

    /// Complete files (to seed) and partial ones (to leech).
    /// What to announce, files sorted by name (so an announce cut short
    /// by a course tracker always keeps the same files).
    pub fn seed_and_leech(&self) -> (Vec<FileEntry>, Vec<FileKey>) {
        let files = self.files.read();
        let mut seed: Vec<FileEntry> =
            files.values().filter(|f| f.partial.is_none()).map(|f| f.entry.clone()).collect();
        seed.sort_by(|a, b| a.name.cmp(&b.name));
        let leech = files.values().filter(|f| f.partial.is_some()).map(|f| f.entry.key.clone()).collect();
        (seed, leech)
    }

    /// Registers (or replaces) a file, complete or partial.
    pub fn insert(&self, file: LocalFile) {
        self.files.write().insert(file.entry.key.clone(), Arc::new(file));
        self.bump();
    }

    /// Changes whenever the set of files changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// Registers a completed download, with its hashes cached so the next
    /// scan does not hash it again.
    pub fn adopt(&self, file: LocalFile) {
        if let Ok(meta) = std::fs::metadata(&file.path)
            && let Some(name) = file.path.file_name().and_then(|n| n.to_str())
        {
            let mtime_ns =
                meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            let stamp = Stamp { name: name.to_owned(), size: meta.len(), mtime_ns };
            let cached =
                Cached { piece_size: file.entry.piece_size, key: file.entry.key.clone(), hashes: file.hashes.clone() };
            self.cache.lock().insert(stamp, cached);
            self.save_cache();
        }
        self.insert(file);
    }

    pub fn remove(&self, key: &FileKey) {
        self.files.write().remove(key);
        self.bump();
    }

    /// Lists the folder, hashes what is new or changed on `threads`
    /// threads, and forgets complete files that disappeared.
    pub fn rescan(&self, threads: usize) -> Result<ScanReport, LibraryError> {
        self.rescan_with(threads, || {})
    }

    /// [`Library::rescan`], running `mid_scan` after the folder is listed
    /// and hashed, before the result is applied (tests put a finishing
    /// download there).
    ///
    /// Hashing takes long and runs without the lock, so the folder may
    /// change meanwhile: the result is applied as a change set against
    /// what the scan started from. A file registered during the scan (a
    /// download that finished) is neither dropped nor hashed again.
    fn rescan_with(&self, threads: usize, mid_scan: impl FnOnce()) -> Result<ScanReport, LibraryError> {
        let seen: HashMap<FileKey, Arc<LocalFile>> = self
            .files
            .read()
            .iter()
            .filter(|(_, f)| f.partial.is_none())
            .map(|(k, f)| (k.clone(), f.clone()))
            .collect();
        let stamps_before: std::collections::HashSet<Stamp> = self.cache.lock().keys().cloned().collect();
        let found = self.list().map_err(|source| LibraryError::Folder { dir: self.dir.clone(), source })?;
        let mut todo = Vec::new();
        let mut fresh: Vec<(Stamp, PathBuf, Cached)> = Vec::new();
        {
            let cache = self.cache.lock();
            for (stamp, path) in found {
                match cache.get(&stamp) {
                    Some(c) => fresh.push((stamp, path, c.clone())),
                    None => todo.push((stamp, path)),
                }
            }
        }
        let hashed = todo.len();
        fresh.extend(hash_all(todo, threads, self.piece_size));
        mid_scan();
        let mut report = ScanReport { hashed, ..ScanReport::default() };
        let mut found_stamps = std::collections::HashSet::new();
        let mut complete: HashMap<FileKey, Arc<LocalFile>> = HashMap::new();
        let mut new_cache = Vec::new();
        for (stamp, path, c) in fresh {
            let Ok(name) = FileName::new(&stamp.name) else { continue };
            let Ok(layout) = Layout::new(stamp.size, c.piece_size) else { continue };
            let entry = FileEntry { name, length: stamp.size, piece_size: c.piece_size, key: c.key.clone() };
            let file = LocalFile::scanned(entry, layout, path, c.hashes.clone(), stamp.mtime_ns);
            complete.insert(c.key.clone(), Arc::new(file));
            found_stamps.insert(stamp.clone());
            new_cache.push((stamp, c));
        }
        {
            let mut files = self.files.write();
            // Gone: what the scan started with and did not find, unless it
            // was replaced meanwhile.
            for (key, old) in &seen {
                if !complete.contains_key(key) && files.get(key).is_some_and(|now| Arc::ptr_eq(now, old)) {
                    files.remove(key);
                    report.removed.push(old.entry.name.clone());
                }
            }
            for (key, f) in complete {
                match files.get(&key) {
                    None => {
                        report.added.push(f.entry.name.clone());
                        files.insert(key, f);
                    }
                    // A download in progress keeps its entry until it ends;
                    // a file registered during the scan is newer than ours.
                    Some(now) if now.partial.is_some() || !seen.contains_key(&key) => {}
                    // Renamed, moved, or another file with the same bytes
                    // (which reads of the old entry would refuse).
                    Some(now) if !now.same_source(&f) => {
                        files.insert(key, f);
                    }
                    Some(_) => {}
                }
            }
        }
        if !report.added.is_empty() || !report.removed.is_empty() {
            self.bump();
        }
        let changed = {
            let mut cache = self.cache.lock();
            let before = cache.len();
            cache.retain(|stamp, _| found_stamps.contains(stamp) || !stamps_before.contains(stamp));
            cache.extend(new_cache);
            report.hashed > 0 || cache.len() != before
        };
        if changed {
            self.save_cache();
        }
        Ok(report)
    }

    /// Regular files to share, with their stamps.
    fn list(&self) -> io::Result<Vec<(Stamp, PathBuf)>> {
        let root = self.dir.canonicalize()?;
        let mut out = Vec::new();
        for item in std::fs::read_dir(&self.dir)? {
            let item = item?;
            let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                log::warn!("{}: not shared, its name is not UTF-8", item.path().display());
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if FileName::new(&name).is_err() {
                log::warn!("{name:?}: not shared, the protocol cannot carry this name (blanks or control characters)");
                continue;
            }
            let path = item.path();
            if item.file_type()?.is_symlink() {
                match path.canonicalize() {
                    Ok(target) if target.starts_with(&root) => {}
                    _ => {
                        log::warn!("{name}: not shared, it is a link leading out of the shared folder");
                        continue;
                    }
                }
            }
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime_ns =
                meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            out.push((Stamp { name, size: meta.len(), mtime_ns }, path));
        }
        Ok(out)
    }

    fn load_cache(&self) {
        let Ok(file) = File::open(self.dir.join(CACHE_FILE)) else { return };
        let mut lines = io::BufReader::new(file).lines().map_while(Result::ok).peekable();
        let format = match lines.peek() {
            Some(first) if first == CACHE_HEADER => {
                lines.next();
                CacheFormat::Current
            }
            _ => CacheFormat::FirstKeys,
        };
        let mut cache = self.cache.lock();
        let (mut kept, mut dropped) = (0usize, 0usize);
        for line in lines {
            match parse_cache_line(&line, format) {
                Some((stamp, cached)) => {
                    cache.insert(stamp, cached);
                    kept += 1;
                }
                None => dropped += 1,
            }
        }
        drop(cache);
        if format == CacheFormat::FirstKeys {
            log::info!(
                "{}: key cache of the first key format: {kept} key(s) carried over, {dropped} line(s) to hash again",
                self.dir.display()
            );
            self.save_cache();
        }
    }

    fn save_cache(&self) {
        // Formatted under the lock, written outside it. Each save has its
        // own temporary file, so concurrent saves cannot interleave; the
        // last rename wins, and every version is a whole file.
        let text: String = {
            let cache = self.cache.lock();
            let lines = cache.iter().map(|(s, c)| {
                let hashes: String = c.hashes.iter().map(hex::encode).collect();
                format!("{} {} {} {} {} {}\n", s.size, s.mtime_ns, c.piece_size, c.key, hashes, s.name)
            });
            std::iter::once(format!("{CACHE_HEADER}\n")).chain(lines).collect()
        };
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = self.dir.join(format!("{CACHE_FILE}.tmp{}", SAVES.fetch_add(1, Ordering::Relaxed)));
        let write = || -> io::Result<()> {
            let mut out = File::create(&tmp)?;
            out.write_all(text.as_bytes())?;
            out.sync_all()?;
            std::fs::rename(&tmp, self.dir.join(CACHE_FILE))
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            log::warn!("cannot save the key cache in {}: {e}", self.dir.display());
        }
    }
}

/// `size mtime piece_size key hashes name`; anything odd is skipped. A
/// line of the first key format is carried over only when its key's
/// first half is the key its own piece hashes give today.
fn parse_cache_line(line: &str, format: CacheFormat) -> Option<(Stamp, Cached)> {
    let mut f = line.splitn(6, ' ');
    let size = f.next()?.parse().ok()?;
    let mtime_ns = f.next()?.parse().ok()?;
    let piece_size = f.next()?.parse().ok()?;
    let key = FileKey::parse(f.next()?.as_bytes()).ok()?;
    let hex_hashes = f.next()?;
    let name = f.next()?.to_owned();
    let layout = Layout::new(size, piece_size).ok()?;
    let raw = hex::decode(hex_hashes).ok()?;
    if raw.len() != layout.piece_count() as usize * 32 {
        return None;
    }
    let hashes: Vec<PieceHash> = raw.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect();
    let key = match format {
        CacheFormat::Current => key,
        CacheFormat::FirstKeys => {
            let today = hashing::key_from_legacy(&key)?;
            (hashing::key_of(&layout, &hashes) == today).then_some(today)?
        }
    };
    Some((Stamp { name, size, mtime_ns }, Cached { piece_size, key, hashes: Arc::new(hashes) }))
}

/// Hashes files on up to `threads` threads; files that fail are logged
/// and left out.
fn hash_all(
    todo: Vec<(Stamp, PathBuf)>,
    threads: usize,
    piece_size: common::PieceSize,
) -> Vec<(Stamp, PathBuf, Cached)> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    // Named after the scanning thread (`peer{id}-scanner`...), so their
    // logs are told apart per peer.
    let prefix = std::thread::current().name().map_or_else(|| "hash".to_owned(), |n| format!("{n}-hash"));
    let work = || {
        while let Some((stamp, path)) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
            match digest_file(path, piece_size) {
                Ok(d) if d.layout.length() == stamp.size => {
                    let cached =
                        Cached { piece_size: u64::from(d.layout.piece_size()), key: d.key, hashes: Arc::new(d.hashes) };
                    done.lock().push((stamp.clone(), path.clone(), cached));
                }
                Ok(_) => log::info!("{}: changed while being hashed; next scan", stamp.name),
                Err(e) => log::warn!("{}: cannot hash: {e}", path.display()),
            }
        }
    };
    std::thread::scope(|s| {
        let mut started = 0;
        for i in 0..threads.clamp(1, todo.len().max(1)) {
            match std::thread::Builder::new().name(format!("{prefix}-{i}")).spawn_scoped(s, work) {
                Ok(_) => started += 1,
                Err(e) => log::warn!("cannot start a hashing thread: {e}"),
            }
        }
        // No thread at all: hash here rather than not at all.
        if started == 0 {
            work();
        }
    });
    done.into_inner()
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// The whole SHA-256 commitment: the key of the first format.
    fn first_format_key(size: u64, piece_size: u64, hashes: &str) -> String {
        let mut h = Sha256::new();
        h.update(size.to_be_bytes());
        h.update(piece_size.to_be_bytes());
        h.update(hex::decode(hashes).unwrap());
        hex::encode(h.finalize())
    }

    #[test]
    fn a_download_finished_during_a_scan_is_neither_dropped_nor_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.bin"), vec![7u8; 10_000]).unwrap();
        let lib = Library::open(dir.path(), common::PieceSize::Auto).unwrap();
        lib.rescan(1).unwrap();
        // While a scan hashes, a download completes: its file appears and
        // the engine registers it with the hashes it already has.
        let data = vec![9u8; 30_000];
        let finished = || {
            let path = dir.path().join("new.bin");
            std::fs::write(&path, &data).unwrap();
            let d = common::hashing::digest_reader(&data[..], Layout::for_length(data.len() as u64).unwrap()).unwrap();
            let entry = FileEntry {
                name: FileName::new("new.bin").unwrap(),
                length: data.len() as u64,
                piece_size: u64::from(d.layout.piece_size()),
                key: d.key.clone(),
            };
            lib.adopt(LocalFile::new(entry, d.layout, path, Arc::new(d.hashes), None));
        };
        let report = lib.rescan_with(1, finished).unwrap();
        assert!(report.removed.is_empty(), "nothing left the folder: {report:?}");
        let names: Vec<String> = lib.files().iter().map(|f| f.entry.name.to_string()).collect();
        assert_eq!(names, ["new.bin", "old.bin"], "the finished download is still shared");
        assert_eq!(lib.rescan(1).unwrap(), ScanReport::default(), "and its hashes were kept: nothing to hash");
    }

    #[test]
    fn files_are_cut_as_configured_and_cached_keys_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bin"), vec![1u8; 10_000]).unwrap();
        let lib = Library::open(dir.path(), common::PieceSize::Bytes(2048)).unwrap();
        lib.rescan(1).unwrap();
        let a = lib.files()[0].entry.clone();
        assert_eq!((a.piece_size, lib.files()[0].hashes.len()), (2048, 5));
        drop(lib);
        // The setting changes: a.bin, unchanged, keeps its key; a new
        // file is cut the new way.
        std::fs::write(dir.path().join("b.bin"), vec![2u8; 10_000]).unwrap();
        let lib = Library::open(dir.path(), common::PieceSize::Auto).unwrap();
        assert_eq!(lib.rescan(1).unwrap().hashed, 1);
        let files = lib.files();
        assert_eq!(files[0].entry, a);
        assert_eq!(files[1].entry.piece_size, u64::from(Layout::for_length(10_000).unwrap().piece_size()));
    }

    #[test]
    fn a_key_cache_of_the_first_format_is_carried_over_never_misread() {
        let dir = tempfile::tempdir().unwrap();
        let data = |seed: u8| (0..20_000u32).map(|i| (i as u8).wrapping_mul(seed)).collect::<Vec<u8>>();
        std::fs::write(dir.path().join("a.bin"), data(3)).unwrap();
        std::fs::write(dir.path().join("b.bin"), data(5)).unwrap();
        let lib = Library::open(dir.path(), common::PieceSize::Auto).unwrap();
        assert_eq!(lib.rescan(1).unwrap().hashed, 2);
        let keys: Vec<(String, FileKey)> =
            lib.files().iter().map(|f| (f.entry.name.to_string(), f.entry.key.clone())).collect();
        drop(lib);
        // The same cache as the first format wrote it: no header, whole
        // commitments as keys; b.bin's key is not its hashes' commitment.
        let cache = std::fs::read_to_string(dir.path().join(CACHE_FILE)).unwrap();
        let mut lines = cache.lines();
        assert_eq!(lines.next(), Some(CACHE_HEADER));
        let old: String = lines
            .map(|line| {
                let f: Vec<&str> = line.splitn(6, ' ').collect();
                let key = match f[5] {
                    "a.bin" => first_format_key(f[0].parse().unwrap(), f[2].parse().unwrap(), f[4]),
                    _ => "ab".repeat(32),
                };
                format!("{} {} {} {key} {} {}\n", f[0], f[1], f[2], f[4], f[5])
            })
            .collect();
        std::fs::write(dir.path().join(CACHE_FILE), old).unwrap();
        let lib = Library::open(dir.path(), common::PieceSize::Auto).unwrap();
        assert!(std::fs::read_to_string(dir.path().join(CACHE_FILE)).unwrap().starts_with(CACHE_HEADER), "rewritten");
        assert_eq!(lib.rescan(1).unwrap().hashed, 1, "a.bin carried over, b.bin hashed again");
        let again: Vec<(String, FileKey)> =
            lib.files().iter().map(|f| (f.entry.name.to_string(), f.entry.key.clone())).collect();
        assert_eq!(again, keys);
        assert!(keys.iter().all(|(_, k)| k.as_str().len() == 32));
    }
}
