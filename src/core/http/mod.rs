//! The HTTP transports as data (feature `http-server`): Streamable HTTP at one endpoint in both
//! eras, and the legacy HTTP+SSE transport of 2024-11-05, over one [`Service`] shared by every
//! client.
//!
//! The shell reads requests whole (the guard, [`Policy::check`], has let them in) and hands
//! them over as [`HttpIn`]; the server answers with [`Reply`]s inside [`Output::Http`]. Each
//! client is a [`Session`]: a 2025 one lives under its `Mcp-Session-Id` until DELETE or idle
//! expiry; a 2026-07-28 request gets a session of its own that ends with its reply; a legacy
//! client's lives as long as its `GET /sse` stream. A POST is one exchange: its replies are
//! written on the session's channel for it, so the reply (and any notification about its
//! request before it) goes back on the POST's own response.

mod envelope;
mod guard;
mod head;
mod post;
mod response;

pub use guard::Policy;
pub use head::{Head, Method};
pub use response::{ConnId, HttpIn, Reply, Response};

use super::Config;
use super::event::{Input, Level, Output};
use super::service::{Service, SessionId};
use super::session::Session;
use envelope::{is_notification, status_of};
use response::message_event;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The transport's bounds, from `http.*`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Sessions (2025 and legacy) kept at once.
    pub max_sessions: usize,
    /// A 2025 session with nothing in flight and no stream ends after this long unused.
    pub session_idle: Duration,
    /// Tool calls and reads in flight at once, over all clients; more get 503.
    pub max_in_flight: usize,
    /// Secret the session ids are drawn from (the shell fills it from the OS's random source).
    pub secret: [u8; 32],
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: 1024,
            session_idle: Duration::from_secs(30 * 60),
            max_in_flight: 256,
            secret: [0; 32],
        }
    }
}

/// What kind of client a session serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Streamable HTTP with `Mcp-Session-Id` (2025-03-26 to 2025-11-25).
    Session,
    /// One 2026-07-28 request.
    Stateless,
    /// HTTP+SSE (2024-11-05 transport): every reply goes on its stream.
    Legacy,
}

#[derive(Debug)]
struct Client {
    session: Session,
    kind: Kind,
    /// Its `Mcp-Session-Id` or `session_id` (empty when stateless).
    token: String,
    seen: Instant,
    /// Its open event stream (a GET at the endpoint, or `GET /sse`).
    stream: Option<ConnId>,
}

/// A POST waiting for its reply.
#[derive(Debug)]
struct Exchange {
    session: SessionId,
    channel: u64,
    /// The client takes JSON, an event stream.
    json: bool,
    sse: bool,
    /// The event stream has started (a notification came before the reply).
    open: bool,
    stateless: bool,
    /// Headers every response of it carries (`Mcp-Session-Id`, CORS).
    headers: Vec<(&'static str, String)>,
    /// An `initialize`: the session is kept only if it succeeds.
    initialize: bool,
}

/// The HTTP server: sessions, exchanges and streams over one voice service.
#[derive(Debug)]
pub struct HttpServer {
    service: Service,
    clients: HashMap<SessionId, Client>,
    by_token: HashMap<String, SessionId>,
    exchanges: HashMap<ConnId, Exchange>,
    by_channel: HashMap<u64, ConnId>,
    streams: HashMap<ConnId, SessionId>,
    next_session: u64,
    next_channel: u64,
    minted: u64,
    limits: Limits,
    out: VecDeque<Output>,
    /// Sessions that may have output to route.
    dirty: Vec<SessionId>,
    shutdown_grace: Duration,
    closing: Option<Instant>,
    next_sweep: Option<Instant>,
    now: Instant,
}

impl HttpServer {
    /// A server that starts at `now`.
    pub fn new(config: Config, limits: Limits, now: Instant) -> Self {
        Self {
            shutdown_grace: config.shutdown_grace,
            service: Service::new(config, now),
            clients: HashMap::new(),
            by_token: HashMap::new(),
            exchanges: HashMap::new(),
            by_channel: HashMap::new(),
            streams: HashMap::new(),
            next_session: 1,
            next_channel: 1,
            minted: 0,
            limits,
            out: VecDeque::new(),
            dirty: Vec::new(),
            closing: None,
            next_sweep: None,
            now,
        }
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Feeds one input. Drain [`HttpServer::poll_output`] afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Http(http) => match http {
                HttpIn::Request { conn, head, body } => self.request(conn, &head, body),
                HttpIn::Gone(conn) => self.gone(conn),
                HttpIn::Stop => self.stop(),
            },
            Input::Playing { id, request_id } => {
                self.service.handle_playing(self.now, id, request_id)
            }
            Input::JobDone { id, result } => self.service.handle_job(self.now, id, result),
            Input::Progress { id, bytes } => self.service.handle_progress(self.now, id, bytes),
            Input::Stdin(_) | Input::StdinClosed => {}
        }
        self.route();
    }

