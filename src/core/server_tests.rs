//! Scenario tests and properties of the whole core.

use super::settings::{Problem, Settings};
use super::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

struct Harness {
    server: Server,
    now: Instant,
    jobs: Vec<(JobId, Job)>,
    cancelled: Vec<JobId>,
}

impl Harness {
    fn new(config: Config) -> Self {
        let now = Instant::now();
        Self {
            server: Server::new(config, now),
            now,
            jobs: Vec::new(),
            cancelled: Vec::new(),
        }
    }

    fn drain(&mut self) -> Vec<Value> {
        let mut bytes = Vec::new();
        while let Some(o) = self.server.poll_output() {
            match o {
                Output::Stdout(b) => bytes.extend(b),
                Output::Start { id, job } => self.jobs.push((id, job)),
                Output::Cancel(id) => self.cancelled.push(id),
                Output::Log { .. } => {}
            }
        }
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("server wrote invalid JSON"))
            .collect()
    }

    fn send(&mut self, line: &str) -> Vec<Value> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.server.handle_input(self.now, Input::Stdin(bytes));
        self.drain()
    }

    fn one(&mut self, line: &str) -> Value {
        let mut replies = self.send(line);
        assert_eq!(replies.len(), 1, "{replies:?}");
        replies.remove(0)
    }

    fn init(&mut self, version: &str) -> Value {
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

fn with_key() -> Config {
    let mut settings = Settings::default();
    settings.api_key = Some(settings::ApiKey::new("sk_core_test_000000000000"));
    Config::default().settings(settings, vec![])
}

fn http_ok(body: &str) -> JobResult {
    JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 200,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }))
}

const SUBSCRIPTION: &str =
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

/// A config whose breaker opens after three failures, without retries.
fn fragile() -> Config {
    let mut config = with_key();
    config.settings.limits.max_retries = 0;
    config.settings.limits.breaker_failures = 3;
    config
}

fn usage_call(id: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_usage"}}}}"#
    )
}

fn server_error() -> JobResult {
    JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 500,
        headers: vec![],
        body: b"{}".to_vec(),
    }))
}

#[test]
fn the_breaker_opens_fails_fast_probes_and_closes() {
    let mut h = Harness::new(fragile());
    h.init("2025-11-25");
    h.one(r#"{"jsonrpc":"2.0","id":90,"method":"logging/setLevel","params":{"level":"warning"}}"#);
    let mut notices = Vec::new();
    for id in 1..=3 {
        assert!(h.send(&usage_call(id)).is_empty());
        let (job, _) = h.jobs.pop().unwrap();
        h.server.handle_input(
            h.now,
            Input::JobDone {
                id: job,
                result: server_error(),
            },
        );
        for reply in h.drain() {
            if reply["method"] == "notifications/message" {
                notices.push(reply["params"]["data"].as_str().unwrap().to_string());
            } else {
                assert_eq!(reply["result"]["isError"], true, "{reply}");
            }
        }
    }
    let breaker: Vec<&String> = notices
        .iter()
        .filter(|n| n.starts_with("circuit breaker"))
        .collect();
    assert_eq!(breaker.len(), 1, "{notices:?}");
    assert!(
        breaker[0].starts_with("circuit breaker open:"),
        "{notices:?}"
    );
    assert!(
        notices[2].starts_with("get_usage:"),
        "the failure's own notice first"
    );

    // Open: the next call fails at once, without a job.
    let replies = h.send(&usage_call(4));
    let r = replies
        .iter()
        .find(|m| m["id"] == 4)
        .expect("an answer to 4");
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("next one goes in 30 s") && text.contains("Nothing was sent"),
        "{text}"
    );
    assert!(h.jobs.is_empty(), "nothing sent while open");
    let health = h.one(
        r#"{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"health://status"}}"#,
    );
    let health: Value =
        serde_json::from_str(health["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(health["upstream"]["breaker"]["state"], "open");
    assert_eq!(health["upstream"]["breaker"]["next_probe_in_ms"], 30_000);

    // After the cool-down one probe goes; a second call meanwhile still fails fast.
    h.now += Duration::from_secs(30);
    let replies = h.send(&usage_call(6));
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0]["params"]["data"]
            .as_str()
            .unwrap()
            .starts_with("circuit breaker half-open")
    );
    assert_eq!(h.jobs.len(), 1, "the probe");
    let r = h.send(&usage_call(7));
    let r = r.iter().find(|m| m["id"] == 7).expect("an answer to 7");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("test request")
    );
    let (probe, _) = h.jobs.pop().unwrap();
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: probe,
            result: http_ok(SUBSCRIPTION),
        },
    );
    let replies = h.drain();
    let six = replies
        .iter()
        .find(|m| m["id"] == 6)
        .expect("the probe's answer");
    assert_eq!(six["result"]["isError"], false);
    assert!(replies.iter().any(|m| {
        m["params"]["data"]
            .as_str()
            .is_some_and(|d| d.starts_with("circuit breaker closed"))
    }));

    // Closed again: calls go.
    assert!(h.send(&usage_call(8)).is_empty());
    assert_eq!(h.jobs.len(), 1);
}

