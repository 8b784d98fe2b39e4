//! Scenario tests and properties of the whole core.

use super::settings::{Problem, Settings};
use super::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The core driven like the shell drives it, on a clock of its own (shared with
/// `resilience_tests.rs`).
pub(super) struct Harness {
    pub(super) server: Server,
    pub(super) now: Instant,
    pub(super) jobs: Vec<(JobId, Job)>,
    /// The service's own jobs (the cache's scan and evictions), kept apart from the calls'.
    pub(super) upkeep: Vec<(JobId, Job)>,
    pub(super) cancelled: Vec<JobId>,
    /// The usage ledger's rows, written (and answered) at once (its reports are answered at
    /// once too, empty).
    pub(super) rows: Vec<usage::UsageRow>,
}

impl Harness {
    pub(super) fn new(config: Config) -> Self {
        let now = Instant::now();
        Self {
            server: Server::new(config, now),
            now,
            jobs: Vec::new(),
            upkeep: Vec::new(),
            cancelled: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub(super) fn drain(&mut self) -> Vec<Value> {
        let mut bytes = Vec::new();
        loop {
            let mut written = Vec::new();
            while let Some(o) = self.server.poll_output() {
                match o {
                    Output::Stdout(b) => bytes.extend(b),
                    Output::Start {
                        id,
                        job: job @ (Job::CacheScan | Job::CacheEvict { .. }),
                    } => self.upkeep.push((id, job)),
                    Output::Start {
                        id,
                        job: Job::Record(row),
                    } => {
                        self.rows.push(*row);
                        written.push((id, JobResult::Written(Ok(()))));
                    }
                    Output::Start {
                        id,
                        job: Job::Report(_),
                    } => {
                        // An empty ledger.
                        let summary = Box::new(usage::Summary::default());
                        written.push((id, JobResult::Report(Ok(summary))));
                    }
                    Output::Start { id, job } => self.jobs.push((id, job)),
                    Output::Cancel(id) => self.cancelled.push(id),
                    Output::Log { .. } => {}
                    #[cfg(feature = "http-server")]
                    Output::Http(_) => {}
                }
            }
            if written.is_empty() {
                break;
            }
            for (id, result) in written {
                self.server
                    .handle_input(self.now, Input::JobDone { id, result });
            }
        }
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("server wrote invalid JSON"))
            .collect()
    }

    pub(super) fn send(&mut self, line: &str) -> Vec<Value> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.server.handle_input(self.now, Input::Stdin(bytes));
        self.drain()
    }

    pub(super) fn one(&mut self, line: &str) -> Value {
        let mut replies = self.send(line);
        assert_eq!(replies.len(), 1, "{replies:?}");
        replies.remove(0)
    }

    /// Ends job `id` with `result` and returns what the server wrote.
    pub(super) fn finish(&mut self, id: JobId, result: JobResult) -> Vec<Value> {
        self.server
            .handle_input(self.now, Input::JobDone { id, result });
        self.drain()
    }

    /// `health://status`, read as request `id`.
    pub(super) fn health(&mut self, id: u32) -> Value {
        let read = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"resources/read","params":{{"uri":"health://status"}}}}"#
        );
        let reply = self.one(&read);
        serde_json::from_str(reply["result"]["contents"][0]["text"].as_str().unwrap()).unwrap()
    }

    pub(super) fn init(&mut self, version: &str) -> Value {
        self.one(&format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        ))
    }
}

fn modern(id: u32, method: &str, extra: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{extra}"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    )
}

#[test]
fn negotiates_requested_or_latest_handshake_version() {
    for (asked, got) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let mut h = Harness::new(Config::default());
        let r = h.init(asked);
        assert_eq!(r["result"]["protocolVersion"], got);
        assert!(
            r["result"]["instructions"]
                .as_str()
                .unwrap()
                .contains("credits")
        );
        assert!(r["result"].get("resultType").is_none());
    }
}

