//! Trace and replay end to end: sessions of the real binary recorded with `--trace` (or
//! `MCP_ELEVENLABS_TRACE`) against the fake ElevenLabs API, then `mcp-elevenlabs replay`.
//!
//! The committed traces in `tests/traces/` were recorded by the scenarios below; regenerate them
//! with `cargo test --test replay -- --ignored regenerate_committed_traces`.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::fake_elevenlabs::{FakeElevenLabs, Reply, StreamConfig};
use support::{Home, Server, initialize, req};

const KEY: &str = "sk_trace_test_9f8e7d6c5b4a3210fedc";
const HANDSHAKE: &str = "2025-11-25";
const STATELESS: &str = "2026-07-28";

/// A session being recorded.
struct Rec {
    home: Home,
    fake: FakeElevenLabs,
    srv: Server,
    trace: PathBuf,
    version: &'static str,
    id: u64,
}

impl Rec {
    /// Starts the server with a trace; handshake-era versions are initialized.
    fn start(name: &str, version: &'static str) -> Self {
        Self::start_with(name, version, &[])
    }

    /// The same with more environment.
    fn start_with(name: &str, version: &'static str, extra: &[(&str, &str)]) -> Self {
        let home = Home::new(name);
        let fake = FakeElevenLabs::start(KEY);
        // A small account keeps the traces small.
        fake.set_voices(fake.voices()[..3].to_vec());
        let mut models = fake.models();
        models.truncate(2);
        for m in &mut models {
            m["languages"].as_array_mut().unwrap().truncate(2);
        }
        fake.set_models(models);
        let trace = home.dir.join("session.trace.jsonl");
        let url = fake.url();
        let path = trace.display().to_string();
        let mut env = vec![
            ("ELEVENLABS_API_KEY", KEY),
            ("ELEVENLABS_BASE_URL", url.as_str()),
            ("MCP_ELEVENLABS_TRACE", path.as_str()),
        ];
        env.extend_from_slice(extra);
        let mut srv = Server::start(&home, &env);
        if version != STATELESS {
            let r = srv.call(&initialize(0, version));
            assert!(r.get("result").is_some(), "{r}");
            srv.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        }
        Self {
            home,
            fake,
            srv,
            trace,
            version,
            id: 0,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.id += 1;
        self.id
    }

    /// A request and its response.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id();
        self.srv.call(&req(self.version, id, method, params))
    }

    /// A tool call's result (asserting it is one).
    fn tool(&mut self, name: &str, args: Value) -> Value {
        let r = self.call("tools/call", json!({"name": name, "arguments": args}));
        assert!(r.get("result").is_some(), "{r}");
        r["result"].clone()
    }

    fn read(&mut self, uri: &str) -> Value {
        let r = self.call("resources/read", json!({ "uri": uri }));
        assert!(r.get("result").is_some(), "{uri}: {r}");
        r
    }

    /// Closes stdin, waits for a clean exit and returns the trace.
    fn finish(self) -> String {
        let Self {
            home, srv, trace, ..
        } = self;
        let (status, stderr, _) = srv.finish(Duration::from_secs(15));
        assert!(status.is_some_and(|s| s.success()), "{stderr}");
        let text = std::fs::read_to_string(&trace).expect("the trace was written");
        drop(home);
        text
    }
}

/// The `audio://` URI of a `speak` result saved as a file.
fn uri_of(result: &Value) -> String {
    let text = result.to_string();
    let at = text.find("audio://").expect("a saved file");
    text[at..].split(['"', '\\']).next().unwrap().to_string()
}

// ---- the scenarios of the committed traces ---------------------------------------------------

