//! The usage ledger: one SQLite database per user (`usage.sqlite3` in the data directory, mode
//! 0600, WAL, `synchronous=NORMAL`), its schema versioned by `PRAGMA user_version` and migrated
//! forward on open, one row per call that could spend (`core::usage::UsageRow`: never the text,
//! never the key), and the budgets' reservations. Opened on first use and kept; a failure is
//! reported as the job's and the next job tries again.
//!
//! Budgets hold across every process of the user: a reservation is checked and made in one
//! `BEGIN IMMEDIATE` transaction (SQLite's write lock, so two processes never both see room
//! that only one of them has), and a call's row deletes it in the same transaction that adds
//! the row. Reservations of processes that are gone are dropped (on Linux, where `/proc` says
//! so); any other lapses at its expiry.

use crate::core::usage::{self, Ask, Reserve, Reserved, Summary, Totals, UsageRow, Used};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The schema's migrations, in order: `user_version` is how many have run.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE calls (
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
CREATE INDEX calls_by_time ON calls (unix_ms);",
    "CREATE TABLE reservations (
    id INTEGER PRIMARY KEY,
    characters INTEGER NOT NULL,
    unix_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    pid INTEGER NOT NULL
);
CREATE TABLE billed_days (
    day INTEGER PRIMARY KEY,
    billed INTEGER NOT NULL
);
INSERT INTO billed_days (day, billed)
    SELECT unix_ms / 86400000, sum(billed) FROM calls WHERE true GROUP BY unix_ms / 86400000;
CREATE TRIGGER calls_billed_days AFTER INSERT ON calls WHEN NEW.billed > 0 BEGIN
    INSERT INTO billed_days (day, billed) VALUES (NEW.unix_ms / 86400000, NEW.billed)
        ON CONFLICT (day) DO UPDATE SET billed = billed + excluded.billed;
END;",
];