#[test]
fn ping_and_errors_in_the_handshake_era() {
    let mut h = Harness::new(Config::default());
    assert_eq!(
        h.one(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)["result"],
        json!({})
    );
    let r = h.one(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    assert_eq!(r["error"]["code"], -32602, "before initialize");
    h.init("2025-06-18");
    assert!(
        h.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .is_empty()
    );
    assert_eq!(
        h.one(r#"{"jsonrpc":"2.0","id":3,"method":"nope"}"#)["error"]["code"],
        -32601
    );
    let r = h.one("{oops");
    assert_eq!(r["error"]["code"], -32700);
    assert_eq!(r["id"], Value::Null, "2025-06-18 writes id null");
    assert!(r.as_object().unwrap().contains_key("id"));
    assert_eq!(
        h.one(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"cursor":"x"}}"#)["error"]
            ["code"],
        -32602
    );
    assert_eq!(h.one(r#"{"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#)["error"]["code"], -32600);
}

#[test]
fn unknown_id_errors_omit_id_from_2025_11_25() {
    let mut h = Harness::new(Config::default());
    h.init("2025-11-25");
    let r = h.one("[}");
    assert!(!r.as_object().unwrap().contains_key("id"), "{r}");
    assert_eq!(
        r["error"]["code"], -32700,
        "invalid JSON is a parse error, batch or not"
    );
}

#[test]
fn over_long_line_gets_an_error_and_serving_continues() {
    let mut h = Harness::new(Config::default().max_line(64));
    h.init("2025-03-26");
    let long = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"ping","params":{{"x":"{}"}}}}"#,
        "a".repeat(200)
    );
    let r = h.send(&long);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["error"]["code"], -32600);
    assert_eq!(
        h.one(r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#)["id"],
        10
    );
}

#[test]
fn batches_only_under_2025_03_26() {
    let mut h = Harness::new(Config::default());
    h.init("2025-03-26");
    let r = h.one(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#);
    let arr = r.as_array().expect("a batch answer is an array");
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["id"], 1);
    assert_eq!(arr[1]["id"], 2);
    assert_eq!(h.one("[]")["error"]["code"], -32600);
    let mut h = Harness::new(Config::default());
    h.init("2025-06-18");
    assert_eq!(
        h.one(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)["error"]["code"],
        -32600
    );
}

#[test]
fn stateless_requests() {
    let mut h = Harness::new(Config::default());
    let r = h.one(&modern(1, "server/discover", ""));
    assert_eq!(
        r["result"]["supportedVersions"].as_array().unwrap().len(),
        5
    );
    assert_eq!(r["result"]["resultType"], "complete");
    assert_eq!(
        r["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        NAME
    );
    let r = h.one(&modern(2, "tools/list", ""));
    assert_eq!(r["result"]["tools"][0]["name"], "speak");
    assert_eq!(r["result"]["cacheScope"], "public");
    assert!(r["result"]["ttlMs"].is_u64());
    assert_eq!(
        h.one(&modern(3, "ping", ""))["error"]["code"],
        -32601,
        "ping is gone in 2026-07-28"
    );
    let r = h.one(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-06-18","io.modelcontextprotocol/clientCapabilities":{}}}}"#);
    assert_eq!(r["error"]["code"], -32022);
    assert_eq!(r["error"]["data"]["requested"], "2025-06-18");
    assert_eq!(r["error"]["data"]["supported"].as_array().unwrap().len(), 5);
    let r = h.one(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#);
    assert_eq!(r["error"]["code"], -32602);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clientCapabilities")
    );
    // A resource that does not exist is -32602 in this era.
    let r = h.one(&modern(6, "resources/read", r#""uri":"nope://x","#));
    assert_eq!(r["error"]["code"], -32602);
}

#[test]
fn per_request_log_level() {
    let mut h = Harness::new(Config::default());
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_usage","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"debug"}}}"#;
    let r = h.send(call);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["method"], "notifications/message");
    assert_eq!(r[1]["result"]["isError"], true);
    let r = h.send(&modern(2, "tools/call", r#""name":"get_usage","#));
    assert_eq!(r.len(), 1, "no level, no log notifications");
}

#[test]
fn tool_calls_validate_then_explain() {
    let mut h = Harness::new(Config::default());
    h.init("2025-06-18");
    let r = h.one(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shout","arguments":{}}}"#);
    assert_eq!(r["error"]["code"], -32602);
    let r = h.one(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"speak","arguments":{"text":5}}}"#);
    assert_eq!(r["result"]["isError"], true);
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("`text` must be a string")
    );
    let r = h.one(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"speak","arguments":{"text":"hi"}}}"#);
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("ELEVENLABS_API_KEY")
    );

    let problems = vec![Problem {
        origin: "/c.yaml".into(),
        key: "limits.max_retries".into(),
        message: "must be …".into(),
    }];
    let mut h = Harness::new(Config::default().settings(Settings::default(), problems));
    h.init("2025-06-18");
    let r = h.one(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"speak","arguments":{"text":"hi"}}}"#);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("/c.yaml") && text.contains("limits.max_retries"),
        "{text}"
    );
}

