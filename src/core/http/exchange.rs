//! The POSTs waiting for their replies: one per connection, each writing on a channel of its
//! session of its own.

use super::super::service::SessionId;
use super::ConnId;
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
