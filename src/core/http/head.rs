//! A request's head as the transport reads it: the method, the path and query, and the headers
//! the MCP transports and the guard look at, each taken once. A leaf, pure: the shell parses the
//! bytes (httparse) and hands the name/value pairs here.

use super::Response;

/// The HTTP methods the transports tell apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
    /// `OPTIONS` (a browser's CORS preflight).
    Options,
    /// `HEAD` (answered 405 by the shell, without a body).
    Head,
    /// Anything else (answered 405).
    #[default]
    Other,
}

impl Method {
    /// Reads a method token.
    pub fn parse(s: &str) -> Self {
        match s {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            "HEAD" => Self::Head,
            _ => Self::Other,
        }
    }
}

/// The head of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query, without `?`.
    pub query: String,
    /// `Host`.
    pub host: Option<String>,
    /// `Origin`.
    pub origin: Option<String>,
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Mcp-Session-Id`.
    pub session_id: Option<String>,
    /// `MCP-Protocol-Version`.
    pub protocol_version: Option<String>,
    /// `Mcp-Method` (2026-07-28).
    pub mcp_method: Option<String>,
    /// `Mcp-Name` (2026-07-28).
    pub mcp_name: Option<String>,
    /// `Connection: close` was asked for.
    pub close: bool,
}

/// Headers whose value decides something: each may appear once.
const SINGLE: [&str; 9] = [
    "host",
    "origin",
    "authorization",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "accept",
];

impl Head {
    /// Builds the head from the request line's method and target and the header pairs (names in
    /// any case). A header that decides something given twice, or not in visible ASCII, is a 400.
    pub fn new<'a>(
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, Response> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut head = Self {
            method: Method::parse(method),
            path: path.to_string(),
            query: query.to_string(),
            ..Self::default()
        };
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if lower == "connection" {
                let v = String::from_utf8_lossy(value);
                head.close |= v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"));
                continue;
            }
            let Some(index) = SINGLE.iter().position(|s| *s == lower) else {
                continue;
            };
            let Some(text) = visible(value) else {
                let msg = format!("header {name} must be visible ASCII");
                return Err(Response::text(400, &msg));
            };
            let slot = match index {
                0 => &mut head.host,
                1 => &mut head.origin,
                2 => &mut head.authorization,
                3 => &mut head.content_type,
                4 => &mut head.session_id,
                5 => &mut head.protocol_version,
                6 => &mut head.mcp_method,
                7 => &mut head.mcp_name,
                _ => &mut head.accept,
            };
            if slot.is_some() {
                let msg = format!("header {name} is given more than once");
                return Err(Response::text(400, &msg));
            }
            *slot = Some(text);
        }
        Ok(head)
    }

    /// One `key=value` of the query, percent-decoding not needed for the keys we use.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// What `Accept` admits: (JSON, event stream). No `Accept` admits both.
    pub fn accepts(&self) -> (bool, bool) {
        let Some(accept) = &self.accept else {
            return (true, true);
        };
        let mut json = false;
        let mut sse = false;
        for range in accept.split(',') {
            let media = range.split(';').next().unwrap_or("").trim();
            let media = media.to_ascii_lowercase();
            match media.as_str() {
                "*/*" => (json, sse) = (true, true),
                "application/*" | "application/json" => json = true,
                "text/*" | "text/event-stream" => sse = true,
                _ => {}
            }
        }
        (json, sse)
    }

    /// `Content-Type` is JSON (parameters such as `charset` allowed).
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
    }
}

/// The value as text if every byte is visible ASCII or a space or tab, trimmed.
fn visible(value: &[u8]) -> Option<String> {
    let ok = value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
    ok.then(|| String::from_utf8_lossy(value).trim().to_string())
}
