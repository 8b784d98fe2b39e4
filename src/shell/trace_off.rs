//! Trace and replay in a build without the `trace` feature (`--no-default-features`): the same
//! interface, recording nothing; `--trace` warns and serves without a trace, `replay` explains.

use super::log::Logger;
use crate::core::{self, Input, Output, Server};
use std::fmt;
use std::path::Path;
use std::time::Instant;

const MISSING: &str = "this build of mcp-elevenlabs has no trace support (it was built without the `trace` feature); use a release binary or build with default features";

/// Never created in this build.
#[derive(Debug)]
pub enum Recorder {}

impl Recorder {
    /// Warns that tracing is not built in.
    pub fn create(path: &Path, _: &core::Config, _: Instant, log: &Logger) -> Option<Self> {
        log.warn(&format!(
            "not writing the trace {}: {MISSING}",
            path.display()
        ));
        None
    }
}

/// The core itself: nothing is recorded.
#[derive(Debug)]
pub struct Traced {
    server: Server,
}

impl Traced {
    /// Wraps a core.
    pub fn new(server: Server, recorder: Option<Recorder>) -> Self {
        if let Some(r) = recorder {
            match r {}
        }
        Self { server }
    }

    /// [`Server::handle_input`].
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.server.handle_input(now, input);
    }

    /// [`Server::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }

    /// [`Server::poll_output`].
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.server.poll_output()
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

    /// Nothing to finish.
    pub fn finish(self) {}
}

/// Why `replay` cannot run.
#[derive(Debug)]
pub struct ReplayError;

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MISSING)
    }
}

impl std::error::Error for ReplayError {}

/// A replay result (never produced in this build).
#[derive(Debug)]
pub enum Replay {}

impl Replay {
    /// Never called.
    pub fn is_identical(&self) -> bool {
        match *self {}
    }
}

impl fmt::Display for Replay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Explains that replay is not built in.
pub fn replay_file(_: &Path) -> Result<Replay, ReplayError> {
    Err(ReplayError)
}
