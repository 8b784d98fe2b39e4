//! Load on `serve --http`: CLIENTS concurrent clients × CALLS calls each (speak, list_voices,
//! tools/list, and ping or server/discover, in turn), half of them in 2025-11-25 sessions, half
//! stateless (2026-07-28), each on its own keep-alive connection, against the fake ElevenLabs
//! on 127.0.0.1. Prints errors, latency percentiles (end to end, and the fake's own time to
//! answer the same requests, measured directly), throughput and the server's peak RSS; exits 1
//! on any error. Bounded: it stops by itself, and stops the server (SIGTERM) it started.
//!
//! Usage: `cargo run --release --example http_load -- BINARY [CLIENTS [CALLS]]` (100 × 100)

#[path = "../tests/support/fake_elevenlabs.rs"]
mod fake_elevenlabs;
#[path = "../tests/support/http_client.rs"]
mod http_client;

use http_client::Conn;
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const KEY: &str = "sk_load_0123456789abcdef";
const OPS: [&str; 4] = ["speak", "list_voices", "tools/list", "ping"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let binary = args
        .first()
        .cloned()
        .unwrap_or_else(|| "target/release/mcp-elevenlabs".into());
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let calls: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);

    let fake = fake_elevenlabs::FakeElevenLabs::start(KEY);
    let home = std::env::temp_dir().join(format!("mcp-el-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let config = home.join("config/mcp-elevenlabs/config.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    // Enough ElevenLabs slots that the gate's queue is not what is measured, and room for
    // every client's call in flight.
    let mut yaml =
        "output:\n  delivery: file\nlimits:\n  max_concurrent: 64\nhttp:\n  max_in_flight: 1024\n"
            .to_string();
    // More settings for a run (e.g. `usage:\n  enabled: false\n` to leave the ledger out).
    if let Ok(extra) = std::env::var("LOAD_CONFIG") {
        yaml.push_str(&extra);
    }
    std::fs::write(&config, yaml).unwrap();
    let mut child = Command::new(&binary)
        .args(["serve", "--http", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("ELEVENLABS_API_KEY", KEY)
        .env("ELEVENLABS_BASE_URL", fake.url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let addr = loop {
        let mut buf = [0u8; 512];
        let n = stderr.read(&mut buf).unwrap_or(0);
        assert!(
            n > 0,
            "the server did not start: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(rest) = text.split("listening on http://").nth(1)
            && let Some(addr) = rest.split("/mcp").next().filter(|_| rest.contains("/mcp"))
        {
            break addr.parse().unwrap();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let pid = child.id();

    // The fake's own time for the upstream requests, measured directly.
    let upstream = upstream_baseline(&fake, 200);

    let barrier = Arc::new(Barrier::new(clients));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || client(addr, i, calls, &barrier))
                .unwrap()
        })
        .collect();
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); OPS.len()];
    let mut errors = Vec::new();
    for w in workers {
        let (l, e) = w.join().unwrap();
        for (k, v) in l.into_iter().enumerate() {
            lat[k].extend(v);
        }
        errors.extend(e);
    }
    let wall = started.elapsed();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (peak_kib, rss_kib) = (field("VmHWM:"), field("VmRSS:"));
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = child.try_wait().ok().flatten();
    if stopped.is_none() {
        let _ = child.kill();
    }
    let _ = std::fs::remove_dir_all(&home);

    let total: usize = lat.iter().map(Vec::len).sum();
    let mut all: Vec<u64> = lat.iter().flatten().copied().collect();
    println!(
        "http load: {clients} clients x {calls} calls = {total} answered, {} errors, {:.1} s, {:.0} calls/s",
        errors.len(),
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
    println!(
        "  {:<12} {:>7} {:>9} {:>9} {:>9}",
        "op", "calls", "p50 ms", "p95 ms", "p99 ms"
    );
    for (k, op) in OPS.iter().enumerate() {
        let v = &mut lat[k];
        println!(
            "  {:<12} {:>7} {:>9.2} {:>9.2} {:>9.2}",
            op,
            v.len(),
            pct(v, 50),
            pct(v, 95),
            pct(v, 99)
        );
    }
    println!(
        "  {:<12} {:>7} {:>9.2} {:>9.2} {:>9.2}",
        "all",
        all.len(),
        pct(&mut all, 50),
        pct(&mut all, 95),
        pct(&mut all, 99)
    );
    for (what, mut v) in upstream {
        println!(
            "  upstream {what}, the fake alone: p50 {:.2} ms, p95 {:.2} ms",
            pct(&mut v, 50),
            pct(&mut v, 95)
        );
    }
    println!(
        "  server peak RSS {:.1} MB (VmHWM), RSS at the end {:.1} MB; stopped on SIGTERM: {}",
        peak_kib as f64 / 1024.0,
        rss_kib as f64 / 1024.0,
        stopped.is_some_and(|s| s.success())
    );
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
    if !errors.is_empty() || stopped.is_none() {
        std::process::exit(1);
    }
}

/// One client: a session or stateless, CALLS calls in turn; latencies per op (µs) and errors.
fn client(
    addr: std::net::SocketAddr,
    i: usize,
    calls: usize,
    barrier: &Barrier,
) -> (Vec<Vec<u64>>, Vec<String>) {
    let mut lat = vec![Vec::new(); OPS.len()];
    let mut errors = Vec::new();
    let mut conn = Conn::open(addr);
    let stateless = i % 2 == 1;
    let mut headers: Vec<(&str, String)> = Vec::new();
    if !stateless {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"load","version":"1"}}});
        let r = conn.post(&[], &init);
        let sid = r.header("Mcp-Session-Id").unwrap_or_default().to_string();
        headers.push(("Mcp-Session-Id", sid));
        headers.push(("MCP-Protocol-Version", "2025-11-25".into()));
        let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        conn.post(&h, &note);
    }
    barrier.wait();
    for j in 0..calls {
        let k = j % OPS.len();
        let id = j as u64 + 1;
        let (method, params, name) = match OPS[k] {
            "speak" => (
                "tools/call",
                json!({"name":"speak","arguments":{"text": format!("Client {i} says line {j}.")}}),
                Some("speak"),
            ),
            "list_voices" => (
                "tools/call",
                json!({"name":"list_voices","arguments":{}}),
                Some("list_voices"),
            ),
            "tools/list" => ("tools/list", json!({}), None),
            _ if stateless => ("server/discover", json!({}), None),
            _ => ("ping", json!({}), None),
        };
        let mut params = params;
        let mut h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        if stateless {
            params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}});
            h.push(("MCP-Protocol-Version", "2026-07-28"));
            h.push(("Mcp-Method", method));
            if let Some(n) = name {
                h.push(("Mcp-Name", n));
            }
        }
        let msg = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        let t = Instant::now();
        let r = conn.post(&h, &msg);
        let us = t.elapsed().as_micros() as u64;
        let reply: Value = if r.status == 200 {
            r.reply()
        } else {
            Value::Null
        };
        let failed = r.status != 200
            || reply.get("error").is_some()
            || reply["result"]["isError"] == true
            || reply["id"] != id;
        if failed {
            errors.push(format!(
                "client {i} call {j} ({}): {} {}",
                OPS[k],
                r.status,
                String::from_utf8_lossy(&r.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        } else {
            lat[k].push(us);
        }
    }
    (lat, errors)
}

/// Latencies (µs) of the upstream requests, sent straight to the fake.
fn upstream_baseline(
    fake: &fake_elevenlabs::FakeElevenLabs,
    n: usize,
) -> Vec<(&'static str, Vec<u64>)> {
    let mut conn = Conn::open(fake.addr());
    let mut voices = Vec::new();
    let mut speech = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        let r = conn.request(
            "GET",
            "/v1/voices?page_size=100",
            &[("xi-api-key", KEY)],
            b"",
        );
        assert_eq!(r.status, 200);
        voices.push(t.elapsed().as_micros() as u64);
        let body = json!({"text": format!("Baseline line {i}."), "model_id": "eleven_flash_v2_5"})
            .to_string();
        let t = Instant::now();
        let r = conn.request(
            "POST",
            "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream?output_format=mp3_44100_128",
            &[("xi-api-key", KEY), ("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        speech.push(t.elapsed().as_micros() as u64);
    }
    vec![("GET /v1/voices", voices), ("POST tts/stream", speech)]
}

/// The `p`th percentile of microseconds, in milliseconds.
fn pct(v: &mut [u64], p: usize) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() * p).div_ceil(100))
        .saturating_sub(1)
        .min(v.len() - 1);
    v[i] as f64 / 1000.0
}
