//! What a `POST /mcp` is, read from its headers and the envelope of its body before any session
//! sees it: its era, whether it opens a session, and the checks each era makes. Pure.

use super::super::jsonrpc::{HEADER_MISMATCH, INVALID_REQUEST, PARSE_ERROR};
use super::super::session::Version;
use super::envelope::Envelope;
use super::{Head, Response};

const MODERN: &str = "2026-07-28";

/// The request says it is 2026-07-28 (stateless: no session, no stream, no DELETE).
pub(super) fn is_modern(head: &Head) -> bool {
    head.protocol_version.as_deref() == Some(MODERN)
}

/// A POST that passed its era's checks.
#[derive(Debug)]
pub(super) struct Post {
    /// 2026-07-28: served by a session of its own.
    pub(super) modern: bool,
    /// An `initialize` (handshake era): it opens a session.
    pub(super) initialize: bool,
    /// The client takes JSON, an event stream.
    pub(super) json: bool,
    pub(super) sse: bool,
    /// It may start a call (`tools/call`, `resources/read`): it counts against the cap.
    pub(super) calls: bool,
}

/// Reads a POST's headers and envelope; a refusal is the response to send.
pub(super) fn classify(head: &Head, body: &[u8]) -> Result<Post, Response> {
    if !head.is_json() {
        return Err(Response::text(415, "Content-Type must be application/json"));
    }
    let (json, sse) = head.accepts();
    if !json && !sse {
        let msg = "Accept must admit application/json or text/event-stream";
        return Err(Response::text(406, msg));
    }
    let envelope = Envelope::read(body);
    let batch = envelope.is_none() && body.trim_ascii_start().first() == Some(&b'[');
    if envelope.is_none() && !batch {
        let msg = "parse error: the body is not a JSON-RPC message";
        return Err(Response::rpc_error(400, PARSE_ERROR, msg));
    }
    let env = envelope.unwrap_or_default();
    let body_modern =
        env.version.as_deref() == Some(MODERN) || env.method.as_deref() == Some("server/discover");
    let modern = match head.protocol_version.as_deref() {
        Some(MODERN) => true,
        Some(v) if Version::parse(v).is_none() => {
            let shown: String = v.chars().take(32).collect();
            let msg = format!(
                "unsupported MCP-Protocol-Version {shown:?}; this server speaks 2024-11-05 to 2026-07-28"
            );
            return Err(Response::rpc_error(400, INVALID_REQUEST, &msg));
        }
        _ if body_modern => {
            let msg = "missing MCP-Protocol-Version header: a 2026-07-28 request must carry it (and Mcp-Method)";
            return Err(Response::rpc_error(400, HEADER_MISMATCH, msg));
        }
        _ => false,
    };
    if modern {
        if batch {
            let msg = "JSON-RPC batches are not part of protocol 2026-07-28";
            return Err(Response::rpc_error(400, INVALID_REQUEST, msg));
        }
        mirrors(head, &env).map_err(|msg| Response::rpc_error(400, HEADER_MISMATCH, &msg))?;
    }
    Ok(Post {
        modern,
        initialize: !modern && env.method.as_deref() == Some("initialize"),
        json,
        sse,
        calls: starts_call(&env),
    })
}

/// A 2025 session's requests may name its version in `MCP-Protocol-Version`, no other.
pub(super) fn same_version(head: &Head, version: Option<Version>) -> Result<(), Response> {
    match (head.protocol_version.as_deref(), version) {
        (Some(h), Some(v)) if h != v.as_str() => {
            let msg = format!(
                "MCP-Protocol-Version {h} differs from the session's protocol {}",
                v.as_str()
            );
            Err(Response::rpc_error(400, INVALID_REQUEST, &msg))
        }
        _ => Ok(()),
    }
}

/// The message may start a call of the service (`tools/call`, `resources/read`): what is
/// answered at once (`tools/list`, `ping`) is never refused for load.
pub(super) fn starts_call(env: &Envelope) -> bool {
    env.is_request() && matches!(env.method.as_deref(), Some("tools/call" | "resources/read"))
}

/// Checks the 2026-07-28 headers that mirror the body: `MCP-Protocol-Version` (against
/// `_meta`), `Mcp-Method` always, and `Mcp-Name` for the methods that name a target.
fn mirrors(head: &Head, env: &Envelope) -> Result<(), String> {
    if let Some(v) = &env.version
        && head.protocol_version.as_deref() != Some(v.as_str())
    {
        let shown: String = v.chars().take(32).collect();
        return Err(format!(
            "MCP-Protocol-Version header does not match _meta's protocol version {shown:?}"
        ));
    }
    let Some(method) = env.method.as_deref() else {
        return Ok(()); // a response: nothing mirrors it
    };
    match head.mcp_method.as_deref() {
        None => return Err("missing Mcp-Method header (it must equal the body's method)".into()),
        Some(m) if m != method => {
            return Err(format!(
                "Mcp-Method header {:?} does not match the body's method {:?}",
                short(m),
                short(method)
            ));
        }
        Some(_) => {}
    }
    if let Some(target) = env.target() {
        let what = if method == "resources/read" {
            "params.uri"
        } else {
            "params.name"
        };
        match (head.mcp_name.as_deref(), target) {
            (None, Some(_)) => {
                return Err(format!("missing Mcp-Name header (it must equal {what})"));
            }
            (Some(n), Some(t)) if n != t => {
                return Err(format!(
                    "Mcp-Name header {:?} does not match {what} {:?}",
                    short(n),
                    short(t)
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}
