//! `serve --http` over real HTTP on 127.0.0.1: both eras of Streamable HTTP and the legacy
//! HTTP+SSE transport, every reply validated against its version's schema; the guard (Host,
//! Origin, token), the limits (body, head, connections, slow and idle clients), sessions
//! (expiry, DELETE), a hung-up client's call cancelled, and SIGTERM letting calls finish.
#![cfg(feature = "http-server")]

mod support;

use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::fake_elevenlabs::{FakeElevenLabs, StreamConfig};
use support::http::HttpServer;
use support::http_client::{Conn, events};
use support::{Home, Schemas, initialize, req};

const KEY: &str = "sk_http_test_0123456789abcdef";

struct Setup {
    home: Home,
    fake: FakeElevenLabs,
    srv: HttpServer,
}

fn start(name: &str, extra: &[(&str, &str)], args: &[&str]) -> Setup {
    let home = Home::new(name);
    let fake = FakeElevenLabs::start(KEY);
    let url = fake.url();
    let mut env = vec![
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", url.as_str()),
        ("MCP_ELEVENLABS_LOG", "debug"),
        ("ELEVENLABS_MCP_OUTPUT_MODE", "files"),
    ];
    env.extend_from_slice(extra);
    let srv = HttpServer::start(&home, &env, args);
    Setup { home, fake, srv }
}

fn envelope(version: &str) -> &'static str {
    if version >= "2025-11-25" {
        "JSONRPCResultResponse"
    } else {
        "JSONRPCResponse"
    }
}

fn modern_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", method),
    ];
    if let Some(n) = name {
        h.push(("Mcp-Name", n));
    }
    h
}

/// A server whose fake ElevenLabs waits `delay` before the first audio byte.
fn slow_upstream(name: &str, config: &str, delay: Duration) -> (Home, FakeElevenLabs, HttpServer) {
    let home = Home::new(name);
    home.write_config(config);
    let fake = FakeElevenLabs::start(KEY);
    fake.set_stream(StreamConfig {
        first_byte_delay: delay,
        ..StreamConfig::default()
    });
    let url = fake.url();
    let env = [
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", url.as_str()),
        ("MCP_ELEVENLABS_LOG", "debug"),
    ];
    let srv = HttpServer::start(&home, &env, &[]);
    (home, fake, srv)
}

/// Sends a stateless `speak` of `text` on a new connection (the reply is read by the caller).
fn send_speak(srv: &HttpServer, id: u64, text: &str) -> Conn {
    let mut c = srv.connect();
    let headers = [
        ("Accept", "application/json"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "speak"),
    ];
    let body = req("2026-07-28", id, "tools/call", speak_args(text)).to_string();
    c.send("POST", "/mcp", &headers, body.as_bytes());
    c
}

fn speak_args(text: &str) -> Value {
    json!({"name": "speak", "arguments": {"text": text}})
}

