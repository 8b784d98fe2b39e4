//! The voice service: one per process, shared by every MCP session. It runs tool calls (and the
//! resource reads that need jobs) and owns what they share: the settings, the `Memory` of
//! models and voices, and the `gate` every ElevenLabs job passes.
//!
//! Pure like the rest of the core: time in, jobs out. A session starts a call with
//! `Service::start`; the answer comes back at once (`Started::Done`) or later as an
//! `Event` tagged with the session, which whoever drives the sessions routes to it.
//!
//! Order of use (as quinn-proto's endpoint): feed `start`/`cancel`/`handle_*`, then drain
//! [`Service::poll_output`] (jobs for the shell) and `Service::poll_event` (answers for
//! sessions), then wait until [`Service::poll_timeout`].

pub(crate) mod breaker;
mod bucket;
mod entry;
pub(crate) mod gate;
mod interface;
mod ledger;
mod play;
mod queue;
mod reply;
pub(crate) mod retry;

use super::Config;
use super::cache::{self, CacheKey};
use super::elevenlabs as api;
use super::event::{FileError, Job, JobId, JobResult, Level, Output};
use super::tools::{self, Cx, Failure, Memory, Outcome, Reply, Step, catalog};
use entry::{Entry, Work};
use gate::{Expiry, Gate, Refused};
pub(crate) use interface::{Answer, Event, EventKind, Request, Started, Waiting};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Identifies a session of the service's clients (one for stdio; one per client over HTTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// Identifies one call in the service, across all sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub(crate) u64);

/// The shared voice service.
#[derive(Debug)]
pub struct Service {
    config: Config,
    started: Instant,
    now: Instant,
    memory: Memory,
    gate: Gate,
    /// The audio cache's index (`None`: `cache.enabled` is off).
    cache: Option<cache::Index>,
    /// The speech queue: who plays, who waits.
    speaker: queue::Speaker,
    calls: BTreeMap<CallId, Entry>,
    next_call: u64,
    events: VecDeque<Event>,
    /// Log lines for every session (`notifications/message` where the session's level admits).
    notices: VecDeque<(Level, String)>,
    out: VecDeque<Output>,
}

impl Service {
    /// A service that starts at `now`.
    pub fn new(config: Config, now: Instant) -> Self {
        let gate = Gate::for_limits(
            &config.settings.limits,
            config.max_queued,
            config.rng_seed,
            now,
        );
        let cache = (cfg!(feature = "cache") && config.settings.cache_enabled)
            .then(|| cache::Index::new(config.settings.cache_max_mb.saturating_mul(1 << 20)));
        Self {
            gate,
            cache,
            speaker: queue::Speaker::new(play::MAX_WAITING),
            config,
            started: now,
            now,
            memory: Memory::default(),
            calls: BTreeMap::new(),
            next_call: 0,
            events: VecDeque::new(),
            notices: VecDeque::new(),
            out: VecDeque::new(),
        }
    }

    /// Nothing waits to be polled (outputs or events).
    pub fn is_drained(&self) -> bool {
        self.out.is_empty() && self.events.is_empty() && self.notices.is_empty()
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Starts a request for `session`.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        session: SessionId,
        request: Request<'_>,
    ) -> Started {
        self.tick(now);
        if self.cache.as_mut().is_some_and(cache::Index::unscanned) {
            // The cache's directory is listed once, when the first request comes.
            self.gate.start_local(None, Job::CacheScan, &mut self.out);
        }
        let call = match request {
            Request::Tool { tool, arguments } => {
                let args = match tools::args::validate(tool.name, tool.params, arguments) {
                    Ok(args) => args,
                    Err(msg) => return Started::Done(Answer::Tool(Outcome::error(msg))),
                };
                if let Some(msg) = reply::refusal(&self.config, tool.name) {
                    return Started::Done(Answer::Tool(Outcome::error(msg)));
                }
                (tool.start)(args)
            }
            Request::Catalog => match reply::refusal(&self.config, catalog::NAME) {
                Some(why) => return Started::Done(Answer::Refused(why)),
                None => catalog::start(),
            },
            // The ledger needs no key, and reads well with a broken setting elsewhere.
            Request::UsageReport => tools::usage_report::start(),
            Request::ReadAudio { name } => return entry::read_audio(self, session, name),
        };
        let id = self.new_call();
        let entry = Entry::new(session, Work::Call(call), self.now);
        let started = match play::queue_up(self, id, entry) {
            Ok(Some(entry)) => match self.drive(id, entry, None) {
                Some(outcome) => {
                    // Finished at once (a refusal): its turn in the speech queue passes on.
                    play::left(self, id);
                    Started::Done(Answer::Tool(outcome))
                }
                None => Started::Running(id),
            },
            Ok(None) => Started::Running(id),
            Err(outcome) => Started::Done(Answer::Tool(outcome)),
        };
        self.settle_gate();
        started
    }

