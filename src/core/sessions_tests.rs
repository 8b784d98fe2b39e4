//! Several MCP sessions over one voice service: replies reach the session (and the request) they
//! answer, whatever the order jobs finish in; what the service remembers is shared; a cancel in
//! one session touches nothing of another's.

use super::elevenlabs::HttpResponse;
use super::service::{Service, SessionId};
use super::session::Session;
use super::settings::{ApiKey, Settings};
use super::{Config, Job, JobId, JobResult, Output};
use serde_json::{Value, json};
use std::time::Instant;

/// Two sessions and a service, routed like the HTTP transport routes them.
struct Pair {
    service: Service,
    sessions: Vec<Session>,
    now: Instant,
    jobs: Vec<(JobId, Job)>,
    cancelled: Vec<JobId>,
}

impl Pair {
    fn new() -> Self {
        let settings = Settings {
            api_key: Some(ApiKey::new("sk_two_sessions_0000000000")),
            cache_enabled: false,
            // The ledger's rows and reports are server_tests.rs' and budget_tests.rs' concern.
            usage_enabled: false,
            ..Settings::default()
        };
        let now = Instant::now();
        Self {
            service: Service::new(Config::default().settings(settings, vec![]), now),
            sessions: vec![Session::new(SessionId(0)), Session::new(SessionId(1))],
            now,
            jobs: Vec::new(),
            cancelled: Vec::new(),
        }
    }

    fn route(&mut self) {
        while let Some(event) = self.service.poll_event() {
            let session = usize::try_from(event.session.0).unwrap();
            self.sessions[session].handle_event(event.call, event.kind);
        }
        while let Some(output) = self.service.poll_output() {
            match output {
                Output::Start { id, job } => self.jobs.push((id, job)),
                Output::Cancel(id) => self.cancelled.push(id),
                _ => {}
            }
        }
    }

    fn send(&mut self, session: usize, message: Value) {
        let bytes = message.to_string();
        self.sessions[session].handle_message(self.now, bytes.as_bytes(), 0, &mut self.service);
        self.route();
    }

    /// What session `k` has written so far, as JSON messages.
    fn replies(&mut self, k: usize) -> Vec<Value> {
        let mut bytes = Vec::new();
        while let Some(output) = self.sessions[k].poll_output() {
            if let Output::Stdout(b) = output {
                bytes.extend(b);
            }
        }
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    /// Finishes the running job whose request path is `path` with a 200 and `body`.
    fn reply(&mut self, path: &str, body: &str) {
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
        self.service.handle_job(self.now, id, result);
        self.route();
    }
}

fn call(id: u64, tool: &str, stateless: bool) -> Value {
    let mut params = json!({"name": tool});
    if stateless {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        });
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

fn usage(count: u64) -> String {
    json!({"tier": "pro", "character_count": count, "character_limit": 1000, "status": "active"})
        .to_string()
}

const MODELS: &str = r#"[{"model_id":"eleven_flash_v2_5","name":"Flash","can_do_text_to_speech":true,"languages":[{"language_id":"en","name":"English"}],"max_characters_request_free_user":10000,"max_characters_request_subscribed_user":40000}]"#;

#[test]
fn interleaved_calls_of_two_eras_reach_their_own_session() {
    let mut p = Pair::new();
    // Session 0 speaks the handshake era (2025-06-18); session 1 is stateless (2026-07-28).
    p.send(
        0,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "a", "version": "1"}}}),
    );
    assert_eq!(p.replies(0)[0]["result"]["protocolVersion"], "2025-06-18");
    assert!(
        p.replies(1).is_empty(),
        "nothing leaks to the other session"
    );

    // The same request id in both sessions, and a second call in session 0.
    p.send(0, call(1, "get_usage", false));
    p.send(1, call(1, "get_usage", true));
    p.send(0, call(2, "list_models", false));
    assert_eq!(p.jobs.len(), 3, "{:?}", p.jobs);
    assert_eq!(p.service.in_flight(), 3);

    // Jobs finish in another order than they started: session 1's usage, the models, session 0's usage.
    let jobs: Vec<&str> = p
        .jobs
        .iter()
        .map(|(_, j)| match j {
            Job::Http { request, .. } => request.path.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(
        jobs,
        [
            "/v1/user/subscription",
            "/v1/user/subscription",
            "/v1/models"
        ]
    );
    let (id1, _) = p.jobs.remove(1); // session 1's usage job, finished first
    p.service.handle_job(
        p.now,
        id1,
        JobResult::Http(Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: usage(111).into_bytes(),
        })),
    );
    p.route();
    let b = p.replies(1);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0]["id"], 1);
    assert_eq!(b[0]["result"]["structuredContent"]["character_count"], 111);
    assert_eq!(
        b[0]["result"]["resultType"], "complete",
        "the stateless era's shape"
    );
    assert!(p.replies(0).is_empty(), "session 0 still waits");

    p.reply("/v1/models", MODELS);
    p.reply("/v1/user/subscription", &usage(222));
    let a = p.replies(0);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0]["id"], 2);
    assert!(
        a[0]["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("eleven_flash_v2_5")
    );
    assert_eq!(a[1]["id"], 1);
    assert_eq!(a[1]["result"]["structuredContent"]["character_count"], 222);
    assert!(
        a[1]["result"].get("resultType").is_none(),
        "2025-06-18 has no resultType"
    );
    assert!(p.replies(1).is_empty());
    assert_eq!(p.service.in_flight(), 0);

    // The model list fetched for session 0 answers session 1 at once: the cache is shared.
    p.send(1, call(3, "list_models", true));
    assert!(p.jobs.is_empty(), "no new job: {:?}", p.jobs);
    let b = p.replies(1);
    assert_eq!(b[0]["id"], 3);
    assert_eq!(b[0]["result"]["isError"], false);
}

#[test]
fn a_cancel_in_one_session_leaves_the_other_alone() {
    let mut p = Pair::new();
    p.send(1, call(7, "get_usage", true));
    p.send(0, call(7, "get_usage", true));
    assert_eq!(p.jobs.len(), 2);
    let (first, _) = p.jobs[0].clone();
    let (second, _) = p.jobs[1].clone();
    // Session 0 cancels its request 7; session 1's request 7 is another request.
    p.send(
        0,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}),
    );
    assert_eq!(
        p.cancelled,
        vec![second],
        "only session 0's job is cancelled"
    );
    p.service.handle_job(
        p.now,
        second,
        JobResult::Http(Err(super::elevenlabs::Transport::Cancelled)),
    );
    p.route();
    assert!(p.replies(0).is_empty(), "a cancelled request gets no reply");
    p.jobs.remove(1);
    p.reply("/v1/user/subscription", &usage(5));
    let b = p.replies(1);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["id"], 7);
    assert_eq!(b[0]["result"]["structuredContent"]["character_count"], 5);
    assert!(!p.cancelled.contains(&first));
}