#[test]
fn every_era_over_http_with_schema_checked_replies() {
    let s = start("eras", &[], &[]);
    // Audio in spaced chunks, so that progress (every 250 ms) is reported before the result.
    s.fake.set_stream(StreamConfig {
        chunk_delay: Duration::from_millis(100),
        ..StreamConfig::default()
    });
    let schemas = Schemas::load();
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut c = s.srv.connect();
        let r = c.post(&[], &initialize(1, version));
        assert_eq!(r.status, 200, "{version}");
        let sid = r
            .header("Mcp-Session-Id")
            .expect("a session id")
            .to_string();
        let reply = r.reply();
        schemas.check(version, envelope(version), &reply);
        schemas.check(version, "InitializeResult", &reply["result"]);
        let h = [
            ("Mcp-Session-Id", sid.as_str()),
            ("MCP-Protocol-Version", version),
        ];
        let r = c.post(
            &h,
            &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        );
        assert_eq!((r.status, r.body.len()), (202, 0), "{version}");
        let r = c.post(&h, &req(version, 2, "tools/list", json!({})));
        schemas.check(version, "ListToolsResult", &r.reply()["result"]);
        // A call that streams progress answers as an event stream: progress, then the result.
        // A new text each time: a cached one would come back at once, with no progress.
        let mut call = speak_args(&format!("Hello over HTTP at {version}."));
        call["_meta"] = json!({"progressToken": "p1"});
        let r = c.post(&h, &req(version, 3, "tools/call", call));
        assert_eq!(r.status, 200);
        let msgs = if r.is_stream() {
            r.events()
        } else {
            vec![r.json()]
        };
        let (result, notes) = msgs.split_last().unwrap();
        schemas.check(version, envelope(version), result);
        schemas.check(version, "CallToolResult", &result["result"]);
        assert_eq!(result["result"]["isError"], false, "{result}");
        for n in notes {
            schemas.check(version, "JSONRPCNotification", n);
            assert_eq!(n["method"], "notifications/progress");
        }
        assert!(
            !notes.is_empty(),
            "{version}: progress came before the result"
        );
        // A batch in 2025-03-26 is one POST, one reply array.
        if version == "2025-03-26" {
            let batch = json!([
                req(version, 4, "ping", json!({})),
                req(version, 5, "tools/list", json!({}))
            ]);
            let r = c.post(&h, &batch);
            let replies = r.json();
            assert_eq!(replies.as_array().map(Vec::len), Some(2), "{replies}");
        }
        let r = c.request("DELETE", "/mcp", &[("Mcp-Session-Id", sid.as_str())], b"");
        assert_eq!(r.status, 200);
        let r = c.post(&h, &req(version, 6, "tools/list", json!({})));
        assert_eq!(r.status, 404);
    }

    // 2026-07-28: no session; every request mirrors its body in headers.
    let v = "2026-07-28";
    let mut c = s.srv.connect();
    let r = c.post(
        &modern_headers("server/discover", None),
        &req(v, 1, "server/discover", json!({})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Mcp-Session-Id"), None);
    schemas.check(v, "DiscoverResult", &r.reply()["result"]);
    let r = c.post(
        &modern_headers("tools/list", None),
        &req(v, 2, "tools/list", json!({})),
    );
    schemas.check(v, "ListToolsResult", &r.reply()["result"]);
    let r = c.post(
        &modern_headers("tools/call", Some("speak")),
        &req(v, 3, "tools/call", speak_args("Stateless hello.")),
    );
    let reply = r.reply();
    schemas.check(v, envelope(v), &reply);
    schemas.check(v, "CallToolResult", &reply["result"]);
    let uri = reply["result"]["structuredContent"]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    let file = uri.strip_prefix("audio://").unwrap();
    assert!(s.home.audio_dir().join(file).is_file(), "{file}");
    let r = c.post(
        &modern_headers("resources/read", Some(&uri)),
        &req(v, 4, "resources/read", json!({"uri": uri})),
    );
    schemas.check(v, "ReadResourceResult", &r.reply()["result"]);
    // Mismatched headers and unknown methods are refused with the spec's errors.
    let r = c.post(
        &modern_headers("tools/list", None),
        &req(v, 5, "tools/call", speak_args("x")),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!(-32020))
    );
    let r = c.post(
        &modern_headers("nope/x", None),
        &req(v, 6, "nope/x", json!({})),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (404, json!(-32601))
    );
    let r = c.request("GET", "/mcp", &[("MCP-Protocol-Version", v)], b"");
    assert_eq!(r.status, 405);
    // Four speeches reached the fake: one per handshake version and the stateless one.
    let tts = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/text-to-speech/"))
        .count();
    assert_eq!(tts, 4);
}