    /// Drops a call without answering it; its job is cancelled.
    pub(crate) fn cancel(&mut self, call: CallId) {
        let Some(entry) = self.calls.remove(&call) else {
            return;
        };
        self.gate.unschedule(call);
        let mut running = false;
        if let Some(job) = entry.job {
            running = self.gate.withdraw(self.now, job, &mut self.out);
            self.gate.pump(self.now, &mut self.out);
            self.settle_gate();
        }
        ledger::dropped(self, &entry, running);
        play::left(self, call);
    }

    /// A player job's player has its first audio.
    pub fn handle_playing(&mut self, now: Instant, id: JobId, request_id: Option<String>) {
        self.tick(now);
        play::started(self, id, request_id);
        self.settle_gate();
    }

    /// A job finished (also sent for cancelled jobs).
    pub fn handle_job(&mut self, now: Instant, id: JobId, result: JobResult) {
        self.tick(now);
        let owner = self.gate.finished(self.now, id, &result, &mut self.out);
        self.settle_gate();
        if let (Some(ix), JobResult::CacheScanned(entries)) = (&mut self.cache, &result) {
            ix.loaded(entries);
            self.evict();
        }
        let Some(Some(call)) = owner else {
            return ledger::orphaned(self, &result);
        };
        let Some(mut entry) = self.calls.remove(&call) else {
            return;
        };
        entry.job = None;
        if let entry::Budget::Asking(_) = entry.budget {
            ledger::reserved(self, call, entry, result);
            return self.settle_gate();
        }
        if let Some(ix) = &mut self.cache {
            // A hit, a miss, a new entry; entries over `cache.max_mb` go.
            reply::learn_cache(ix, entry.last.as_ref(), &result);
            self.evict();
        }
        if entry.answered {
            // It answered when playback started; now the player is done.
            play::ended(self, &result);
            return play::left(self, call);
        }
        if let Work::Record(outcome) = entry.work {
            let outcome = ledger::written(self, *outcome, &result);
            return self.answer(entry.session, call, Answer::Tool(outcome));
        }
        if let Work::ReadAudio = entry.work {
            let answer = match result {
                JobResult::Audio(r) => r,
                other => Err(FileError::Other(format!(
                    "internal error: unexpected job result {other:?}"
                ))),
            };
            return self.answer(entry.session, call, Answer::Audio(answer));
        }
        ledger::billed_despite(&mut entry, &result);
        let upstream = matches!(result, JobResult::Http(_) | JobResult::Speech(_));
        if let JobResult::Speech(Ok(done)) = &result
            && let Some(us) = done.first_byte_us
        {
            self.gate.stats.last_first_byte_us = Some(us);
            self.log(
                Level::Debug,
                format!("speak: first audio byte written {us} us after it arrived"),
            );
        }
        let reply = reply::classify(result, &self.config.settings, self.wall_now());
        // Only the service's failures count, not the caller's (an unknown voice name).
        if let (Err(failure @ (Failure::Transport(_) | Failure::Api(..))), true) =
            (&reply, upstream)
        {
            self.gate.stats.failures += 1;
            self.gate.stats.last_error = Some(self.describe(failure));
        }
        let session = entry.session;
        if let Some(outcome) = self.drive(call, entry, Some(reply)) {
            self.answer(session, call, Answer::Tool(outcome));
        }
        self.settle_gate();
    }