#[test]
fn ping_is_answered_while_a_read_is_in_flight_and_cancel_drops_the_reply() {
    let mut h = Harness::new(Config::default());
    h.init("2025-11-25");
    assert!(h.send(r#"{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":"audio://a.mp3"}}"#).is_empty());
    assert_eq!(h.jobs.len(), 1);
    assert_eq!(
        h.one(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)["id"],
        2
    );
    let (job, _) = h.jobs[0].clone();
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: JobResult::Audio(Ok(b"ID3".to_vec())),
        },
    );
    let r = h.drain();
    assert_eq!(r[0]["id"], "r");
    assert_eq!(r[0]["result"]["contents"][0]["blob"], "SUQz");
    assert_eq!(r[0]["result"]["contents"][0]["mimeType"], "audio/mpeg");

    assert!(
        h.send(
            r#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"audio://b.wav"}}"#
        )
        .is_empty()
    );
    assert!(
        h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#)
            .is_empty()
    );
    let (job, _) = h.jobs[1].clone();
    assert_eq!(h.cancelled, vec![job]);
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: JobResult::Audio(Ok(vec![])),
        },
    );
    assert!(h.drain().is_empty(), "no response after cancellation");
}

#[test]
fn eof_waits_for_in_flight_work_then_cancels() {
    let mut h = Harness::new(Config::default().shutdown_grace(Duration::from_secs(2)));
    h.init("2025-11-25");
    h.send(
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"audio://a.mp3"}}"#,
    );
    h.server.handle_input(h.now, Input::StdinClosed);
    assert!(!h.server.is_finished());
    let deadline = h.server.poll_timeout().unwrap();
    assert_eq!(deadline, h.now + Duration::from_secs(2));
    h.server.handle_timeout(deadline);
    h.drain();
    assert_eq!(h.cancelled.len(), 1);
    assert!(h.server.is_finished());
}

#[test]
fn concurrency_limit_queues_jobs() {
    let mut settings = Settings::default();
    settings.limits.max_concurrent = 1;
    let mut h = Harness::new(Config::default().settings(settings, vec![]));
    h.init("2025-11-25");
    h.send(
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"audio://a.mp3"}}"#,
    );
    h.send(
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"audio://b.mp3"}}"#,
    );
    assert_eq!(h.jobs.len(), 1);
    let (job, _) = h.jobs[0].clone();
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: JobResult::Audio(Err(FileError::NotFound)),
        },
    );
    let r = h.drain();
    assert_eq!(r[0]["error"]["code"], -32002);
    assert_eq!(h.jobs.len(), 2, "the queued job starts when a slot frees");
}

