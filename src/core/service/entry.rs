//! What the service keeps of each call in flight.

use super::super::event::{Job, JobId};
use super::super::tools::{Call, Outcome};
use super::{Answer, Service, SessionId, Started};
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
    /// Where it stands with the budgets.
    pub(super) budget: Budget,
    /// Lines added to its answer (a usage warning).
    pub(super) notes: Vec<String>,
    /// Characters ElevenLabs billed although the call fails: its speech request was answered
    /// and the audio lost after (a stream cut mid-way, a full disk, a player that failed).
    pub(super) billed_despite: u64,
}

impl Entry {
    /// A new call of `session` at `now`.
    pub(super) fn new(session: SessionId, work: Work, now: Instant) -> Self {
        Self {
            session,
            work,
            job: None,
            attempt: 0,
            last: None,
            started_at: now,
            answered: false,
            budget: Budget::Unasked,
            notes: Vec::new(),
            billed_despite: 0,
        }
    }
}

/// Where a call stands with the budgets (`service::ledger`).
#[derive(Debug)]
pub(super) enum Budget {
    /// Not checked yet (or no budgets are set).
    Unasked,
    /// Its reservation is being made; this job waits for it.
    Asking(Box<Job>),
    /// Checked; nothing held (the per-call budget alone needs no ledger).
    Passed,
    /// Held in the ledger under this id.
    Held(i64),
    /// Its row settled the reservation.
    Settled,
}

#[derive(Debug)]
pub(super) enum Work {
    Call(Box<dyn Call>),
    ReadAudio,
    /// A finished call whose usage row is being written; then this is its answer.
    Record(Box<Outcome>),
}

/// A `resources/read` of an `audio://` file: a job like a call's, answered with the bytes.
pub(super) fn read_audio(svc: &mut Service, session: SessionId, name: String) -> Started {
    let id = svc.new_call();
    let job = Job::ReadAudio {
        name,
        max_bytes: svc.config.max_read_bytes,
    };
    let deadline = svc.deadline(svc.now);
    let Ok(job) = svc.gate.submit(svc.now, id, job, deadline, &mut svc.out) else {
        let why = "too many requests in flight; try again shortly".to_string();
        return Started::Done(Answer::Refused(why));
    };
    let mut entry = Entry::new(session, Work::ReadAudio, svc.now);
    entry.job = Some(job);
    svc.calls.insert(id, entry);
    Started::Running(id)
}
