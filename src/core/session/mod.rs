//! The MCP session: one per client. JSON-RPC envelopes, protocol versions and their eras, the
//! handshake, batches, `logging/setLevel`, cancellation routing, `tools/list`, resources, and
//! which request waits for which call of the voice service.
//!
//! A session knows tools only through their descriptors (`tools::TOOLS`) and the service's
//! narrow interface: start a call, cancel it, and the `EventKind`s routed back to it (the call
//! progressed or finished). It never sees jobs. Framing is not its business either: it takes one
//! message (or one batch) at a time, so stdio frames lines for it and an HTTP body is one message.

mod answer;
mod meta;
mod outbox;
mod render;
mod resources;
mod version;

pub use super::event::Level;
pub use version::{
    Handshake, META_CAPABILITIES, META_LOG_LEVEL, META_SERVER_INFO, META_VERSION, Version,
};

use super::event::Output;
use super::jsonrpc::{self, Id, Message, NoId};
use super::service::{CallId, EventKind, Request, Service, SessionId, Started};
use super::tools;
use meta::{Meta, check_cursor, stateless_ctx};
use outbox::{Outbox, Route};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Messages accepted in one JSON-RPC batch (2025-03-26).
const MAX_BATCH_ITEMS: usize = 100;

/// How one request is served: its version and its log level.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    version: Version,
    log: Option<Level>,
}

/// A request waiting for a call of the service.
#[derive(Debug)]
struct Pending {
    call: CallId,
    ctx: Ctx,
    route: Route,
    op: Op,
    /// `_meta.progressToken` of a tool call, and the last progress sent.
    progress: Option<(Id, u64)>,
    /// Where its reply goes (see [`Session::handle_message`]).
    channel: u64,
}

