//! The gate every job passes: the concurrency cap and its FIFO, the retry timers, and the
//! figures `health://status` reports about ElevenLabs. It knows jobs and the calls that own them,
//! never what a call does.
//!
//! The policies sit beside it, each a small pure type in its own file: the retry schedule
//! (`retry.rs`) and the circuit breaker (`breaker.rs`), which [`Gate::submit`] consults for every
//! request to ElevenLabs. The token bucket and the audio cache of the coming issues join them.

use super::super::elevenlabs::Transport;
use super::super::event::{Job, JobId, JobResult, Output, SpeechFailed};
use super::super::settings::Limits;
use super::CallId;
use super::breaker::{Admit, Breaker, Health, State, Transition};
use super::bucket::{Rates, Wait};
use super::interface::Waiting;
use super::retry::Retry;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// Upstream latencies kept for the percentiles of `health://status`.
const LATENCY_SAMPLES: usize = 100;

/// Why a job was not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The running jobs are at the cap and the FIFO behind them is full.
    Full,
    /// The breaker is open until then (`None`: its probe is out).
    Open { until: Option<Instant> },
    /// The request's text is more than `limits.characters_per_minute` ever lets through.
    TooLong { characters: u64, per_minute: u64 },
}

/// Why a queued job will not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The rate limits would hold it this long, past its call's deadline.
    Rate(Duration),
    /// Its call's deadline passed while it waited for a free slot.
    Deadline,
    /// The breaker opened while it waited (until then; `None`: a probe is out).
    Breaker(Option<Instant>),
}

/// A job waiting for a slot or for the rate limits.
#[derive(Debug)]
struct Queued {
    id: JobId,
    job: Job,
    /// Characters of text it sends (speech).
    characters: u64,
    /// It fails rather than start after this.
    deadline: Instant,
    /// Its place, as last reported to its call.
    reported: Option<Waiting>,
}

/// Jobs in flight and waiting, and the timers of calls that wait to retry.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Jobs running at once: `limits.max_concurrent`, lowered to what ElevenLabs allows.
    max_running: usize,
    /// `limits.max_concurrent`.
    configured: usize,
    /// Why the cap was last lowered, not yet reported.
    lowered: Option<String>,
    max_queued: usize,
    /// Running or queued jobs and the call each serves (`None` once the call is gone).
    owners: BTreeMap<JobId, Option<CallId>>,
    queued: VecDeque<Queued>,
    rates: Rates,
    /// When the job at the front of the queue has waited out the rate limits.
    rate_timer: Option<Instant>,
    /// Calls whose queued job will not run, and why.
    expired: VecDeque<(CallId, Expiry)>,
    /// Calls whose queued job moved in the queue, not yet reported.
    moved: VecDeque<(CallId, Waiting)>,
    /// When each running job started, whether it is a request to ElevenLabs, its slots.
    started: BTreeMap<JobId, (Instant, bool, usize)>,
    /// Running jobs that take no slot (the cache's).
    local: BTreeSet<JobId>,
    running: usize,
    next_job: u64,
    /// Calls waiting to retry, and when.
    timers: Vec<(Instant, CallId)>,
    /// Retries issued so far: the jitter's draw.
    retries_issued: u64,
    pub(crate) retry: Retry,
    pub(crate) breaker: Breaker,
    /// The job that is the breaker's probe.
    probe: Option<JobId>,
    /// Breaker transitions not yet reported.
    transitions: VecDeque<Transition>,
    pub(crate) stats: Stats,
}

/// What the server has seen of ElevenLabs, for `health://status`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) last_error: Option<String>,
    pub(crate) last_latency_ms: Option<u64>,
    pub(crate) last_first_byte_us: Option<u64>,
    /// The latest upstream latencies in milliseconds.
    latencies: VecDeque<u64>,
}