/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;

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

    /// Runs `work` on the open database (opening it first); a failure closes it, so the next
    /// job opens it again (the file may have been replaced or repaired).
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if conn.is_none() {
            *conn = Some(open(&self.path).map_err(|e| self.say(&e))?);
        }
        let Some(c) = conn.as_mut() else {
            return Err(self.say("not open"));
        };
        work(c).map_err(|e| {
            *conn = None;
            self.say(&e.to_string())
        })
    }

    /// Adds `row` and deletes the reservation it settles; returns once it is committed.
    pub fn record(&self, row: &UsageRow) -> Result<(), String> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
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
            )?;
            // (The trigger `calls_billed_days` adds it to its day's total, whoever inserts it:
            // a process that opened the file before the migration too.)
            if let Some(id) = row.reservation {
                tx.execute("DELETE FROM reservations WHERE id = ?1", [id])?;
            }
            tx.commit()
        })
    }

    /// Holds `r.characters` against the budgets if [`usage::admit`] lets them fit, with what
    /// every process has billed and holds; atomically.
    pub fn reserve(&self, r: &Reserve) -> Result<Reserved, String> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Where a process can be seen to be gone, its reservations go with it and the
            // others are kept (a long `wait: true` playback outlives any expiry), up to a
            // day past it; elsewhere a reservation lapses at its expiry.
            let lapse = if cfg!(target_os = "linux") { DAY_MS } else { 0 };
            tx.execute(
                "DELETE FROM reservations WHERE expires_ms + ?2 <= ?1",
                [int(r.now_ms), lapse],
            )?;
            drop_the_dead(&tx)?;
            let held: i64 = tx.query_row(
                "SELECT coalesce(sum(characters), 0) FROM reservations",
                [],
                |row| row.get(0),
            )?;
            // The days' totals (kept with every row) make this a sum of at most 31 rows.
            let billed_since = |start_s: u64| -> rusqlite::Result<i64> {
                tx.query_row(
                    "SELECT coalesce(sum(billed), 0) FROM billed_days WHERE day >= ?1",
                    [int(start_s / 86_400)],
                    |row| row.get(0),
                )
            };
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            let used = Used {
                day: count(billed_since(r.day.start)?) + count(held),
                month: count(billed_since(r.month.start)?) + count(held),
            };
            let verdict = match usage::admit(r, used) {
                Ok(()) => {
                    tx.execute(
                        "INSERT INTO reservations (characters, unix_ms, expires_ms, pid)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![
                            int(r.characters),
                            int(r.now_ms),
                            int(r.expires_ms),
                            std::process::id()
                        ],
                    )?;
                    Reserved::Held {
                        id: tx.last_insert_rowid(),
                        used: Used {
                            day: used.day + r.characters,
                            month: used.month + r.characters,
                        },
                    }
                }
                Err(refusal) => Reserved::Refused(refusal),
            };
            tx.commit()?;
            Ok(verdict)
        })
    }

    /// The totals `ask` asks for.
    pub fn summary(&self, ask: &Ask) -> Result<Summary, String> {
        self.with(|c| {
            // One snapshot for every total.
            let c = c.transaction()?;
            let since = |s: u64| int(s.saturating_mul(1000));
            let totals = |start: u64| {
                c.query_row(
                    &format!("SELECT {TOTALS} FROM calls WHERE unix_ms >= ?1"),
                    [since(start)],
                    totals_of,
                )
            };
            let groups = |column: &str| -> rusqlite::Result<Vec<(String, Totals)>> {
                c.prepare(&format!(
                    "SELECT {TOTALS}, {column} FROM calls WHERE unix_ms >= ?1
                     GROUP BY {column} ORDER BY sum(billed) DESC, {column} LIMIT {MAX_GROUPS}"
                ))?
                .query_map([since(ask.month)], |r| Ok((r.get(6)?, totals_of(r)?)))?
                .collect()
            };
            Ok(Summary {
                day: totals(ask.day)?,
                month: totals(ask.month)?,
                account: ask.account.map(totals).transpose()?,
                held: c
                    .query_row(
                        "SELECT coalesce(sum(characters), 0) FROM reservations",
                        [],
                        |r| r.get::<_, i64>(0),
                    )?
                    .try_into()
                    .unwrap_or(0),
                by_model: groups("model")?,
                by_voice: groups("voice")?,
            })
        })
    }

    /// The totals since `since` (unix seconds) grouped by `by` (`day`, `model`, `voice` or
    /// `tool`), in the group's order.
    pub fn table(&self, since: u64, by: &str) -> Result<Vec<(String, Totals)>, String> {
        let column = match by {
            "day" => "strftime('%Y-%m-%d', unix_ms / 1000, 'unixepoch')",
            "model" => "model",
            "voice" => "voice",
            "tool" => "tool",
            other => return Err(format!("cannot group by {other:?}")),
        };
        self.with(|c| {
            c.prepare(&format!(
                "SELECT {TOTALS}, {column} AS g FROM calls WHERE unix_ms >= ?1 GROUP BY g ORDER BY g"
            ))?
            .query_map([int(since.saturating_mul(1000))], |r| {
                Ok((r.get::<_, Option<String>>(6)?.unwrap_or_default(), totals_of(r)?))
            })?
            .collect()
        })
    }

    /// Writes every row since `since` (unix seconds) as CSV to `out`, oldest first; returns
    /// how many.
    pub fn export_csv(&self, since: u64, out: &mut dyn std::io::Write) -> Result<u64, String> {
        let mut written = 0;
        let mut failed = None;
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', unix_ms / 1000, 'unixepoch'), tool, model,
                    voice, characters, billed, coalesce(request_id, ''), audio_bytes,
                    coalesce(duration_ms, ''), cached, fallback, outcome, latency_ms
                 FROM calls WHERE unix_ms >= ?1 ORDER BY unix_ms, id",
            )?;
            let mut rows = q.query([int(since.saturating_mul(1000))])?;
            let head = "time,tool,model,voice,characters,billed,request_id,audio_bytes,duration_ms,cached,fallback,outcome,latency_ms\n";
            if let Err(e) = out.write_all(head.as_bytes()) {
                failed = Some(e);
                return Ok(());
            }
            while let Some(row) = rows.next()? {
                let mut line = String::new();
                for i in 0..13 {
                    let cell = match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        rusqlite::types::ValueRef::Text(t) => csv_cell(&String::from_utf8_lossy(t)),
                        _ => String::new(),
                    };
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(&cell);
                }
                line.push('\n');
                if let Err(e) = out.write_all(line.as_bytes()) {
                    failed = Some(e);
                    return Ok(());
                }
                written += 1;
            }
            Ok(())
        })?;
        match failed {
            Some(e) => Err(format!("could not write the CSV: {e}")),
            None => Ok(written),
        }
    }

    /// Gives back a reservation whose call sent nothing.
    pub fn release(&self, id: i64) -> Result<(), String> {
        self.with(|c| {
            c.execute("DELETE FROM reservations WHERE id = ?1", [id])
                .map(drop)
        })
    }

    fn say(&self, why: &str) -> String {
        format!("usage ledger {}: {why}", self.path.display())
    }
}

