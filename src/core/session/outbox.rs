//! Where a session's replies go: whole lines of JSON on its output, gathered into few writes, or
//! into the open batch they answer (2025-03-26), which is written once its last member is
//! answered.

use super::super::event::{Level, Output};
use super::super::jsonrpc::{self, Id, NoId};
use super::render::result_suffix;
use super::resources;
use super::version::Version;
use std::collections::VecDeque;

/// Bytes gathered into one [`Output::Stdout`] before a new one starts.
const WRITE_BATCH: usize = 64 * 1024;
/// Bytes of replies one batch may collect; larger replies are refused inside a batch.
const MAX_BATCH_REPLY: usize = 4 << 20;

/// Where a reply goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Route {
    Direct,
    Batch(usize),
}

#[derive(Debug, Default)]
struct Batch {
    parts: Vec<Vec<u8>>,
    /// Bytes in `parts`.
    bytes: usize,
    /// Members answered later.
    waiting: usize,
    /// Still being read.
    open: bool,
}

/// A session's output queue and open batches.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Each output with the channel it answers (see [`super::Session::handle_message`]).
    out: VecDeque<(u64, Output)>,
    batches: Vec<Option<Batch>>,
    /// The channel what is written now goes to.
    pub(super) channel: u64,
}

impl Outbox {
    pub(super) fn pop(&mut self) -> Option<(u64, Output)> {
        self.out.pop_front()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// A line for the server's own log.
    pub(super) fn log(&mut self, level: Level, message: String) {
        self.out
            .push_back((self.channel, Output::Log { level, message }));
    }

    /// The output buffer to append whole lines to (one per channel at a time).
    pub(super) fn stdout(&mut self) -> &mut Vec<u8> {
        let channel = self.channel;
        let reuse = matches!(self.out.back(), Some((c, Output::Stdout(b))) if *c == channel && b.len() < WRITE_BATCH);
        if !reuse {
            self.out
                .push_back((channel, Output::Stdout(Vec::with_capacity(4096))));
        }
        match self.out.back_mut() {
            Some((_, Output::Stdout(buf))) => buf,
            _ => unreachable!("a Stdout output was just ensured at the back"),
        }
    }

    /// Writes one notification line (never part of a batch).
    pub(super) fn notification(&mut self, json: &str) {
        let out = self.stdout();
        out.extend_from_slice(json.as_bytes());
        out.push(b'\n');
    }

    // ---- batches ------------------------------------------------------------------------

    /// Opens a batch; its members' replies are routed to the slot returned.
    pub(super) fn open_batch(&mut self) -> usize {
        let slot = match self.batches.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.batches.push(None);
                self.batches.len() - 1
            }
        };
        self.batches[slot] = Some(Batch {
            open: true,
            ..Batch::default()
        });
        slot
    }

    /// Every member of the batch has been read.
    pub(super) fn close_batch(&mut self, slot: usize) {
        if let Some(batch) = self.batches[slot].as_mut() {
            batch.open = false;
        }
        self.flush_batch(slot);
    }

    /// A batch member will be answered later: the batch waits for it (see [`Outbox::settle`]).
    pub(super) fn hold(&mut self, route: Route) {
        if let Route::Batch(slot) = route
            && let Some(b) = self.batches[slot].as_mut()
        {
            b.waiting += 1;
        }
    }

    /// A held batch member was answered or dropped.
    pub(super) fn settle(&mut self, route: Route) {
        if let Route::Batch(slot) = route {
            if let Some(b) = self.batches[slot].as_mut() {
                b.waiting = b.waiting.saturating_sub(1);
            }
            self.flush_batch(slot);
        }
    }

    fn flush_batch(&mut self, slot: usize) {
        let done = matches!(&self.batches[slot], Some(b) if !b.open && b.waiting == 0);
        if !done {
            return;
        }
        let Some(batch) = self.batches[slot].take() else {
            return;
        };
        if batch.parts.is_empty() {
            return; // only notifications
        }
        let out = self.stdout();
        out.push(b'[');
        for (i, part) in batch.parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(part);
        }
        out.extend_from_slice(b"]\n");
    }

    // ---- replies ------------------------------------------------------------------------

    fn respond(&mut self, route: Route, write: impl FnOnce(&mut Vec<u8>)) {
        match route {
            Route::Direct => {
                let out = self.stdout();
                write(out);
                out.push(b'\n');
            }
            Route::Batch(slot) => {
                let mut part = Vec::new();
                write(&mut part);
                if let Some(b) = self.batches[slot].as_mut() {
                    b.bytes += part.len();
                    b.parts.push(part);
                }
            }
        }
    }

    /// Whether a reply of `len` bytes still fits the batch it would join.
    fn fits(&self, route: Route, len: usize) -> bool {
        match route {
            Route::Direct => true,
            Route::Batch(slot) => self.batches[slot]
                .as_ref()
                .is_none_or(|b| b.bytes + len <= MAX_BATCH_REPLY),
        }
    }

    fn too_big_for_batch(&mut self, route: Route, id: &Id) {
        let msg = "this reply is too large for a batch; send the request on its own";
        self.error(route, id, jsonrpc::INTERNAL_ERROR, msg, None);
    }

    /// A result whose members are already rendered (`body` is the whole object).
    pub(super) fn raw_result(&mut self, route: Route, id: &Id, body: &str) {
        self.respond(route, |out| jsonrpc::write_result(out, id, body));
    }

    /// Writes a result object (`body` is its JSON), adding what the version requires.
    pub(super) fn result(&mut self, route: Route, id: &Id, version: Version, body: String) {
        let suffix = result_suffix(version);
        if !self.fits(route, body.len() + suffix.len() + 48) {
            return self.too_big_for_batch(route, id);
        }
        self.respond(route, |out| {
            jsonrpc::write_result_with(out, id, &body, &suffix)
        });
    }

    /// A `resources/read` result with one blob, base64-encoded straight into the output.
    pub(super) fn blob_result(
        &mut self,
        route: Route,
        id: &Id,
        version: Version,
        uri: &str,
        bytes: &[u8],
    ) {
        let head = resources::blob_head(uri, resources::audio_mime(uri));
        // The rest of the result object after the blob's characters.
        let mut tail = String::from("\"}]");
        if version.is_stateless() {
            // A generated file never changes.
            tail.push_str(",\"ttlMs\":86400000,\"cacheScope\":\"private\"");
        }
        tail.push('}');
        let suffix = result_suffix(version);
        let engine = &base64::engine::general_purpose::STANDARD;
        let encoded = base64::encoded_len(bytes.len(), true).unwrap_or(usize::MAX);
        if !self.fits(
            route,
            head.len() + encoded.min(usize::MAX / 2) + tail.len() + 64,
        ) {
            return self.too_big_for_batch(route, id);
        }
        self.respond(route, |out| {
            jsonrpc::write_result_open(out, id);
            out.extend_from_slice(head.as_bytes());
            let start = out.len();
            out.resize(start + encoded, 0);
            let written =
                base64::Engine::encode_slice(engine, bytes, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
            jsonrpc::append_members(out, &tail, &suffix);
            out.push(b'}');
        });
    }

    pub(super) fn error(
        &mut self,
        route: Route,
        id: &Id,
        code: i64,
        message: &str,
        data: Option<&str>,
    ) {
        self.respond(route, |out| {
            jsonrpc::write_error(out, Some(id), NoId::Omit, code, message, data)
        });
    }

    /// An error reply to a line that may not have yielded an id: without one, the id is
    /// written as `no_id` says (`null`, or left out).
    pub(super) fn error_unknown_id(
        &mut self,
        route: Route,
        id: Option<&Id>,
        no_id: NoId,
        code: i64,
        message: &str,
    ) {
        self.respond(route, |out| {
            jsonrpc::write_error(out, id, no_id, code, message, None)
        });
    }
}