#[test]
fn the_legacy_sse_transport() {
    let s = start("legacy", &[], &[]);
    let schemas = Schemas::load();
    let mut stream = s.srv.connect();
    stream.send("GET", "/sse", &[("Accept", "text/event-stream")], b"");
    let head = stream.head().unwrap();
    assert_eq!(
        (head.status, head.header("content-type")),
        (200, Some("text/event-stream"))
    );
    let first = events(&stream.chunk().unwrap());
    assert_eq!(first[0].0, "endpoint");
    let endpoint = first[0].1.clone();
    let mut posts = s.srv.connect();
    let v = "2024-11-05";
    let r = posts.request(
        "POST",
        &endpoint,
        &[],
        initialize(1, v).to_string().as_bytes(),
    );
    assert_eq!(r.status, 202);
    let reply: Value = serde_json::from_str(&events(&stream.chunk().unwrap())[0].1).unwrap();
    schemas.check(v, "JSONRPCResponse", &reply);
    schemas.check(v, "InitializeResult", &reply["result"]);
    let r = posts.request(
        "POST",
        &endpoint,
        &[],
        req(v, 2, "tools/call", speak_args("Legacy."))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 202);
    let reply: Value = serde_json::from_str(&events(&stream.chunk().unwrap())[0].1).unwrap();
    schemas.check(v, "CallToolResult", &reply["result"]);
    assert_eq!(reply["id"], 2);
    // The session ends with its stream.
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = posts.request(
            "POST",
            &endpoint,
            &[],
            req(v, 3, "ping", json!({})).to_string().as_bytes(),
        );
        if r.status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the session outlived its stream");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_guard_refuses_foreign_hosts_origins_and_wrong_tokens() {
    let token = "tok-0123456789-secret";
    let s = start("guard", &[("MCP_ELEVENLABS_HTTP_TOKEN", token)], &[]);
    let bearer = format!("Bearer {token}");
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    let ok = [("Authorization", bearer.as_str())];
    let r = s.srv.connect().post(&ok, &ping);
    assert_eq!(
        r.status,
        400,
        "no session, but let in: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    for (headers, status) in [
        (vec![], 401),
        (vec![("Authorization", "Bearer nope")], 401),
        (
            vec![("Authorization", bearer.as_str()), ("Host", "evil.example")],
            403,
        ),
        (
            vec![
                ("Authorization", bearer.as_str()),
                ("Origin", "http://evil.example"),
            ],
            403,
        ),
    ] {
        let r = s.srv.connect().post(&headers, &ping);
        assert_eq!(r.status, status, "{headers:?}");
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert!(!body.contains(token), "{body}");
        if status == 401 {
            assert!(r.header("WWW-Authenticate").unwrap().starts_with("Bearer"));
        }
    }
    // A loopback page may call it (CORS), and learns the session id header.
    let r = s.srv.connect().post(
        &[
            ("Authorization", bearer.as_str()),
            ("Origin", "http://localhost:5173"),
        ],
        &initialize(1, "2025-06-18"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("http://localhost:5173")
    );
    assert!(!s.srv.stderr().contains(token), "the token reached the log");
}

#[test]
fn a_public_address_needs_a_token() {
    let home = Home::new("public");
    let (code, _, err) = home.run(&["serve", "--http", "0.0.0.0:0"], &[], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("without a token"), "{err}");
    let (code, _, err) = home.run(&["serve", "--http", "not-an-address"], &[], "");
    assert_eq!(code, 2);
    assert!(err.contains("expected an IP address and port"), "{err}");
}

#[test]
fn limits_on_bodies_heads_connections_and_slow_clients() {
    let s = start("limits", &[], &[]);
    // Body over http.max_body_kb (4096): 413 before it is read.
    let mut c = s.srv.connect();
    c.send("POST", "/mcp", &[("Content-Length", "5000000")], b"");
    assert_eq!(c.response().status, 413);
    // Head over 64 KiB: 431.
    let mut c = s.srv.connect();
    let big = "x".repeat(70 * 1024);
    c.send("POST", "/mcp", &[("X-Big", big.as_str())], b"{}");
    assert_eq!(c.response().status, 431);
    // A signed length is no length (request smuggling); HEAD gets 405 without a body.
    let mut c = s.srv.connect();
    c.send("POST", "/mcp", &[("Content-Length", "+2")], b"");
    assert_eq!(c.response().status, 400);
    let mut c = s.srv.connect();
    c.send("HEAD", "/mcp", &[], b"");
    let r = c.head().unwrap();
    assert_eq!((r.status, r.header("content-length")), (405, Some("0")));
    // Chunked bodies are read.
    let mut c = s.srv.connect();
    let body = initialize(1, "2025-06-18").to_string();
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    c.send(
        "POST",
        "/mcp",
        &[
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "application/json"),
        ],
        chunked.as_bytes(),
    );
    assert_eq!(c.response().status, 200);
}

