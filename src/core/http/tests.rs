//! The HTTP transports as data: sessions, exchanges, streams and the headers of each era.

use super::*;
use crate::core::elevenlabs::HttpResponse;
use crate::core::settings::{ApiKey, Settings};
use crate::core::{Job, JobId, JobResult};
use serde_json::{Value, json};

const MODERN_META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

struct T {
    server: HttpServer,
    now: Instant,
    jobs: Vec<(JobId, Job)>,
    cancelled: Vec<JobId>,
    replies: Vec<Reply>,
}

impl T {
    fn new(limits: Limits) -> Self {
        let settings = Settings {
            api_key: Some(ApiKey::new("sk_http_tests_000000000000")),
            cache_enabled: false,
            usage_enabled: false,
            ..Settings::default()
        };
        let now = Instant::now();
        let config = Config::default().settings(settings, vec![]);
        let mut t = Self {
            server: HttpServer::new(config, limits, now),
            now,
            jobs: Vec::new(),
            cancelled: Vec::new(),
            replies: Vec::new(),
        };
        t.drain();
        t
    }

    fn drain(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Start { id, job } => self.jobs.push((id, job)),
                Output::Cancel(id) => self.cancelled.push(id),
                Output::Http(reply) => self.replies.push(reply),
                _ => {}
            }
        }
    }

    fn input(&mut self, input: HttpIn) {
        self.server.handle_input(self.now, Input::Http(input));
        self.drain();
    }

    /// Sends a request on `conn` and returns what was sent on it since.
    fn send(
        &mut self,
        conn: u64,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Vec<Reply> {
        let mut pairs: Vec<(&str, &[u8])> = vec![("Host", b"127.0.0.1:8765")];
        if method == "POST" {
            pairs.push(("Content-Type", b"application/json"));
        }
        pairs.extend(headers.iter().map(|(n, v)| (*n, v.as_bytes())));
        let head = Head::new(method, path, pairs).unwrap();
        let conn = ConnId(conn);
        self.input(HttpIn::Request {
            conn,
            head: Box::new(head),
            body: body.as_bytes().to_vec(),
        });
        self.take(conn)
    }

    fn post(&mut self, conn: u64, headers: &[(&str, &str)], body: &Value) -> Vec<Reply> {
        self.send(conn, "POST", "/mcp", headers, &body.to_string())
    }

    /// Replies sent on `conn` so far (taken).
    fn take(&mut self, conn: ConnId) -> Vec<Reply> {
        let (mine, rest) = std::mem::take(&mut self.replies)
            .into_iter()
            .partition(|r| r.conn() == conn);
        self.replies = rest;
        mine
    }

    /// Opens a 2025-06-18 session on `conn`: its `Mcp-Session-Id`.
    fn session(&mut self, conn: u64) -> String {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let r = whole(&self.post(conn, &[], &init));
        assert_eq!(r.status, 200);
        header(&r, "Mcp-Session-Id")
            .expect("a session id")
            .to_string()
    }

    fn finish_job(&mut self, path: &str, body: &str) {
        let pos = self
            .jobs
            .iter()
            .position(
                |(_, j)| matches!(j, Job::Http { request, .. } if request.path.starts_with(path)),
            )
            .unwrap_or_else(|| panic!("no job for {path} in {:?}", self.jobs));
        let (id, _) = self.jobs.remove(pos);
        let result = JobResult::Http(Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }));
        self.server
            .handle_input(self.now, Input::JobDone { id, result });
        self.drain();
    }
}

fn whole(replies: &[Reply]) -> Response {
    match replies {
        [Reply::Whole { response, .. }] => response.clone(),
        other => panic!("expected one whole response, got {other:?}"),
    }
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&r.body)))
}

fn list(id: u64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/list"})
}

