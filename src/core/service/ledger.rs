//! What the service records in the usage ledger, and the budgets it keeps there.
//!
//! Every `speak` (the calls that can spend) gets a row, built from its result and written by
//! the shell (`Job::Record`) before the result is sent, so that a crash never loses a call the
//! client saw. A call answered when its playback started has its row written as it is
//! answered. A ledger that cannot be written is said once, in the log and in that call's
//! result; the speech goes on.
//!
//! With budgets set, a call's speech job waits for a reservation (`Job::Reserve`: the shell
//! checks [`usage::admit`] and holds the characters in one transaction shared by every
//! process), and its row settles it with what was billed. Over budget, or a ledger that cannot
//! be read, refuses before anything is sent (the fallback voice speaks instead when
//! `fallback.when` has `budget`). Crossing a `usage.warn_at` threshold is said once per
//! threshold and period: to every session at `warning`, and in the call's result.

use super::super::event::{Job, JobResult, Level};
use super::super::tools::Outcome;
use super::super::usage::{self, Budgets, Reserved, UsageRow};
use super::entry::{Budget, Entry, Work};
use super::{Answer, CallId, Service, gate};

/// How long a reservation outlives its call's deadline before it lapses (a crashed process's;
/// the ledger also drops those of processes that are gone, where it can tell).
const HOLD_AFTER_DEADLINE_MS: u64 = 15 * 60 * 1000;
/// How long warnings are remembered (longer than any period).
const WARNED_FOR_S: u64 = 40 * 86_400;

/// Whether calls of `tool` are recorded.
fn recorded_tool(svc: &Service, tool: &str) -> bool {
    cfg!(feature = "usage-db") && svc.config.settings.usage_enabled && tool == "speak"
}

/// The row of a finished call; it settles the call's reservation.
fn row(svc: &Service, entry: &mut Entry, outcome: &Outcome) -> UsageRow {
    let latency = svc.now.saturating_duration_since(entry.started_at);
    let unix_ms = svc.wall_now().saturating_mul(1000);
    let mut row = usage::speak_row(
        outcome.structured.as_ref(),
        outcome.is_error,
        unix_ms,
        u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
    );
    if let Budget::Held(id) = entry.budget {
        row.reservation = Some(id);
        entry.budget = Budget::Settled;
    }
    if outcome.is_error {
        row.billed = entry.billed_despite;
    }
    row
}

/// Notes what a failed speech job was billed anyway: ElevenLabs answered it, so it bills the
/// characters (all of a long text's, as an upper bound: its pieces are not told apart).
pub(super) fn billed_despite(entry: &mut Entry, result: &JobResult) {
    use super::super::event::SpeechFailed as F;
    let Some(job @ Job::Speech { .. }) = &entry.last else {
        return;
    };
    let billed = match result {
        JobResult::Speech(Err(F::Transport { bytes, .. })) => *bytes > 0,
        JobResult::Speech(Err(F::Sink(_) | F::InlineTooLarge { .. } | F::Player(_))) => true,
        _ => false,
    };
    if billed {
        entry.billed_despite = gate::characters(job);
    }
}

/// A call has its `outcome`: it is answered now (`Some`), or once its row is written (`None`:
/// the call waits, holding the outcome, for the `Job::Record` started for it).
pub(super) fn finish(
    svc: &mut Service,
    id: CallId,
    mut entry: Entry,
    outcome: Outcome,
) -> Option<Outcome> {
    subscription_warning(svc);
    let Work::Call(call) = &entry.work else {
        return Some(outcome);
    };
    if !recorded_tool(svc, call.tool()) {
        return Some(outcome);
    }
    let mut outcome = outcome;
    notes(&mut entry, &mut outcome);
    let row = row(svc, &mut entry, &outcome);
    entry.work = Work::Record(Box::new(outcome));
    let job = Job::Record(Box::new(row));
    entry.job = Some(svc.gate.start_local(Some(id), job, &mut svc.out));
    svc.calls.insert(id, entry);
    None
}

