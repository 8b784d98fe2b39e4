//! What the service does for calls that play: the speech queue's turns (a call holds the
//! speaker from its first player job until it ends), the answer when playback starts, and
//! `stop_speaking`. Free functions over the service, kept beside the queue they drive.

use super::super::event::{Job, JobId, JobResult, Level, Sink};
use super::super::tools::{Cx, Outcome, Reply, Step};
use super::entry::{Entry, Work};
use super::queue::Turn;
use super::{Answer, CallId, Service, ledger, reply};

/// Speech waiting to be played, at most (beyond the one playing).
pub(super) const MAX_WAITING: usize = 16;

/// Whether a job plays audio (and so needs the speaker).
pub(super) fn is_player_job(job: &Job) -> bool {
    matches!(
        job,
        Job::Speech {
            sink: Sink::Player(_),
            ..
        } | Job::CacheRead {
            sink: Sink::Player(_),
            ..
        }
    )
}

/// A call asks to play `job`: `Ok(Some(entry))` to go on now, `Ok(None)` when it was parked
/// until its turn, `Err` with the answer when the queue is full.
pub(super) fn take_turn(
    svc: &mut Service,
    id: CallId,
    mut entry: Entry,
    job: &Job,
) -> Result<Option<Entry>, Outcome> {
    if !is_player_job(job) {
        return Ok(Some(entry));
    }
    match svc.speaker.ask(id) {
        Turn::Now => Ok(Some(entry)),
        Turn::Wait(_) => {
            entry.last = Some(job.clone());
            entry.job = None;
            svc.calls.insert(id, entry);
            Ok(None)
        }
        Turn::Full => Err(reply::attempts(queue_full(), entry.attempt)),
    }
}

/// A call that will play takes its turn when it starts: `Some(entry)` to start it now, `None`
/// when it was parked until its turn, `Err` with its answer when the queue is full.
pub(super) fn queue_up(
    svc: &mut Service,
    id: CallId,
    entry: Entry,
) -> Result<Option<Entry>, Outcome> {
    let plays = match &entry.work {
        Work::Call(c) => {
            let wall_now = svc.wall_now();
            let cx = Cx {
                now: svc.now,
                wall_now,
                config: &svc.config,
                memory: &mut svc.memory,
            };
            c.plays(&cx)
        }
        Work::ReadAudio | Work::Record(_) => false,
    };
    if !plays {
        return Ok(Some(entry));
    }
    match svc.speaker.ask(id) {
        Turn::Now => Ok(Some(entry)),
        Turn::Wait(_) => {
            svc.calls.insert(id, entry);
            Ok(None)
        }
        Turn::Full => Err(queue_full()),
    }
}

/// The answer to a call that finds the speech queue full.
fn queue_full() -> Outcome {
    Outcome::error(format!(
        "{MAX_WAITING} utterances are already waiting to be played: try again when they are done, or call stop_speaking."
    ))
}

/// The player of a call answered at playback start is done: a failure is logged (with the file
/// the audio was saved to instead, for `auto`) and remembered, so `auto` stops trying it.
pub(super) fn ended(svc: &mut Service, result: &JobResult) {
    let why = match result {
        JobResult::Speech(Ok(done)) | JobResult::Cached(Some(Ok(done))) => {
            let Some(why) = &done.player_failed else {
                return;
            };
            svc.memory.player_failed = Some(why.clone());
            match &done.file {
                Some(file) => format!("{why}; the audio was saved as {file}"),
                None => why.clone(),
            }
        }
        JobResult::Speech(Err(e)) | JobResult::Cached(Some(Err(e))) => format!("{e:?}"),
        _ => return,
    };
    svc.log(Level::Warning, format!("playback did not finish: {why}"));
}

/// `call` ended: the speaker passes on, and the next call's parked job goes.
pub(super) fn left(svc: &mut Service, call: CallId) {
    let Some(next) = svc.speaker.leave(call) else {
        return;
    };
    let Some(mut entry) = svc.calls.remove(&next) else {
        return left(svc, next);
    };
    // Its deadline counts from its turn, not from the wait behind others.
    entry.started_at = svc.now;
    let session = entry.session;
    let finished = match entry.last.clone() {
        Some(job) => svc.issue(next, entry, job),
        // Parked before its first step.
        None => svc.drive(next, entry, None),
    };
    if let Some(outcome) = finished {
        svc.answer(session, next, Answer::Tool(outcome));
    }
}

/// The player of `job` has its first audio: its call answers now, unless it waits for the end.
pub(super) fn started(svc: &mut Service, job: JobId, request_id: Option<String>) {
    let Some(call) = svc.gate.owner(job) else {
        return;
    };
    let Some(mut entry) = svc.calls.remove(&call) else {
        return;
    };
    let step = match &mut entry.work {
        Work::Call(c) if !entry.answered => {
            let wall_now = svc.wall_now();
            let mut cx = Cx {
                now: svc.now,
                wall_now,
                config: &svc.config,
                memory: &mut svc.memory,
            };
            c.advance(&mut cx, Some(Reply::Playing { request_id }))
        }
        _ => Ok(Step::Pending),
    };
    let session = entry.session;
    let mut outcome = match step {
        Ok(Step::Done(outcome)) => Some(reply::attempts(outcome, entry.attempt)),
        _ => None,
    };
    entry.answered |= outcome.is_some();
    if let Some(outcome) = &mut outcome {
        ledger::playing(svc, &mut entry, outcome);
    }
    svc.calls.insert(call, entry);
    if let Some(outcome) = outcome {
        svc.answer(session, call, Answer::Tool(outcome));
    }
}

/// `stop_speaking`: the call holding the speaker is stopped (its player killed) and those
/// waiting are dropped, each answered if it was not yet. Returns whether one was stopped and
/// how many were dropped.
pub(super) fn stop(svc: &mut Service) -> (bool, usize) {
    let calls = svc.speaker.clear();
    let mut stopped = false;
    let mut dropped = 0;
    for (i, call) in calls.into_iter().enumerate() {
        let Some(entry) = svc.calls.remove(&call) else {
            continue;
        };
        svc.gate.unschedule(call);
        let mut sent = false;
        if let Some(job) = entry.job {
            sent = svc.gate.withdraw(svc.now, job, &mut svc.out);
        }
        ledger::dropped(svc, &entry, sent);
        let text = if i == 0 {
            stopped = true;
            "Stopped by stop_speaking."
        } else {
            dropped += 1;
            "Dropped by stop_speaking before it played."
        };
        if !entry.answered {
            svc.answer(
                entry.session,
                call,
                Answer::Tool(Outcome::error(text.into())),
            );
        }
    }
    svc.gate.pump(svc.now, &mut svc.out);
    (stopped, dropped)
}

/// The `speech` object of `health://status`: the player, and what plays or waits.
pub(super) fn health(svc: &Service) -> serde_json::Value {
    let (holder, waiting) = svc.speaker.state();
    let player = svc.config.player.as_ref().and_then(|p| p.argv.first());
    serde_json::json!({
        "player": player,
        "playing": holder.is_some(),
        "waiting": waiting,
        "player_failed": svc.memory.player_failed,
    })
}
