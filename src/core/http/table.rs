//! The session table: every client's [`Session`], under an id drawn from a secret, bounded in
//! number (stateless requests aside), with idle expiry.

use super::super::jsonrpc;
use super::super::service::SessionId;
use super::super::session::Session;
use super::{ConnId, Head, Response};
use std::collections::HashMap;
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
pub(super) enum Kind {
    /// Streamable HTTP with `Mcp-Session-Id` (2025-03-26 to 2025-11-25).
    Session,
    /// One 2026-07-28 request.
    Stateless,
    /// HTTP+SSE (2024-11-05 transport): every reply goes on its stream.
    Legacy,
}

/// One client.
#[derive(Debug)]
pub(super) struct Client {
    pub(super) session: Session,
    pub(super) kind: Kind,
    /// Its `Mcp-Session-Id` or `session_id` (empty when stateless).
    pub(super) token: String,
    pub(super) seen: Instant,
    /// Its open event stream (a GET at the endpoint, or `GET /sse`).
    pub(super) stream: Option<ConnId>,
}

/// Every client, by id and by token.
#[derive(Debug)]
pub(super) struct Table {
    clients: HashMap<SessionId, Client>,
    by_token: HashMap<String, SessionId>,
    /// Sessions that count against the bound (not the stateless ones).
    held: usize,
    next: u64,
    minted: u64,
    max: usize,
    idle: Duration,
    secret: [u8; 32],
}

impl Table {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            clients: HashMap::new(),
            by_token: HashMap::new(),
            held: 0,
            next: 1,
            minted: 0,
            max: limits.max_sessions,
            idle: limits.session_idle,
            secret: limits.secret,
        }
    }

    pub(super) fn get(&self, id: SessionId) -> Option<&Client> {
        self.clients.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: SessionId) -> Option<&mut Client> {
        self.clients.get_mut(&id)
    }

    pub(super) fn ids(&self) -> Vec<SessionId> {
        self.clients.keys().copied().collect()
    }

    /// Sessions held (2025 and legacy).
    pub(super) fn held(&self) -> usize {
        self.held
    }

    /// The session of `kind` under `token`.
    pub(super) fn find(&self, token: &str, kind: Kind) -> Option<SessionId> {
        self.by_token
            .get(token)
            .copied()
            .filter(|id| self.clients.get(id).is_some_and(|c| c.kind == kind))
    }

    /// The 2025 session a request names with `Mcp-Session-Id`: missing is a 400, unknown or
    /// expired a 404.
    pub(super) fn named(&self, head: &Head) -> Result<SessionId, Response> {
        let Some(token) = &head.session_id else {
            let msg = "missing Mcp-Session-Id header: send `initialize` first and echo the Mcp-Session-Id it returns";
            return Err(Response::rpc_error(400, jsonrpc::INVALID_REQUEST, msg));
        };
        self.find(token, Kind::Session).ok_or_else(|| {
            let msg = "session not found (expired or ended): send `initialize` again";
            Response::rpc_error(404, jsonrpc::SESSION_NOT_FOUND, msg)
        })
    }

    /// Whether a new session of `kind` fits: `Ok(None)` it does, `Ok(Some(id))` once the least
    /// recently used idle 2025 session `id` is ended, `Err` (a 503) not at all.
    pub(super) fn room(&self, kind: Kind) -> Result<Option<SessionId>, Response> {
        if kind == Kind::Stateless || self.held < self.max {
            return Ok(None);
        }
        let idle = self
            .clients
            .iter()
            .filter(|(_, c)| c.kind == Kind::Session && c.stream.is_none())
            .filter(|(_, c)| c.session.in_flight() == 0)
            .min_by_key(|(_, c)| c.seen)
            .map(|(id, _)| *id);
        idle.map(Some).ok_or_else(|| {
            let msg = format!(
                "too many sessions (http.max_sessions = {}); retry later",
                self.max
            );
            Response::text(503, &msg).header("Retry-After", "5")
        })
    }

    /// Adds a session of `kind` (call [`Table::room`] first).
    pub(super) fn insert(&mut self, kind: Kind, now: Instant) -> SessionId {
        let id = SessionId(self.next);
        self.next += 1;
        let token = if kind == Kind::Stateless {
            String::new()
        } else {
            self.held += 1;
            let t = self.mint();
            self.by_token.insert(t.clone(), id);
            t
        };
        let client = Client {
            session: Session::new(id),
            kind,
            token,
            seen: now,
            stream: None,
        };
        self.clients.insert(id, client);
        id
    }

    pub(super) fn remove(&mut self, id: SessionId) -> Option<Client> {
        let client = self.clients.remove(&id)?;
        if client.kind != Kind::Stateless {
            self.held -= 1;
            self.by_token.remove(&client.token);
        }
        Some(client)
    }

    /// A session id no one can guess: 128 bits of HMAC-SHA256 over a counter, keyed with the
    /// shell's random secret, in hex.
    fn mint(&mut self) -> String {
        self.minted += 1;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.secret);
        let tag = ring::hmac::sign(&key, &self.minted.to_be_bytes());
        let mut s = String::with_capacity(32);
        for b in &tag.as_ref()[..16] {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// The 2025 sessions unused for `http.session_idle_s`, with nothing in flight or open.
    pub(super) fn expired(&self, now: Instant) -> Vec<SessionId> {
        self.clients
            .iter()
            .filter(|(_, c)| c.kind == Kind::Session && c.stream.is_none())
            .filter(|(_, c)| c.session.in_flight() == 0 && now.duration_since(c.seen) >= self.idle)
            .map(|(id, _)| *id)
            .collect()
    }

    /// When to look for expired sessions next (none while no 2025 session is held).
    pub(super) fn next_sweep(&self, now: Instant) -> Option<Instant> {
        let any = self.clients.values().any(|c| c.kind == Kind::Session);
        let every = (self.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        any.then(|| now + every)
    }
}
