//! What the service keeps of each call in flight.

use super::super::event::{Job, JobId};
use super::super::tools::Call;
use super::SessionId;
use std::time::Instant;

/// One call in flight.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) session: SessionId,
    pub(super) work: Work,
    /// The job running for it; `None` while a retry waits.
    pub(super) job: Option<JobId>,
    /// Retries so far.
    pub(super) attempt: u32,
    /// The job to send again on a retry.
    pub(super) last: Option<Job>,
    /// When the call started: no retry is scheduled past `limits.call_deadline_ms` from it.
    pub(super) started_at: Instant,
    /// Answered when its playback started; kept until the player is done.
    pub(super) answered: bool,
}

#[derive(Debug)]
pub(super) enum Work {
    Call(Box<dyn Call>),
    ReadAudio,
}
