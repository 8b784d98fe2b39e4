//! Bounds on the output directory (`output.max_mb`, `output.keep_days`). The server removes only
//! files it wrote itself: it records each one in its state directory (`outputs.txt`, one line
//! a file: its identity, size and full path), never judging a file by its name or extension,
//! and it removes a recorded file only if it is still in this output directory as the same file
//! (inode on Unix, modification time elsewhere) of the same size: a file the user replaced under
//! the same name is theirs. Age is the modification time; the oldest go first. A file that is gone, moved or
//! replaced is forgotten. With both bounds off nothing is recorded.
//!
//! The record is kept in memory as well, so that saving a file costs a few system calls, not a
//! stat of every recorded file: a new file is appended to the record as a line; the lines other
//! processes sharing the state directory append are read as they come (the record's tail since
//! the last read); it is rewritten whole only when files were removed or forgotten, or it grew
//! to twice its live lines. Files the user deleted are noticed when they become the oldest, and
//! by a rescan of every recorded file, at most once a second, when the bound is reached. Two
//! processes rewriting at once can lose a line, and that file is then never removed (the safe
//! way to fail). Within one process a lock keeps the record whole.

use super::files::replace_quickly;
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Files kept in the record at most: beyond it the oldest are forgotten (never removed).
const MAX_RECORDED: usize = 100_000;
/// How often, at most, every recorded file is looked at again when the size bound is reached
/// (so a file the user deleted is not counted for longer than this).
const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// The bounds and where their record lives.
#[derive(Debug)]
pub struct Bounds {
    dir: PathBuf,
    record: PathBuf,
    /// Bytes kept at most (`None`: no bound).
    max_bytes: Option<u64>,
    /// Age kept at most (`None`: no bound).
    keep: Option<Duration>,
    index: Mutex<Index>,
}

/// What the record holds, as this process last read it.
#[derive(Debug, Default)]
struct Index {
    /// Recorded files, oldest first.
    entries: VecDeque<Entry>,
    /// Bytes of the entries in this output directory.
    total: u64,
    /// Bytes of the record read so far, and the record file's identity.
    offset: u64,
    record_id: Option<(u64, u64)>,
    /// Lines in the record file.
    lines: usize,
    last_scan: Option<Instant>,
}

