//! Bounds on the output directory (`output.max_mb`, `output.keep_days`). The server removes only
//! files it wrote itself: it keeps their names in a record in its state directory
//! (`outputs.txt`, one name a line), never judging a file by its name or extension. Age is the
//! file's modification time; the oldest go first. A file the user moved, renamed or deleted is
//! simply forgotten.
//!
//! Several server processes sharing one output directory each rewrite the record: a name one of
//! them adds while another rewrites can be lost from it, and that file is then never removed (the
//! safe way to fail). Within one process a lock keeps the record whole.

use super::files::write_atomic;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Names kept in the record at most: beyond it the oldest are forgotten (never removed).
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

    /// Records the new file `name`, then removes this server's oldest files until the rest are
    /// within the bounds (never `name` itself). Returns the names removed.
    pub fn add(&self, name: &str) -> io::Result<Vec<String>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let text = match fs::read_to_string(&self.record) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut files: Vec<(String, u64, SystemTime)> = Vec::new();
        for line in text.lines().chain([name]) {
            if !plain(line) || files.iter().any(|(n, _, _)| n == line) {
                continue;
            }
            let Ok(meta) = fs::metadata(self.dir.join(line)) else {
                continue; // gone: forgotten
            };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            files.push((line.to_string(), meta.len(), modified));
        }
        files.sort_by_key(|(_, _, modified)| *modified);
        let now = SystemTime::now();
        let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
        let mut removed = Vec::new();
        files.retain(|(n, size, modified)| {
            let old = self
                .keep
                .is_some_and(|keep| now.duration_since(*modified).unwrap_or_default() > keep);
            let over = self.max_bytes.is_some_and(|max| total > max);
            if n == name || !(old || over) {
                return true;
            }
            if fs::remove_file(self.dir.join(n)).is_err() {
                return true; // try again next time
            }
            total -= size;
            removed.push(n.clone());
            false
        });
        let skip = files.len().saturating_sub(MAX_RECORDED);
        let mut out = String::new();
        for (n, _, _) in &files[skip..] {
            out.push_str(n);
            out.push('\n');
        }
        if let Some(parent) = self.record.parent() {
            fs::create_dir_all(parent)?;
        }
        write_atomic(&self.record, out.as_bytes())?;
        Ok(removed)
    }
}

/// A plain file name (what the server writes): no separators, not hidden.
fn plain(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
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
        assert_eq!(bounds.add("a.mp3").unwrap(), Vec::<String>::new());
        std::thread::sleep(Duration::from_millis(20));
        write("b.mp3", 600_000);
        assert_eq!(bounds.add("b.mp3").unwrap(), vec!["a.mp3".to_string()]);
        assert!(dir.join("mine.mp3").exists() && dir.join("b.mp3").exists());
        // A file bigger than the bound alone is kept: it is the one just written.
        write("c.mp3", 2_000_000);
        assert_eq!(bounds.add("c.mp3").unwrap(), vec!["b.mp3".to_string()]);
        assert_eq!(
            fs::read_to_string(state.join("outputs.txt")).unwrap(),
            "c.mp3\n"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