/// Every tool and resource in the handshake era (2025-11-25).
fn handshake_tools() -> String {
    let mut s = Rec::start("handshake", HANDSHAKE);
    s.tool("list_models", json!({}));
    s.tool("get_usage", json!({}));
    s.tool("list_voices", json!({"page_size": 2}));
    s.tool("set_default_voice", json!({"voice": "rachel"}));
    let r = s.tool(
        "speak",
        json!({"text": "Hello from the trace.", "raw": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let uri = uri_of(&r);
    s.read(&uri);
    let r = s.tool(
        "speak",
        json!({"text": "Inline and raw.", "delivery": "inline", "output_format": "wav_16000", "raw": true}),
    );
    assert_eq!(r["content"][1]["type"], "audio", "{r}");
    s.read("health://status");
    s.read("voices://catalog");
    s.call("ping", Value::Null);
    s.finish()
}

/// The same in the stateless era (2026-07-28), with a progress token on a slow stream.
fn stateless_tools() -> String {
    let mut s = Rec::start("stateless", STATELESS);
    s.call("server/discover", Value::Null);
    s.tool("list_models", json!({}));
    s.tool("get_usage", json!({}));
    s.tool("list_voices", json!({"page_size": 2, "search": "a"}));
    s.tool("set_default_voice", json!({"voice": "Adam"}));
    let r = s.tool(
        "speak",
        json!({"text": "Stateless *speech*, tidied.", "output_format": "opus_48000_64"}),
    );
    let uri = uri_of(&r);
    s.read(&uri);
    s.tool(
        "speak",
        json!({"text": "Inline mp3.", "delivery": "inline"}),
    );
    s.fake.set_stream(StreamConfig {
        chunks: 6,
        chunk_bytes: 1024,
        chunk_delay: Duration::from_millis(120),
        ..StreamConfig::default()
    });
    let id = s.next_id();
    let mut call = req(
        STATELESS,
        id,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "Slow, with progress.", "raw": true}}),
    );
    call["params"]["_meta"]["progressToken"] = json!("p-1");
    let (r, notes) = s.srv.request(&call);
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert!(
        notes
            .iter()
            .any(|n| n["method"] == "notifications/progress"),
        "{notes:?}"
    );
    s.read("health://status");
    s.read("voices://catalog");
    s.finish()
}

/// 2024-11-05: inline audio as a resource blob, and a file read back.
fn legacy_2024() -> String {
    let mut s = Rec::start("legacy", "2024-11-05");
    let r = s.tool(
        "speak",
        json!({"text": "Old clients get a blob.", "delivery": "inline", "raw": true}),
    );
    assert_eq!(r["content"][1]["type"], "resource", "{r}");
    let r = s.tool(
        "speak",
        json!({"text": "Saved as wav.", "output_format": "wav_22050", "raw": true}),
    );
    let uri = uri_of(&r);
    s.read(&uri);
    let r = s.call("resources/read", json!({"uri": "audio://missing-file.mp3"}));
    assert!(r.get("error").is_some(), "{r}");
    s.finish()
}

/// JSON-RPC batches (2025-03-26): answered together once every member is done.
fn batch_2025_03_26() -> String {
    let mut s = Rec::start("batch", "2025-03-26");
    let batch = json!([
        {"jsonrpc": "2.0", "id": 10, "method": "ping"},
        {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "list_models", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {"name": "speak", "arguments": {"text": "In a batch.", "delivery": "inline", "raw": true}}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}},
        {"jsonrpc": "2.0", "id": 13, "method": "nope"}
    ]);
    s.srv.send(&batch);
    let r = s.srv.recv();
    assert_eq!(r.as_array().map(Vec::len), Some(4), "{r}");
    s.srv.send(&json!([]));
    let r = s.srv.recv();
    assert!(r.get("error").is_some(), "{r}");
    s.finish()
}

/// A 500 on the subscription and a 429 on speech, both retried.
fn retry() -> String {
    let mut s = Rec::start("retry", HANDSHAKE);
    s.fake
        .fail_next("/v1/user/subscription", 1, Reply::internal_error());
    let r = s.tool("get_usage", json!({}));
    assert_eq!(r["isError"], false, "{r}");
    s.fake
        .fail_next("/v1/text-to-speech", 1, Reply::system_busy().retry_after(0));
    let r = s.tool("speak", json!({"text": "After a retry.", "raw": true}));
    assert_eq!(r["isError"], false, "{r}");
    s.read("health://status");
    s.finish()
}

/// `notifications/cancelled` while a speak streams.
fn cancel() -> String {
    let mut s = Rec::start("cancel", HANDSHAKE);
    s.fake.set_stream(StreamConfig {
        chunks: 40,
        chunk_bytes: 1024,
        chunk_delay: Duration::from_millis(50),
        ..StreamConfig::default()
    });
    let id = s.next_id();
    s.srv.send(&req(
        HANDSHAKE,
        id,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "Never finished.", "raw": true}}),
    ));
    std::thread::sleep(Duration::from_millis(300));
    s.srv.send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": "user"}}));
    let r = s.call("ping", Value::Null);
    assert!(r.get("result").is_some(), "{r}");
    // Let the cancelled job report back before stdin closes.
    std::thread::sleep(Duration::from_millis(500));
    s.finish()
}

