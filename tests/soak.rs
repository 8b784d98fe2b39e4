//! Garbage-input soak: 100,000 random and mutated lines (deep nesting, huge numbers, invalid
//! UTF-8, lines over the 1 MiB limit, wrong types everywhere) into the stdio server while its
//! replies are read. It never exits, every reply is one valid JSON line, its peak RSS stays
//! within the budget, and a final `ping` is answered. Seeded, so a failure repeats.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc::channel;
use std::thread;
use std::time::{Duration, Instant};
use support::Home;

const LINES: usize = 100_000;
/// DESIGN.md §2: RSS under a flood.
const RSS_BUDGET_KB: u64 = 16 * 1024;

/// xorshift64*: a few lines of seeded randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TEMPLATES: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"soak","version":"1"}}}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
    r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"speak","arguments":{"text":"hi","voice_settings":{"speed":1.1}}}}"#,
    r#"{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"health://status"}}"#,
    r#"{"jsonrpc":"2.0","id":6,"method":"logging/setLevel","params":{"level":"debug"}}"#,
    r#"[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
    r#"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}"#,
    r#"{"jsonrpc":"2.0","id":8,"method":"resources/read","params":{"uri":"audio://nothing.mp3"}}"#,
];

/// One line of garbage (without its newline).
fn garbage(rng: &mut Rng, n: usize) -> Vec<u8> {
    if n % 10_000 == 5_000 {
        // A line over the 1 MiB limit, every 10,000th line.
        let mut line = br#"{"jsonrpc":"2.0","id":9,"method":"ping","params":{"x":""#.to_vec();
        line.extend(std::iter::repeat_n(b'a', (1 << 20) + 100));
        line.extend(br#""}}"#);
        return line;
    }
    let base = TEMPLATES[rng.below(TEMPLATES.len())].as_bytes().to_vec();
    match rng.below(10) {
        // Byte flips, some into invalid UTF-8.
        0..=2 => {
            let mut line = base;
            for _ in 0..=rng.below(4) {
                let at = rng.below(line.len());
                line[at] = (rng.next() & 0xff) as u8;
            }
            line.retain(|b| *b != b'\n');
            line
        }
        // Cut short.
        3 => base[..rng.below(base.len())].to_vec(),
        // Deep nesting, beyond any parser's recursion limit.
        4 => {
            let depth = 1 + rng.below(5000);
            let mut line = "[".repeat(depth).into_bytes();
            line.extend("]".repeat(depth).bytes());
            line
        }
        // Huge and odd numbers where ids and arguments go.
        5 => format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"list_voices","arguments":{{"page_size":1e999999,"search":{}}}}}}}"#,
            ["1e400", "-0", "18446744073709551616", "0.5", "null", "[]"][rng.below(6)],
            ["1", "true", "{}", "\"\"", "null"][rng.below(5)],
        )
        .into_bytes(),
        // Wrong types everywhere.
        6 => format!(
            r#"{{"jsonrpc":{},"id":{},"method":{},"params":{}}}"#,
            ["\"2.0\"", "2", "null"][rng.below(3)],
            ["{}", "[]", "true", "\"a\"", "9"][rng.below(5)],
            ["7", "\"tools/call\"", "[]", "\"\""][rng.below(4)],
            ["\"p\"", "[]", "1", "{\"name\":[]}"][rng.below(4)],
        )
        .into_bytes(),
        _ => base,
    }
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flood_of_garbage_never_stops_the_server() {
    let home = Home::new("soak");
    let mut child = home
        .command(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    let reader = thread::spawn(move || {
        let mut replies = 0u64;
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = std::str::from_utf8(&line).expect("replies are UTF-8");
            let v: Value = serde_json::from_str(text.trim_end())
                .unwrap_or_else(|e| panic!("not one JSON line ({e}): {text:.200}"));
            replies += 1;
            if v["id"] == "final" {
                let _ = tx.send(v);
            }
        }
        replies
    });
    let mut rng = Rng(0x005e_ed0f_5a0c);
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut batch = Vec::with_capacity(1 << 16);
    for n in 0..LINES {
        batch.extend(garbage(&mut rng, n));
        batch.push(b'\n');
        if batch.len() >= 1 << 16 || n + 1 == LINES {
            bytes += batch.len();
            stdin.write_all(&batch).expect("the server keeps reading");
            batch.clear();
        }
    }
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"final\",\"method\":\"ping\"}\n")
        .unwrap();
    stdin.flush().unwrap();
    let last = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the final ping is answered");
    let took = started.elapsed();
    assert_eq!(last["result"], serde_json::json!({}), "{last}");
    let rss = peak_rss_kb(pid);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    drop(stdin);
    let status = support::wait_bounded(&mut child, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "a clean exit at EOF");
    let replies = reader.join().unwrap();
    println!(
        "soak: {LINES} lines ({:.1} MB) in {:.2} s ({:.0} lines/s), {replies} replies, peak RSS {rss} kB",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        LINES as f64 / took.as_secs_f64()
    );
    assert!(
        replies > LINES as u64 / 2,
        "most lines get an answer: {replies}"
    );
    assert!(rss > 0 && rss <= RSS_BUDGET_KB, "peak RSS {rss} kB");
}