/// Drops the reservations of processes that are no longer running (on Linux; elsewhere they
/// lapse at their expiry).
fn drop_the_dead(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let pids: Vec<u32> = tx
        .prepare("SELECT DISTINCT pid FROM reservations")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for pid in pids {
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            tx.execute("DELETE FROM reservations WHERE pid = ?1", [pid])?;
        }
    }
    Ok(())
}

/// The columns of [`Totals`], in its order.
const TOTALS: &str = "count(*), coalesce(sum(billed), 0), coalesce(sum(characters), 0),
    coalesce(sum(cached), 0), coalesce(sum(outcome = 'error'), 0), coalesce(sum(fallback), 0)";
/// Groups shown by model or voice, at most.
const MAX_GROUPS: usize = 50;

fn totals_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Totals> {
    let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
    Ok(Totals {
        calls: n(0)?,
        billed: n(1)?,
        characters: n(2)?,
        cached: n(3)?,
        failures: n(4)?,
        fallbacks: n(5)?,
    })
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
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
    let mut conn = Connection::open(path).map_err(|e| e.to_string())?;
    if fresh {
        restrict(path);
    }
    conn.busy_timeout(BUSY).map_err(|e| e.to_string())?;
    // Switching a new file to WAL takes an exclusive lock, which SQLite refuses at once (not
    // after the busy wait) while another process opening it holds a shared one: try again.
    let until = std::time::Instant::now() + BUSY;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(e) if busy(&e) && std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| e.to_string())?;
    migrate(&mut conn).map_err(|e| e.to_string())??;
    Ok(conn)
}

