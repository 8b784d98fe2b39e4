//! The POSTs waiting for their replies: one per connection, each writing on a channel of its
//! session of its own.

use super::super::service::SessionId;
use super::envelope::status_of;
use super::response::message_event;
use super::{ConnId, Reply, Response};
use std::collections::HashMap;

/// A POST waiting for its reply.
#[derive(Debug)]
pub(super) struct Exchange {
    pub(super) session: SessionId,
    pub(super) channel: u64,
    /// The client takes JSON, an event stream.
    pub(super) json: bool,
    pub(super) sse: bool,
    /// The event stream has started (a notification came before the reply).
    pub(super) open: bool,
    pub(super) stateless: bool,
    /// Headers every response of it carries (`Mcp-Session-Id`, CORS).
    pub(super) headers: Vec<(&'static str, String)>,
    /// An `initialize`: the session is kept only if it succeeds.
    pub(super) initialize: bool,
}

impl Exchange {
    /// A notification about its request: sent on its event stream (opened by the first one),
    /// or dropped if the client takes only JSON.
    pub(super) fn notify(&mut self, conn: ConnId, line: &[u8]) -> Vec<Reply> {
        let mut out = Vec::new();
        if self.sse {
            if !self.open {
                self.open = true;
                let headers = self.headers.clone();
                out.push(Reply::Open { conn, headers });
            }
            out.push(Reply::Event {
                conn,
                data: message_event(line),
            });
        }
        out
    }

    /// What ends it: its reply `line`, or (`None`) nothing, for a request cancelled from
    /// another POST: a stream that closes empty, or 204 for a JSON-only client. The reply is
    /// JSON when it comes alone and the client takes JSON, else the stream's last event.
    pub(super) fn end(&self, conn: ConnId, line: Option<&[u8]>) -> Vec<Reply> {
        let stream = self.open || (self.sse && (line.is_none() || !self.json));
        if !stream {
            let response = match line {
                Some(l) => Response::json(status_of(l, self.stateless), l.to_vec()),
                None => Response::empty(204),
            };
            let response = self.with_headers(response);
            return vec![Reply::Whole { conn, response }];
        }
        let mut out = Vec::new();
        if !self.open {
            let headers = self.headers.clone();
            out.push(Reply::Open { conn, headers });
        }
        out.extend(line.map(|l| Reply::Event {
            conn,
            data: message_event(l),
        }));
        out.push(Reply::End { conn });
        out
    }

    /// `r` with the headers every response of it carries.
    pub(super) fn with_headers(&self, mut r: Response) -> Response {
        r.headers.extend(self.headers.iter().cloned());
        r
    }
}

/// The exchanges, by connection and by channel.
#[derive(Debug, Default)]
pub(super) struct Exchanges {
    by_conn: HashMap<ConnId, Exchange>,
    by_channel: HashMap<u64, ConnId>,
    next_channel: u64,
}

impl Exchanges {
    /// A channel no exchange has used.
    pub(super) fn channel(&mut self) -> u64 {
        self.next_channel += 1;
        self.next_channel
    }

    pub(super) fn insert(&mut self, conn: ConnId, e: Exchange) {
        self.by_channel.insert(e.channel, conn);
        self.by_conn.insert(conn, e);
    }

    pub(super) fn remove(&mut self, conn: ConnId) -> Option<Exchange> {
        let e = self.by_conn.remove(&conn)?;
        self.by_channel.remove(&e.channel);
        Some(e)
    }

    /// The connection waiting on `channel`.
    pub(super) fn conn_of(&self, channel: u64) -> Option<ConnId> {
        self.by_channel.get(&channel).copied()
    }

    pub(super) fn get(&self, conn: ConnId) -> Option<&Exchange> {
        self.by_conn.get(&conn)
    }

    pub(super) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Exchange> {
        self.by_conn.get_mut(&conn)
    }

    /// The connections waiting on `session`.
    pub(super) fn of(&self, session: SessionId) -> Vec<ConnId> {
        let mine = self.by_conn.iter().filter(|(_, e)| e.session == session);
        mine.map(|(c, _)| *c).collect()
    }

    pub(super) fn len(&self) -> usize {
        self.by_conn.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_conn.is_empty()
    }
}
