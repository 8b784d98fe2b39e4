//! Criterion benches of the pure core: framing, dispatch and session setup, no I/O involved.
//!
//! `cargo bench --bench core` measures; `cargo test --benches` (run by scripts/check.sh) runs each
//! once as a smoke test. Figures are recorded in BENCHMARKS.md by hand, with the command.
#![allow(missing_docs)] // `criterion_group!` defines an undocumented public function

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mcp_elevenlabs::core::elevenlabs::HttpResponse;
use mcp_elevenlabs::core::frame::{Frame, Framer};
use mcp_elevenlabs::core::settings::{ApiKey, Settings};
use mcp_elevenlabs::core::{Config, Input, JobResult, Output, Server};
use std::hint::black_box;
use std::time::Instant;

/// Lines per dispatch iteration: one stdin read carrying many requests, as under load.
const LINES: u64 = 1_000;

const SUBSCRIPTION: &str = r#"{"tier":"creator","character_count":1200,"character_limit":100000,"next_character_count_reset_unix":1767225600,"status":"active"}"#;

fn initialize(version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"bench","version":"1"}}}}}}"#
    )
}

const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

const DISCOVER: &str = r#"{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}"#;

fn config() -> Config {
    let settings = Settings {
        api_key: Some(ApiKey::new("sk_bench_0000000000000000")),
        ..Settings::default()
    };
    Config::default().settings(settings, Vec::new())
}

/// Stdout bytes written and jobs started while draining.
fn drain(server: &mut Server) -> (usize, Vec<mcp_elevenlabs::core::JobId>) {
    let (mut bytes, mut jobs) = (0, Vec::new());
    while let Some(output) = server.poll_output() {
        match output {
            Output::Stdout(b) => bytes += b.len(),
            Output::Start { id, .. } => jobs.push(id),
            _ => {}
        }
    }
    (bytes, jobs)
}

fn lines(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    out.push(b'\n');
    out
}

/// A server past the 2025-06-18 handshake.
fn ready(now: Instant) -> Server {
    let mut server = Server::new(config(), now);
    let mut hello = lines(&initialize("2025-06-18"));
    hello.extend(lines(INITIALIZED));
    server.handle_input(now, Input::Stdin(hello));
    drain(&mut server);
    server
}

fn framing(c: &mut Criterion) {
    let mut stream = Vec::new();
    let mut i = 0;
    while stream.len() < 1 << 20 {
        stream.extend(lines(&format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"speak","arguments":{{"text":"Hello there, this is line {i}."}}}}}}"#
        )));
        i += 1;
    }
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    for chunk in [64 * 1024, 4096] {
        group.bench_function(format!("1 MiB in {chunk} B reads"), |b| {
            b.iter(|| {
                let mut framer = Framer::default();
                let mut n = 0;
                for piece in stream.chunks(chunk) {
                    framer.push(piece);
                    while let Some(frame) = framer.next_frame() {
                        if let Frame::Line(line) = frame {
                            n += line.len();
                        }
                    }
                }
                black_box(n)
            });
        });
    }
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(LINES));
    for (name, method) in [("ping", "ping"), ("tools/list", "tools/list")] {
        let mut input = Vec::new();
        for id in 1..=LINES {
            input.extend(lines(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#
            )));
        }
        let mut server = ready(now);
        group.bench_function(name, |b| {
            b.iter(|| {
                server.handle_input(now, Input::Stdin(input.clone()));
                black_box(drain(&mut server))
            });
        });
    }
    // A tools/call through the whole gate: validation, the request as data, the job's reply
    // parsed and rendered. `get_usage` is never cached, so every call does all of it.
    let call = lines(
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_usage","arguments":{}}}"#,
    );
    let mut server = ready(now);
    group.throughput(Throughput::Elements(1));
    group.bench_function("tools/call get_usage with its upstream reply", |b| {
        b.iter(|| {
            server.handle_input(now, Input::Stdin(call.clone()));
            let (_, jobs) = drain(&mut server);
            for id in jobs {
                let reply = HttpResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: SUBSCRIPTION.as_bytes().to_vec(),
                };
                server.handle_input(
                    now,
                    Input::JobDone {
                        id,
                        result: JobResult::Http(Ok(reply)),
                    },
                );
            }
            black_box(drain(&mut server))
        });
    });
    group.finish();
}

fn session_setup(c: &mut Criterion) {
    let now = Instant::now();
    let mut sessions = Vec::new();
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut hello = lines(&initialize(version));
        hello.extend(lines(INITIALIZED));
        hello.extend(lines(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#));
        sessions.push((
            format!("{version}: initialize, initialized, tools/list"),
            hello,
        ));
    }
    let mut hello = lines(DISCOVER);
    hello.extend(lines(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
    ));
    sessions.push(("2026-07-28: server/discover, tools/list".to_string(), hello));

    let mut group = c.benchmark_group("session setup");
    for (name, hello) in sessions {
        group.bench_function(name, |b| {
            b.iter_batched(
                || hello.clone(),
                |hello| {
                    let mut server = Server::new(config(), now);
                    server.handle_input(now, Input::Stdin(hello));
                    black_box(drain(&mut server))
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// The tone analysis (feature `emotion`): one 200-character text, the same text per sentence
/// with its plan (what `speak` runs), and a 2,000-character answer.
#[cfg(feature = "emotion")]
fn emotion(c: &mut Criterion) {
    use mcp_elevenlabs::core::emotion::{self, plan};
    let text = "Thanks for waiting! The build finished, but two tests failed: the disk on the \
                runner is almost full. Should I clean the cache and try again, or stop here? \
                Sorry for the noise, I'll keep it short.";
    assert!((190..=210).contains(&text.len()), "{}", text.len());
    let long = text.repeat(10);
    let mut group = c.benchmark_group("emotion");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("analyze 200 characters", |b| {
        b.iter(|| emotion::analyze(black_box(text)));
    });
    group.bench_function("plan 200 characters (whole + per sentence)", |b| {
        b.iter(|| plan::plan(black_box(text), plan::Choice::Auto, "eleven_flash_v2_5"));
    });
    group.throughput(Throughput::Bytes(long.len() as u64));
    group.bench_function("plan 2,000 characters", |b| {
        b.iter(|| plan::plan(black_box(&long), plan::Choice::Auto, "eleven_v3"));
    });
    group.finish();
}

#[cfg(not(feature = "emotion"))]
fn emotion(_: &mut Criterion) {}

criterion_group!(benches, framing, dispatch, session_setup, emotion);
criterion_main!(benches);