fn modern(id: u64, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = serde_json::from_str(MODERN_META).unwrap();
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

#[test]
fn a_session_is_named_by_every_request_after_initialize() {
    let mut t = T::new(Limits::default());
    let sid = t.session(1);
    assert_eq!(sid.len(), 32);
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(t.session(2), sid, "every session gets its own id");

    let r = whole(&t.post(1, &[], &list(1)));
    assert_eq!(
        (r.status, body(&r)["error"]["code"].clone()),
        (400, json!(-32600))
    );
    let r = whole(&t.post(1, &[("Mcp-Session-Id", "0123")], &list(1)));
    assert_eq!(
        (r.status, body(&r)["error"]["code"].clone()),
        (404, json!(-32001))
    );
    let r = whole(&t.post(1, &[("Mcp-Session-Id", &sid)], &list(1)));
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "Content-Type"), Some("application/json"));
    assert!(body(&r)["result"]["tools"].is_array());

    // A notification is accepted with 202 and no body.
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let r = whole(&t.post(1, &[("Mcp-Session-Id", &sid)], &note));
    assert_eq!((r.status, r.body.len()), (202, 0));

    // The version header: absent is fine, the session's own is fine, another or unknown is 400.
    let ok = [
        ("Mcp-Session-Id", sid.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    assert_eq!(whole(&t.post(1, &ok, &list(2))).status, 200);
    for v in ["2025-03-26", "1999-01-01"] {
        let h = [
            ("Mcp-Session-Id", sid.as_str()),
            ("MCP-Protocol-Version", v),
        ];
        assert_eq!(whole(&t.post(1, &h, &list(3))).status, 400, "{v}");
    }

    // DELETE ends it.
    let r = whole(&t.send(1, "DELETE", "/mcp", &[("Mcp-Session-Id", &sid)], ""));
    assert_eq!(r.status, 200);
    let r = whole(&t.post(1, &[("Mcp-Session-Id", &sid)], &list(4)));
    assert_eq!(r.status, 404);
}

#[test]
fn a_failed_initialize_leaves_no_session() {
    let mut t = T::new(Limits::default());
    let bad = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}});
    let r = whole(&t.post(1, &[], &bad));
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["error"]["code"], -32602);
    assert_eq!(header(&r, "Mcp-Session-Id"), None);
    assert_eq!(t.server.counts(), (0, 0));
}

#[test]
fn bodies_and_media_types_are_checked() {
    let mut t = T::new(Limits::default());
    let r = whole(&t.send(1, "POST", "/mcp", &[], "{not json"));
    assert_eq!(
        (r.status, body(&r)["error"]["code"].clone()),
        (400, json!(-32700))
    );
    let head = Head::new(
        "POST",
        "/mcp",
        [("Host", &b"localhost"[..]), ("Content-Type", b"text/plain")],
    )
    .unwrap();
    t.input(HttpIn::Request {
        conn: ConnId(1),
        head: Box::new(head),
        body: b"{}".to_vec(),
    });
    assert_eq!(whole(&t.take(ConnId(1))).status, 415);
    let r = whole(&t.post(1, &[("Accept", "text/html")], &list(1)));
    assert_eq!(r.status, 406);
    assert_eq!(whole(&t.send(1, "PUT", "/mcp", &[], "")).status, 405);
    assert_eq!(whole(&t.send(1, "GET", "/etc/passwd", &[], "")).status, 404);
    assert_eq!(
        whole(&t.send(1, "GET", "/mcp/../config.yaml", &[], "")).status,
        404
    );
}