    /// Acts on timers due at `now`: the service's, idle sessions, the end of the grace.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.service.handle_timeout(self.now);
        if self.next_sweep.is_some_and(|at| self.now >= at) {
            self.sweep();
        }
        if let Some(deadline) = self.closing
            && self.now >= deadline
            && self.service.in_flight() > 0
        {
            let n = self.service.in_flight();
            self.log(
                Level::Warning,
                format!("shutting down: cancelled {n} request(s) still in flight"),
            );
            let ids: Vec<SessionId> = self.clients.keys().copied().collect();
            for id in ids {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.session.cancel_all(&mut self.service);
                    self.dirty.push(id);
                }
            }
        }
        self.route();
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next thing for the shell to do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.service.poll_output().or_else(|| self.out.pop_front())
    }

    /// When [`HttpServer::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let closing = self.closing.filter(|_| self.service.in_flight() > 0);
        [closing, self.service.poll_timeout(), self.next_sweep]
            .into_iter()
            .flatten()
            .min()
    }

    /// Stopping, and every reply is out: the shell may exit once output is drained.
    pub fn is_finished(&self) -> bool {
        self.closing.is_some()
            && self.service.in_flight() == 0
            && self.exchanges.is_empty()
            && self.streams.is_empty()
            && self.out.is_empty()
            && self.service.is_drained()
    }

    /// Sessions held (2025 and legacy) and exchanges waiting: for the shell's log.
    pub fn counts(&self) -> (usize, usize) {
        (self.clients.len(), self.exchanges.len())
    }

    // ---- requests -----------------------------------------------------------------------

    fn request(&mut self, conn: ConnId, head: &Head, body: Vec<u8>) {
        if self.closing.is_some() {
            let r = Response::text(503, "the server is shutting down")
                .header("Retry-After", "5")
                .closing();
            return self.whole(conn, r);
        }
        let cors = self.cors(head);
        let path = head.path.as_str();
        let response = match (head.method(), path) {
            (Method::Options, "/mcp" | "/sse" | "/messages") => Some(preflight(head)),
            (Method::Post, "/mcp") => self.post(conn, head, &body, &cors),
            (Method::Get, "/mcp") => self.open_stream(conn, head, &cors),
            (Method::Delete, "/mcp") => Some(self.delete(head)),
            (Method::Get, "/sse") => self.open_legacy(conn, head, &cors),
            (Method::Post, "/messages") => Some(self.post_legacy(head, &body)),
            (_, "/mcp") => Some(not_allowed("GET, POST, DELETE")),
            (_, "/sse") => Some(not_allowed("GET")),
            (_, "/messages") => Some(not_allowed("POST")),
            _ => Some(Response::text(
                404,
                "not found: the MCP endpoint is /mcp (and /sse for the 2024-11-05 transport)",
            )),
        };
        if let Some(mut r) = response {
            r.headers.extend(cors);
            self.whole(conn, r);
        }
    }

    /// CORS headers for an allowed browser origin (the guard has refused the others).
    fn cors(&self, head: &Head) -> Vec<(&'static str, String)> {
        match &head.origin {
            Some(origin) => vec![
                ("Access-Control-Allow-Origin", origin.clone()),
                ("Access-Control-Expose-Headers", "Mcp-Session-Id".into()),
                ("Vary", "Origin".into()),
            ],
            None => Vec::new(),
        }
    }

    /// `GET /mcp`: the server-to-client stream of a 2025 session (notices not tied to a
    /// request, such as the breaker opening). 2026-07-28 has none: 405.
    fn open_stream(
        &mut self,
        conn: ConnId,
        head: &Head,
        cors: &[(&'static str, String)],
    ) -> Option<Response> {
        if head.protocol_version.as_deref() == Some("2026-07-28") {
            return Some(not_allowed("POST"));
        }
        if !head.accepts().1 {
            return Some(Response::text(
                406,
                "the stream needs Accept: text/event-stream",
            ));
        }
        let id = match self.session_of(head) {
            Ok(id) => id,
            Err(r) => return Some(r),
        };
        let client = self.clients.get_mut(&id)?;
        if client.stream.is_some() {
            return Some(Response::text(
                409,
                "this session already has a stream open",
            ));
        }
        client.stream = Some(conn);
        client.seen = self.now;
        self.streams.insert(conn, id);
        let headers = cors.to_vec();
        self.out
            .push_back(Output::Http(Reply::Open { conn, headers }));
        None
    }

    /// `DELETE /mcp`: ends a 2025 session, cancelling what it has in flight.
    fn delete(&mut self, head: &Head) -> Response {
        if head.protocol_version.as_deref() == Some("2026-07-28") {
            return not_allowed("POST");
        }
        match self.session_of(head) {
            Ok(id) => {
                self.end(id, "ended by the client");
                Response::empty(200)
            }
            Err(r) => r,
        }
    }

    /// `GET /sse` (2024-11-05 transport): a new session and its stream, whose first event
    /// names the URL to POST messages to.
    fn open_legacy(
        &mut self,
        conn: ConnId,
        head: &Head,
        cors: &[(&'static str, String)],
    ) -> Option<Response> {
        if !head.accepts().1 {
            return Some(Response::text(
                406,
                "the stream needs Accept: text/event-stream",
            ));
        }
        let id = match self.new_session(Kind::Legacy) {
            Ok(id) => id,
            Err(r) => return Some(r),
        };
        let token = self.clients[&id].token.clone();
        if let Some(c) = self.clients.get_mut(&id) {
            c.stream = Some(conn);
        }
        self.streams.insert(conn, id);
        let headers = cors.to_vec();
        self.out
            .push_back(Output::Http(Reply::Open { conn, headers }));
        let data = format!("event: endpoint\ndata: /messages?session_id={token}\n\n").into_bytes();
        self.out
            .push_back(Output::Http(Reply::Event { conn, data }));
        None
    }

    /// `POST /messages?session_id=…`: a legacy client's message; its replies go on its stream.
    fn post_legacy(&mut self, head: &Head, body: &[u8]) -> Response {
        let Some(token) = head.query_value("session_id") else {
            return Response::text(400, "missing session_id in the query");
        };
        let id = match self.by_token.get(token) {
            Some(id) if self.clients[id].kind == Kind::Legacy => *id,
            _ => return Response::text(404, "no such session: open a new one with GET /sse"),
        };
        if serde_json::from_slice::<&serde_json::value::RawValue>(body).is_err() {
            return Response::text(400, "the body is not JSON");
        }
        if let Some(r) = self.over_capacity(body) {
            return r;
        }
        let now = self.now;
        if let Some(c) = self.clients.get_mut(&id) {
            c.seen = now;
            c.session.handle_message_on(now, body, 0, &mut self.service);
            self.dirty.push(id);
        }
        Response::text(202, "Accepted")
    }

    /// 503 when the calls in flight are at the cap and `body` may start one (what is answered
    /// at once, such as `tools/list` and `ping`, always gets through).
    fn over_capacity(&self, body: &[u8]) -> Option<Response> {
        let request = envelope::Envelope::read(body).is_some_and(|e| {
            e.is_request() && matches!(e.method.as_deref(), Some("tools/call" | "resources/read"))
        });
        (request && self.service.in_flight() >= self.limits.max_in_flight).then(|| {
            let msg = format!(
                "too many requests in flight (http.max_in_flight = {}); retry shortly",
                self.limits.max_in_flight
            );
            Response::text(503, &msg).header("Retry-After", "1")
        })
    }

    /// The 2025 session a request names with `Mcp-Session-Id`: missing is a 400, unknown or
    /// expired a 404.
    fn session_of(&self, head: &Head) -> Result<SessionId, Response> {
        let Some(token) = &head.session_id else {
            let msg = "missing Mcp-Session-Id header: send `initialize` first and echo the Mcp-Session-Id it returns";
            return Err(Response::rpc_error(
                400,
                super::jsonrpc::INVALID_REQUEST,
                msg,
            ));
        };
        match self.by_token.get(token) {
            Some(id) if self.clients[id].kind == Kind::Session => Ok(*id),
            _ => {
                let msg = "session not found (expired or ended): send `initialize` again";
                Err(Response::rpc_error(
                    404,
                    super::jsonrpc::SESSION_NOT_FOUND,
                    msg,
                ))
            }
        }
    }

    /// A new session of `kind`; a full table first drops its least recently used idle 2025
    /// session, else refuses with 503.
    fn new_session(&mut self, kind: Kind) -> Result<SessionId, Response> {
        if kind != Kind::Stateless {
            let held = self.clients.len() - self.stateless_count();
            if held >= self.limits.max_sessions {
                let idle = self
                    .clients
                    .iter()
                    .filter(|(_, c)| c.kind == Kind::Session && c.stream.is_none())
                    .filter(|(_, c)| c.session.in_flight() == 0)
                    .min_by_key(|(_, c)| c.seen)
                    .map(|(id, _)| *id);
                match idle {
                    Some(id) => self.end(id, "the session table is full (http.max_sessions)"),
                    None => {
                        let msg = format!(
                            "too many sessions (http.max_sessions = {}); retry later",
                            self.limits.max_sessions
                        );
                        return Err(Response::text(503, &msg).header("Retry-After", "5"));
                    }
                }
            }
        }
        let id = SessionId(self.next_session);
        self.next_session += 1;
        let token = if kind == Kind::Stateless {
            String::new()
        } else {
            let t = self.mint();
            self.by_token.insert(t.clone(), id);
            t
        };
        if kind == Kind::Session && self.next_sweep.is_none() {
            self.next_sweep = Some(self.now + self.sweep_every());
        }
        let client = Client {
            session: Session::new(id),
            kind,
            token,
            seen: self.now,
            stream: None,
        };
        self.clients.insert(id, client);
        Ok(id)
    }

    fn stateless_count(&self) -> usize {
        self.exchanges.values().filter(|e| e.stateless).count()
    }

    /// A session id no one can guess: 128 bits of HMAC-SHA256 over a counter, keyed with the
    /// shell's random secret, in hex.
    fn mint(&mut self) -> String {
        self.minted += 1;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.limits.secret);
        let tag = ring::hmac::sign(&key, &self.minted.to_be_bytes());
        let mut s = String::with_capacity(32);
        for b in &tag.as_ref()[..16] {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// Ends a session: its calls are cancelled, its stream closed, its id forgotten.
    fn end(&mut self, id: SessionId, why: &str) {
        let Some(mut client) = self.clients.remove(&id) else {
            return;
        };
        client.session.cancel_all(&mut self.service);
        if client.kind != Kind::Stateless {
            self.by_token.remove(&client.token);
            self.out.push_back(Output::Log {
                level: Level::Info,
                message: format!("HTTP session {} {why}", id.0),
            });
        }
        if let Some(conn) = client.stream {
            self.streams.remove(&conn);
            self.out.push_back(Output::Http(Reply::End { conn }));
        }
        let waiting: Vec<ConnId> = self
            .exchanges
            .iter()
            .filter(|(_, e)| e.session == id)
            .map(|(c, _)| *c)
            .collect();
        for conn in waiting {
            if let Some(e) = self.exchanges.remove(&conn) {
                self.by_channel.remove(&e.channel);
                let r = Response::text(404, "the session ended");
                self.finish_whole(conn, &e, r);
            }
        }
    }

    /// A connection closed: its exchange's calls are cancelled, its stream forgotten (a legacy
    /// session ends with its stream).
    fn gone(&mut self, conn: ConnId) {
        if let Some(e) = self.exchanges.remove(&conn) {
            self.by_channel.remove(&e.channel);
            if let Some(c) = self.clients.get_mut(&e.session) {
                c.session.cancel_channel(e.channel, &mut self.service);
                self.dirty.push(e.session);
            }
            if e.stateless || e.initialize {
                self.clients.remove(&e.session);
            }
        }
        if let Some(id) = self.streams.remove(&conn) {
            let legacy = self
                .clients
                .get(&id)
                .is_some_and(|c| c.kind == Kind::Legacy);
            if let Some(c) = self.clients.get_mut(&id) {
                c.stream = None;
                c.seen = self.now;
            }
            if legacy {
                self.end(id, "ended: its stream closed");
            }
        }
    }

    fn stop(&mut self) {
        if self.closing.is_none() {
            self.closing = Some(self.now + self.shutdown_grace);
            let n = self.service.in_flight();
            self.log(
                Level::Info,
                format!(
                    "stopping: {n} request(s) in flight get up to {:?}",
                    self.shutdown_grace
                ),
            );
        }
    }

    /// Ends idle 2025 sessions.
    fn sweep(&mut self) {
        let idle = self.limits.session_idle;
        let now = self.now;
        let expired: Vec<SessionId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.kind == Kind::Session && c.stream.is_none())
            .filter(|(_, c)| c.session.in_flight() == 0 && now.duration_since(c.seen) >= idle)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.end(id, "expired (http.session_idle_s)");
        }
        let any = self.clients.values().any(|c| c.kind == Kind::Session);
        self.next_sweep = any.then(|| now + self.sweep_every());
    }

    fn sweep_every(&self) -> Duration {
        (self.limits.session_idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
    }

    // ---- replies ------------------------------------------------------------------------

    /// Hands the service's answers to their sessions and the sessions' lines to their
    /// exchanges and streams.
    fn route(&mut self) {
        while let Some(event) = self.service.poll_event() {
            if let Some(c) = self.clients.get_mut(&event.session) {
                c.session.handle_event(event.call, event.kind);
                self.dirty.push(event.session);
            }
        }
        while let Some((level, text)) = self.service.poll_notice() {
            for (id, c) in &mut self.clients {
                c.session.handle_notice(level, &text);
                self.dirty.push(*id);
            }
        }
        while let Some(id) = self.dirty.pop() {
            self.drain(id);
        }
        if self.closing.is_some()
            && self.service.in_flight() == 0
            && self.exchanges.is_empty()
            && !self.streams.is_empty()
        {
            for (conn, _) in std::mem::take(&mut self.streams) {
                self.out.push_back(Output::Http(Reply::End { conn }));
            }
        }
    }

    fn drain(&mut self, id: SessionId) {
        while let Some((channel, output)) = self
            .clients
            .get_mut(&id)
            .and_then(|c| c.session.poll_routed())
        {
            match output {
                Output::Stdout(bytes) => {
                    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        self.line(id, channel, line);
                    }
                }
                other => self.out.push_back(other),
            }
        }
    }

    /// One line a session wrote on `channel`.
    fn line(&mut self, id: SessionId, channel: u64, line: &[u8]) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        if client.kind == Kind::Legacy || channel == 0 {
            if let Some(conn) = client.stream {
                let data = message_event(line);
                self.out
                    .push_back(Output::Http(Reply::Event { conn, data }));
            }
            return;
        }
        let Some(&conn) = self.by_channel.get(&channel) else {
            return; // its client hung up
        };
        let Some(e) = self.exchanges.get_mut(&conn) else {
            return;
        };
        if is_notification(line) {
            if e.sse {
                if !e.open {
                    e.open = true;
                    let headers = e.headers.clone();
                    self.out
                        .push_back(Output::Http(Reply::Open { conn, headers }));
                }
                let data = message_event(line);
                self.out
                    .push_back(Output::Http(Reply::Event { conn, data }));
            }
            return;
        }
        let Some(e) = self.exchanges.remove(&conn) else {
            return;
        };
        self.by_channel.remove(&e.channel);
        if e.open || !e.json {
            if !e.open {
                let headers = e.headers.clone();
                self.out
                    .push_back(Output::Http(Reply::Open { conn, headers }));
            }
            let data = message_event(line);
            self.out
                .push_back(Output::Http(Reply::Event { conn, data }));
            self.out.push_back(Output::Http(Reply::End { conn }));
        } else {
            let r = Response::json(status_of(line, e.stateless), line.to_vec());
            self.finish_whole(conn, &e, r);
        }
        self.after(&e);
    }

    /// After an exchange ended: a stateless session ends with it; an `initialize` that failed
    /// leaves no session.
    fn after(&mut self, e: &Exchange) {
        let failed_init = e.initialize
            && self
                .clients
                .get(&e.session)
                .is_some_and(|c| c.session.version().is_none());
        if e.stateless || failed_init {
            if let Some(c) = self.clients.remove(&e.session) {
                self.by_token.remove(&c.token);
            }
        }
    }

    fn finish_whole(&mut self, conn: ConnId, e: &Exchange, mut r: Response) {
        // A failed `initialize` made no session: its id is not given out.
        let made = !e.initialize
            || self
                .clients
                .get(&e.session)
                .is_some_and(|c| c.session.version().is_some());
        let headers = e
            .headers
            .iter()
            .filter(|(n, _)| made || *n != "Mcp-Session-Id");
        r.headers.extend(headers.cloned());
        self.whole(conn, r);
    }

    fn whole(&mut self, conn: ConnId, response: Response) {
        self.out
            .push_back(Output::Http(Reply::Whole { conn, response }));
    }

    fn log(&mut self, level: Level, message: String) {
        self.out.push_back(Output::Log { level, message });
    }
}

fn not_allowed(allow: &'static str) -> Response {
    Response::text(
        405,
        &format!("method not allowed here; this path takes {allow}"),
    )
    .header("Allow", allow)
}

/// A browser's CORS preflight (only allowed origins get this far).
fn preflight(head: &Head) -> Response {
    let mut r = Response::empty(204)
        .header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
        .header(
            "Access-Control-Allow-Headers",
            "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID",
        )
        .header("Access-Control-Max-Age", "600");
    if head.origin.is_none() {
        r.headers.clear();
    }
    r
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod tests;