/// One recorded file, with its modification time now.
#[derive(Clone, Debug)]
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

    /// Still the file recorded: same identity and size.
    fn is_current(&self) -> bool {
        Self::of(&self.path).is_some_and(|now| now.id == self.id && now.size == self.size)
    }

    fn line(&self) -> String {
        format!("{}\t{}\t{}\n", self.id, self.size, self.path.display())
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
            index: Mutex::new(Index::default()),
        }
    }

    /// Records the new file `name`, then removes this server's oldest files in this directory
    /// until the rest are within the bounds (never `name` itself). Returns the paths removed.
    pub fn add(&self, name: &str) -> io::Result<Vec<PathBuf>> {
        if self.max_bytes.is_none() && self.keep.is_none() {
            return Ok(Vec::new());
        }
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let index = &mut *index;
        self.read_record(index)?;
        let new = self.dir.join(name);
        if let Some(entry) = Entry::of(&new) {
            self.forget(index, &new);
            self.append(index, &entry)?;
            self.insert(index, entry);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut removed = Vec::new();
        let mut changed = false;
        let over = |index: &Index| self.max_bytes.is_some_and(|max| index.total > max);
        // At the size bound, and at most once a minute: forget the files the user deleted first.
        if over(index) && index.last_scan.is_none_or(|t| t.elapsed() >= RESCAN_EVERY) {
            self.rescan(index);
            changed = true;
        }
        let mut i = 0;
        while let Some(e) = index.entries.get(i) {
            if !self.ours(e) || e.path == new {
                i += 1;
                continue;
            }
            let old = self
                .keep
                .is_some_and(|k| now.saturating_sub(e.modified) > k.as_secs());
            if !(old || over(index)) {
                break;
            }
            let Some(entry) = index.entries.remove(i) else {
                break;
            };
            index.total -= entry.size;
            changed = true;
            if entry.is_current() && fs::remove_file(&entry.path).is_ok() {
                removed.push(entry.path);
            }
        }
        while index.entries.len() > MAX_RECORDED {
            if let Some(e) = index.entries.pop_front().filter(|e| self.ours(e)) {
                index.total -= e.size;
            }
            changed = true;
        }
        if changed || index.lines > 2 * index.entries.len() + 1000 {
            self.rewrite(index)?;
        }
        Ok(removed)
    }

    fn ours(&self, e: &Entry) -> bool {
        e.path.parent() == Some(self.dir.as_path())
    }

    /// Adds an entry in age order.
    fn insert(&self, index: &mut Index, entry: Entry) {
        if self.ours(&entry) {
            index.total += entry.size;
        }
        let at = index
            .entries
            .partition_point(|e| e.modified <= entry.modified);
        index.entries.insert(at, entry);
    }

    /// Drops the entry of `path`, if any.
    fn forget(&self, index: &mut Index, path: &Path) {
        if let Some(at) = index.entries.iter().position(|e| e.path == path)
            && let Some(e) = index.entries.remove(at)
            && self.ours(&e)
        {
            index.total -= e.size;
        }
    }

    /// Reads what was added to the record since the last read (all of it, the first time or
    /// once another process rewrote it).
    fn read_record(&self, index: &mut Index) -> io::Result<()> {
        let mut file = match fs::File::open(&self.record) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                *index = Index {
                    last_scan: index.last_scan,
                    ..Index::default()
                };
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let id = record_identity(&meta);
        if index.record_id != Some(id) || meta.len() < index.offset {
            *index = Index {
                record_id: Some(id),
                last_scan: index.last_scan,
                ..Index::default()
            };
        }
        if meta.len() == index.offset {
            return Ok(());
        }
        file.seek(SeekFrom::Start(index.offset))?;
        let mut tail = Vec::new();
        file.take(meta.len() - index.offset)
            .read_to_end(&mut tail)?;
        // Only whole lines: one being appended right now is read next time.
        let whole = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        index.offset += whole as u64;
        let text = String::from_utf8_lossy(&tail[..whole]);
        if index.entries.is_empty() {
            // The whole record: the last line of a path wins, then one sort by age.
            let mut latest: HashMap<PathBuf, (usize, Entry)> = HashMap::new();
            for (n, line) in text.lines().enumerate() {
                index.lines += 1;
                if let Some(e) = Entry::parse(line) {
                    latest.insert(e.path.clone(), (n, e));
                }
            }
            let mut all: Vec<(usize, Entry)> = latest.into_values().collect();
            all.sort_by_key(|(n, e)| (e.modified, *n));
            index.total = all
                .iter()
                .filter(|(_, e)| self.ours(e))
                .map(|(_, e)| e.size)
                .sum();
            index.entries = all.into_iter().map(|(_, e)| e).collect();
            return Ok(());
        }
        for line in text.lines() {
            index.lines += 1;
            if let Some(entry) = Entry::parse(line) {
                let path = entry.path.clone();
                self.forget(index, &path);
                self.insert(index, entry);
            }
        }
        Ok(())
    }

    /// Appends `entry` to the record (read back, and deduplicated, by the next read).
    fn append(&self, index: &mut Index, entry: &Entry) -> io::Result<()> {
        if let Some(parent) = self.record.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.record)?;
        if index.record_id.is_none() {
            index.record_id = Some(record_identity(&file.metadata()?));
        }
        file.write_all(entry.line().as_bytes())
    }

    /// Looks at every recorded file again: the gone, moved or replaced ones are forgotten.
    fn rescan(&self, index: &mut Index) {
        index.last_scan = Some(Instant::now());
        let entries = std::mem::take(&mut index.entries);
        index.total = 0;
        for e in entries {
            if let Some(now) = Entry::of(&e.path).filter(|n| n.id == e.id && n.size == e.size) {
                self.insert(index, now);
            }
        }
    }

    /// Writes the record anew from the index.
    fn rewrite(&self, index: &mut Index) -> io::Result<()> {
        let mut out = String::new();
        for e in &index.entries {
            out.push_str(&e.line());
        }
        if let Some(parent) = self.record.parent() {
            fs::create_dir_all(parent)?;
        }
        replace_quickly(&self.record, out.as_bytes())?;
        index.offset = out.len() as u64;
        index.lines = index.entries.len();
        index.record_id = fs::metadata(&self.record).ok().map(|m| record_identity(&m));
        Ok(())
    }
}