#[test]
fn a_failed_probe_reopens_and_a_cancelled_one_hands_over() {
    let mut h = Harness::new(fragile());
    h.init("2025-11-25");
    for id in 1..=3 {
        h.send(&usage_call(id));
        let (job, _) = h.jobs.pop().unwrap();
        h.server.handle_input(
            h.now,
            Input::JobDone {
                id: job,
                result: server_error(),
            },
        );
        h.drain();
    }
    h.now += Duration::from_secs(31);
    // The probe is cancelled: the next call becomes the probe.
    h.send(&usage_call(10));
    let (probe, _) = h.jobs.pop().unwrap();
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":10}}"#);
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: probe,
            result: JobResult::Http(Err(elevenlabs::Transport::Cancelled)),
        },
    );
    assert!(h.drain().is_empty(), "no answer to a cancelled request");
    assert!(
        h.send(&usage_call(11)).is_empty(),
        "the next call is the probe"
    );
    let (probe, _) = h.jobs.pop().unwrap();
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: probe,
            result: server_error(),
        },
    );
    h.drain();
    // Reopened: fails fast again for a whole cool-down.
    h.now += Duration::from_secs(29);
    let r = h.one(&usage_call(12));
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("next one goes in 1 s")
    );
    assert!(h.jobs.is_empty());
}

fn unavailable(retry_after: &str) -> JobResult {
    JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 503,
        headers: vec![("retry-after".into(), retry_after.into())],
        body: b"{}".to_vec(),
    }))
}

#[test]
fn retry_after_as_a_date_is_waited_for_and_the_result_counts_attempts() {
    let mut config = with_key();
    config.start_unix = 1_767_225_600; // 2026-01-01 00:00:00 UTC
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    let (job, _) = h.jobs.pop().unwrap();
    let result = unavailable("Thu, 01 Jan 2026 00:00:07 GMT");
    h.server
        .handle_input(h.now, Input::JobDone { id: job, result });
    assert!(h.drain().is_empty());
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(7))
    );
    h.now += Duration::from_secs(7);
    h.server.handle_timeout(h.now);
    h.drain();
    let (job, _) = h.jobs.pop().expect("the retry");
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: http_ok(SUBSCRIPTION),
        },
    );
    let r = h.drain().remove(0);
    assert_eq!(r["result"]["isError"], false);
    assert_eq!(r["result"]["structuredContent"]["attempts"], 2);
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .ends_with("(2 attempts.)")
    );
}

#[test]
fn no_retry_is_scheduled_past_the_call_deadline() {
    let mut config = with_key();
    config.settings.limits.call_deadline_ms = 5_000;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    let (job, _) = h.jobs.pop().unwrap();
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: unavailable("10"),
        },
    );
    let r = h.drain().remove(0);
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("limits.call_deadline_ms"), "{text}");
    assert_eq!(h.server.poll_timeout(), None, "no retry timer");
    assert!(h.jobs.is_empty());
}

