//! Bounds on the output directory (`output.max_mb`, `output.keep_days`). The server removes only
//! files it wrote itself: it records each one in its state directory (`outputs.txt`, one line
//! a file: its identity, size and full path), never judging a file by its name or extension,
//! and it removes a recorded file only if it is still in this output directory as the same file
//! (inode on Unix, modification time elsewhere) of the same size: a file the user replaced under
//! the same name is theirs. Age is the modification time; the oldest go first. A file that is gone, moved or
//! replaced is forgotten. With both bounds off nothing is recorded.
//!
//! Several server processes sharing the state directory each rewrite the record: a line one of
//! them adds while another rewrites can be lost, and that file is then never removed (the safe way
//! to fail). Within one process a lock keeps the record whole.

use super::files::replace_quickly;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Files kept in the record at most: beyond it the oldest are forgotten (never removed).
const MAX_RECORDED: usize = 100_000;

/// The bounds and where their record lives.
#[derive(Debug)]
pub struct Bounds {
    dir: PathBuf,
    record: PathBuf,
    /// Bytes kept at most (`None`: no bound).
    max_bytes: Option<u64>,
    /// Age kept at most (`None`: no bound).
    keep: Option<Duration>,
    lock: Mutex<()>,
}

/// One recorded file, with its modification time now.
struct Entry {
    id: u64,
    size: u64,
    path: PathBuf,
    modified: u64,
}

impl Entry {
    /// A record line, if its file is still the one recorded.
    fn parse(line: &str) -> Option<Self> {
        let mut parts = line.splitn(3, '\t');
        let id: u64 = parts.next()?.parse().ok()?;
        let size: u64 = parts.next()?.parse().ok()?;
        let now = Self::of(Path::new(parts.next()?))?;
        (now.id == id && now.size == size).then_some(now)
    }

    /// The file at `path` as it is now.
    fn of(path: &Path) -> Option<Self> {
        let meta = fs::symlink_metadata(path)
            .ok()
            .filter(fs::Metadata::is_file)?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_secs();
        #[cfg(unix)]
        let id = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let id = modified;
        Some(Self {
            id,
            size: meta.len(),
            path: path.to_path_buf(),
            modified,
        })
    }
}

impl Bounds {
    /// Bounds for the audio in `dir`, recorded in `state_dir/outputs.txt`.
    pub fn new(dir: &Path, state_dir: &Path, max_mb: u64, keep_days: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            record: state_dir.join("outputs.txt"),
            max_bytes: (max_mb > 0).then(|| max_mb.saturating_mul(1 << 20)),
            keep: (keep_days > 0).then(|| Duration::from_secs(keep_days.saturating_mul(86_400))),
            lock: Mutex::new(()),
        }
    }

    /// Records the new file `name`, then removes this server's oldest files in this directory
    /// until the rest are within the bounds (never `name` itself). Returns the paths removed.
    pub fn add(&self, name: &str) -> io::Result<Vec<PathBuf>> {
        if self.max_bytes.is_none() && self.keep.is_none() {
            return Ok(Vec::new());
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let text = match fs::read_to_string(&self.record) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let new = self.dir.join(name);
        let mut seen = HashSet::new();
        let mut entries: Vec<Entry> = text
            .lines()
            .filter_map(Entry::parse)
            .filter(|e| e.path != new && seen.insert(e.path.clone()))
            .collect();
        entries.extend(Entry::of(&new));
        entries.sort_by_key(|e| e.modified);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let ours = |e: &Entry| e.path.parent() == Some(self.dir.as_path());
        let mut total: u64 = entries.iter().filter(|e| ours(e)).map(|e| e.size).sum();
        let mut removed = Vec::new();
        entries.retain(|e| {
            if !ours(e) || e.path == new {
                return true;
            }
            let old = self
                .keep
                .is_some_and(|k| now.saturating_sub(e.modified) > k.as_secs());
            let over = self.max_bytes.is_some_and(|max| total > max);
            if !(old || over) || fs::remove_file(&e.path).is_err() {
                return true;
            }
            total -= e.size;
            removed.push(e.path.clone());
            false
        });
        let skip = entries.len().saturating_sub(MAX_RECORDED);
        let mut out = String::new();
        for e in &entries[skip..] {
            out.push_str(&format!("{}\t{}\t{}\n", e.id, e.size, e.path.display()));
        }
        if let Some(parent) = self.record.parent() {
            fs::create_dir_all(parent)?;
        }
        // Not synced: every saved file rewrites it, under the lock, and a crash that loses the
        // last line only leaves that file to the user (it is never removed by mistake).
        replace_quickly(&self.record, out.as_bytes())?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_its_own_files_oldest_first() {
        let base = std::env::temp_dir().join(format!("outputs-test-{}", std::process::id()));
        let (dir, state) = (base.join("audio"), base.join("state"));
        fs::create_dir_all(&dir).unwrap();
        let write = |n: &str, bytes: usize| fs::write(dir.join(n), vec![0u8; bytes]).unwrap();
        let bounds = Bounds::new(&dir, &state, 1, 0);
        write("mine.mp3", 900_000); // the user's, never recorded
        write("a.mp3", 600_000);
        assert!(bounds.add("a.mp3").unwrap().is_empty());
        write("b.mp3", 600_000);
        assert_eq!(bounds.add("b.mp3").unwrap(), vec![dir.join("a.mp3")]);
        assert!(dir.join("mine.mp3").exists() && dir.join("b.mp3").exists());
        // The user replaces a recorded file with their own under the same name: it is theirs.
        write("b.mp3", 700_000);
        write("c.mp3", 2_000_000);
        assert!(
            bounds.add("c.mp3").unwrap().is_empty(),
            "b.mp3 is no longer ours"
        );
        assert!(dir.join("b.mp3").exists());
        let record = fs::read_to_string(state.join("outputs.txt")).unwrap();
        assert_eq!(record.lines().count(), 1, "{record}");
        assert!(record.trim_end().ends_with("c.mp3"), "{record}");
        // Off: nothing recorded, nothing removed.
        assert!(
            Bounds::new(&dir, &state, 0, 0)
                .add("c.mp3")
                .unwrap()
                .is_empty()
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