    /// A running speech job has received `bytes` audio bytes so far.
    pub fn handle_progress(&mut self, now: Instant, id: JobId, bytes: u64) {
        self.tick(now);
        let Some(call) = self.gate.owner(id) else {
            return;
        };
        if let Some(entry) = self.calls.get(&call) {
            let session = entry.session;
            self.events.push_back(Event {
                session,
                call,
                kind: EventKind::Progress(bytes),
            });
        }
    }

    /// Sends again the jobs whose retry is due at `now`, and starts those the rate limits now
    /// let through.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        self.gate.pump(self.now, &mut self.out);
        while let Some(call) = self.gate.due(self.now) {
            let Some(entry) = self.calls.remove(&call) else {
                continue;
            };
            let session = entry.session;
            let finished = match entry.last.clone() {
                // The reply to the retry is read as the original's would have been.
                Some(job) => self.issue(call, entry, job),
                None => self.drive(call, entry, None),
            };
            if let Some(outcome) = finished {
                self.answer(session, call, Answer::Tool(outcome));
            }
        }
        self.settle_gate();
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next thing for the shell to do (start or cancel a job, log a line).
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next answer or progress report for a session.
    #[must_use]
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next log line for every session (a breaker transition).
    #[must_use]
    pub(crate) fn poll_notice(&mut self) -> Option<(Level, String)> {
        self.notices.pop_front()
    }