#[test]
fn slow_and_idle_clients_time_out_without_holding_up_others() {
    let home = Home::new("slow");
    home.write_config("http:\n  idle_timeout_s: 1\n  max_connections: 3\n");
    let srv = HttpServer::start(&home, &[], &[]);
    // A header byte every 300 ms: cut off within the head timeout (idle_timeout_s here).
    let mut slow = TcpStream::connect(srv.addr).unwrap();
    let started = Instant::now();
    let slow_thread = std::thread::spawn(move || {
        for b in b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa" {
            if slow.write_all(&[*b]).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    });
    // Meanwhile another client is served at once.
    let t = Instant::now();
    let r = srv.connect().post(&[], &initialize(1, "2025-06-18"));
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(slow_thread.join().unwrap(), "the slow client was cut off");
    assert!(started.elapsed() < Duration::from_secs(5));
    // An idle keep-alive connection is closed after idle_timeout_s.
    let mut idle = srv.connect();
    assert_eq!(idle.post(&[], &initialize(2, "2025-06-18")).status, 200);
    assert!(idle.closed_within(Duration::from_secs(4)));
    drop(srv);
    // At the connection cap, an idle keep-alive connection makes room for a new client (a
    // server whose idle timeout is long enough that the held ones do not close by themselves)...
    home.write_config("http:\n  max_connections: 3\n");
    let srv = HttpServer::start(&home, &[], &[]);
    let mut held: Vec<Conn> = (0..3).map(|_| srv.connect()).collect();
    for c in &mut held {
        assert_eq!(c.post(&[], &initialize(3, "2025-06-18")).status, 200);
    }
    assert_eq!(
        srv.connect().post(&[], &initialize(4, "2025-06-18")).status,
        200
    );
    // ...but streams are not idle: with every slot streaming, a new client gets 503.
    let mut streams: Vec<Conn> = (0..3).map(|_| srv.connect()).collect();
    for c in &mut streams {
        c.send("GET", "/sse", &[("Accept", "text/event-stream")], b"");
        assert_eq!(c.head().unwrap().status, 200);
    }
    let r = srv.connect().response();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Retry-After"), Some("1"));
}

#[test]
fn sessions_expire_and_a_hung_up_call_is_cancelled() {
    let config = "http:\n  session_idle_s: 1\noutput:\n  delivery: file\n";
    let (home, _fake, srv) = slow_upstream("expire", config, Duration::from_millis(1500));
    let mut c = srv.connect();
    let sid = c
        .post(&[], &initialize(1, "2025-06-18"))
        .header("Mcp-Session-Id")
        .unwrap()
        .to_string();
    // Expired after http.session_idle_s (1 s, swept every 250 ms): within a few seconds. (A
    // request would renew it, so the log says when.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.stderr().contains("expired (http.session_idle_s)") {
        assert!(
            Instant::now() < deadline,
            "the session never expired: {}",
            srv.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = c.post(
        &[("Mcp-Session-Id", &sid)],
        &req("2025-06-18", 2, "tools/list", json!({})),
    );
    assert_eq!(r.status, 404, "expired after http.session_idle_s");
    drop(c);

    // A client that hangs up while its speak waits for audio: the call is cancelled, no file.
    let c = send_speak(&srv, 3, "Nobody will hear this.");
    std::thread::sleep(Duration::from_millis(300));
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.stderr().contains("cancel") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1800));
    let files: Vec<_> = std::fs::read_dir(home.audio_dir())
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(
        files.is_empty(),
        "a cancelled call left {files:?}\n{}",
        srv.stderr()
    );
}

#[test]
fn sigterm_lets_calls_in_flight_finish() {
    let config = "output:\n  delivery: file\n";
    let (_home, fake, mut srv) = slow_upstream("term", config, Duration::from_millis(800));
    let addr = srv.addr;
    let mut c = send_speak(&srv, 1, "Finish me.");
    // Signalled once the call is under way (the fake has its request).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fake
        .requests()
        .iter()
        .any(|r| r.path.contains("/text-to-speech/"))
    {
        assert!(Instant::now() < deadline, "the call never reached the fake");
        std::thread::sleep(Duration::from_millis(20));
    }
    srv.sigterm();
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["isError"], false, "{}", r.json());
    let status = support::wait_bounded(&mut srv.child, Duration::from_secs(10)).expect("exited");
    assert!(status.success(), "{status:?}: {}", srv.stderr());
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens after the exit"
    );
}
