//! The usage ledger's cost on a call's hot path, through the shell's own `Ledger` on a real
//! SQLite file (WAL, `synchronous=NORMAL`): a row alone (no budgets), and a budget's
//! reservation then its settling row (budgets set). Prints p50, p99 and max per call.
//!
//! `cargo bench --bench ledger` measures 5,000 calls of each; `cargo test --benches` (run by
//! scripts/check.sh) runs 20 as a smoke test. Figures are recorded in BENCHMARKS.md by hand.
#![allow(missing_docs)]

use mcp_elevenlabs::core::usage::{self, Budgets, Reserve, Reserved, UsageRow};
use mcp_elevenlabs::shell::ledger::Ledger;
use std::time::{Duration, Instant};

fn row(reservation: Option<i64>, unix_ms: u64) -> UsageRow {
    UsageRow {
        unix_ms,
        tool: "speak".into(),
        model: "eleven_flash_v2_5".into(),
        voice: "21m00Tcm4TlvDq8ikWAM".into(),
        characters: 120,
        billed: 60,
        request_id: Some("req_0123456789".into()),
        audio_bytes: 48_000,
        duration_ms: Some(3_000),
        outcome: "ok",
        latency_ms: 350,
        reservation,
        ..UsageRow::default()
    }
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name:<28} n={:<5} p50={:>7.1} us  p99={:>7.1} us  max={:>8.1} us",
        times.len(),
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6,
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 5_000 } else { 20 };
    let dir = std::env::temp_dir().join(format!("mcp-el-ledger-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ledger = Ledger::new(dir.join("usage.sqlite3"));
    let now_ms = 1_796_000_000_000;
    // Opening (and migrating) is once per process, not per call.
    ledger.record(&row(None, now_ms)).unwrap();

    let mut times = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let t = Instant::now();
        ledger.record(&row(None, now_ms + i)).unwrap();
        times.push(t.elapsed());
    }
    report("row (no budgets)", times);

    let mut times = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let r = Reserve {
            characters: 120,
            budgets: Budgets {
                daily: u64::MAX / 4,
                monthly: u64::MAX / 4,
                per_call: 0,
            },
            day: usage::day(now_ms / 1000),
            month: usage::month(now_ms / 1000, 0),
            now_ms: now_ms + i,
            expires_ms: now_ms + i + 60_000,
        };
        let t = Instant::now();
        let Reserved::Held { id, .. } = ledger.reserve(&r).unwrap() else {
            panic!("room")
        };
        ledger.record(&row(Some(id), now_ms + i)).unwrap();
        times.push(t.elapsed());
    }
    report("reserve + settling row", times);
    let _ = std::fs::remove_dir_all(&dir);
}