/// The record file's identity, to notice another process replacing it.
fn record_identity(meta: &fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let created = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        (0, created)
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

    #[test]
    fn servers_sharing_the_record_see_each_others_files_and_adds_only_append() {
        let base = std::env::temp_dir().join(format!("outputs-share-{}", std::process::id()));
        let (dir, state) = (base.join("audio"), base.join("state"));
        fs::create_dir_all(&dir).unwrap();
        let write = |n: &str, bytes: usize| fs::write(dir.join(n), vec![0u8; bytes]).unwrap();
        let (one, two) = (
            Bounds::new(&dir, &state, 1, 0),
            Bounds::new(&dir, &state, 1, 0),
        );
        write("1.mp3", 300_000);
        assert!(one.add("1.mp3").unwrap().is_empty());
        let record = state.join("outputs.txt");
        #[cfg(unix)]
        let inode = || std::os::unix::fs::MetadataExt::ino(&fs::metadata(&record).unwrap());
        #[cfg(unix)]
        let first = inode();
        write("2.mp3", 300_000);
        assert!(two.add("2.mp3").unwrap().is_empty());
        write("3.mp3", 300_000);
        assert!(one.add("3.mp3").unwrap().is_empty());
        #[cfg(unix)]
        assert_eq!(
            inode(),
            first,
            "adds within the bounds append, never rewrite"
        );
        assert_eq!(fs::read_to_string(&record).unwrap().lines().count(), 3);
        // The fourth file passes 1 MiB for `two`, which counts `one`'s files: the oldest goes.
        write("4.mp3", 300_000);
        assert_eq!(two.add("4.mp3").unwrap(), vec![dir.join("1.mp3")]);
        // `one` reads the rewritten record whole and forgets 1.mp3.
        write("5.mp3", 300_000);
        assert_eq!(one.add("5.mp3").unwrap(), vec![dir.join("2.mp3")]);
        let text = fs::read_to_string(&record).unwrap();
        let names: Vec<&str> = text
            .lines()
            .map(|l| l.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["3.mp3", "4.mp3", "5.mp3"]);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_file_the_user_deleted_is_not_counted_against_the_bound() {
        let base = std::env::temp_dir().join(format!("outputs-deleted-{}", std::process::id()));
        let (dir, state) = (base.join("audio"), base.join("state"));
        fs::create_dir_all(&dir).unwrap();
        let write = |n: &str, bytes: usize| fs::write(dir.join(n), vec![0u8; bytes]).unwrap();
        let bounds = Bounds::new(&dir, &state, 1, 0);
        for n in ["a.mp3", "b.mp3", "c.mp3"] {
            write(n, 300_000);
            assert!(bounds.add(n).unwrap().is_empty());
        }
        fs::remove_file(dir.join("c.mp3")).unwrap();
        write("d.mp3", 300_000);
        assert!(
            bounds.add("d.mp3").unwrap().is_empty(),
            "900 KB are within 1 MiB"
        );
        assert!(dir.join("a.mp3").exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