impl Gate {
    pub(crate) fn new(
        max_running: u64,
        max_queued: usize,
        retry: Retry,
        breaker: Breaker,
        rates: Rates,
    ) -> Self {
        let max_running = usize::try_from(max_running).unwrap_or(usize::MAX).max(1);
        Self {
            max_running,
            configured: max_running,
            lowered: None,
            max_queued,
            owners: BTreeMap::new(),
            queued: VecDeque::new(),
            rates,
            rate_timer: None,
            expired: VecDeque::new(),
            moved: VecDeque::new(),
            started: BTreeMap::new(),
            local: BTreeSet::new(),
            running: 0,
            next_job: 0,
            timers: Vec::new(),
            retries_issued: 0,
            retry,
            breaker,
            probe: None,
            transitions: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The gate of `limits`: its cap, retries (jitter from `seed`), breaker and rate limits.
    pub(crate) fn for_limits(limits: &Limits, max_queued: usize, seed: u64, now: Instant) -> Self {
        let breaker = Breaker::new(
            limits.breaker_failures,
            Duration::from_millis(limits.breaker_window_ms),
            Duration::from_millis(limits.breaker_cooldown_ms),
        );
        let rates = Rates::new(
            limits.requests_per_minute,
            limits.characters_per_minute,
            now,
        );
        let retry = Retry::new(limits.max_retries, seed);
        Self::new(limits.max_concurrent, max_queued, retry, breaker, rates)
    }

    /// Starts `job` for `call` at `now`, or queues it behind the cap and the rate limits (in
    /// order: first in, first out) until `deadline` at the latest; refused when the queue is full
    /// too, when the job is a request to ElevenLabs and the breaker is open, or when its text is
    /// more than the character rate ever lets through.
    pub(crate) fn submit(
        &mut self,
        now: Instant,
        call: CallId,
        job: Job,
        deadline: Instant,
        out: &mut VecDeque<Output>,
    ) -> Result<JobId, Refused> {
        let requests = job.requests();
        let upstream = requests > 0;
        let characters = characters(&job);
        self.rates.refill(now);
        let wait = self.rates.wait(requests, characters);
        if let (Wait::Never, Some(b)) = (wait, &self.rates.characters) {
            let per_minute = b.per_minute();
            return Err(Refused::TooLong {
                characters,
                per_minute,
            });
        }
        let now_ready = self.queued.is_empty()
            && self.running + job.slots().min(self.max_running) <= self.max_running
            && wait == Wait::For(Duration::ZERO);
        if !now_ready && self.queued.len() >= self.max_queued {
            return Err(Refused::Full);
        }
        // While the breaker is open nothing waits for it: the call fails at once. The breaker
        // admits (and picks its probe) when the job starts, so jobs queued before it opened
        // are held back too.
        if let (true, Some(until)) = (upstream, self.breaker.refuses(now)) {
            return Err(Refused::Open { until });
        }
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.owners.insert(id, Some(call));
        self.queued.push_back(Queued {
            id,
            job,
            characters,
            deadline,
            reported: None,
        });
        self.pump(now, out);
        Ok(id)
    }

    /// Starts a job that takes no slot and waits for nothing: the cache's reads and upkeep,
    /// local and quick, which answer before the cap, the rate limits and the breaker. `call` is
    /// `None` for the service's own.
    pub(crate) fn start_local(
        &mut self,
        call: Option<CallId>,
        job: Job,
        out: &mut VecDeque<Output>,
    ) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.owners.insert(id, call);
        self.local.insert(id);
        out.push_back(Output::Start { id, job });
        id
    }

    /// Starts queued jobs, first in first out, while a slot is free, the rate limits let the
    /// first one through and the breaker admits it. A first job that the breaker refuses, or that
    /// would wait past its deadline, fails instead (see [`Gate::expired`]).
    pub(crate) fn pump(&mut self, now: Instant, out: &mut VecDeque<Output>) {
        self.rates.refill(now);
        self.rate_timer = None;
        // Jobs whose deadline passed while they waited for a slot.
        let mut i = 0;
        while i < self.queued.len() {
            if self.queued[i].deadline <= now {
                let q = self.queued.remove(i).map(|q| q.id);
                self.expire(q, Expiry::Deadline);
            } else {
                i += 1;
            }
        }
        while let Some(front) = self.queued.front() {
            // A job of more slots than the cap takes them all.
            let slots = front.job.slots().min(self.max_running);
            if self.running + slots > self.max_running {
                break;
            }
            let requests = front.job.requests();
            let upstream = requests > 0;
            let wait = match self.rates.wait(requests, front.characters) {
                Wait::For(d) => d,
                Wait::Never => Duration::MAX,
            };
            if !wait.is_zero() {
                if now.checked_add(wait).is_none_or(|at| at > front.deadline) {
                    let q = self.queued.pop_front().map(|q| q.id);
                    self.expire(q, Expiry::Rate(wait));
                    continue;
                }
                self.rate_timer = Some(now + wait);
                break;
            }
            let Some(Queued {
                id,
                mut job,
                characters,
                ..
            }) = self.queued.pop_front()
            else {
                break;
            };
            if upstream {
                let (admit, transition) = self.breaker.admit(now);
                self.transitions.extend(transition);
                match admit {
                    Admit::Yes => {}
                    Admit::Probe => self.probe = Some(id),
                    Admit::No { until } => {
                        self.expire(Some(id), Expiry::Breaker(until));
                        continue;
                    }
                }
            }
            self.rates.take(requests, characters);
            self.running += slots;
            self.started.insert(id, (now, upstream, slots));
            if let Job::Speech { more: Some(m), .. } = &mut job {
                m.parallel = slots;
                m.retry_ms = self.retry.piece_waits(self.next_job);
            }
            out.push_back(Output::Start { id, job });
        }
        self.note_places(now);
    }

    /// Notes, for the calls of queued jobs whose place changed, how far they are from starting.
    fn note_places(&mut self, now: Instant) {
        let rate_s = self.rate_timer.map_or(0, |at| {
            let ms = at.saturating_duration_since(now).as_millis();
            u64::try_from(ms.div_ceil(1000)).unwrap_or(u64::MAX)
        });
        for (ahead, q) in self.queued.iter_mut().enumerate() {
            let place = Waiting {
                ahead,
                rate_wait_s: if ahead == 0 { rate_s } else { 0 },
            };
            if q.reported != Some(place) {
                q.reported = Some(place);
                if let Some(Some(call)) = self.owners.get(&q.id) {
                    self.moved.push_back((*call, place));
                }
            }
        }
    }

    /// The next call whose queued job moved, and where it is now.
    pub(crate) fn moved(&mut self) -> Option<(CallId, Waiting)> {
        self.moved.pop_front()
    }

    /// A queued job that will not run: its call is told why.
    fn expire(&mut self, id: Option<JobId>, why: Expiry) {
        let Some(id) = id else { return };
        if let Some(Some(call)) = self.owners.remove(&id) {
            self.expired.push_back((call, why));
        }
    }

    /// The next call whose job will not run, and why.
    pub(crate) fn expired(&mut self) -> Option<(CallId, Expiry)> {
        self.expired.pop_front()
    }

    /// A job ended at `now` with `result`: the breaker learns from it, and its slot goes to the
    /// next queued job. Returns the call it served, if it is still there; `None` for a job the
    /// gate does not know.
    pub(crate) fn finished(
        &mut self,
        now: Instant,
        id: JobId,
        result: &JobResult,
        out: &mut VecDeque<Output>,
    ) -> Option<Option<CallId>> {
        let owner = self.owners.remove(&id)?;
        if self.local.remove(&id) {
            return Some(owner);
        }
        let started = self.started.remove(&id);
        let upstream = started.is_some_and(|(_, upstream, _)| upstream);
        if upstream {
            self.record_reply(started.map(|(at, _, _)| now.saturating_duration_since(at)));
            self.learn_cap(result);
        }
        if let Some(health) = health_of(result).filter(|_| upstream) {
            let probe = self.probe == Some(id);
            if probe {
                self.probe = None;
            }
            let transition = self.breaker.record(now, health, probe);
            self.transitions.extend(transition);
        }
        let slots = started.map_or(1, |(_, _, slots)| slots);
        self.running = self.running.saturating_sub(slots);
        self.pump(now, out);
        Some(owner)
    }

    /// Follows the concurrency ElevenLabs allows: its `maximum-concurrent-requests` header sets
    /// the cap (never above `limits.max_concurrent`), and a 429 `concurrent_limit_exceeded` (or
    /// `too_many_concurrent_requests`) lowers it below the jobs that were running.
    fn learn_cap(&mut self, result: &JobResult) {
        let resp = match result {
            JobResult::Http(Ok(resp)) | JobResult::Speech(Err(SpeechFailed::Status(resp))) => resp,
            JobResult::Speech(Ok(done)) => &done.head,
            _ => return,
        };
        let allowed = resp
            .header("maximum-concurrent-requests")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0);
        let cap = if let Some(n) = allowed {
            n.min(self.configured)
        } else if (200..300).contains(&resp.status) {
            // Without the header, a success gives back one slot a 429 took.
            (self.max_running + 1).min(self.configured)
        } else if resp.status == 429 {
            let e = super::super::elevenlabs::parse_error(resp.status, &resp.body);
            let code = e.code.as_deref().unwrap_or_default();
            if !matches!(
                code,
                "concurrent_limit_exceeded" | "too_many_concurrent_requests"
            ) {
                return;
            }
            self.running.saturating_sub(1).clamp(1, self.max_running)
        } else {
            return;
        };
        if cap < self.max_running {
            let why = if allowed.is_some() {
                "ElevenLabs allows"
            } else {
                "ElevenLabs refused a request for concurrency: trying"
            };
            self.lowered = Some(format!(
                "{why} {cap} concurrent request(s): at most {cap} run at once (limits.max_concurrent is {})",
                self.configured
            ));
        }
        self.max_running = cap;
    }