    /// When [`Service::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.gate.next_timer()
    }

    /// Calls in flight, over all sessions.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }

    /// The JSON text of `health://status` at `now`.
    pub(crate) fn health(&mut self, now: Instant) -> String {
        self.tick(now);
        let uptime = self.now.saturating_duration_since(self.started);
        let upstream = self.gate.to_json(self.now, &self.config.settings.base_url);
        let cache = self.cache.as_ref().map_or_else(
            || serde_json::json!({"enabled": false}),
            cache::Index::to_json,
        );
        let parts = [
            ("upstream", upstream),
            ("cache", cache),
            ("speech", play::health(self)),
        ];
        reply::health(&self.config, parts, self.calls.len(), uptime)
    }

    // ---- calls --------------------------------------------------------------------------

    fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn new_call(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    /// Moves a call on with `reply` (`None` to begin) until it waits for a job (kept in
    /// `calls`) or finishes (its outcome returned).
    fn drive(
        &mut self,
        id: CallId,
        mut entry: Entry,
        reply: Option<Result<Reply, Failure>>,
    ) -> Option<Outcome> {
        let Work::Call(call) = &mut entry.work else {
            return Some(Outcome::error("internal error: not a tool call".into()));
        };
        let mut cx = Cx {
            now: self.now,
            wall_now: self.wall_now(),
            config: &self.config,
            memory: &mut self.memory,
        };
        let step = match reply {
            None => call.advance(&mut cx, None),
            Some(Ok(reply)) => call.advance(&mut cx, Some(reply)),
            Some(Err(failure)) => Err(failure),
        };
        match step {
            Ok(Step::Job(job)) => self.issue(id, entry, job),
            Ok(Step::Done(outcome)) => {
                let outcome = reply::attempts(outcome, entry.attempt);
                ledger::finish(self, id, entry, outcome)
            }
            Ok(Step::Pending) => {
                self.calls.insert(id, entry);
                None
            }
            Ok(Step::StopSpeaking) => {
                let (playing, dropped) = play::stop(self);
                let stopped = Reply::Stopped { playing, dropped };
                self.drive(id, entry, Some(Ok(stopped)))
            }
            Err(failure) => {
                let sent = retry::Sent::of(entry.last.as_ref());
                let draw = self.gate.draw();
                let delay = self.gate.retry.delay(&failure, sent, entry.attempt, draw);
                let deadline = entry.started_at
                    + Duration::from_millis(self.config.settings.limits.call_deadline_ms);
                let Some(delay) = delay.filter(|d| self.now + *d <= deadline) else {
                    let mut text = self.describe(&failure);
                    if delay.is_some() {
                        text.push_str(&format!(
                            " Not retried: the wait would pass `limits.call_deadline_ms` ({} ms since the call began).",
                            self.config.settings.limits.call_deadline_ms
                        ));
                    }
                    let case = reply::fallback_case(&failure);
                    return self.fall_back(id, entry, case, text);
                };
                entry.attempt += 1;
                let tool = call.tool();
                self.log(
                    Level::Info,
                    format!("{tool}: retrying in {} ms", delay.as_millis()),
                );
                self.gate.schedule(self.now + delay, id);
                self.calls.insert(id, entry);
                None
            }
        }
    }

    /// Deletes the entries the cache's index let go.
    fn evict(&mut self) {
        let keys: Vec<CacheKey> = self
            .cache
            .as_mut()
            .map(cache::Index::evictions)
            .unwrap_or_default();
        if !keys.is_empty() {
            self.gate
                .start_local(None, Job::CacheEvict { keys }, &mut self.out);
        }
    }

    /// Starts `job` for a call and remembers it for a retry.
    fn issue(&mut self, id: CallId, entry: Entry, job: Job) -> Option<Outcome> {
        let (entry, job) = match ledger::check(self, id, entry, job) {
            ledger::Checked::Go(entry, job) => (entry, job),
            ledger::Checked::Waiting => return None,
            ledger::Checked::Refused(entry, why) => {
                return self.fall_back(id, entry, Some("budget"), why);
            }
        };
        let mut entry = match play::take_turn(self, id, entry, &job) {
            Ok(Some(entry)) => entry,
            Ok(None) => return None,
            Err(outcome) => return Some(outcome),
        };
        entry.last = Some(job.clone());
        if let Job::CacheRead { .. } | Job::Report(_) = job {
            entry.job = Some(self.gate.start_local(Some(id), job, &mut self.out));
            self.calls.insert(id, entry);
            return None;
        }
        let deadline = self.deadline(entry.started_at);
        let text = match self.gate.submit(self.now, id, job, deadline, &mut self.out) {
            Ok(job) => {
                entry.job = Some(job);
                self.calls.insert(id, entry);
                return None;
            }
            Err(Refused::Full) => "Too many calls in flight; try again shortly.".to_string(),
            Err(Refused::Open { until }) => {
                let text = self.paused(until);
                return self.fall_back(id, entry, Some("breaker_open"), text);
            }
            Err(Refused::TooLong {
                characters,
                per_minute,
            }) => format!(
                "The text is {characters} characters, more than `limits.characters_per_minute` ({per_minute}) ever lets through: shorten it or raise the limit. Nothing was sent."
            ),
        };
        // Recorded like any answer: its row settles a reservation it holds.
        let outcome = reply::attempts(Outcome::error(text), entry.attempt);
        ledger::finish(self, id, entry, outcome)
    }

    /// A call that cannot be answered by ElevenLabs (`why`): the offline fallback voice speaks
    /// instead when one is set up for this `case` and the call can use it; else the call fails.
    fn fall_back(
        &mut self,
        id: CallId,
        mut entry: Entry,
        case: Option<&str>,
        why: String,
    ) -> Option<Outcome> {
        let enabled = cfg!(feature = "fallback")
            && case.is_some_and(|c| {
                let s = &self.config.settings;
                !s.fallback_command.is_empty() && s.fallback_when.iter().any(|w| w == c)
            });
        let step = match &mut entry.work {
            Work::Call(call) if enabled => {
                let mut cx = Cx {
                    now: self.now,
                    wall_now: self.wall_now(),
                    config: &self.config,
                    memory: &mut self.memory,
                };
                call.fallback(&mut cx, &why)
            }
            _ => None,
        };
        match step {
            Some(Step::Job(job)) => {
                self.log(
                    Level::Warning,
                    format!("speaking with the fallback voice: {why}"),
                );
                self.issue(id, entry, job)
            }
            Some(Step::Done(outcome)) => ledger::finish(self, id, entry, outcome),
            Some(Step::Pending | Step::StopSpeaking) | None => {
                let outcome = reply::attempts(Outcome::error(why), entry.attempt);
                ledger::finish(self, id, entry, outcome)
            }
        }
    }

    /// When a call started at `started` must have its job running by.
    fn deadline(&self, started: Instant) -> Instant {
        started + Duration::from_millis(self.config.settings.limits.call_deadline_ms)
    }

    /// Ends the calls whose queued job will not run; and reports breaker transitions, to stderr
    /// and to every session at `warning`.
    fn settle_gate(&mut self) {
        while let Some((call, place)) = self.gate.moved() {
            if let Some(entry) = self.calls.get(&call) {
                let session = entry.session;
                self.events.push_back(Event {
                    session,
                    call,
                    kind: EventKind::Waiting(place),
                });
            }
        }
        while let Some((call, why)) = self.gate.expired() {
            let Some(entry) = self.calls.remove(&call) else {
                continue;
            };
            let paused = match why {
                Expiry::Breaker(until) => self.paused(until),
                _ => String::new(),
            };
            let deadline = self.config.settings.limits.call_deadline_ms;
            let text = reply::expired(why, deadline, paused, entry.attempt);
            let session = entry.session;
            let answer = match entry.work {
                // Recorded like any answer: its row settles its reservation.
                Work::Call(_) => match ledger::finish(self, call, entry, Outcome::error(text)) {
                    Some(outcome) => Answer::Tool(outcome),
                    None => continue,
                },
                Work::Record(_) => Answer::Tool(Outcome::error(text)),
                Work::ReadAudio => Answer::Refused(text),
            };
            self.answer(session, call, answer);
        }
        if let Some(text) = self.gate.lowered() {
            self.log(Level::Info, text);
        }
        self.report_transitions();
    }

    /// Why nothing is sent while the breaker is open.
    fn paused(&self, until: Option<Instant>) -> String {
        let last = self.gate.stats.last_error.as_deref();
        let left = until.map(|u| u.saturating_duration_since(self.now));
        reply::paused(&self.config.settings.limits, left, last)
    }

    /// Logs breaker transitions, to stderr and to every session at `warning`.
    fn report_transitions(&mut self) {
        let limits = self.config.settings.limits.clone();
        let cooldown = limits.breaker_cooldown_ms.div_ceil(1000);
        while let Some(t) = self.gate.transition() {
            let text = t.describe(
                limits.breaker_failures,
                limits.breaker_window_ms / 1000,
                cooldown,
            );
            self.log(Level::Warning, text.clone());
            self.notices.push_back((Level::Warning, text));
        }
    }

    fn describe(&self, failure: &Failure) -> String {
        let s = &self.config.settings;
        match failure {
            Failure::Transport(t) => {
                api::describe_transport(t, &s.base_url, s.limits.request_timeout_ms)
            }
            Failure::Api(e, _) => api::describe_error(e, self.memory.last_reset),
            Failure::Other(text) => text.clone(),
        }
    }

    fn answer(&mut self, session: SessionId, call: CallId, answer: Answer) {
        self.events.push_back(Event {
            session,
            call,
            kind: EventKind::Done(answer),
        });
        if !self.calls.contains_key(&call) {
            play::left(self, call);
        }
    }

    fn log(&mut self, level: Level, message: String) {
        self.out.push_back(Output::Log { level, message });
    }

    /// Wall-clock seconds now: the start time the shell gave plus the elapsed core time.
    fn wall_now(&self) -> u64 {
        self.config.start_unix + self.now.saturating_duration_since(self.started).as_secs()
    }
}