#[test]
fn requests_over_the_rate_wait_in_order_then_go() {
    let mut config = with_key();
    config.settings.limits.requests_per_minute = 2;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    for id in 1..=3 {
        h.send(&usage_call(id));
    }
    assert_eq!(h.jobs.len(), 2, "a burst of two, then the rate");
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(30))
    );
    h.now += Duration::from_secs(29);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.jobs.len(), 2, "not before its time");
    h.now += Duration::from_secs(1);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.jobs.len(), 3, "the third goes after 30 s");
    let health = h.one(
        r#"{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"health://status"}}"#,
    );
    let health: Value =
        serde_json::from_str(health["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        health["upstream"]["rate_limits"]["requests"]["per_minute"],
        2
    );
    assert_eq!(
        health["upstream"]["rate_limits"]["requests"]["available"],
        0
    );
}

#[test]
fn a_rate_wait_past_the_deadline_fails_at_once() {
    let mut config = with_key();
    config.settings.limits.requests_per_minute = 1;
    config.settings.limits.call_deadline_ms = 10_000;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    assert!(h.send(&usage_call(1)).is_empty());
    let r = h.send(&usage_call(2));
    let r = r.iter().find(|m| m["id"] == 2).expect("an answer to 2");
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Rate limit: this call would wait 60 s"),
        "{text}"
    );
    assert_eq!(h.jobs.len(), 1);
    assert_eq!(h.server.in_flight(), 1);
}

#[test]
fn a_text_longer_than_the_character_rate_is_refused_before_sending() {
    let mut config = with_key();
    config.settings.limits.characters_per_minute = 10;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"speak","arguments":{"text":"Far more than ten characters.","voice":"21m00Tcm4TlvDq8ikWAM"}}}"#);
    let (models, _) = h.jobs.pop().expect("the model list");
    let list = r#"[{"model_id":"eleven_flash_v2_5","name":"Flash","can_do_text_to_speech":true,"max_characters_request_subscribed_user":40000,"languages":[]}]"#;
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: models,
            result: http_ok(list),
        },
    );
    let r = h.drain().remove(0);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("`limits.characters_per_minute` (10)"),
        "{text}"
    );
    assert!(h.jobs.is_empty(), "no speech job");
}

#[test]
fn the_concurrency_cap_follows_what_elevenlabs_allows() {
    let mut config = with_key();
    config.settings.limits.max_concurrent = 4;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    let (job, _) = h.jobs.pop().unwrap();
    let allowed = JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 200,
        headers: vec![("maximum-concurrent-requests".into(), "2".into())],
        body: SUBSCRIPTION.as_bytes().to_vec(),
    }));
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: allowed,
        },
    );
    h.drain();
    for id in 2..=4 {
        h.send(&usage_call(id));
    }
    assert_eq!(h.jobs.len(), 2, "the account allows two at once");
    // Two running; one of them is refused for concurrency: the cap drops to one.
    let (job, _) = h.jobs.remove(0);
    let busy = JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 429,
        headers: vec![],
        body: br#"{"detail":{"status":"concurrent_limit_exceeded","message":"Too many concurrent requests"}}"#.to_vec(),
    }));
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: busy,
        },
    );
    h.drain();
    assert_eq!(
        h.jobs.len(),
        1,
        "the queued call waits: one runs, the cap is one"
    );
    let health = h.one(
        r#"{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"health://status"}}"#,
    );
    let health: Value =
        serde_json::from_str(health["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(health["upstream"]["max_concurrent"]["configured"], 4);
    assert_eq!(health["upstream"]["max_concurrent"]["effective"], 1);
}

#[test]
fn jobs_queued_before_the_breaker_opened_are_not_sent() {
    let mut config = fragile();
    config.settings.limits.max_concurrent = 1;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    for id in 1..=4 {
        h.send(&usage_call(id));
    }
    assert_eq!(h.jobs.len(), 1, "one at a time");
    for _ in 0..3 {
        let (job, _) = h.jobs.remove(0);
        h.server.handle_input(
            h.now,
            Input::JobDone {
                id: job,
                result: server_error(),
            },
        );
        h.drain();
    }
    assert!(
        h.jobs.is_empty(),
        "the fourth call is not sent once the breaker is open"
    );
    assert_eq!(h.server.in_flight(), 0, "it was answered");
}

#[test]
fn a_call_waiting_for_a_slot_fails_at_its_deadline() {
    let mut config = with_key();
    config.settings.limits.max_concurrent = 1;
    config.settings.limits.call_deadline_ms = 5_000;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    h.send(&usage_call(2));
    assert_eq!(h.jobs.len(), 1);
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(5))
    );
    h.now += Duration::from_secs(5);
    h.server.handle_timeout(h.now);
    let r = h.drain().remove(0);
    assert_eq!(r["id"], 2);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("waited for a free slot"), "{text}");
    assert_eq!(h.server.in_flight(), 1, "the first call still runs");
}