#[test]
fn stateless_requests_must_mirror_their_body_in_headers() {
    let mut t = T::new(Limits::default());
    let m = |method: &'static str| {
        vec![
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", method),
        ]
    };
    let r = whole(&t.post(1, &m("tools/list"), &modern(1, "tools/list", json!({}))));
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["result"]["tools"][0]["name"], "speak");
    assert_eq!(header(&r, "Mcp-Session-Id"), None);
    assert_eq!(
        t.server.counts(),
        (0, 0),
        "a stateless request leaves nothing behind"
    );

    let mismatch = |t: &mut T, headers: &[(&str, &str)], msg: Value| {
        let r = whole(&t.post(1, headers, &msg));
        assert_eq!(r.status, 400, "{headers:?}");
        assert_eq!(body(&r)["error"]["code"], -32020, "{headers:?}");
        body(&r)["error"]["message"].as_str().unwrap().to_string()
    };
    let list = modern(2, "tools/list", json!({}));
    assert!(mismatch(&mut t, &m("tools/call"), list.clone()).contains("Mcp-Method"));
    assert!(
        mismatch(
            &mut t,
            &[("MCP-Protocol-Version", "2026-07-28")],
            list.clone()
        )
        .contains("missing Mcp-Method")
    );
    assert!(
        mismatch(&mut t, &[("Mcp-Method", "tools/list")], list.clone())
            .contains("MCP-Protocol-Version")
    );
    let call = modern(3, "tools/call", json!({"name": "list_models"}));
    assert!(mismatch(&mut t, &m("tools/call"), call.clone()).contains("missing Mcp-Name"));
    let mut named = m("tools/call");
    named.push(("Mcp-Name", "speak"));
    assert!(mismatch(&mut t, &named, call).contains("params.name"));
    let read = modern(4, "resources/read", json!({"uri": "health://status"}));
    let mut h = m("resources/read");
    h.push(("Mcp-Name", "health://status"));
    assert_eq!(whole(&t.post(1, &h, &read)).status, 200);

    // Unknown methods are 404 with -32601; GET and DELETE are 405.
    let r = whole(&t.post(1, &m("nope/nope"), &modern(5, "nope/nope", json!({}))));
    assert_eq!(
        (r.status, body(&r)["error"]["code"].clone()),
        (404, json!(-32601))
    );
    let v = [("MCP-Protocol-Version", "2026-07-28")];
    assert_eq!(whole(&t.send(1, "GET", "/mcp", &v, "")).status, 405);
    assert_eq!(whole(&t.send(1, "DELETE", "/mcp", &v, "")).status, 405);
    // A batch is not part of 2026-07-28.
    let r = whole(&t.send(1, "POST", "/mcp", &m("tools/list"), "[{}]"));
    assert_eq!(r.status, 400);
}

#[test]
fn a_call_is_answered_on_its_own_post_whatever_finishes_first() {
    let mut t = T::new(Limits::default());
    let sid = t.session(9);
    let s = [("Mcp-Session-Id", sid.as_str())];
    let call = |id: u64, tool: &str| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool}});
    assert!(
        t.post(1, &s, &call(1, "list_models")).is_empty(),
        "waits for its job"
    );
    assert!(t.post(2, &s, &call(2, "get_usage")).is_empty());
    // A third client is answered at once meanwhile.
    assert_eq!(whole(&t.post(3, &s, &list(3))).status, 200);
    t.finish_job(
        "/v1/user/subscription",
        r#"{"tier":"pro","character_count":1,"character_limit":10,"status":"active"}"#,
    );
    let r = whole(&t.take(ConnId(2)));
    assert_eq!(body(&r)["id"], 2);
    assert_eq!(header(&r, "Mcp-Session-Id"), Some(sid.as_str()));
    assert!(t.take(ConnId(1)).is_empty());
    t.finish_job("/v1/models", r#"[{"model_id":"eleven_flash_v2_5","name":"Flash","can_do_text_to_speech":true,"languages":[]}]"#);
    assert_eq!(body(&whole(&t.take(ConnId(1))))["id"], 1);
}

#[test]
fn notifications_before_the_reply_make_it_an_event_stream() {
    let mut t = T::new(Limits::default());
    // A tool error with a log level asked for: a `notifications/message`, then the result.
    let mut msg = modern(
        1,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": ""}}),
    );
    msg["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("debug");
    let h = [
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "speak"),
        ("Accept", "application/json, text/event-stream"),
    ];
    let replies = t.post(1, &h, &msg);
    let [
        Reply::Open { .. },
        Reply::Event { data: note, .. },
        Reply::Event { data: result, .. },
        Reply::End { .. },
    ] = replies.as_slice()
    else {
        panic!("expected a stream: {replies:?}");
    };
    let event = |data: &[u8]| -> Value {
        let text = std::str::from_utf8(data).unwrap();
        let json = text
            .strip_prefix("event: message\ndata: ")
            .unwrap()
            .strip_suffix("\n\n")
            .unwrap();
        serde_json::from_str(json).unwrap()
    };
    assert_eq!(event(note)["method"], "notifications/message");
    assert_eq!(event(result)["id"], 1);
    assert_eq!(event(result)["result"]["isError"], true);

    // A client that takes only JSON gets the reply alone.
    let mut json_only = h;
    json_only[3].1 = "application/json";
    let r = whole(&t.post(2, &json_only, &msg));
    assert_eq!(body(&r)["result"]["isError"], true);
    // One that takes only event streams gets even a plain reply as one.
    let mut sse_only = h;
    sse_only[3].1 = "text/event-stream";
    let replies = t.post(3, &sse_only, &msg);
    assert!(
        matches!(replies.first(), Some(Reply::Open { .. })),
        "{replies:?}"
    );
    assert!(matches!(replies.last(), Some(Reply::End { .. })));
}

