//! Replays the fuzz seed corpus and every saved fuzz crash on stable, in the normal test run.
//!
//! `fuzz/src/lib.rs` holds the targets' bodies; a crash `cargo fuzz` finds is saved under
//! `fuzz/regressions/<target>/` (scripts/check.sh copies it there) and stays a test from then on.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code, unreachable_pub, unreachable_patterns)]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    let mut failed = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.expect("read_dir").path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file() && !is_hidden(p)) {
            let data = std::fs::read(&path).expect("read input");
            count += 1;
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(
        count > 0,
        "no seeds for {target}: run `python3 fuzz/seeds.py`"
    );
    assert!(failed.is_empty(), "{target} fails on: {failed:#?}");
}

#[test]
fn framer_corpus_and_regressions() {
    replay("framer", harness::framer);
}

#[test]
fn config_corpus_and_regressions() {
    replay("config", harness::config);
}

#[test]
fn server_corpus_and_regressions() {
    replay("server", harness::server);
}

#[cfg(feature = "http-server")]
#[test]
fn http_corpus_and_regressions() {
    replay("http", harness::http);
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}
