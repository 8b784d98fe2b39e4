//! `POST /mcp`: one message (or a 2025-03-26 batch) for a session, checked against the headers
//! of its era first.

use super::super::jsonrpc::{HEADER_MISMATCH, INVALID_REQUEST, PARSE_ERROR};
use super::super::session::Version;
use super::envelope::Envelope;
use super::{ConnId, Exchange, Head, HttpServer, Kind, Response};

const MODERN: &str = "2026-07-28";

impl HttpServer {
    /// Takes a POST; `None` when the reply comes later (or is already queued).
    pub(super) fn post(
        &mut self,
        conn: ConnId,
        head: &Head,
        body: &[u8],
        cors: &[(&'static str, String)],
    ) -> Option<Response> {
        if !head.is_json() {
            return Some(Response::text(415, "Content-Type must be application/json"));
        }
        let (json, sse) = head.accepts();
        if !json && !sse {
            let msg = "Accept must admit application/json or text/event-stream";
            return Some(Response::text(406, msg));
        }
        let envelope = Envelope::read(body);
        let batch = envelope.is_none() && body.trim_ascii_start().first() == Some(&b'[');
        if envelope.is_none() && !batch {
            let msg = "parse error: the body is not a JSON-RPC message";
            return Some(Response::rpc_error(400, PARSE_ERROR, msg));
        }
        let env = envelope.unwrap_or_default();
        let header = head.protocol_version.as_deref();
        let body_modern = env.version.as_deref() == Some(MODERN)
            || env.method.as_deref() == Some("server/discover");
        let modern = match header {
            Some(MODERN) => true,
            Some(v) if Version::parse(v).is_none() => {
                let shown: String = v.chars().take(32).collect();
                let msg = format!(
                    "unsupported MCP-Protocol-Version {shown:?}; this server speaks 2024-11-05 to 2026-07-28"
                );
                return Some(Response::rpc_error(400, INVALID_REQUEST, &msg));
            }
            _ if body_modern => {
                let msg = "missing MCP-Protocol-Version header: a 2026-07-28 request must carry it (and Mcp-Method)";
                return Some(Response::rpc_error(400, HEADER_MISMATCH, msg));
            }
            _ => false,
        };
        if modern {
            if batch {
                let msg = "JSON-RPC batches are not part of protocol 2026-07-28";
                return Some(Response::rpc_error(400, INVALID_REQUEST, msg));
            }
            if let Err(msg) = mirrors(head, &env) {
                return Some(Response::rpc_error(400, HEADER_MISMATCH, &msg));
            }
        }
        if let Some(r) = self.over_capacity(body) {
            return Some(r);
        }
        let mut headers = cors.to_vec();
        let initialize = !modern && env.method.as_deref() == Some("initialize");
        let id = if modern {
            self.new_session(Kind::Stateless)
        } else if initialize {
            self.new_session(Kind::Session)
        } else {
            self.session_of(head)
        };
        let id = match id {
            Ok(id) => id,
            Err(r) => return Some(r),
        };
        let now = self.now;
        let client = self.clients.get_mut(&id)?;
        if client.kind == Kind::Session {
            if !initialize
                && let (Some(h), Some(v)) = (header, client.session.version())
                && h != v.as_str()
            {
                let msg = format!(
                    "MCP-Protocol-Version {h} differs from the session's protocol {}",
                    v.as_str()
                );
                return Some(Response::rpc_error(400, INVALID_REQUEST, &msg));
            }
            client.seen = now;
            headers.push(("Mcp-Session-Id", client.token.clone()));
        }
        let channel = self.next_channel;
        self.next_channel += 1;
        let exchange = Exchange {
            session: id,
            channel,
            json,
            sse,
            open: false,
            stateless: modern,
            headers,
            initialize,
        };
        self.exchanges.insert(conn, exchange);
        self.by_channel.insert(channel, conn);
        if let Some(c) = self.clients.get_mut(&id) {
            c.session
                .handle_message_on(now, body, channel, &mut self.service);
        }
        self.drain(id);
        // A notification or a response: nothing will answer it.
        let waits = self
            .clients
            .get(&id)
            .is_some_and(|c| c.session.waits_on(channel));
        if !waits && let Some(e) = self.exchanges.remove(&conn) {
            self.by_channel.remove(&channel);
            self.finish_whole(conn, &e, Response::empty(202));
            self.after(&e);
        }
        None
    }
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
