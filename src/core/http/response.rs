//! What the HTTP transports send: whole responses, and event streams in parts.

use super::super::jsonrpc::{self, NoId};

/// Identifies one client connection of the HTTP server (one request at a time on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// A whole HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers beyond `Content-Length` and `Connection` (the shell adds those).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Close the connection after it.
    pub close: bool,
}

impl Response {
    /// A response with no body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// A plain-text response (the refusals a person reads in a log).
    pub fn text(status: u16, message: &str) -> Self {
        let mut body = message.as_bytes().to_vec();
        body.push(b'\n');
        Self::empty(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body)
    }

    /// A JSON response.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self::empty(status)
            .header("Content-Type", "application/json")
            .body(body)
    }

    /// A JSON-RPC error without an id, as the transport's own refusals are written.
    pub fn rpc_error(status: u16, code: i64, message: &str) -> Self {
        let mut body = Vec::new();
        jsonrpc::write_error(&mut body, None, NoId::Null, code, message, None);
        Self::json(status, body)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Closes the connection after this response.
    #[must_use]
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// What the HTTP server tells the shell to send on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A whole response.
    Whole {
        /// The connection.
        conn: ConnId,
        /// The response.
        response: Response,
    },
    /// A `200` `text/event-stream` response starts (its body chunked); events follow.
    Open {
        /// The connection.
        conn: ConnId,
        /// Headers beyond the content type and the transfer encoding.
        headers: Vec<(&'static str, String)>,
    },
    /// One event of an open stream, already framed (`event: …` / `data: …` / blank line).
    Event {
        /// The connection.
        conn: ConnId,
        /// The event's bytes.
        data: Vec<u8>,
    },
    /// The open stream ends; the connection may carry the next request.
    End {
        /// The connection.
        conn: ConnId,
    },
}

impl Reply {
    /// The connection it goes to.
    pub fn conn(&self) -> ConnId {
        match self {
            Self::Whole { conn, .. }
            | Self::Open { conn, .. }
            | Self::Event { conn, .. }
            | Self::End { conn } => *conn,
        }
    }
}

pub(super) fn not_allowed(allow: &'static str) -> Response {
    Response::text(
        405,
        &format!("method not allowed here; this path takes {allow}"),
    )
    .header("Allow", allow)
}

/// A browser's CORS preflight (only allowed origins get this far).
pub(super) fn preflight(head: &super::Head) -> Response {
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

/// CORS headers for an allowed browser origin (the guard has refused the others).
pub(super) fn cors(head: &super::Head) -> Vec<(&'static str, String)> {
    match &head.origin {
        Some(origin) => vec![
            ("Access-Control-Allow-Origin", origin.clone()),
            ("Access-Control-Expose-Headers", "Mcp-Session-Id".into()),
            ("Vary", "Origin".into()),
        ],
        None => Vec::new(),
    }
}

/// An SSE `message` event carrying one JSON-RPC line.
pub(super) fn message_event(line: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(line.len() + 24);
    data.extend_from_slice(b"event: message\ndata: ");
    data.extend_from_slice(line);
    data.extend_from_slice(b"\n\n");
    data
}

/// What the HTTP server is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpIn {
    /// A whole request the guard let in.
    Request {
        /// Its connection.
        conn: ConnId,
        /// Its head.
        head: Box<super::Head>,
        /// Its body.
        body: Vec<u8>,
    },
    /// The connection closed or failed (its client went away, or could not keep up).
    Gone(ConnId),
    /// Stop: answer what is in flight (or cancel it after the grace), take no new request.
    Stop,
}
