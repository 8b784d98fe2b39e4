//! The circuit breaker: when ElevenLabs keeps failing, stop sending it requests for a while, then
//! let one probe through to see whether it has recovered.
//!
//! Closed: requests go; `limits.breaker_failures` service failures (5xx, 429 `system_busy`,
//! timeouts, connection, DNS and TLS failures) within `limits.breaker_window_ms` open it. Open:
//! requests fail at once, without the network, until `limits.breaker_cooldown_ms` has passed.
//! Then the next request is the probe (half-open) and every other one still fails fast; the
//! probe's success closes the breaker, its failure opens it again for another cool-down. A reply
//! that is the caller's or the account's problem (4xx) proves the service is up: it counts as a
//! success. Pure: the gate tells it the time and what happened.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the breaker says about a request about to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Send it.
    Yes,
    /// Send it as the probe: its outcome closes or reopens the breaker.
    Probe,
    /// Do not send it: the breaker is open until `until` (`None`: a probe is out).
    No { until: Option<Instant> },
}

/// What a finished request tells the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// ElevenLabs answered (2xx, or a 4xx that is the caller's or the account's problem).
    Up,
    /// ElevenLabs is failing: 5xx, 429 `system_busy`, a timeout, a connection failure.
    Failing,
    /// Nothing learned (cancelled, a local problem).
    Unknown,
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Closed,
    /// Requests fail fast until then.
    Open {
        until: Instant,
    },
    /// The probe is out.
    HalfOpen,
}

/// A change of state worth telling the operator about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Failures piled up: open until then.
    Opened { until: Instant },
    /// The cool-down ended: a probe goes.
    Probing,
    /// The probe succeeded.
    Closed,
    /// The probe failed: open again until then.
    Reopened { until: Instant },
}

impl Transition {
    /// The log line of this transition, for stderr and `notifications/message`.
    pub(crate) fn describe(self, failures: u64, window_s: u64, cooldown_s: u64) -> String {
        match self {
            Self::Opened { .. } => format!(
                "circuit breaker open: ElevenLabs failed {failures} times within {window_s} s; requests fail fast for {cooldown_s} s, then one test request goes"
            ),
            Self::Probing => {
                "circuit breaker half-open: one test request goes to ElevenLabs".to_string()
            }
            Self::Closed => {
                "circuit breaker closed: ElevenLabs answered the test request; requests flow again"
                    .to_string()
            }
            Self::Reopened { .. } => format!(
                "circuit breaker open again: the test request failed; the next one goes in {cooldown_s} s"
            ),
        }
    }
}

/// The circuit breaker of one service.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: usize,
    window: Duration,
    cooldown: Duration,
    /// When the recent service failures happened (at most `threshold`, all within `window`).
    failures: VecDeque<Instant>,
    state: State,
}

impl Breaker {
    pub(crate) fn new(threshold: u64, window: Duration, cooldown: Duration) -> Self {
        Self {
            threshold: usize::try_from(threshold).unwrap_or(usize::MAX).max(1),
            window,
            cooldown,
            failures: VecDeque::new(),
            state: State::Closed,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Service failures within the window before `now`.
    pub(crate) fn failures_in_window(&self, now: Instant) -> usize {
        self.failures
            .iter()
            .filter(|at| now.saturating_duration_since(**at) < self.window)
            .count()
    }

    /// Whether a request would be refused at `now` (and until when; `None`: a probe is out),
    /// without changing anything: a request that may become the probe is not refused.
    pub(crate) fn refuses(&self, now: Instant) -> Option<Option<Instant>> {
        match self.state {
            State::Open { until } if now < until => Some(Some(until)),
            State::HalfOpen => Some(None),
            _ => None,
        }
    }

    /// Whether a request may be sent at `now`; the transition to half-open, if this is it.
    pub(crate) fn admit(&mut self, now: Instant) -> (Admit, Option<Transition>) {
        match self.state {
            State::Closed => (Admit::Yes, None),
            State::Open { until } if now < until => (Admit::No { until: Some(until) }, None),
            State::Open { .. } => {
                self.state = State::HalfOpen;
                (Admit::Probe, Some(Transition::Probing))
            }
            State::HalfOpen => (Admit::No { until: None }, None),
        }
    }

    /// A request sent at some point finished at `now`; `probe` says it was the probe.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        health: Health,
        probe: bool,
    ) -> Option<Transition> {
        if probe && self.state == State::HalfOpen {
            return match health {
                Health::Up => {
                    self.state = State::Closed;
                    self.failures.clear();
                    Some(Transition::Closed)
                }
                Health::Failing => {
                    let until = now + self.cooldown;
                    self.state = State::Open { until };
                    Some(Transition::Reopened { until })
                }
                Health::Unknown => {
                    self.abandon_probe(now);
                    None
                }
            };
        }
        if health != Health::Failing || self.state != State::Closed {
            return None; // late replies of requests sent before the breaker opened
        }
        while self
            .failures
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= self.window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() < self.threshold {
            return None;
        }
        self.failures.clear();
        let until = now + self.cooldown;
        self.state = State::Open { until };
        Some(Transition::Opened { until })
    }

    /// The probe will never report (it was cancelled): the next request probes instead.
    pub(crate) fn abandon_probe(&mut self, now: Instant) {
        if self.state == State::HalfOpen {
            self.state = State::Open { until: now };
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Wait(u64),
        Send,
        Finish(usize, Health),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..40_000).prop_map(Op::Wait),
            Just(Op::Send),
            (
                0usize..8,
                prop_oneof![
                    Just(Health::Up),
                    Just(Health::Failing),
                    Just(Health::Unknown)
                ]
            )
                .prop_map(|(k, h)| Op::Finish(k, h)),
        ]
    }