/// Speech over the WebSocket with word timings, and a long text over HTTP (its format is not
/// offered on the WebSocket) in pieces, timed across them.
fn long_text() -> String {
    let mut s = Rec::start_with(
        "long_text",
        HANDSHAKE,
        &[("MCP_ELEVENLABS_TRANSPORT", "websocket")],
    );
    s.fake.set_stream(StreamConfig {
        chunks: 2,
        chunk_bytes: 512,
        ..StreamConfig::default()
    });
    let r = s.tool(
        "speak",
        json!({"text": "Over the socket.", "raw": true, "alignment": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let text = (0..14)
        .map(|i| format!("Sentence {i} of a text long enough to be spoken in pieces."))
        .collect::<Vec<_>>()
        .join(" ");
    let r = s.tool(
        "speak",
        json!({"text": text, "raw": true, "alignment": true, "output_format": "pcm_48000"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert!(r.to_string().contains("pieces"), "{r}");
    s.finish()
}

/// Mistakes: before initialize, parse errors, unknown methods and tools, bad arguments.
fn errors() -> String {
    let home = Home::new("errors");
    let trace = home.dir.join("errors.trace.jsonl");
    let stdin = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        "{not json".to_string(),
        initialize(2, HANDSHAKE).to_string(),
        json!({"jsonrpc": "2.0", "id": 3, "method": "nope/nope"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "shout", "arguments": {}}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "speak", "arguments": {"text": 5}}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 6, "method": "logging/setLevel", "params": {"level": "debug"}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "speak", "arguments": {"text": "no key"}}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 8, "method": "resources/read", "params": {"uri": "file:///etc/passwd"}}).to_string(),
    ]
    .join("\n")
        + "\n";
    let path = trace.display().to_string();
    let (code, out, err) = home.run(&["serve", "--trace", &path], &[], &stdin);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 10, "{out}");
    std::fs::read_to_string(&trace).unwrap()
}

/// Records one session and returns its trace.
type Scenario = fn() -> String;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("handshake_tools", handshake_tools),
    ("stateless_tools", stateless_tools),
    ("legacy_2024_11_05", legacy_2024),
    ("batch_2025_03_26", batch_2025_03_26),
    ("retry", retry),
    ("cancel", cancel),
    ("errors", errors),
    ("long_text", long_text),
];

// ---- replaying -------------------------------------------------------------------------------

/// `mcp-elevenlabs replay FILE`: (exit code, stdout, stderr).
fn replay(file: &Path) -> (i32, String, String) {
    let home = Home::new("replay");
    home.run(&["replay", &file.display().to_string()], &[], "")
}

