//! The audio cache's files: one per entry, named by its key, holding the audio as ElevenLabs
//! sent it followed by a footer of its length and SHA-256. An entry is written to a temp file
//! and renamed into place whole, and checked against its footer whenever it is read, so a
//! crash, a full disk or a stray edit can cost a miss but never serve wrong audio. Which
//! entries to evict is the core's decision (`core::cache`); this file only does it.

use crate::core::cache::{CacheKey, FOOTER_LEN};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Temp files older than this are a crash's leftovers (younger ones may be another
/// process's write in progress).
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The cache in `dir` (created on the first write).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where it is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(key.hex())
    }

    /// The audio of entry `key` and the entry's size, if it is there and whole (an entry that
    /// is not is removed). A hit becomes the most recently used (its modification time).
    pub fn read(&self, key: &CacheKey, max_bytes: u64) -> Option<(Vec<u8>, u64)> {
        let path = self.path(key);
        let file = fs::File::open(&path).ok()?;
        let mut bytes = Vec::new();
        let read = file
            .take(max_bytes.saturating_add(FOOTER_LEN + 1))
            .read_to_end(&mut bytes);
        let size = bytes.len() as u64;
        if read.is_err() || size > max_bytes.saturating_add(FOOTER_LEN) {
            return None;
        }
        let Some(audio) = verify(bytes) else {
            let _ = fs::remove_file(&path);
            return None;
        };
        if let Ok(f) = fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some((audio, size))
    }

    /// A new entry for `key`, written by job `tag`; abandoned if it grows past `max_bytes`.
    pub fn writer(&self, key: CacheKey, tag: u64, max_bytes: u64) -> Option<EntryWriter> {
        fs::create_dir_all(&self.dir).ok()?;
        let tmp = self.dir.join(format!(
            ".{}-{}-{tag}.tmp",
            &key.hex()[..16],
            std::process::id()
        ));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ok()?;
        Some(EntryWriter {
            file: Some(file),
            tmp,
            path: self.path(&key),
            hash: ring::digest::Context::new(&ring::digest::SHA256),
            len: 0,
            max_bytes,
        })
    }

    /// The entries and their sizes, least recently used first. Removes temp files a crash left.
    pub fn scan(&self) -> Vec<(CacheKey, u64)> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for item in dir.flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = item.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if let Some(key) = CacheKey::from_hex(&name).filter(|_| meta.is_file()) {
                entries.push((modified, key, meta.len()));
            } else if name.starts_with('.') && name.ends_with(".tmp") {
                let age = now.duration_since(modified).unwrap_or_default();
                if age > STALE_TEMP {
                    let _ = fs::remove_file(item.path());
                }
            }
        }
        entries.sort();
        entries.into_iter().map(|(_, k, size)| (k, size)).collect()
    }

    /// Deletes entries (missing ones are fine: another process may have).
    pub fn evict(&self, keys: &[CacheKey]) -> io::Result<()> {
        for key in keys {
            match fs::remove_file(self.path(key)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes every entry and leftover temp file (nothing else in the directory); returns the
    /// entries and bytes removed.
    pub fn clear(&self) -> io::Result<(u64, u64)> {
        let entries = self.scan();
        let keys: Vec<CacheKey> = entries.iter().map(|(k, _)| *k).collect();
        self.evict(&keys)?;
        if let Ok(dir) = fs::read_dir(&self.dir) {
            for item in dir.flatten() {
                let name = item.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = fs::remove_file(item.path());
                }
            }
        }
        let bytes = entries.iter().map(|(_, s)| s).sum();
        Ok((entries.len() as u64, bytes))
    }
}

/// The audio of an entry's bytes, if the footer vouches for them.
fn verify(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    let footer = usize::try_from(FOOTER_LEN).ok()?;
    let audio_len = bytes.len().checked_sub(footer)?;
    let (audio, tail) = bytes.split_at(audio_len);
    let len = u64::from_le_bytes(tail[..8].try_into().ok()?);
    let hash = ring::digest::digest(&ring::digest::SHA256, audio);
    if len != audio_len as u64 || hash.as_ref() != &tail[8..] {
        return None;
    }
    bytes.truncate(audio_len);
    Some(bytes)
}

/// An entry being written beside a stream: whole under its name, or nowhere.
pub struct EntryWriter {
    /// `None` once abandoned (too long, or a write failed).
    file: Option<fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    hash: ring::digest::Context,
    len: u64,
    max_bytes: u64,
}

impl std::fmt::Debug for EntryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryWriter")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl EntryWriter {
    /// Appends audio; a failure abandons the entry, never the stream.
    pub fn write(&mut self, bytes: &[u8]) {
        let Some(file) = &mut self.file else { return };
        self.len += bytes.len() as u64;
        if self.len > self.max_bytes || file.write_all(bytes).is_err() {
            self.abandon();
            return;
        }
        self.hash.update(bytes);
    }

    fn abandon(&mut self) {
        self.file = None;
        let _ = fs::remove_file(&self.tmp);
    }

    /// Completes the entry (footer, rename); its size, or `None` if it was abandoned. Not
    /// synced to disk: an entry a crash tears fails its footer check when read, and is a miss
    /// (a sync per entry serialized every concurrent `speak` on the disk's journal).
    pub fn finish(mut self) -> Option<u64> {
        let mut file = self.file.take()?;
        let hash = self.hash.clone().finish();
        let done = file
            .write_all(&self.len.to_le_bytes())
            .and_then(|()| file.write_all(hash.as_ref()));
        drop(file);
        // Replacing an entry of the same key is safe: both are whole, and the same request.
        if done
            .and_then(|()| fs::rename(&self.tmp, &self.path))
            .is_err()
        {
            let _ = fs::remove_file(&self.tmp);
            return None;
        }
        Some(self.len + FOOTER_LEN)
    }
}