    proptest! {
        /// Never a request while open; exactly one probe at a time when half-open; the breaker
        /// opens only after `threshold` failures within the window, and only closes on a probe's
        /// success.
        #[test]
        fn admits_nothing_while_open_and_one_probe_at_a_time(
            threshold in 1u64..6, ops in proptest::collection::vec(op(), 0..200),
        ) {
            let window = Duration::from_secs(60);
            let cooldown = Duration::from_secs(30);
            let mut b = Breaker::new(threshold, window, cooldown);
            let base = Instant::now();
            let mut now = base;
            // Requests in flight: whether each is the probe.
            let mut out: Vec<bool> = Vec::new();
            // Failures of non-probe requests while closed, with their times (the model).
            let mut recent: Vec<Instant> = Vec::new();
            for op in ops {
                let before = b.state();
                match op {
                    Op::Wait(ms) => now += Duration::from_millis(ms),
                    Op::Send => {
                        let (admit, _) = b.admit(now);
                        match (before, admit) {
                            (State::Closed, Admit::Yes) => out.push(false),
                            (State::Open { until }, Admit::No { until: Some(u) }) => {
                                prop_assert!(now < until && u == until);
                            }
                            (State::Open { until }, Admit::Probe) => {
                                prop_assert!(now >= until);
                                prop_assert!(!out.iter().any(|p| *p), "a second probe");
                                out.push(true);
                            }
                            (State::HalfOpen, Admit::No { until: None }) => {}
                            other => prop_assert!(false, "unexpected {other:?}"),
                        }
                    }
                    Op::Finish(k, health) if !out.is_empty() => {
                        let probe = out.remove(k % out.len());
                        let t = b.record(now, health, probe);
                        if !probe && before == State::Closed && health == Health::Failing {
                            recent.retain(|at| now.saturating_duration_since(*at) < window);
                            recent.push(now);
                            let opens = recent.len() as u64 >= threshold;
                            prop_assert_eq!(t.is_some(), opens);
                            if opens {
                                recent.clear();
                            }
                        }
                        if let Some(Transition::Closed) = t {
                            prop_assert!(probe && health == Health::Up);
                            recent.clear();
                        }
                        if matches!(b.state(), State::Closed) && before != State::Closed {
                            prop_assert!(probe && health == Health::Up);
                        }
                    }
                    Op::Finish(..) => {}
                }
                if matches!(b.state(), State::HalfOpen) {
                    prop_assert_eq!(out.iter().filter(|p| **p).count(), 1, "half-open has its probe out");
                }
            }
        }
    }

    #[test]
    fn opens_probes_and_closes() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = Breaker::new(3, s(60), s(30));
        assert_eq!(b.record(t0, Health::Failing, false), None);
        assert_eq!(
            b.record(t0 + s(61), Health::Failing, false),
            None,
            "the first fell out of the window"
        );
        assert_eq!(b.record(t0 + s(62), Health::Failing, false), None);
        let opened = b.record(t0 + s(63), Health::Failing, false);
        assert_eq!(opened, Some(Transition::Opened { until: t0 + s(93) }));
        assert_eq!(
            b.admit(t0 + s(70)).0,
            Admit::No {
                until: Some(t0 + s(93))
            }
        );
        assert_eq!(
            b.admit(t0 + s(93)),
            (Admit::Probe, Some(Transition::Probing))
        );
        assert_eq!(b.admit(t0 + s(93)).0, Admit::No { until: None });
        // A cancelled probe hands the next request the probe.
        b.abandon_probe(t0 + s(94));
        assert_eq!(b.admit(t0 + s(94)).0, Admit::Probe);
        assert_eq!(
            b.record(t0 + s(95), Health::Failing, true),
            Some(Transition::Reopened { until: t0 + s(125) })
        );
        assert_eq!(b.admit(t0 + s(125)).0, Admit::Probe);
        assert_eq!(
            b.record(t0 + s(126), Health::Up, true),
            Some(Transition::Closed)
        );
        assert_eq!(b.admit(t0 + s(126)).0, Admit::Yes);
        assert_eq!(b.failures_in_window(t0 + s(126)), 0);
    }
}