fn replay_text(name: &str, text: &str) -> (i32, String, String) {
    let home = Home::new(name);
    let file = home.dir.join("t.jsonl");
    std::fs::write(&file, text).unwrap();
    home.run(&["replay", &file.display().to_string()], &[], "")
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_recorded_session_replays_identically() {
    let trace = handshake_tools();
    let all = lines(&trace);
    assert_eq!(all[0]["trace"], 1);
    assert_eq!(all[0]["config"]["settings"]["api_key"], "set");
    assert_eq!(all.last().unwrap()["end"]["drained"], true);
    // Inline audio and the file read back are markers naming the input that carried them.
    let markers: Vec<Value> = all
        .iter()
        .filter_map(|l| l.get("output"))
        .flat_map(|o| {
            let r = &o["stdout"]["result"];
            [
                r["content"][1]["data"].clone(),
                r["contents"][0]["blob"].clone(),
            ]
        })
        .filter(Value::is_object)
        .collect();
    assert_eq!(markers.len(), 2, "{markers:?}");
    for m in &markers {
        let n = m["audio"]["input"].as_u64().expect("traced to an input");
        let input = all
            .iter()
            .find(|l| l["n"] == n && l.get("input").is_some())
            .unwrap();
        assert!(input.to_string().contains("\"sha256\""), "{input}");
    }
    // The WAV header the core puts before raw samples is the prefix.
    assert!(
        markers
            .iter()
            .any(|m| m["audio"]["prefix"].as_str().unwrap().starts_with("UklGR"))
    );
    let (code, out, err) = replay_text("replay-ok", &trace);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("replay: ") && out.contains("outputs identical (trace of mcp-elevenlabs"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn a_tampered_trace_names_the_first_divergent_input() {
    let trace = retry();
    let all: Vec<&str> = trace.lines().collect();
    // An output: the `get_usage` result text.
    let (i, line) = all
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("\"output\"") && l.contains("characters"))
        .expect("a usage result");
    let n = lines(line)[0]["n"].as_u64().unwrap();
    let mut changed = all.clone();
    let edited = line.replacen("characters", "letters", 1);
    changed[i] = &edited;
    let (code, out, _) = replay_text("tamper-output", &(changed.join("\n") + "\n"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "replay: first divergence at input {n} (stdout output "
        )),
        "{out}"
    );
    assert!(out.contains("expected ") && out.contains(", got "), "{out}");
    assert!(
        out.contains("letters") && out.contains("characters"),
        "{out}"
    );

    // Audio: a different length of the recorded audio changes the marker of the blob built on it.
    let trace = legacy_2024();
    let all: Vec<String> = trace.lines().map(String::from).collect();
    let (i, line) = all
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("\"input\"") && l.contains("\"sha256\""))
        .expect("an input with audio");
    let v = &lines(line)[0];
    let n = v["n"].as_u64().unwrap();
    let mut changed = all.clone();
    let audio = &v["input"]["job_done"]["result"];
    let old = audio.to_string();
    let new = old.replacen("\"len\":", "\"len\":1", 1);
    changed[i] = line.replacen(&old, &new, 1);
    assert_ne!(changed[i], *line, "{line}");
    let (code, out, _) = replay_text("tamper-audio", &(changed.join("\n") + "\n"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("first divergence at input {n} ")),
        "{out}"
    );

    // A removed output: the replay has one more than the trace.
    let trace = errors();
    let all: Vec<&str> = trace.lines().collect();
    let i = all.iter().rposition(|l| l.contains("\"output\"")).unwrap();
    let n = lines(all[i])[0]["n"].as_u64().unwrap();
    let mut changed = all.clone();
    changed.remove(i);
    let (code, out, _) = replay_text("tamper-missing", &(changed.join("\n") + "\n"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("input {n} ")) && out.contains("expected no further output"),
        "{out}"
    );
}