/// Three failing calls (ids 2 to 4) open the breaker of a [`fragile`] config.
fn open_breaker(h: &mut Harness) {
    for id in 2..=4 {
        h.send(&usage_call(id));
        let (job, _) = h.jobs.pop().unwrap();
        let result = server_error();
        h.server
            .handle_input(h.now, Input::JobDone { id: job, result });
        h.drain();
    }
}

fn with_fallback(mut config: Config) -> Config {
    config.settings.limits.max_retries = 0;
    config.settings.fallback_command = vec!["espeak-ng".into(), "--stdout".into()];
    config
}

const SPEAK_RAW: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"speak","arguments":{"text":"Hello there.","voice":"21m00Tcm4TlvDq8ikWAM","raw":true}}}"#;

fn fallback_done() -> JobResult {
    JobResult::Speech(Ok(SpeechDone {
        first_byte_us: None,
        head: elevenlabs::HttpResponse::default(),
        data_bytes: 1044,
        total_bytes: 1044,
        file: Some("20260101-000000-fallback-0a1b2c3d.wav".into()),
        data: None,
    }))
}

#[test]
fn the_fallback_voice_speaks_when_elevenlabs_is_unreachable() {
    let mut h = Harness::new(with_fallback(with_key()));
    h.init("2025-11-25");
    h.send(SPEAK_RAW);
    let (models, _) = h.jobs.pop().unwrap();
    let refused = JobResult::Http(Err(elevenlabs::Transport::ConnectionRefused));
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: models,
            result: refused,
        },
    );
    assert!(h.drain().is_empty(), "no answer yet: the fallback runs");
    let (job, fallback) = h.jobs.pop().expect("a fallback job");
    match &fallback {
        Job::Fallback {
            argv, text, sink, ..
        } => {
            assert_eq!(argv, &["espeak-ng", "--stdout"]);
            assert_eq!(text, "Hello there.");
            assert!(matches!(sink, Sink::File { wav: None, .. }), "{sink:?}");
        }
        other => panic!("{other:?}"),
    }
    h.server.handle_input(
        h.now,
        Input::JobDone {
            id: job,
            result: fallback_done(),
        },
    );
    let r = h.drain().remove(0);
    assert_eq!(r["result"]["isError"], false, "{r}");
    let s = &r["result"]["structuredContent"];
    assert_eq!(s["fallback"], true);
    assert_eq!(s["mime_type"], "audio/wav");
    assert!(
        s["fallback_reason"].as_str().unwrap().contains("refused"),
        "{s}"
    );
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("offline fallback voice (`espeak-ng`)"),
        "{text}"
    );
}

#[test]
fn the_fallback_voice_speaks_while_the_breaker_is_open_unless_switched_off() {
    let mut config = with_fallback(fragile());
    config.settings.fallback_when = vec!["breaker_open".into()];
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    open_breaker(&mut h);
    h.send(SPEAK_RAW);
    let (_, job) = h.jobs.pop().expect("the fallback goes at once");
    assert!(matches!(job, Job::Fallback { .. }), "{job:?}");

    // Only `unreachable` allowed: a breaker-open speak fails instead.
    let mut config = with_fallback(fragile());
    config.settings.fallback_when = vec!["unreachable".into()];
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    open_breaker(&mut h);
    let r = h.send(SPEAK_RAW);
    let r = r.iter().find(|m| m["id"] == 1).expect("an answer");
    assert_eq!(r["result"]["isError"], true);
    assert!(h.jobs.is_empty());
}