/// What a pending request asked for.
#[derive(Debug)]
enum Op {
    Tool(&'static str),
    /// A JSON resource computed by a call (`voices://catalog`, `usage://report`).
    Json {
        uri: &'static str,
    },
    Audio {
        uri: String,
    },
}

/// One client's MCP session.
#[derive(Debug)]
pub struct Session {
    id: SessionId,
    handshake: Handshake,
    /// Level set with `logging/setLevel` (handshake era).
    log_level: Option<Level>,
    pending: HashMap<Id, Pending>,
    /// The request each running call answers, in the order the calls started.
    calls: BTreeMap<CallId, Id>,
    outbox: Outbox,
    /// `tools/list` result objects, rendered once per version.
    tools_list: [Option<String>; 5],
}

impl Session {
    /// A new session; `id` tags the calls it starts in the service.
    pub fn new(id: SessionId) -> Self {
        Self {
            id,
            handshake: Handshake::None,
            log_level: None,
            pending: HashMap::new(),
            calls: BTreeMap::new(),
            outbox: Outbox::default(),
            tools_list: Default::default(),
        }
    }

    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The version `initialize` settled on, if it was answered.
    pub fn version(&self) -> Option<Version> {
        match self.handshake {
            Handshake::Initialized(v) => Some(v),
            Handshake::None => None,
        }
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Handles one message, or one batch (a JSON array), from the client. Its replies, and the
    /// notifications about its requests, go to `channel`: the HTTP transport answers each POST
    /// on its own response. Channel 0 is the session's own stream (stdio, or an HTTP client's
    /// GET stream): notices go there.
    pub fn handle_message(
        &mut self,
        now: Instant,
        bytes: &[u8],
        channel: u64,
        service: &mut Service,
    ) {
        self.outbox.channel = channel;
        if bytes.first() == Some(&b'[') {
            self.handle_batch(now, bytes, service);
        } else {
            self.handle_one(now, bytes, Route::Direct, service);
        }
    }

    /// A message was dropped for being longer than `limit` bytes.
    pub fn handle_too_long(&mut self, limit: usize) {
        self.outbox.log(
            Level::Warning,
            format!("dropped a message longer than {limit} bytes"),
        );
        let msg = format!("message too long: the limit is {limit} bytes per line");
        self.outbox.error_unknown_id(
            Route::Direct,
            None,
            self.no_id(),
            jsonrpc::INVALID_REQUEST,
            &msg,
        );
    }

    /// One of this session's calls progressed or finished (routed from [`Service`]'s events).
    pub(crate) fn handle_event(&mut self, call: CallId, kind: EventKind) {
        match kind {
            EventKind::Progress(bytes) => self.progress(call, bytes, None),
            EventKind::Waiting(place) => self.progress(call, 0, Some(answer::waiting(place))),
            EventKind::Done(answer) => {
                let Some(id) = self.calls.remove(&call) else {
                    return;
                };
                let Some(pending) = self.pending.remove(&id) else {
                    return;
                };
                let Pending {
                    ctx,
                    route,
                    op,
                    channel,
                    ..
                } = pending;
                self.outbox.channel = channel;
                answer::answer(&mut self.outbox, route, &id, ctx, op, answer);
                self.outbox.settle(route);
            }
        }
    }

    /// A log line for every client of the service (a breaker transition): sent as
    /// `notifications/message` when the level set with `logging/setLevel` admits it. Stateless
    /// clients set a level per request, so no request of theirs is there to carry it.
    pub fn handle_notice(&mut self, level: Level, text: &str) {
        let Handshake::Initialized(version) = self.handshake else {
            return;
        };
        let ctx = Ctx {
            version,
            log: self.log_level,
        };
        self.outbox.channel = 0;
        answer::notify_log(&mut self.outbox, ctx, level, text);
    }

    /// Cancels the requests in flight whose replies go to `channel` (its HTTP client hung
    /// up), or all of them (the client is gone), in the order their calls started.
    pub fn cancel_all(&mut self, channel: Option<u64>, service: &mut Service) {
        let on = |p: &Pending| channel.is_none_or(|c| p.channel == c);
        let ids: Vec<Id> = self
            .calls
            .values()
            .filter(|id| self.pending.get(*id).is_some_and(on))
            .cloned()
            .collect();
        for id in &ids {
            self.cancel(id, service);
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next output: bytes for the client, or a line for the server's log.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop().map(|(_, output)| output)
    }

    /// The next output and the channel it goes to.
    #[must_use]
    pub fn poll_routed(&mut self) -> Option<(u64, Output)> {
        self.outbox.pop()
    }

    /// Some request whose reply goes to `channel` is still waiting for its call.
    pub fn waits_on(&self, channel: u64) -> bool {
        self.pending.values().any(|p| p.channel == channel)
    }

    /// A line for the server's log, queued in order with this session's output.
    pub fn log(&mut self, level: Level, message: String) {
        self.outbox.log(level, message);
    }

    /// Nothing waits to be polled.
    pub fn is_drained(&self) -> bool {
        self.outbox.is_empty()
    }

    /// Requests waiting for a call.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    // ---- envelopes ----------------------------------------------------------------------

    /// How to write errors whose id is unknown, before any request tells us the version.
    fn no_id(&self) -> NoId {
        match self.handshake {
            Handshake::Initialized(v) => v.no_id(),
            Handshake::None => NoId::Omit,
        }
    }

    fn error_unknown_id(&mut self, route: Route, id: Option<&Id>, code: i64, message: &str) {
        let no_id = self.no_id();
        self.outbox
            .error_unknown_id(route, id, no_id, code, message);
    }

    fn handle_batch(&mut self, now: Instant, line: &[u8], service: &mut Service) {
        let batches = matches!(self.handshake, Handshake::Initialized(v) if v.has_batches());
        let items = match meta::batch(line, batches, MAX_BATCH_ITEMS) {
            Ok(items) => items,
            Err((code, msg)) => return self.error_unknown_id(Route::Direct, None, code, &msg),
        };
        let slot = self.outbox.open_batch();
        for item in items {
            self.handle_one(now, item.get().as_bytes(), Route::Batch(slot), service);
        }
        self.outbox.close_batch(slot);
    }

    fn handle_one(&mut self, now: Instant, bytes: &[u8], route: Route, service: &mut Service) {
        match jsonrpc::parse(bytes) {
            Err(invalid) => {
                self.error_unknown_id(route, invalid.id.as_ref(), invalid.code, &invalid.message);
            }
            Ok(Message::Response) => self.outbox.log(
                Level::Debug,
                "ignored a response: this server sends no requests".into(),
            ),
            Ok(Message::Notification { method, params }) => {
                self.handle_notification(&method, params, service)
            }
            Ok(Message::Request { id, method, params }) => {
                self.handle_request(now, id, &method, params, route, service)
            }
        }
    }

    // ---- requests -----------------------------------------------------------------------

    fn handle_request(
        &mut self,
        now: Instant,
        id: Id,
        method: &str,
        params: Option<&RawValue>,
        route: Route,
        service: &mut Service,
    ) {
        if self.pending.contains_key(&id) {
            // Answering with this id would look like the reply to the request in flight.
            let msg = format!(
                "request id {} is already used by a request in flight",
                id.as_json().chars().take(64).collect::<String>()
            );
            return self.error_unknown_id(route, None, jsonrpc::INVALID_REQUEST, &msg);
        }
        if method == "initialize" {
            return self.initialize(id, params, route);
        }
        let meta = match Meta::parse(params) {
            Ok(meta) => meta,
            Err(msg) => {
                return self
                    .outbox
                    .error(route, &id, jsonrpc::INVALID_PARAMS, &msg, None);
            }
        };
        let ctx = if method == "server/discover" || meta.version.is_some() {
            match stateless_ctx(method, &meta) {
                Ok(ctx) => ctx,
                Err((code, msg, data)) => {
                    return self.outbox.error(route, &id, code, &msg, data.as_deref());
                }
            }
        } else {
            match self.handshake {
                Handshake::Initialized(version) => Ctx {
                    version,
                    log: self.log_level,
                },
                Handshake::None if method == "ping" => Ctx {
                    version: Version::LATEST_HANDSHAKE,
                    log: None,
                },
                Handshake::None => {
                    let msg = format!(
                        "missing _meta[\"{META_VERSION}\"]: send `initialize` first (protocol 2024-11-05 to 2025-11-25), or give every request _meta with \"{META_VERSION}\" and \"{META_CAPABILITIES}\" (2026-07-28)",
                    );
                    return self
                        .outbox
                        .error(route, &id, jsonrpc::INVALID_PARAMS, &msg, None);
                }
            }
        };
        let version = ctx.version;
        match method {
            "ping" if !version.is_stateless() => {
                self.outbox.result(route, &id, version, "{}".into())
            }
            "server/discover" => self.outbox.result(route, &id, version, render::discover()),
            "tools/list" => self.tools_list(route, &id, version, params),
            "tools/call" => self.tools_call(now, route, id, ctx, params, service),
            "resources/list" | "resources/templates/list" => {
                if let Err(msg) = check_cursor(params) {
                    return self
                        .outbox
                        .error(route, &id, jsonrpc::INVALID_PARAMS, &msg, None);
                }
                let body = if method == "resources/list" {
                    resources::list(version)
                } else {
                    resources::templates(version)
                };
                self.outbox.result(route, &id, version, body);
            }
            "resources/read" => self.resources_read(now, route, id, ctx, params, service),
            "logging/setLevel" if !version.is_stateless() => {
                self.set_level(route, &id, version, params)
            }
            _ => {
                let shown: String = method.chars().take(64).collect();
                let msg = format!(
                    "method not found: `{shown}` (protocol {})",
                    version.as_str()
                );
                self.outbox
                    .error(route, &id, jsonrpc::METHOD_NOT_FOUND, &msg, None);
            }
        }
    }

    fn initialize(&mut self, id: Id, params: Option<&RawValue>, route: Route) {
        if let Handshake::Initialized(_) = self.handshake {
            let msg = "already initialized";
            return self
                .outbox
                .error(route, &id, jsonrpc::INVALID_REQUEST, msg, None);
        }
        let version = match meta::initialize_version(params) {
            Ok(v) => v,
            Err(msg) => {
                return self
                    .outbox
                    .error(route, &id, jsonrpc::INVALID_PARAMS, msg, None);
            }
        };
        self.handshake = Handshake::Initialized(version);
        let msg = format!("initialized at protocol {}", version.as_str());
        self.outbox.log(Level::Info, msg);
        let body = render::initialize(version);
        self.outbox.result(route, &id, version, body);
    }

    fn set_level(&mut self, route: Route, id: &Id, version: Version, params: Option<&RawValue>) {
        match meta::level_param(params) {
            Ok(level) => {
                self.log_level = Some(level);
                self.outbox.result(route, id, version, "{}".into());
            }
            Err(msg) => self
                .outbox
                .error(route, id, jsonrpc::INVALID_PARAMS, &msg, None),
        }
    }

    fn tools_list(&mut self, route: Route, id: &Id, version: Version, params: Option<&RawValue>) {
        if let Err(msg) = check_cursor(params) {
            return self
                .outbox
                .error(route, id, jsonrpc::INVALID_PARAMS, &msg, None);
        }
        let slot = version.index();
        let body = self.tools_list[slot]
            .take()
            .unwrap_or_else(|| render::tools_list(version));
        self.outbox.raw_result(route, id, &body);
        self.tools_list[slot] = Some(body);
    }

    fn tools_call(
        &mut self,
        now: Instant,
        route: Route,
        id: Id,
        ctx: Ctx,
        params: Option<&RawValue>,
        service: &mut Service,
    ) {
        let Some(p) = meta::ToolCall::parse(params) else {
            let msg = "tools/call needs `name` (a string) and optional `arguments` (an object)";
            return self
                .outbox
                .error(route, &id, jsonrpc::INVALID_PARAMS, msg, None);
        };
        let Some(tool) = tools::find(&p.name) else {
            let shown: String = p.name.chars().take(64).collect();
            let msg = format!(
                "unknown tool `{shown}`; this server has: {}",
                tools::names()
            );
            return self
                .outbox
                .error(route, &id, jsonrpc::INVALID_PARAMS, &msg, None);
        };
        let request = Request::Tool {
            tool,
            arguments: p.arguments,
        };
        match service.start(now, self.id, request) {
            Started::Done(answer) => answer::answer(
                &mut self.outbox,
                route,
                &id,
                ctx,
                Op::Tool(tool.name),
                answer,
            ),
            Started::Running(call) => {
                let progress = p.progress_token.map(|t| (t, 0));
                self.wait(id, call, ctx, route, Op::Tool(tool.name), progress);
            }
        }
    }

    fn resources_read(
        &mut self,
        now: Instant,
        route: Route,
        id: Id,
        ctx: Ctx,
        params: Option<&RawValue>,
        service: &mut Service,
    ) {
        #[derive(Deserialize)]
        struct P {
            uri: String,
        }
        let Some(p) = params.and_then(|p| serde_json::from_str::<P>(p.get()).ok()) else {
            let msg = "resources/read needs `uri` (a string)";
            return self
                .outbox
                .error(route, &id, jsonrpc::INVALID_PARAMS, msg, None);
        };
        let (request, op) = if p.uri == resources::HEALTH {
            let body = service.health(now);
            let body = resources::text_contents(ctx.version, &p.uri, "application/json", &body);
            return self.outbox.result(route, &id, ctx.version, body);
        } else if let Some((request, uri)) = resources::computed(&p.uri) {
            (request, Op::Json { uri })
        } else if let Some(name) = resources::audio_name(&p.uri) {
            let request = Request::ReadAudio {
                name: name.to_string(),
            };
            (request, Op::Audio { uri: p.uri })
        } else {
            return answer::not_found(&mut self.outbox, route, &id, ctx, &p.uri);
        };
        match service.start(now, self.id, request) {
            Started::Done(answer) => answer::answer(&mut self.outbox, route, &id, ctx, op, answer),
            Started::Running(call) => self.wait(id, call, ctx, route, op, None),
        }
    }

    /// Request `id` waits for `call`; a batch it belongs to waits for it.
    fn wait(
        &mut self,
        id: Id,
        call: CallId,
        ctx: Ctx,
        route: Route,
        op: Op,
        progress: Option<(Id, u64)>,
    ) {
        self.outbox.hold(route);
        self.calls.insert(call, id.clone());
        let pending = Pending {
            call,
            ctx,
            route,
            op,
            progress,
            channel: self.outbox.channel,
        };
        self.pending.insert(id, pending);
    }

    /// `notifications/progress` for a call whose request has a progress token: audio `bytes`
    /// so far, or (with `waiting`) a step while it waits in the queue (one more than the last).
    fn progress(&mut self, call: CallId, bytes: u64, waiting: Option<String>) {
        let pending = self
            .calls
            .get(&call)
            .and_then(|id| self.pending.get_mut(id));
        if let Some(p) = pending
            && let Some(slot) = &mut p.progress
        {
            self.outbox.channel = p.channel;
            answer::progress(&mut self.outbox, p.ctx.version, slot, bytes, waiting);
        }
    }

    // ---- notifications and cancellation -------------------------------------------------

    fn handle_notification(
        &mut self,
        method: &str,
        params: Option<&RawValue>,
        service: &mut Service,
    ) {
        match method {
            "notifications/initialized" => {}
            "notifications/cancelled" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct P<'a> {
                    #[serde(borrow)]
                    request_id: &'a RawValue,
                }
                let id = params
                    .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok())
                    .and_then(|p| Id::from_raw(p.request_id));
                if let Some(id) = id
                    && self.pending.contains_key(&id)
                {
                    self.outbox.log(
                        Level::Info,
                        format!("request {} cancelled by the client", id.as_json()),
                    );
                    self.cancel(&id, service);
                }
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                self.outbox
                    .log(Level::Debug, format!("ignored notification {shown}"));
            }
        }
    }

    /// Drops a request without answering it, and its call.
    fn cancel(&mut self, id: &Id, service: &mut Service) {
        let Some(pending) = self.pending.remove(id) else {
            return;
        };
        self.calls.remove(&pending.call);
        service.cancel(pending.call);
        // A batch it belongs to is written to its own channel; what follows goes on as before.
        let channel = std::mem::replace(&mut self.outbox.channel, pending.channel);
        self.outbox.settle(pending.route);
        self.outbox.channel = channel;
    }
}