#[test]
fn a_trace_never_holds_the_key() {
    let mut s = Rec::start("key", HANDSHAKE);
    // The key in a spoken text, in a method name, and cut in two by the reads of stdin.
    let r = s.tool(
        "speak",
        // `emotion: off`: the tone is read from the words, and the mask changes them (it keeps
        // only their length), so a replay would read another tone.
        json!({"text": format!("My key is {KEY}."), "raw": true, "delivery": "inline", "emotion": "off"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    s.call(&format!("x/{KEY}"), Value::Null);
    let line = format!(
        "{}\n",
        req(
            HANDSHAKE,
            99,
            "tools/call",
            json!({"name": "speak", "arguments": {"text": format!("Again {KEY} again."), "raw": true, "emotion": "off"}})
        )
    );
    let cut = line.find(KEY).unwrap() + 9;
    s.srv.send_raw(&line.as_bytes()[..cut]);
    std::thread::sleep(Duration::from_millis(300));
    s.srv.send_raw(&line.as_bytes()[cut..]);
    let r = s.srv.recv();
    assert_eq!(r["id"], 99, "{r}");
    let trace = s.finish();
    assert!(!trace.contains(KEY), "the key leaked into the trace");
    let tail = &KEY[9..];
    assert!(!trace.contains(tail), "the key's second half leaked");
    assert!(!trace.contains(&KEY[..12]), "the key's first half leaked");
    assert!(trace.contains("[redacted"), "masked, not dropped");
    // The masked session still replays: the mask keeps the key's length.
    let (code, out, err) = replay_text("key-replay", &trace);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn committed_traces_replay_identically() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= SCENARIOS.len(), "{files:?}");
    let mut total = 0;
    for file in &files {
        let bytes = std::fs::metadata(file).unwrap().len();
        total += bytes;
        assert!(
            bytes < 40_000,
            "{}: {bytes} bytes; keep traces small",
            file.display()
        );
        let (code, out, err) = replay(file);
        assert_eq!(code, 0, "{}: {out}{err}", file.display());
        assert!(out.contains("identical"), "{out}");
    }
    assert!(total < 200_000, "tests/traces holds {total} bytes");
}

#[test]
fn bad_trace_files_are_usage_errors() {
    let home = Home::new("replay-bad");
    let missing = home.dir.join("missing.jsonl").display().to_string();
    let (code, _, err) = home.run(&["replay", &missing], &[], "");
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the trace"), "{err}");
    for (text, want) in [
        ("", "empty"),
        ("{\"hello\":1}\n", "no `\"trace\": 1`"),
        ("{\"trace\":99}\n", "trace format 99"),
        ("{\"trace\":1,\"config\":{}}\n", "missing `problems`"),
    ] {
        let (code, out, err) = replay_text("replay-bad", text);
        assert_eq!(code, 2, "{text}: {out}{err}");
        assert!(
            err.contains(want) && err.contains("line 1"),
            "{text}: {err}"
        );
    }
    // A good head, a broken input.
    let trace = errors();
    let head = trace.lines().next().unwrap();
    let (code, _, err) = replay_text(
        "replay-bad-input",
        &format!("{head}\n{{\"n\":1,\"t_ns\":0,\"input\":{{\"stdin\":5}}}}\n"),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("line 2") && err.contains("input.stdin"),
        "{err}"
    );
}

#[test]
fn an_unwritable_trace_never_stops_the_server() {
    let home = Home::new("trace-unwritable");
    let stdin = format!("{}\n", initialize(1, HANDSHAKE));
    let bad = home.dir.join("no/such/dir/t.jsonl").display().to_string();
    let (code, out, err) = home.run(&["--trace", &bad], &[], &stdin);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"protocolVersion\""), "{out}");
    assert!(
        err.contains("cannot write the trace") && err.contains("serving without one"),
        "{err}"
    );
    // The flag wins over the environment.
    let good = home.dir.join("env.jsonl");
    let flag = home.dir.join("flag.jsonl");
    let (code, _, err) = home.run(
        &["serve", "--trace", &flag.display().to_string()],
        &[("MCP_ELEVENLABS_TRACE", &good.display().to_string())],
        &stdin,
    );
    assert_eq!(code, 0, "{err}");
    assert!(flag.exists() && !good.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&flag).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a trace holds what was spoken");
    }
}

/// Records the committed traces again (after a deliberate change of behaviour or format).
#[test]
#[ignore = "rewrites tests/traces/; run on purpose"]
fn regenerate_committed_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, scenario) in SCENARIOS {
        let text = scenario();
        let file = dir.join(format!("{name}.jsonl"));
        std::fs::write(&file, &text).unwrap();
        let (code, out, err) = replay(&file);
        assert_eq!(code, 0, "{name}: {out}{err}");
    }
}

/// Three calls still streaming when stdin closes are cancelled when the shutdown grace ends, in an
/// order that does not change between runs: the trace replays identically every time.
#[test]
fn a_shutdown_with_calls_in_flight_replays_identically() {
    let mut s = Rec::start("shutdown", HANDSHAKE);
    s.fake.set_stream(StreamConfig {
        chunks: 400,
        chunk_bytes: 256,
        chunk_delay: Duration::from_millis(50),
        ..StreamConfig::default()
    });
    for text in ["One.", "Two.", "Three."] {
        let id = s.next_id();
        s.srv.send(&req(
            HANDSHAKE,
            id,
            "tools/call",
            json!({"name": "speak", "arguments": {"text": text, "raw": true}}),
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let trace = s.finish();
    let cancels = lines(&trace)
        .iter()
        .filter(|l| l["output"].get("cancel").is_some())
        .count();
    assert_eq!(cancels, 3, "the grace ended with three streams cancelled");
    let home = Home::new("shutdown-replays");
    let file = home.dir.join("t.jsonl");
    std::fs::write(&file, &trace).unwrap();
    for _ in 0..5 {
        let (code, out, err) = replay(&file);
        assert_eq!(code, 0, "{out}{err}");
    }
}
