//! The usage ledger: one SQLite database per user (`usage.sqlite3` in the data directory, mode
//! 0600, WAL, `synchronous=NORMAL`), its schema versioned by `PRAGMA user_version` and migrated
//! forward on open, one row per call that could spend (`core::usage::UsageRow`: never the text,
//! never the key). Opened on the first row and kept; a failure is reported as the job's and
//! the next row tries again.

use crate::core::usage::UsageRow;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The schema's migrations, in order: `user_version` is how many have run.
const MIGRATIONS: &[&str] = &["CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    unix_ms INTEGER NOT NULL,
    tool TEXT NOT NULL,
    model TEXT NOT NULL,
    voice TEXT NOT NULL,
    characters INTEGER NOT NULL,
    billed INTEGER NOT NULL,
    request_id TEXT,
    audio_bytes INTEGER NOT NULL,
    duration_ms INTEGER,
    cached INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms INTEGER NOT NULL
);
CREATE INDEX calls_by_time ON calls (unix_ms);"];

/// How long a write waits for another process's.
const BUSY: Duration = Duration::from_secs(5);

/// The ledger of this process.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl Ledger {
    /// The ledger at `path` (opened when first written).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            conn: Mutex::new(None),
        }
    }

    /// Adds `row`; returns once it is committed.
    pub fn record(&self, row: &UsageRow) -> Result<(), String> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if conn.is_none() {
            *conn = Some(open(&self.path).map_err(|e| self.say(&e))?);
        }
        let Some(c) = conn.as_ref() else {
            return Err(self.say("not open"));
        };
        let done = c.execute(
            "INSERT INTO calls (unix_ms, tool, model, voice, characters, billed, request_id,
                audio_bytes, duration_ms, cached, fallback, outcome, latency_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                int(row.unix_ms),
                row.tool,
                row.model,
                row.voice,
                int(row.characters),
                int(row.billed),
                row.request_id,
                int(row.audio_bytes),
                row.duration_ms.map(int),
                row.cached,
                row.fallback,
                row.outcome,
                int(row.latency_ms),
            ],
        );
        if let Err(e) = done {
            // Opened again for the next row (the file may have been replaced or repaired).
            *conn = None;
            return Err(self.say(&e.to_string()));
        }
        Ok(())
    }

    fn say(&self, why: &str) -> String {
        format!("usage ledger {}: {why}", self.path.display())
    }
}

/// SQLite's integers are signed.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Opens (creating, 0600) and migrates the database.
pub fn open(path: &Path) -> Result<Connection, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create its directory: {e}"))?;
    }
    let fresh = !path.exists();
    let conn = Connection::open(path).map_err(|e| e.to_string())?;
    if fresh {
        restrict(path);
    }
    conn.busy_timeout(BUSY).map_err(|e| e.to_string())?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| e.to_string())?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| e.to_string())?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| e.to_string())?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(format!(
            "its schema (version {version}) is newer than this server's ({}): upgrade mcp-elevenlabs",
            MIGRATIONS.len()
        ));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
        let batch = format!(
            "BEGIN IMMEDIATE; {step}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        );
        conn.execute_batch(&batch).map_err(|e| e.to_string())?;
    }
    Ok(conn)
}

/// Only the user may read the ledger (and its WAL files, created with the same mode).
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcp-el-ledger-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("usage.sqlite3")
    }

    #[test]
    fn rows_are_committed_in_a_private_wal_database() {
        let path = temp("rows");
        let ledger = Ledger::new(path.clone());
        let row = UsageRow {
            tool: "speak".into(),
            characters: 12,
            billed: 6,
            outcome: "ok",
            ..UsageRow::default()
        };
        ledger.record(&row).unwrap();
        ledger.record(&row).unwrap();
        let c = open(&path).unwrap();
        let (n, billed): (i64, i64) = c
            .query_row("SELECT count(*), sum(billed) FROM calls", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, billed), (2, 12));
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let version: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_newer_schema_or_a_broken_file_is_explained() {
        let path = temp("newer");
        let c = open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(open(&path).unwrap_err().contains("newer"));
        let broken = temp("broken");
        std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
        std::fs::write(&broken, b"not a database, not at all, just text").unwrap();
        let e = Ledger::new(broken.clone())
            .record(&UsageRow::default())
            .unwrap_err();
        assert!(
            e.contains("usage ledger") && e.contains("usage.sqlite3"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        let _ = std::fs::remove_dir_all(broken.parent().unwrap());
    }
}