#[test]
fn a_client_that_hangs_up_cancels_its_call() {
    let mut t = T::new(Limits::default());
    let sid = t.session(9);
    let s = [("Mcp-Session-Id", sid.as_str())];
    let call =
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_models"}});
    assert!(t.post(1, &s, &call).is_empty());
    let (job, _) = t.jobs[0].clone();
    t.input(HttpIn::Gone(ConnId(1)));
    assert_eq!(t.cancelled, vec![job]);
    // The session lives on.
    assert_eq!(whole(&t.post(2, &s, &list(2))).status, 200);
    assert_eq!(t.server.counts(), (1, 0));
}

#[test]
fn a_request_cancelled_from_another_post_ends_its_own() {
    let mut t = T::new(Limits::default());
    let sid = t.session(9);
    let s = [("Mcp-Session-Id", sid.as_str())];
    let call =
        json!({"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"list_models"}});
    assert!(t.post(1, &s, &call).is_empty());
    let json_only = [
        ("Mcp-Session-Id", sid.as_str()),
        ("Accept", "application/json"),
    ];
    let call2 =
        json!({"jsonrpc":"2.0","id":"c2","method":"tools/call","params":{"name":"get_usage"}});
    assert!(t.post(2, &json_only, &call2).is_empty());
    let cancel = |id: &str| json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId": id}});
    assert_eq!(whole(&t.post(3, &s, &cancel("c1"))).status, 202);
    assert_eq!(t.cancelled.len(), 1, "its job is cancelled");
    let ended = t.take(ConnId(1));
    assert!(
        matches!(ended.as_slice(), [Reply::Open { .. }, Reply::End { .. }]),
        "{ended:?}"
    );
    assert_eq!(whole(&t.post(3, &s, &cancel("c2"))).status, 202);
    assert_eq!(whole(&t.take(ConnId(2))).status, 204);
    assert_eq!(t.server.counts(), (1, 0));
}

#[test]
fn the_legacy_transport_replies_on_its_stream() {
    let mut t = T::new(Limits::default());
    let replies = t.send(1, "GET", "/sse", &[("Accept", "text/event-stream")], "");
    let [Reply::Open { .. }, Reply::Event { data, .. }] = replies.as_slice() else {
        panic!("{replies:?}");
    };
    let text = String::from_utf8(data.clone()).unwrap();
    let endpoint = text
        .strip_prefix("event: endpoint\ndata: ")
        .and_then(|t| t.strip_suffix("\n\n"))
        .unwrap()
        .to_string();
    assert!(endpoint.starts_with("/messages?session_id="), "{endpoint}");
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let r = whole(&t.send(2, "POST", &endpoint, &[], &init.to_string()));
    assert_eq!(r.status, 202);
    let on_stream = t.take(ConnId(1));
    let [Reply::Event { data, .. }] = on_stream.as_slice() else {
        panic!("{on_stream:?}");
    };
    assert!(String::from_utf8_lossy(data).contains("\"protocolVersion\":\"2024-11-05\""));
    assert_eq!(
        whole(&t.send(2, "POST", "/messages?session_id=nope", &[], "{}")).status,
        404
    );
    assert_eq!(
        whole(&t.send(2, "POST", "/messages", &[], "{}")).status,
        400
    );
    // The session ends with its stream.
    t.input(HttpIn::Gone(ConnId(1)));
    assert_eq!(t.server.counts(), (0, 0));
    assert_eq!(
        whole(&t.send(2, "POST", &endpoint, &[], &list(1).to_string())).status,
        404
    );
}

#[test]
fn sessions_are_bounded_and_expire_when_idle() {
    let limits = Limits {
        max_sessions: 2,
        session_idle: Duration::from_secs(10),
        ..Limits::default()
    };
    let mut t = T::new(limits);
    let a = t.session(1);
    t.now += Duration::from_secs(1);
    let b = t.session(1);
    t.now += Duration::from_secs(1);
    // A full table drops its least recently used idle session for a new one.
    let c = t.session(1);
    assert_eq!(
        whole(&t.post(1, &[("Mcp-Session-Id", &a)], &list(1))).status,
        404
    );
    assert_eq!(
        whole(&t.post(1, &[("Mcp-Session-Id", &b)], &list(1))).status,
        200
    );
    // One with a call in flight is never dropped; with both busy a new one gets 503.
    let call =
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_models"}});
    assert!(t.post(2, &[("Mcp-Session-Id", &b)], &call).is_empty());
    assert!(t.post(3, &[("Mcp-Session-Id", &c)], &call).is_empty());
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let r = whole(&t.post(4, &[], &init));
    assert_eq!((r.status, header(&r, "Retry-After")), (503, Some("5")));
    // Idle for longer than session_idle: gone.
    t.input(HttpIn::Gone(ConnId(2)));
    t.input(HttpIn::Gone(ConnId(3)));
    t.now += Duration::from_secs(11);
    let due = t.server.poll_timeout().unwrap();
    assert!(due <= t.now, "a sweep is due");
    t.server.handle_timeout(t.now);
    t.drain();
    assert_eq!(t.server.counts(), (0, 0));
    assert_eq!(
        whole(&t.post(1, &[("Mcp-Session-Id", &c)], &list(1))).status,
        404
    );
}

#[test]
fn calls_in_flight_are_capped() {
    let limits = Limits {
        max_in_flight: 1,
        ..Limits::default()
    };
    let mut t = T::new(limits);
    let sid = t.session(9);
    let s = [("Mcp-Session-Id", sid.as_str())];
    let call = |id: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"list_models"}});
    assert!(t.post(1, &s, &call(1)).is_empty());
    let r = whole(&t.post(2, &s, &call(2)));
    assert_eq!((r.status, header(&r, "Retry-After")), (503, Some("1")));
    // What needs no call still gets through.
    assert_eq!(whole(&t.post(3, &s, &list(3))).status, 200);
}

