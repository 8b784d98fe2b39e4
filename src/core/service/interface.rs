//! The narrow interface between sessions and the service: what a session asks for, how it
//! started, and what comes back.

use super::super::event::FileError;
use super::super::tools::{Outcome, Tool};
use super::{CallId, SessionId};
use serde_json::value::RawValue;

/// What a session asks the service for.
#[derive(Debug)]
pub(crate) enum Request<'a> {
    /// Call a tool with these (unvalidated) arguments.
    Tool {
        tool: &'static Tool,
        arguments: Option<&'a RawValue>,
    },
    /// Read `voices://catalog`.
    Catalog,
    /// Read `usage://report`.
    UsageReport,
    /// Read a generated audio file (`audio://{name}`, the name already checked).
    ReadAudio { name: String },
}

/// How a request started.
#[derive(Debug)]
pub(crate) enum Started {
    /// It runs: its answer comes as an [`Event`].
    Running(CallId),
    /// Answered at once (bad arguments, a refusal, a cache hit, a full queue).
    Done(Answer),
}

/// The answer to a request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A tool's (or the catalog's) outcome.
    Tool(Outcome),
    /// The bytes of an audio file.
    Audio(Result<Vec<u8>, FileError>),
    /// A resource read that cannot run now; the message says why.
    Refused(String),
}

/// Something for a session.
#[derive(Debug)]
pub(crate) struct Event {
    /// The session that started the call.
    pub(crate) session: SessionId,
    /// The call.
    pub(crate) call: CallId,
    /// What happened.
    pub(crate) kind: EventKind,
}

/// What happened to a call.
#[derive(Debug)]
pub(crate) enum EventKind {
    /// Its audio stream has brought this many bytes so far.
    Progress(u64),
    /// Its job waits in the queue, here.
    Waiting(Waiting),
    /// It finished.
    Done(Answer),
}

/// Where a queued job is: how many jobs are ahead of it (for a free slot), and, first in line,
/// how long the rate limits hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// Jobs queued before it.
    pub(crate) ahead: usize,
    /// Whole seconds until the rate limits let it go (0: it waits for a slot).
    pub(crate) rate_wait_s: u64,
}