    /// Why the concurrency cap was lowered, once.
    pub(crate) fn lowered(&mut self) -> Option<String> {
        self.lowered.take()
    }

    /// The call a running job serves.
    pub(crate) fn owner(&self, id: JobId) -> Option<CallId> {
        self.owners.get(&id).copied().flatten()
    }

    /// Its call is gone: a queued job is dropped, a running one cancelled (its result, which
    /// still comes, frees the slot). Returns whether it had started (a request may have been
    /// sent).
    pub(crate) fn withdraw(&mut self, now: Instant, id: JobId, out: &mut VecDeque<Output>) -> bool {
        if let Some(pos) = self.queued.iter().position(|q| q.id == id) {
            self.queued.remove(pos);
            self.owners.remove(&id);
            if self.probe == Some(id) {
                // A queued probe never runs: the next request probes instead.
                self.probe = None;
                self.breaker.abandon_probe(now);
            }
            false
        } else if let Some(owner) = self.owners.get_mut(&id) {
            // A running job: its result still comes, for the slot and for the cache's index.
            *owner = None;
            out.push_back(Output::Cancel(id));
            true
        } else {
            false
        }
    }

    /// Wakes `call` at `at` to retry.
    pub(crate) fn schedule(&mut self, at: Instant, call: CallId) {
        self.timers.push((at, call));
    }

