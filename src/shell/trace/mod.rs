//! Trace and replay, for bug reports and regression tests.
//!
//! `serve --trace FILE` records, as JSON lines, every input the core received (stdin bytes, job
//! results, progress, timer firings) with its time since the core was created, and every output
//! it produced; `replay FILE` feeds the same inputs to a fresh core at the same instants and
//! compares the outputs. The core is deterministic given its config, its inputs and their times,
//! which is what makes this work.
//!
//! The format, one JSON object per line:
//! - first `{"trace":1,"version":"0.1.0","config":{…}}`: everything of `core::Config` that shapes
//!   behaviour (the settings with the key only as `"set"`/`"missing"`, the RNG seed, the start
//!   time);
//! - `{"n":K,"t_ns":T,"input":…}` for the K-th input, T nanoseconds after the core was created
//!   (`"timeout"` for a timer firing);
//! - `{"n":K,"output":…}` for each output produced after input K, in order (one per stdout
//!   line);
//! - last `{"end":{"inputs":K,"drained":true}}` (missing if the server died).
//!
//! The API key never appears (masked with a string of its length, so lengths and limits stay
//! the same); audio only as length and SHA-256 (see `scrub.rs`). The spoken text and the requests
//! are kept: they are what a bug report needs.

mod codec;
mod config;
mod fields;
mod ledger_codec;
mod record;
mod replay;
mod scrub;
mod timings;

pub use record::{FORMAT, Recorder};
pub use replay::{Divergence, Replay, ReplayError, replay_file, replay_str};

use crate::core::{Input, Output, Server};
use std::time::Instant;

/// The core, with a [`Recorder`] watching when tracing is on. Without one, each call is the
/// core's own plus one branch.
#[derive(Debug)]
pub struct Traced {
    server: Server,
    recorder: Option<Recorder>,
}

impl Traced {
    /// Wraps a core; `recorder` was created with the core's config and start instant.
    pub fn new(server: Server, recorder: Option<Recorder>) -> Self {
        Self { server, recorder }
    }

    /// [`Server::handle_input`], recorded.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        if let Some(r) = &mut self.recorder {
            r.input(now, &input);
        }
        self.server.handle_input(now, input);
    }

    /// [`Server::handle_timeout`], recorded.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(r) = &mut self.recorder {
            r.timeout(now);
        }
        self.server.handle_timeout(now);
    }

    /// [`Server::poll_output`], recorded; `None` flushes the trace.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        let output = self.server.poll_output();
        if let Some(r) = &mut self.recorder {
            match &output {
                Some(o) => r.output(o),
                None => r.drained(),
            }
        }
        output
    }

    /// [`Server::poll_timeout`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    /// [`Server::is_finished`].
    pub fn is_finished(&self) -> bool {
        self.server.is_finished()
    }

    /// Ends the trace (its last line) and flushes it.
    pub fn finish(self) {
        if let Some(r) = self.recorder {
            r.finish();
        }
    }
}
