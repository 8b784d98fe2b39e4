//! The HTTP transports as data (feature `http-server`): Streamable HTTP in both eras and the
//! 2024-11-05 HTTP+SSE transport, over one [`Service`] shared by every client. The shell hands
//! over requests read whole (the guard, [`Policy::check`], let them in) as [`HttpIn`]; the
//! server answers with [`Reply`]s in [`Output::Http`]. Each client is a
//! [`Session`](super::session::Session): a 2025 one lives under its `Mcp-Session-Id` until
//! DELETE or idle expiry, a 2026-07-28 request's ends with its reply, a legacy one's with its
//! `GET /sse` stream. A POST is an exchange on a channel of its session: its reply (and the
//! notifications about its request before it) go back on the POST's own response.

mod envelope;
mod exchange;
mod guard;
mod head;
mod post;
mod response;
mod table;

pub use guard::Policy;
pub use head::{Head, Method};
pub use response::{ConnId, HttpIn, Reply, Response};
pub use table::Limits;

use super::Config;
use super::event::{Input, Level, Output};
use super::service::{Service, SessionId};
use envelope::{Envelope, is_notification};
use exchange::{Exchange, Exchanges};
use response::{message_event, not_allowed, preflight};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use table::{Kind, Table};

/// The HTTP server: sessions, exchanges and streams over one voice service.
#[derive(Debug)]
pub struct HttpServer {
    service: Service,
    clients: Table,
    exchanges: Exchanges,
    streams: HashMap<ConnId, SessionId>,
    max_in_flight: usize,
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
            clients: Table::new(&limits),
            exchanges: Exchanges::default(),
            streams: HashMap::new(),
            max_in_flight: limits.max_in_flight,
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
            for id in self.clients.ids() {
                if let Some(c) = self.clients.get_mut(id) {
                    c.session.cancel_all(None, &mut self.service);
                    self.dirty.push(id);
                }
                // Their POSTs are answered (an empty stream, or 204), so the server can end.
                self.orphans(id);
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

    /// Sessions held (2025 and legacy) and exchanges waiting.
    pub fn counts(&self) -> (usize, usize) {
        (self.clients.held(), self.exchanges.len())
    }

    // ---- requests -----------------------------------------------------------------------

    fn request(&mut self, conn: ConnId, head: &Head, body: Vec<u8>) {
        if self.closing.is_some() {
            let r = Response::text(503, "the server is shutting down")
                .header("Retry-After", "5")
                .closing();
            return self.whole(conn, r);
        }
        let cors = response::cors(head);
        let response = match (head.method, head.path.as_str()) {
            (Method::Options, "/mcp" | "/sse" | "/messages") => Some(preflight(head)),
            (Method::Post, "/mcp") => self.post(conn, head, &body, &cors),
            (Method::Get, "/mcp") => self.open_stream(conn, head, &cors),
            (Method::Delete, "/mcp") => self.delete(head),
            (Method::Get, "/sse") => self.open_legacy(conn, head, &cors),
            (Method::Post, "/messages") => self.post_legacy(head, &body),
            (_, "/mcp") => Some(not_allowed("GET, POST, DELETE")),
            (_, "/sse") => Some(not_allowed("GET")),
            (_, "/messages") => Some(not_allowed("POST")),
            _ => Some(Response::text(
                404,
                "not found: the MCP endpoint is /mcp (and /sse for the 2024-11-05 transport)",
            )),
        };
        // `None`: the reply comes later, or is queued already.
        if let Some(mut r) = response {
            r.headers.extend(cors);
            self.whole(conn, r);
        }
    }

    /// `POST /mcp`: one message (or a 2025-03-26 batch) for a session of its era.
    fn post(
        &mut self,
        conn: ConnId,
        head: &Head,
        body: &[u8],
        cors: &[(&'static str, String)],
    ) -> Option<Response> {
        let post = match post::classify(head, body) {
            Ok(p) => p,
            Err(r) => return Some(r),
        };
        if post.calls
            && let Some(r) = self.busy()
        {
            return Some(r);
        }
        let id = if post.modern {
            self.open(Kind::Stateless)
        } else if post.initialize {
            self.open(Kind::Session)
        } else {
            self.clients.named(head)
        };
        let id = match id {
            Ok(id) => id,
            Err(r) => return Some(r),
        };
        let mut headers = cors.to_vec();
        let now = self.now;
        let client = self.clients.get_mut(id)?;
        if client.kind == Kind::Session {
            if !post.initialize
                && let Err(r) = post::same_version(head, client.session.version())
            {
                return Some(r);
            }
            client.seen = now;
            headers.push(("Mcp-Session-Id", client.token.clone()));
        }
        let channel = self.exchanges.channel();
        let exchange = Exchange {
            session: id,
            channel,
            json: post.json,
            sse: post.sse,
            open: false,
            stateless: post.modern,
            headers,
            initialize: post.initialize,
        };
        self.exchanges.insert(conn, exchange);
        client
            .session
            .handle_message(now, body, channel, &mut self.service);
        self.drain(id);
        // A notification or a response: nothing will answer it.
        let waits = self
            .clients
            .get(id)
            .is_some_and(|c| c.session.waits_on(channel));
        if !waits && let Some(e) = self.exchanges.remove(conn) {
            self.finish_whole(conn, &e, Response::empty(202));
            self.after(&e);
        }
        self.orphans(id);
        None
    }

    /// Ends the exchanges of session `id` whose request was cancelled (`notifications/cancelled`
    /// on another POST): no reply will come, so the stream closes empty (204 for a JSON-only
    /// client).
    fn orphans(&mut self, id: SessionId) {
        for conn in self.exchanges.of(id) {
            let cancelled = self.clients.get(id).is_some_and(|c| {
                self.exchanges
                    .get(conn)
                    .is_some_and(|e| !c.session.waits_on(e.channel))
            });
            if !cancelled {
                continue;
            }
            if let Some(e) = self.exchanges.remove(conn) {
                self.out
                    .extend(e.end(conn, None).into_iter().map(Output::Http));
                self.after(&e);
            }
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
        if post::is_modern(head) {
            return Some(not_allowed("POST"));
        }
        if !head.accepts().1 {
            let msg = "the stream needs Accept: text/event-stream";
            return Some(Response::text(406, msg));
        }
        let id = match self.clients.named(head) {
            Ok(id) => id,
            Err(r) => return Some(r),
        };
        let now = self.now;
        let client = self.clients.get_mut(id)?;
        if client.stream.is_some() {
            return Some(Response::text(
                409,
                "this session already has a stream open",
            ));
        }
        client.stream = Some(conn);
        client.seen = now;
        self.streams.insert(conn, id);
        let headers = cors.to_vec();
        self.out
            .push_back(Output::Http(Reply::Open { conn, headers }));
        None
    }

    /// `DELETE /mcp`: ends a 2025 session, cancelling what it has in flight.
    fn delete(&mut self, head: &Head) -> Option<Response> {
        if post::is_modern(head) {
            return Some(not_allowed("POST"));
        }
        Some(match self.clients.named(head) {
            Ok(id) => {
                self.end(id, "ended by the client");
                Response::empty(200)
            }
            Err(r) => r,
        })
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
            let msg = "the stream needs Accept: text/event-stream";
            return Some(Response::text(406, msg));
        }
        let id = match self.open(Kind::Legacy) {
            Ok(id) => id,
            Err(r) => return Some(r),
        };
        let client = self.clients.get_mut(id)?;
        client.stream = Some(conn);
        let data = format!(
            "event: endpoint\ndata: /messages?session_id={}\n\n",
            client.token
        );
        self.streams.insert(conn, id);
        let headers = cors.to_vec();
        self.out
            .push_back(Output::Http(Reply::Open { conn, headers }));
        let data = data.into_bytes();
        self.out
            .push_back(Output::Http(Reply::Event { conn, data }));
        None
    }

    /// `POST /messages?session_id=…`: a legacy client's message; its replies go on its stream.
    fn post_legacy(&mut self, head: &Head, body: &[u8]) -> Option<Response> {
        let Some(token) = head.query_value("session_id") else {
            return Some(Response::text(400, "missing session_id in the query"));
        };
        let Some(id) = self.clients.find(token, Kind::Legacy) else {
            let msg = "no such session: open a new one with GET /sse";
            return Some(Response::text(404, msg));
        };
        let Some(env) = Envelope::read(body).or_else(|| {
            let batch = serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(body);
            batch.ok().map(|_| Envelope::default())
        }) else {
            return Some(Response::text(400, "the body is not a JSON-RPC message"));
        };
        if post::starts_call(&env)
            && let Some(r) = self.busy()
        {
            return Some(r);
        }
        let now = self.now;
        let client = self.clients.get_mut(id)?;
        client.seen = now;
        client
            .session
            .handle_message(now, body, 0, &mut self.service);
        self.dirty.push(id);
        Some(Response::text(202, "Accepted"))
    }

    /// 503 while the calls in flight are at `http.max_in_flight`.
    fn busy(&self) -> Option<Response> {
        (self.service.in_flight() >= self.max_in_flight).then(|| {
            let msg = format!(
                "too many requests in flight (http.max_in_flight = {}); retry shortly",
                self.max_in_flight
            );
            Response::text(503, &msg).header("Retry-After", "1")
        })
    }

    // ---- sessions -----------------------------------------------------------------------

    /// A new session of `kind`; a full table first ends its least recently used idle one.
    fn open(&mut self, kind: Kind) -> Result<SessionId, Response> {
        if let Some(idle) = self.clients.room(kind)? {
            self.end(idle, "ended to make room (http.max_sessions)");
        }
        let id = self.clients.insert(kind, self.now);
        if kind == Kind::Session && self.next_sweep.is_none() {
            self.next_sweep = self.clients.next_sweep(self.now);
        }
        Ok(id)
    }

    /// Ends a session: its calls are cancelled, its stream closed, its id forgotten.
    fn end(&mut self, id: SessionId, why: &str) {
        let Some(mut client) = self.clients.remove(id) else {
            return;
        };
        client.session.cancel_all(None, &mut self.service);
        if client.kind != Kind::Stateless {
            self.log(Level::Info, format!("HTTP session {} {why}", id.0));
        }
        if let Some(conn) = client.stream {
            self.streams.remove(&conn);
            self.out.push_back(Output::Http(Reply::End { conn }));
        }
        for conn in self.exchanges.of(id) {
            let Some(e) = self.exchanges.remove(conn) else {
                continue;
            };
            if e.open {
                // Its stream has begun: it closes without the reply.
                self.out
                    .extend(e.end(conn, None).into_iter().map(Output::Http));
            } else {
                let r = Response::text(404, "the session ended");
                self.finish_whole(conn, &e, r);
            }
        }
    }

    /// Ends idle 2025 sessions.
    fn sweep(&mut self) {
        for id in self.clients.expired(self.now) {
            self.end(id, "expired (http.session_idle_s)");
        }
        self.next_sweep = self.clients.next_sweep(self.now);
    }

    /// A connection closed: its exchange's calls are cancelled, its stream forgotten (a legacy
    /// session ends with its stream).
    fn gone(&mut self, conn: ConnId) {
        if let Some(e) = self.exchanges.remove(conn) {
            if let Some(c) = self.clients.get_mut(e.session) {
                c.session.cancel_all(Some(e.channel), &mut self.service);
                self.dirty.push(e.session);
            }
            self.after(&e);
        }
        if let Some(id) = self.streams.remove(&conn) {
            let now = self.now;
            let legacy = self.clients.get_mut(id).is_some_and(|c| {
                c.stream = None;
                c.seen = now;
                c.kind == Kind::Legacy
            });
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

    // ---- replies ------------------------------------------------------------------------

    /// Hands the service's answers to their sessions and the sessions' lines to their
    /// exchanges and streams.
    fn route(&mut self) {
        while let Some(event) = self.service.poll_event() {
            if let Some(c) = self.clients.get_mut(event.session) {
                c.session.handle_event(event.call, event.kind);
                self.dirty.push(event.session);
            }
        }
        while let Some((level, text)) = self.service.poll_notice() {
            for id in self.clients.ids() {
                if let Some(c) = self.clients.get_mut(id) {
                    c.session.handle_notice(level, &text);
                    self.dirty.push(id);
                }
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
            for (conn, id) in std::mem::take(&mut self.streams) {
                if let Some(c) = self.clients.get_mut(id) {
                    c.stream = None;
                }
                self.out.push_back(Output::Http(Reply::End { conn }));
            }
        }
    }

    fn drain(&mut self, id: SessionId) {
        while let Some((channel, output)) = self
            .clients
            .get_mut(id)
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
        let Some(client) = self.clients.get(id) else {
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
        let Some(conn) = self.exchanges.conn_of(channel) else {
            return; // its client hung up
        };
        if is_notification(line) {
            let replies = self.exchanges.get_mut(conn).map(|e| e.notify(conn, line));
            self.out
                .extend(replies.into_iter().flatten().map(Output::Http));
            return;
        }
        if let Some(mut e) = self.exchanges.remove(conn) {
            let made = self
                .clients
                .get(id)
                .is_some_and(|c| c.session.version().is_some());
            if e.initialize && !made {
                // A failed `initialize` made no session: its id is not given out.
                e.headers.retain(|(n, _)| *n != "Mcp-Session-Id");
            }
            self.out
                .extend(e.end(conn, Some(line)).into_iter().map(Output::Http));
            self.after(&e);
        }
    }

    /// After an exchange ended: a stateless session ends with it; an `initialize` that failed
    /// leaves no session.
    fn after(&mut self, e: &Exchange) {
        let failed_init = e.initialize
            && self
                .clients
                .get(e.session)
                .is_some_and(|c| c.session.version().is_none());
        if e.stateless || failed_init {
            self.clients.remove(e.session);
        }
    }

    fn finish_whole(&mut self, conn: ConnId, e: &Exchange, r: Response) {
        self.whole(conn, e.with_headers(r));
    }

    fn whole(&mut self, conn: ConnId, response: Response) {
        self.out
            .push_back(Output::Http(Reply::Whole { conn, response }));
    }

    fn log(&mut self, level: Level, message: String) {
        self.out.push_back(Output::Log { level, message });
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod tests;