#[test]
fn stop_lets_calls_in_flight_finish_and_refuses_new_requests() {
    let mut t = T::new(Limits::default());
    let sid = t.session(9);
    let s = [("Mcp-Session-Id", sid.as_str())];
    let call =
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_models"}});
    assert!(t.post(1, &s, &call).is_empty());
    let stream = t.send(5, "GET", "/mcp", &s, "");
    assert!(
        matches!(stream.as_slice(), [Reply::Open { .. }]),
        "{stream:?}"
    );
    assert_eq!(
        whole(&t.send(6, "GET", "/mcp", &s, "")).status,
        409,
        "one stream per session"
    );
    t.input(HttpIn::Stop);
    assert!(!t.server.is_finished());
    let r = whole(&t.post(2, &s, &list(2)));
    assert_eq!(r.status, 503);
    assert!(r.close);
    t.finish_job("/v1/models", "[]");
    assert_eq!(whole(&t.take(ConnId(1))).status, 200);
    assert!(
        matches!(t.take(ConnId(5)).as_slice(), [Reply::End { .. }]),
        "the stream is ended"
    );
    assert!(t.server.is_finished());
}

#[test]
fn stop_cancels_what_outlives_the_grace() {
    let mut t = T::new(Limits::default());
    let sid = t.session(9);
    let call =
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_models"}});
    assert!(t.post(1, &[("Mcp-Session-Id", &sid)], &call).is_empty());
    let stateless = modern(2, "tools/call", json!({"name": "list_models"}));
    let h = [
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "list_models"),
        ("Accept", "application/json"),
    ];
    assert!(t.post(2, &h, &stateless).is_empty());
    t.input(HttpIn::Stop);
    t.now += Duration::from_secs(6);
    t.server.handle_timeout(t.now);
    t.drain();
    assert_eq!(t.cancelled.len(), 2);
    // Both POSTs are answered, and the server can end.
    let first = t.take(ConnId(1));
    assert!(
        matches!(first.as_slice(), [Reply::Open { .. }, Reply::End { .. }]),
        "{first:?}"
    );
    assert_eq!(whole(&t.take(ConnId(2))).status, 204);
    assert!(t.server.is_finished(), "{:?}", t.server.counts());
}

