//! What the service records in the usage ledger: a row for every `speak` (the calls that can
//! spend), built from its result, and written by the shell (`Job::Record`) before the result
//! is sent, so that a crash never loses a call the client saw. A call answered when its
//! playback started has its row written as it is answered. A ledger that cannot be written is
//! said once, in the log and in that call's result; the speech goes on.

use super::super::event::{Job, JobResult, Level};
use super::super::tools::Outcome;
use super::super::usage::{self, UsageRow};
use super::entry::{Entry, Work};
use super::{CallId, Service};

/// Whether calls of `tool` are recorded.
fn recorded_tool(svc: &Service, tool: &str) -> bool {
    cfg!(feature = "usage-db") && svc.config.settings.usage_enabled && tool == "speak"
}

/// The row of a finished call.
fn row(svc: &Service, entry: &Entry, outcome: &Outcome) -> UsageRow {
    let latency = svc.now.saturating_duration_since(entry.started_at);
    let unix_ms = svc.wall_now().saturating_mul(1000);
    usage::speak_row(
        outcome.structured.as_ref(),
        outcome.is_error,
        unix_ms,
        u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
    )
}

/// A call has its `outcome`: it is answered now (`Some`), or once its row is written (`None`:
/// the call waits, holding the outcome, for the `Job::Record` started for it).
pub(super) fn finish(
    svc: &mut Service,
    id: CallId,
    mut entry: Entry,
    outcome: Outcome,
) -> Option<Outcome> {
    let Work::Call(call) = &entry.work else {
        return Some(outcome);
    };
    if !recorded_tool(svc, call.tool()) {
        return Some(outcome);
    }
    let row = row(svc, &entry, &outcome);
    entry.work = Work::Record(Box::new(outcome));
    let job = Job::Record(Box::new(row));
    entry.job = Some(svc.gate.start_local(Some(id), job, &mut svc.out));
    svc.calls.insert(id, entry);
    None
}

/// A call answered as its playback started: its row is written now, the answer not held.
pub(super) fn playing(svc: &mut Service, entry: &Entry, outcome: &Outcome) {
    let Work::Call(call) = &entry.work else {
        return;
    };
    if recorded_tool(svc, call.tool()) {
        let job = Job::Record(Box::new(row(svc, entry, outcome)));
        svc.gate.start_local(None, job, &mut svc.out);
    }
}

/// The row of a call holding `outcome` is written (or could not be): its answer.
pub(super) fn written(svc: &mut Service, mut outcome: Outcome, result: &JobResult) -> Outcome {
    if let JobResult::Written(Err(why)) = result {
        failed(svc, why);
        if !svc.memory.ledger_failed_said {
            svc.memory.ledger_failed_said = true;
            outcome.text.push_str(&format!(
                " (Not recorded in the usage ledger: {why}. The speech goes on; see the server's log.)"
            ));
        }
    }
    outcome
}

/// A row that could not be written: logged (at `warning` the first time).
pub(super) fn failed(svc: &mut Service, why: &str) {
    let level = if svc.memory.ledger_failed_said {
        Level::Debug
    } else {
        Level::Warning
    };
    svc.log(level, format!("usage not recorded: {why}"));
}