/// A call answered as its playback started: its row is written now, the answer not held.
pub(super) fn playing(svc: &mut Service, entry: &mut Entry, outcome: &mut Outcome) {
    let Work::Call(call) = &entry.work else {
        return;
    };
    if recorded_tool(svc, call.tool()) {
        notes(entry, outcome);
        let job = Job::Record(Box::new(row(svc, entry, outcome)));
        svc.gate.start_local(None, job, &mut svc.out);
    }
}

/// The call's notes (usage warnings) join its answer.
fn notes(entry: &mut Entry, outcome: &mut Outcome) {
    for note in entry.notes.drain(..) {
        outcome.text.push_str(&format!(" {note}"));
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

/// The budgets in force.
fn budgets(svc: &Service) -> Budgets {
    let l = &svc.config.settings.limits;
    Budgets {
        daily: l.daily_characters,
        monthly: l.monthly_characters,
        per_call: l.per_call_characters,
    }
}

/// A reservation of `characters` now.
fn reserve(svc: &Service, characters: u64) -> usage::Reserve {
    let s = &svc.config.settings;
    let unix = svc.wall_now();
    let now_ms = unix.saturating_mul(1000);
    usage::Reserve {
        characters,
        budgets: budgets(svc),
        day: usage::day(unix),
        month: usage::month(unix, s.usage_reset_day),
        now_ms,
        expires_ms: now_ms + s.limits.call_deadline_ms + HOLD_AFTER_DEADLINE_MS,
    }
}

/// What the budgets say to a job a call is about to send.
pub(super) enum Checked {
    /// Send it.
    Go(Entry, Job),
    /// The call waits for its reservation (kept in the service's calls).
    Waiting,
    /// Refused, saying why; nothing was sent.
    Refused(Entry, String),
}

/// The budgets' say on `job`, the next job of call `id`: the first speech job of a call is
/// checked (the per-call budget) and waits for its reservation (the daily and monthly ones).
pub(super) fn check(svc: &mut Service, id: CallId, mut entry: Entry, job: Job) -> Checked {
    let budgets = budgets(svc);
    let first_speech = matches!(job, Job::Speech { .. }) && matches!(entry.budget, Budget::Unasked);
    if !budgets.any() || !first_speech {
        return Checked::Go(entry, job);
    }
    entry.budget = Budget::Passed;
    let characters = gate::characters(&job);
    if let Err(refusal) = usage::per_call(budgets, characters) {
        return Checked::Refused(entry, refusal.message());
    }
    if !budgets.shared() || !cfg!(feature = "usage-db") {
        // (Without the ledger the settings refuse shared budgets.)
        return Checked::Go(entry, job);
    }
    let reserve = Job::Reserve(Box::new(reserve(svc, characters)));
    entry.budget = Budget::Asking(Box::new(job));
    entry.job = Some(svc.gate.start_local(Some(id), reserve, &mut svc.out));
    svc.calls.insert(id, entry);
    Checked::Waiting
}

/// The reservation of call `id` is made, refused, or could not be: its speech job goes, or
/// the call is refused (or falls back) before anything is sent, and is answered if it ended.
pub(super) fn reserved(svc: &mut Service, id: CallId, entry: Entry, result: JobResult) {
    let session = entry.session;
    if let Some(outcome) = reservation_made(svc, id, entry, result) {
        svc.answer(session, id, Answer::Tool(outcome));
    }
}

fn reservation_made(
    svc: &mut Service,
    id: CallId,
    mut entry: Entry,
    result: JobResult,
) -> Option<Outcome> {
    let Budget::Asking(job) = std::mem::replace(&mut entry.budget, Budget::Passed) else {
        return Some(Outcome::error(
            "internal error: no reservation asked".into(),
        ));
    };
    let why = match result {
        JobResult::Reserved(Ok(Reserved::Held { id: held, used })) => {
            let characters = gate::characters(&job);
            entry.budget = Budget::Held(held);
            let warn_at = svc.config.settings.usage_warn_at.clone();
            let crossed = usage::warnings(&reserve(svc, characters), used, &warn_at);
            warn(svc, &mut entry, crossed);
            return svc.issue(id, entry, *job);
        }
        JobResult::Reserved(Ok(Reserved::Refused(refusal))) => refusal.message(),
        JobResult::Reserved(Err(why)) => {
            failed(svc, &why);
            format!(
                "Budgets are set, but the usage ledger that keeps them cannot be used ({why}). Nothing was sent: a budget is never spent blindly. Repair or remove the ledger file, or unset `limits.daily_characters` and `limits.monthly_characters`."
            )
        }
        other => format!("internal error: unexpected job result {other:?}"),
    };
    svc.fall_back(id, entry, Some("budget"), why)
}

/// A call dropped without an answer (cancelled, its client gone, stopped): if its speech
/// request was running (`running`: its job was withdrawn while started), it may have been
/// billed, so it gets a row billed as the characters sent (ElevenLabs bills what it began),
/// which settles its reservation; else a reservation it holds is given back. A retry waiting,
/// a queued job or the fallback voice sent nothing billable.
pub(super) fn dropped(svc: &mut Service, entry: &Entry, running: bool) {
    let held = match entry.budget {
        Budget::Held(id) => Some(id),
        _ => None,
    };
    let speech = match &entry.last {
        Some(job @ Job::Speech { .. }) if running => Some(gate::characters(job)),
        _ => None,
    };
    let recorded = matches!(&entry.work, Work::Call(c) if recorded_tool(svc, c.tool()));
    let job = match (speech, held) {
        (Some(characters), _) if recorded && !entry.answered => {
            let unix_ms = svc.wall_now().saturating_mul(1000);
            let latency = svc.now.saturating_duration_since(entry.started_at);
            Job::Record(Box::new(UsageRow {
                unix_ms,
                tool: "speak".into(),
                characters,
                billed: characters,
                outcome: "cancelled",
                latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                reservation: held,
                ..UsageRow::default()
            }))
        }
        (_, Some(id)) => Job::Release(id),
        (_, None) => return,
    };
    svc.gate.start_local(None, job, &mut svc.out);
}

/// A reservation made for a call that is gone: given back.
pub(super) fn orphaned(svc: &mut Service, result: &JobResult) {
    if let JobResult::Reserved(Ok(Reserved::Held { id, .. })) = result {
        svc.gate.start_local(None, Job::Release(*id), &mut svc.out);
    }
}

/// The subscription past a threshold, as the last `get_usage` saw it: said to every session
/// once per threshold and billing period (`get_usage`'s own result says it each time).
fn subscription_warning(svc: &mut Service) {
    let (Some((count, limit)), Some(reset)) = (svc.memory.subscription, svc.memory.last_reset)
    else {
        return;
    };
    let period = usage::account_period(u64::try_from(reset).unwrap_or(0));
    let warn_at = &svc.config.settings.usage_warn_at;
    if let Some(c) = usage::crossed("subscription", count, limit, period, warn_at)
        && svc
            .memory
            .usage_warned
            .insert((c.what, c.period_start, c.percent))
    {
        svc.log(Level::Warning, c.message.clone());
        svc.notices.push_back((Level::Warning, c.message));
    }
}

/// Says the thresholds newly crossed: once per threshold and period, to every session at
/// `warning` and in the call's result.
fn warn(svc: &mut Service, entry: &mut Entry, crossed: Vec<usage::Crossed>) {
    let now = svc.wall_now();
    svc.memory
        .usage_warned
        .retain(|(_, start, _)| start + WARNED_FOR_S > now);
    for c in crossed {
        if svc
            .memory
            .usage_warned
            .insert((c.what, c.period_start, c.percent))
        {
            svc.log(Level::Warning, c.message.clone());
            svc.notices.push_back((Level::Warning, c.message.clone()));
            entry.notes.push(c.message);
        }
    }
}