impl Drop for EntryWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcp-el-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn an_entry_reads_back_whole_and_a_damaged_one_is_a_miss_and_removed() {
        let store = Store::new(temp_dir("rw"));
        let key = CacheKey::of(&["hello"]);
        let mut w = store.writer(key, 1, 1000).unwrap();
        w.write(b"abc");
        w.write(b"def");
        assert_eq!(w.finish(), Some(6 + FOOTER_LEN));
        assert_eq!(
            store.read(&key, 1000),
            Some((b"abcdef".to_vec(), 6 + FOOTER_LEN))
        );
        assert_eq!(store.scan(), vec![(key, 6 + FOOTER_LEN)]);
        // Bigger than the caller accepts: not read, but kept.
        assert_eq!(store.read(&key, 5), None);
        assert!(store.path(&key).exists());
        // One flipped byte: a miss, and the entry is gone.
        let mut bytes = fs::read(store.path(&key)).unwrap();
        bytes[2] ^= 1;
        fs::write(store.path(&key), &bytes).unwrap();
        assert_eq!(store.read(&key, 1000), None);
        assert!(!store.path(&key).exists());
        // Cut short: a miss.
        let mut w = store.writer(key, 2, 1000).unwrap();
        w.write(b"abcdef");
        w.finish().unwrap();
        let bytes = fs::read(store.path(&key)).unwrap();
        fs::write(store.path(&key), &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(store.read(&key, 1000), None);
        let _ = fs::remove_dir_all(store.dir());
    }

    #[test]
    fn an_unfinished_or_oversized_entry_leaves_nothing() {
        let store = Store::new(temp_dir("abandon"));
        let key = CacheKey::of(&["x"]);
        let mut w = store.writer(key, 1, 4).unwrap();
        w.write(b"abc");
        drop(w);
        let mut w = store.writer(key, 2, 4).unwrap();
        w.write(b"abc");
        w.write(b"de");
        assert_eq!(w.finish(), None);
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 0);
        assert_eq!(store.read(&key, 100), None);
        let _ = fs::remove_dir_all(store.dir());
    }

    proptest::proptest! {
        /// Whatever happens to an entry's file (a byte flipped, cut short, grown, replaced),
        /// a read gives back exactly the audio that was stored, or nothing.
        #[test]
        fn a_read_is_what_was_stored_or_nothing(
            audio in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            damage in 0u8..5,
            at in proptest::prelude::any::<usize>(),
            bit in 0u8..8,
        ) {
            let store = Store::new(temp_dir("prop"));
            let key = CacheKey::of(&["prop"]);
            let mut w = store.writer(key, 1, 1000).unwrap();
            w.write(&audio);
            w.finish().unwrap();
            let path = store.path(&key);
            let mut bytes = fs::read(&path).unwrap();
            let n = bytes.len();
            match damage {
                0 => {}
                1 => bytes[at % n] ^= 1 << bit,
                2 => bytes.truncate(at % n),
                3 => bytes.push(bit),
                _ => bytes = vec![bit; at % 100],
            }
            fs::write(&path, &bytes).unwrap();
            match store.read(&key, 1000) {
                Some((got, _)) => proptest::prop_assert_eq!(got, audio),
                None => proptest::prop_assert!(damage != 0, "an untouched entry reads back"),
            }
            let _ = fs::remove_dir_all(store.dir());
        }
    }

    #[test]
    fn clear_removes_entries_and_temp_files_only() {
        let store = Store::new(temp_dir("clear"));
        for (i, text) in ["a", "b"].iter().enumerate() {
            let mut w = store.writer(CacheKey::of(&[text]), i as u64, 100).unwrap();
            w.write(text.as_bytes());
            w.finish().unwrap();
        }
        fs::write(store.dir().join(".0123-1-1.tmp"), b"partial").unwrap();
        fs::write(store.dir().join("notes.txt"), b"mine").unwrap();
        assert_eq!(store.clear().unwrap(), (2, 2 * (1 + FOOTER_LEN)));
        let left: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["notes.txt"]);
        let _ = fs::remove_dir_all(store.dir());
    }
}