fn request_lines() -> impl Strategy<Value = String> {
    let methods = prop_oneof![
        Just("ping"),
        Just("tools/list"),
        Just("tools/call"),
        Just("resources/list"),
        Just("resources/read"),
        Just("resources/templates/list"),
        Just("server/discover"),
        Just("logging/setLevel"),
        Just("initialize"),
        Just("bogus")
    ];
    let params = prop_oneof![
        Just(String::new()),
        Just(r#","params":{"name":"speak","arguments":{"text":"hi"}}"#.to_string()),
        Just(r#","params":{"uri":"audio://x.mp3"}"#.to_string()),
        Just(r#","params":{"uri":"health://status"}"#.to_string()),
        Just(r#","params":{"level":"debug"}"#.to_string()),
        Just(r#","params":{"protocolVersion":"2025-03-26"}"#.to_string()),
        Just(r#","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}"#.to_string()),
        Just(r#","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2024-11-05"}}"#.to_string()),
    ];
    (methods, params, 0u32..40)
        .prop_map(|(m, p, id)| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{m}"{p}}}"#))
}

proptest! {
    /// Every request gets exactly one response (jobs completed or cancelled), whatever the mix.
    #[test]
    fn one_response_per_request(
        lines in proptest::collection::vec(request_lines(), 1..40),
        cancel in proptest::collection::vec(0u32..40, 0..5),
    ) {
        let mut h = Harness::new(Config::default());
        let mut sent: Vec<String> = Vec::new();
        let mut replies = Vec::new();
        for line in &lines {
            let v: Value = serde_json::from_str(line).unwrap();
            sent.push(v["id"].to_string());
            replies.extend(h.send(line));
        }
        let mut cancelled_ids = Vec::new();
        for c in cancel {
            replies.extend(h.send(&format!(r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{c}}}}}"#)));
            cancelled_ids.push(c.to_string());
        }
        // Finish every job the server started (cancelled ones are ignored by the server).
        while let Some((id, _)) = h.jobs.pop() {
            h.server.handle_input(h.now, Input::JobDone { id, result: JobResult::Audio(Ok(vec![1, 2])) });
            replies.extend(h.drain());
        }
        let mut answered: HashMap<String, usize> = HashMap::new();
        for r in replies.iter().flat_map(|r| r.as_array().cloned().unwrap_or_else(|| vec![r.clone()])) {
            if r.get("method").is_some() { continue; }
            // A duplicate of an id in flight is refused without an id; the message names it.
            let id = match r["error"]["message"].as_str().and_then(|m| m.strip_prefix("request id ")) {
                Some(rest) if r["id"].is_null() => rest.split(' ').next().unwrap().to_string(),
                _ => r["id"].to_string(),
            };
            *answered.entry(id).or_default() += 1;
        }
        let mut expected: HashMap<String, usize> = HashMap::new();
        for id in &sent { *expected.entry(id.clone()).or_default() += 1; }
        for (id, n) in &expected {
            let got = answered.get(id).copied().unwrap_or(0);
            // A request may be dropped only if it was cancelled while in flight.
            prop_assert!(got == *n || (got + 1 == *n && cancelled_ids.contains(id)), "id {id}: sent {n}, answered {got}");
        }
        for id in answered.keys() { prop_assert!(expected.contains_key(id), "answered unknown id {id}"); }
        prop_assert_eq!(h.server.in_flight(), 0);
    }

    /// No input makes the core panic, and it keeps answering afterwards.
    #[test]
    fn no_panic_on_any_input(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..10)) {
        let mut h = Harness::new(Config::default().max_line(128));
        for c in chunks {
            h.server.handle_input(h.now, Input::Stdin(c));
            while h.server.poll_output().is_some() {}
        }
        h.server.handle_input(h.now, Input::Stdin(b"\n".to_vec()));
        while h.server.poll_output().is_some() {}
        let r = h.send(r#"{"jsonrpc":"2.0","id":"last","method":"ping"}"#);
        prop_assert!(r.iter().any(|m| m["id"] == "last"));
    }
}

/// Runs a whole byte stream through a fresh server in the given pieces; returns stdout bytes.
fn run_split(stream: &[u8], cuts: &[usize]) -> Vec<u8> {
    let now = Instant::now();
    let mut server = Server::new(Config::default(), now);
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain([&stream.len()]) {
        server.handle_input(now, Input::Stdin(stream[at..cut].to_vec()));
        at = cut;
        while let Some(o) = server.poll_output() {
            if let Output::Stdout(b) = o {
                out.extend(b);
            }
        }
    }
    out
}

proptest! {
    /// Any byte split of a valid stream gives the same replies as the stream in one piece.
    #[test]
    fn any_split_of_a_stream_gives_the_same_replies(
        lines in proptest::collection::vec(request_lines(), 1..12),
        crlf in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\xEF\xBB\xBF");
        stream.extend_from_slice(br#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-03-26"}}"#);
        for line in &lines {
            stream.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            stream.extend_from_slice(line.as_bytes());
        }
        stream.push(b'\n');
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(run_split(&stream, &cuts), run_split(&stream, &[]));
    }
}

#[test]
fn batch_limits_items_and_reply_bytes() {
    let mut h = Harness::new(Config::default());
    h.init("2025-03-26");
    let many: Vec<String> = (1..=101)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"ping"}}"#))
        .collect();
    let r = h.one(&format!("[{}]", many.join(",")));
    assert_eq!(r["error"]["code"], -32600);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch too large")
    );
    // Two 2 MiB reads in one batch: the second would push the reply past the cap.
    assert!(h.send(r#"[{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"audio://a.mp3"}},{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"audio://b.mp3"}}]"#).is_empty());
    let jobs = std::mem::take(&mut h.jobs);
    let mut replies = Vec::new();
    for (id, _) in jobs {
        h.server.handle_input(
            h.now,
            Input::JobDone {
                id,
                result: JobResult::Audio(Ok(vec![0; 2 << 20])),
            },
        );
        replies.extend(h.drain());
    }
    let arr = replies[0].as_array().unwrap_or_else(|| {
        panic!(
            "{}",
            &replies[0].to_string()[..300.min(replies[0].to_string().len())]
        )
    });
    assert_eq!(arr.len(), 2);
    assert!(
        arr[0]["result"]["contents"][0]["blob"]
            .as_str()
            .unwrap()
            .len()
            > 2_700_000
    );
    assert_eq!(arr[1]["error"]["code"], -32603);
}

#[test]
fn initialize_is_the_handshake_even_with_modern_meta() {
    let mut h = Harness::new(Config::default());
    let r = h.one(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#);
    assert_eq!(r["result"]["protocolVersion"], "2025-06-18");
}

#[test]
fn stateless_blob_reads_carry_cache_hints_and_meta() {
    let mut h = Harness::new(Config::default());
    assert!(
        h.send(&modern(1, "resources/read", r#""uri":"audio://a.wav","#))
            .is_empty()
    );
    let (job, _) = h.jobs[0].clone();
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: JobResult::Audio(Ok(b"RIFF".to_vec())),
        },
    );
    let r = h.drain();
    let result = &r[0]["result"];
    assert_eq!(result["contents"][0]["blob"], "UklGRg==");
    assert_eq!(result["contents"][0]["mimeType"], "audio/wav");
    assert_eq!(result["ttlMs"], 86_400_000);
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        NAME
    );
}

pub(super) fn with_key() -> Config {
    let mut settings = Settings::default();
    settings.api_key = Some(settings::ApiKey::new("sk_core_test_000000000000"));
    // The audio cache's jobs would come first in every scenario; it has its own (cache_tests.rs).
    settings.cache_enabled = false;
    Config::default().settings(settings, vec![])
}

pub(super) fn http_ok(body: &str) -> JobResult {
    JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 200,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }))
}

pub(super) const SUBSCRIPTION: &str =
    r#"{"tier":"free","character_count":5,"character_limit":10,"status":"free"}"#;

#[test]
fn a_transient_failure_is_retried_on_the_core_clock() {
    let mut h = Harness::new(with_key());
    h.init("2025-11-25");
    assert!(
        h.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_usage"}}"#)
            .is_empty()
    );
    let (job, request) = h.jobs.pop().unwrap();
    assert!(
        matches!(&request, Job::Http { request, .. } if request.path == "/v1/user/subscription")
    );
    let busy = elevenlabs::HttpResponse {
        status: 503,
        headers: vec![],
        body: b"down".to_vec(),
    };
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: JobResult::Http(Ok(busy)),
        },
    );
    assert!(h.drain().is_empty(), "no answer while a retry waits");
    let at = h.server.poll_timeout().expect("a retry timer");
    let wait = at - h.now;
    assert!(
        wait >= Duration::from_millis(400) && wait <= Duration::from_millis(600),
        "{wait:?}"
    );
    // ping is answered meanwhile.
    assert_eq!(
        h.one(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)["id"],
        2
    );
    h.server.handle_timeout(at);
    h.drain();
    let (job, request2) = h.jobs.pop().expect("the request is sent again");
    assert_eq!(request, request2);
    h.server.handle_input(
        at,
        Input::JobDone {
            id: job,
            result: http_ok(SUBSCRIPTION),
        },
    );
    let r = h.drain();
    assert_eq!(r[0]["id"], 1);
    assert_eq!(r[0]["result"]["isError"], false, "{}", r[0]);
    assert_eq!(r[0]["result"]["structuredContent"]["characters_left"], 5);
}

#[test]
fn cancelling_during_a_retry_wait_sends_nothing_more() {
    let mut h = Harness::new(with_key());
    h.init("2025-11-25");
    h.send(r#"{"jsonrpc":"2.0","id":"u","method":"tools/call","params":{"name":"get_usage"}}"#);
    let (job, _) = h.jobs.pop().unwrap();
    let refused = JobResult::Http(Err(elevenlabs::Transport::ConnectionRefused));
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: refused,
        },
    );
    assert!(h.server.poll_timeout().is_some());
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"u"}}"#);
    assert_eq!(h.server.poll_timeout(), None, "the retry timer is gone");
    h.server.handle_timeout(h.now + Duration::from_secs(120));
    assert!(h.drain().is_empty());
    assert!(h.jobs.is_empty());
    assert_eq!(h.server.in_flight(), 0);
}