/// SQLite said another connection holds the lock it needs.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Brings the schema up to date, in one write transaction: two processes opening a new
/// ledger at once migrate it once.
fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), String>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Ok(Err(format!(
            "its schema (version {version}) is newer than this server's ({}): upgrade mcp-elevenlabs",
            MIGRATIONS.len()
        )));
    }
    for step in &MIGRATIONS[version..] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(Ok(()))
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

    fn reserve(characters: u64, daily: u64, now_ms: u64) -> Reserve {
        Reserve {
            characters,
            budgets: usage::Budgets {
                daily,
                ..usage::Budgets::default()
            },
            day: usage::day(now_ms / 1000),
            month: usage::month(now_ms / 1000, 0),
            now_ms,
            expires_ms: now_ms + 60_000,
        }
    }

    #[test]
    fn connections_racing_for_one_budget_never_overspend() {
        let path = temp("race");
        let now_ms = 1_796_000_000_000;
        let billed: u64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let ledger = Ledger::new(path.clone());
                    s.spawn(move || {
                        let mut billed = 0;
                        for _ in 0..40 {
                            match ledger.reserve(&reserve(10, 1000, now_ms)).unwrap() {
                                Reserved::Held { id, used } => {
                                    assert!(used.day <= 1000, "{used:?}");
                                    let row = UsageRow {
                                        unix_ms: now_ms,
                                        tool: "speak".into(),
                                        characters: 10,
                                        billed: 10,
                                        outcome: "ok",
                                        reservation: Some(id),
                                        ..UsageRow::default()
                                    };
                                    ledger.record(&row).unwrap();
                                    billed += 10;
                                }
                                Reserved::Refused(r) => assert_eq!(r.limit - r.used, 0),
                            }
                        }
                        billed
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(
            billed, 1000,
            "every character of the budget, and not one more"
        );
        let c = open(&path).unwrap();
        let (sum, held): (i64, i64) = c
            .query_row(
                "SELECT (SELECT sum(billed) FROM calls), (SELECT count(*) FROM reservations)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((sum, held), (1000, 0), "every reservation settled");
        let days: i64 = c
            .query_row("SELECT sum(billed) FROM billed_days", [], |r| r.get(0))
            .unwrap();
        assert_eq!(days, sum, "the days' totals follow the rows");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn reservations_lapse_are_released_or_die_with_their_process() {
        let path = temp("lapse");
        let ledger = Ledger::new(path.clone());
        let now_ms = 1_796_000_000_000;
        let Reserved::Held { id, .. } = ledger.reserve(&reserve(600, 1000, now_ms)).unwrap() else {
            panic!("room for 600")
        };
        assert!(matches!(
            ledger.reserve(&reserve(600, 1000, now_ms)).unwrap(),
            Reserved::Refused(_)
        ));
        ledger.release(id).unwrap();
        let Reserved::Held { .. } = ledger.reserve(&reserve(600, 1000, now_ms)).unwrap() else {
            panic!("released")
        };
        // Still held a second later; lapsed after its expiry.
        let later = now_ms + 1000;
        assert!(matches!(
            ledger.reserve(&reserve(600, 1000, later)).unwrap(),
            Reserved::Refused(_)
        ));
        // Lapsed after its expiry (a day later where a live process can be seen).
        let lapsed = now_ms
            + 61_000
            + if cfg!(target_os = "linux") {
                86_400_000
            } else {
                0
            };
        if cfg!(target_os = "linux") {
            assert!(
                matches!(
                    ledger
                        .reserve(&reserve(600, 1000, now_ms + 61_000))
                        .unwrap(),
                    Reserved::Refused(_)
                ),
                "its process (this one) still runs"
            );
        }
        let Reserved::Held { id, used } = ledger.reserve(&reserve(600, 1000, lapsed)).unwrap()
        else {
            panic!("lapsed")
        };
        assert_eq!(used.day, 600);
        if cfg!(target_os = "linux") {
            // A process that is gone holds nothing, whatever the expiry.
            let c = open(&path).unwrap();
            c.execute(
                "UPDATE reservations SET pid = 2147483647 WHERE id = ?1",
                [id],
            )
            .unwrap();
            assert!(matches!(
                ledger.reserve(&reserve(600, 1000, lapsed)).unwrap(),
                Reserved::Held { .. }
            ));
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_first_version_ledger_with_rows_is_migrated_and_its_days_counted() {
        let path = temp("v1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        let day_ms = 1_796_000_000_000u64 - 1_796_000_000_000 % 86_400_000;
        for (at, billed) in [(day_ms + 5, 10), (day_ms + 9, 20), (day_ms - 5, 7)] {
            c.execute(
                "INSERT INTO calls (unix_ms, tool, model, voice, characters, billed, audio_bytes,
                    cached, fallback, outcome, latency_ms) VALUES (?1, 'speak', 'm', 'v', ?2, ?2, 0, 0, 0, 'ok', 1)",
                params![int(at), billed],
            )
            .unwrap();
        }
        // A process still running the first version keeps adding rows after the migration.
        let ledger = Ledger::new(path.clone());
        let r = reserve(1, 1_000, day_ms + 10);
        let Reserved::Held { used, .. } = ledger.reserve(&r).unwrap() else {
            panic!("room")
        };
        assert_eq!(used.day, 31, "the day's 30, and this reservation");
        c.execute(
            "INSERT INTO calls (unix_ms, tool, model, voice, characters, billed, audio_bytes,
                cached, fallback, outcome, latency_ms) VALUES (?1, 'speak', 'm', 'v', 5, 5, 0, 0, 0, 'ok', 1)",
            [int(day_ms + 11)],
        )
        .unwrap();
        let Reserved::Held { used, .. } = ledger.reserve(&r).unwrap() else {
            panic!("room")
        };
        assert_eq!(used.day, 37, "its row counted too");
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