    /// Forgets the timer of `call`.
    pub(crate) fn unschedule(&mut self, call: CallId) {
        self.timers.retain(|(_, c)| *c != call);
    }

    /// The next call whose retry is due at `now`.
    pub(crate) fn due(&mut self, now: Instant) -> Option<CallId> {
        let pos = self.timers.iter().position(|(at, _)| *at <= now)?;
        self.retries_issued += 1;
        Some(self.timers.remove(pos).1)
    }

    /// The jitter's draw for the next retry.
    pub(crate) fn draw(&self) -> u64 {
        self.retries_issued
    }

    /// When the next retry is due.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let deadline = self.queued.iter().map(|q| q.deadline).min();
        [
            self.timers.iter().map(|(at, _)| *at).min(),
            self.rate_timer,
            deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next breaker transition to report.
    pub(crate) fn transition(&mut self) -> Option<Transition> {
        self.transitions.pop_front()
    }

    /// An upstream job's reply arrived `latency` after it started.
    fn record_reply(&mut self, latency: Option<Duration>) {
        self.stats.calls += 1;
        if let Some(l) = latency {
            let ms = u64::try_from(l.as_millis()).unwrap_or(u64::MAX);
            self.stats.last_latency_ms = Some(ms);
            if self.stats.latencies.len() == LATENCY_SAMPLES {
                self.stats.latencies.pop_front();
            }
            self.stats.latencies.push_back(ms);
        }
    }

    /// The `upstream` object of `health://status` at `now`.
    pub(crate) fn to_json(&self, now: Instant, base_url: &str) -> Value {
        let s = &self.stats;
        let mut sorted: Vec<u64> = s.latencies.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: usize| (!sorted.is_empty()).then(|| sorted[(sorted.len() - 1) * p / 100]);
        let (state, next_probe_ms) = match self.breaker.state() {
            State::Closed => ("closed", None),
            State::Open { until } => {
                let left = until.saturating_duration_since(now).as_millis();
                ("open", Some(u64::try_from(left).unwrap_or(u64::MAX)))
            }
            State::HalfOpen => ("half_open", None),
        };
        json!({
            "base_url": base_url,
            "calls": s.calls,
            "failures": s.failures,
            "last_error": s.last_error,
            "last_latency_ms": s.last_latency_ms,
            "latency_ms": {"p50": pct(50), "p95": pct(95), "samples": sorted.len()},
            "last_first_audio_byte_added_us": s.last_first_byte_us,
            "retries_waiting": self.timers.len(),
            "queued": self.queued.len(),
            "max_concurrent": {"configured": self.configured, "effective": self.max_running},
            "rate_limits": self.rates.to_json(),
            "breaker": {
                "state": state,
                "failures_in_window": self.breaker.failures_in_window(now),
                "next_probe_in_ms": next_probe_ms,
            },
        })
    }
}

/// The characters of text a job sends to be spoken (what `limits.characters_per_minute` counts).
pub(super) fn characters(job: &Job) -> u64 {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        text: std::borrow::Cow<'a, str>,
    }
    let Job::Speech { request, more, .. } = job else {
        return 0;
    };
    std::iter::once(request)
        .chain(more.iter().flat_map(|m| &m.requests))
        .filter_map(|r| r.body.as_deref())
        .filter_map(|b| serde_json::from_slice::<Body<'_>>(b).ok())
        .map(|b| b.text.chars().count() as u64)
        .sum()
}

/// What a job's result says about ElevenLabs; `None` for jobs that are not requests to it.
fn health_of(result: &JobResult) -> Option<Health> {
    let transport = |t: &Transport| match t {
        Transport::Dns
        | Transport::ConnectionRefused
        | Transport::Tls(_)
        | Transport::Timeout
        | Transport::Io(_) => Health::Failing,
        Transport::TooLarge | Transport::Cancelled | Transport::Setup(_) => Health::Unknown,
    };
    let status = |status: u16, body: &[u8]| {
        if (200..300).contains(&status) {
            return Health::Up;
        }
        let e = super::super::elevenlabs::parse_error(status, body);
        if e.is_service_failure() {
            Health::Failing
        } else {
            Health::Up
        }
    };
    Some(match result {
        JobResult::Http(Ok(resp)) => status(resp.status, &resp.body),
        JobResult::Http(Err(t)) => transport(t),
        JobResult::Speech(Ok(_)) => Health::Up,
        JobResult::Speech(Err(SpeechFailed::Status(resp))) => status(resp.status, &resp.body),
        JobResult::Speech(Err(SpeechFailed::Transport { error, .. })) => transport(error),
        JobResult::Speech(Err(
            SpeechFailed::Sink(_)
            | SpeechFailed::InlineTooLarge { .. }
            | SpeechFailed::Command(_)
            | SpeechFailed::Player(_),
        )) => Health::Unknown,
        JobResult::Audio(_)
        | JobResult::Written(_)
        | JobResult::Cached(_)
        | JobResult::CacheScanned(_)
        | JobResult::Reserved(_)
        | JobResult::Report(_) => return None,
    })
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod tests {
    use super::super::super::elevenlabs::models;
    use super::*;
    use proptest::prelude::*;

    /// A request, or the speech of a text in `pieces` pieces, two at a time.
    fn job(pieces: usize) -> Job {
        if pieces < 2 {
            return Job::Http {
                request: models(),
                max_body: 1,
            };
        }
        Job::Speech {
            request: models(),
            more: Some(Box::new(crate::core::More {
                requests: vec![models(); pieces - 1],
                parallel: 2,
                retry_ms: Vec::new(),
            })),
            websocket: None,
            sink: crate::core::Sink::Memory { max_bytes: 1 },
            max_bytes: 1,
            cache: None,
            timestamps: false,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Submit(usize),
        Finish(usize),
        Withdraw(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..4).prop_map(Op::Submit),
            (0usize..16).prop_map(Op::Finish),
            (0usize..16).prop_map(Op::Withdraw),
        ]
    }

    proptest! {
        /// Never more requests in flight than the cap (a long text's job counts its pieces in
        /// flight at once); every submitted job starts once at most; the queue stays bounded; a
        /// withdrawn queued job never starts.
        #[test]
        fn the_cap_holds_and_every_job_starts_at_most_once(
            cap in 1u64..4, max_queued in 0usize..4, ops in proptest::collection::vec(op(), 0..60),
        ) {
            let breaker = Breaker::new(5, Duration::from_secs(60), Duration::from_secs(30));
            let now = Instant::now();
            let mut gate = Gate::new(cap, max_queued, Retry::new(0, 0), breaker, Rates::new(0, 0, now));
            let deadline = now + Duration::from_secs(60);
            let done = JobResult::Written(Ok(()));
            let mut out = VecDeque::new();
            let mut started: Vec<JobId> = Vec::new();
            let mut running: Vec<(JobId, usize)> = Vec::new();
            let mut submitted: Vec<JobId> = Vec::new();
            let mut withdrawn_queued: Vec<JobId> = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Submit(pieces) => {
                        if let Ok(id) = gate.submit(now, CallId(n as u64), job(pieces), deadline, &mut out) {
                            submitted.push(id);
                        }
                    }
                    Op::Finish(k) if !running.is_empty() => {
                        let (id, _) = running.remove(k % running.len());
                        prop_assert!(gate.finished(now, id, &done, &mut out).is_some());
                    }
                    Op::Withdraw(k) if !submitted.is_empty() => {
                        let id = submitted[k % submitted.len()];
                        if !started.contains(&id) && gate.owners.contains_key(&id) {
                            withdrawn_queued.push(id);
                        }
                        gate.withdraw(now, id, &mut out);
                    }
                    _ => {}
                }
                while let Some(o) = out.pop_front() {
                    if let Output::Start { id, job } = o {
                        prop_assert!(!started.contains(&id), "started twice");
                        started.push(id);
                        running.push((id, job.slots()));
                    }
                }
                prop_assert!(running.iter().map(|(_, slots)| *slots as u64).sum::<u64>() <= cap);
                prop_assert!(gate.queued.len() <= max_queued);
            }
            for id in withdrawn_queued {
                prop_assert!(!started.contains(&id), "a withdrawn queued job started");
            }
        }
    }
}