#[test]
fn ending_a_session_closes_a_stream_it_began_cleanly() {
    let mut t = T::new(Limits::default());
    let sid = t.session(9);
    let h = [
        ("Mcp-Session-Id", sid.as_str()),
        ("Accept", "application/json, text/event-stream"),
    ];
    // A call with a progress token: its first progress opens the POST's stream.
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"speak","arguments":{"text":"Hello there."},"_meta":{"progressToken":"p"}}});
    assert!(t.post(1, &h, &call).is_empty());
    // speak learns the model's limits first.
    t.finish_job("/v1/models", r#"[{"model_id":"eleven_flash_v2_5","name":"Flash","can_do_text_to_speech":true,"languages":[],"max_characters_request_subscribed_user":40000}]"#);
    let (id, _) = t
        .jobs
        .iter()
        .find(|(_, j)| matches!(j, Job::Speech { .. }))
        .cloned()
        .unwrap_or_else(|| panic!("a speech job: {:?}", t.jobs));
    t.server
        .handle_input(t.now, Input::Progress { id, bytes: 4096 });
    t.drain();
    assert!(matches!(
        t.take(ConnId(1)).as_slice(),
        [Reply::Open { .. }, Reply::Event { .. }]
    ));
    let r = whole(&t.send(2, "DELETE", "/mcp", &[("Mcp-Session-Id", &sid)], ""));
    assert_eq!(r.status, 200);
    let ended = t.take(ConnId(1));
    assert!(
        matches!(ended.as_slice(), [Reply::End { .. }]),
        "no whole response inside the stream: {ended:?}"
    );
}

#[test]
fn envelope_classifies_what_sessions_write() {
    use envelope::{is_notification, status_of};
    assert!(is_notification(
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#
    ));
    assert!(!is_notification(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
    assert_eq!(
        status_of(
            br#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"x"}}"#,
            false
        ),
        400
    );
    assert_eq!(
        status_of(
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
            true
        ),
        400
    );
    assert_eq!(
        status_of(
            br#"{"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"x"}}"#,
            true
        ),
        404
    );
    assert_eq!(
        status_of(
            br#"{"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"x"}}"#,
            false
        ),
        200
    );
    assert_eq!(
        status_of(
            br#"{"jsonrpc":"2.0","id":1,"result":{"text":"\"error\":{\"code\":-32601,"}}"#,
            true
        ),
        200
    );
}

#[test]
fn heads_refuse_doubled_deciding_headers() {
    let twice = Head::new("POST", "/mcp", [("Host", &b"a"[..]), ("host", b"b")]);
    assert_eq!(twice.unwrap_err().status, 400);
    let bad = Head::new("POST", "/mcp", [("Mcp-Session-Id", &b"\xff"[..])]);
    assert_eq!(bad.unwrap_err().status, 400);
    let h = Head::new(
        "GET",
        "/messages?a=1&session_id=xyz",
        [("Connection", &b"keep-alive, close"[..])],
    )
    .unwrap();
    assert_eq!(h.query_value("session_id"), Some("xyz"));
    assert!(h.close);
    let accept = |a: &str| {
        Head::new("POST", "/", [("Accept", a.as_bytes())])
            .unwrap()
            .accepts()
    };
    assert_eq!(accept("application/json"), (true, false));
    assert_eq!(accept("text/event-stream;q=1"), (false, true));
    assert_eq!(accept("*/*"), (true, true));
    assert_eq!(accept("text/html"), (false, false));
}