#[test]
fn quota_errors_are_not_retried_and_say_when_credits_reset() {
    let mut h = Harness::new(with_key());
    h.init("2025-06-18");
    // A successful get_usage teaches the core when credits reset.
    h.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_usage"}}"#);
    let (job, _) = h.jobs.pop().unwrap();
    let sub = r#"{"tier":"free","character_count":10,"character_limit":10,"status":"free","next_character_count_reset_unix":1767225600}"#;
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: http_ok(sub),
        },
    );
    h.drain();
    h.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_models"}}"#);
    let (job, _) = h.jobs.pop().unwrap();
    let quota = elevenlabs::HttpResponse {
        status: 401,
        headers: vec![],
        body: br#"{"detail":{"status":"quota_exceeded","message":"quota"}}"#.to_vec(),
    };
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: JobResult::Http(Ok(quota)),
        },
    );
    let r = h.drain();
    let text = r[0]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("exhausted") && text.contains("2026-01-01 00:00 UTC"),
        "{text}"
    );
    assert!(h.server.poll_timeout().is_none(), "not retried");
}

#[test]
fn tool_calls_in_a_batch_are_answered_together() {
    let mut h = Harness::new(with_key());
    h.init("2025-03-26");
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_usage"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"speak","arguments":{}}},{"jsonrpc":"2.0","id":3,"method":"ping"}]"#;
    assert!(
        h.send(batch).is_empty(),
        "held until the upstream call finishes"
    );
    let (job, _) = h.jobs.pop().unwrap();
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: http_ok(SUBSCRIPTION),
        },
    );
    let r = h.drain();
    let ids: Vec<i64> = r[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&1) && ids.contains(&2) && ids.contains(&3));
}
