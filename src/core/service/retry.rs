//! The retry schedule: which failures are tried again, and after how long. A pure policy: the
//! gate asks it with the attempt number and a random draw, and schedules the answer on the
//! core's clock.
//!
//! Transient failures (connection errors, 408/429/5xx) are retried up to `limits.max_retries`
//! times, after ElevenLabs' `Retry-After` when it sends one, else after an exponential backoff
//! from 500 ms with ±20% jitter; never longer than a minute. Speech is retried only when the
//! request cannot have reached ElevenLabs, because a retry after a timeout could bill the text
//! twice; a long text's pieces are never retried whole (the pieces that went well were billed).

use super::super::elevenlabs::{HttpResponse, Transport, parse_error};
use super::super::event::{Job, SpeechFailed};
use super::super::tools::Failure;
use std::time::Duration;

/// Longest pause before a retry, whatever `Retry-After` says.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);
/// The first backoff.
const BASE: Duration = Duration::from_millis(500);

/// What a failed job was, for whether it may be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Not a synthesis.
    Other,
    /// The synthesis of a text in one request.
    Speech,
    /// The synthesis of a long text in pieces.
    Pieces,
}

impl Sent {
    /// What `job` sends.
    pub(crate) fn of(job: Option<&Job>) -> Self {
        match job {
            Some(Job::Speech { more: Some(_), .. }) => Self::Pieces,
            Some(Job::Speech { .. }) => Self::Speech,
            _ => Self::Other,
        }
    }
}

/// The longest a long text's piece waits to be asked for again (the pieces after it wait too,
/// and a player may be starved meanwhile).
pub(crate) const PIECE_WAIT_MAX_MS: u64 = 10_000;

/// How long to wait before asking again for a long text's piece that failed this way before
/// any of its audio arrived, `scheduled_ms` being the gate's wait for this retry: ElevenLabs'
/// `Retry-After` when it sends one, else `scheduled_ms`. `None` when it must not be asked again:
/// a failure a one-request synthesis is not retried for (only a 429 or 5xx, or a connection that
/// cannot have reached ElevenLabs, are), or a wait over [`PIECE_WAIT_MAX_MS`].
#[cfg_attr(not(feature = "long-text"), allow(dead_code))] // used by shell/pieces.rs
pub(crate) fn piece_wait(failed: &SpeechFailed, scheduled_ms: u64, now_unix: u64) -> Option<u64> {
    let (failure, hint) = match failed {
        SpeechFailed::Status(resp) => (
            Failure::Api(parse_error(resp.status, &resp.body), None),
            retry_after_ms(resp, now_unix),
        ),
        SpeechFailed::Transport { error, bytes: 0 } => (Failure::Transport(error.clone()), None),
        _ => return None,
    };
    Retry::new(1, 0).delay(&failure, Sent::Speech, 0, 0)?;
    let wait = hint.unwrap_or(scheduled_ms);
    (wait <= PIECE_WAIT_MAX_MS).then_some(wait)
}

/// The retry schedule of one service.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retry {
    /// Retries allowed after the first attempt.
    max_retries: u64,
    /// Seed of the jitter (from the shell; pinned in tests).
    seed: u64,
}

impl Retry {
    pub(crate) fn new(max_retries: u64, seed: u64) -> Self {
        Self { max_retries, seed }
    }

    /// How long to wait before trying again after `failure`, the `attempt`-th retry so far
    /// (0 for the first failure); `None` when it must not be retried. `sent` says what the
    /// failed job was; `draw` varies the jitter (the number of retries issued so far).
    pub(crate) fn delay(
        &self,
        failure: &Failure,
        sent: Sent,
        attempt: u32,
        draw: u64,
    ) -> Option<Duration> {
        if u64::from(attempt) >= self.max_retries || sent == Sent::Pieces {
            return None;
        }
        let speech = sent == Sent::Speech;
        let hint = match failure {
            Failure::Transport(
                Transport::Cancelled
                | Transport::TooLarge
                | Transport::Setup(_)
                | Transport::Tls(_),
            )
            | Failure::Other(_) => return None,
            // A timeout or broken connection may come after ElevenLabs accepted (and billed) the
            // text: speech is retried only when the request cannot have arrived.
            Failure::Transport(Transport::Timeout | Transport::Io(_)) if speech => return None,
            Failure::Transport(_) => None,
            Failure::Api(e, _) if !e.is_retryable() => return None,
            Failure::Api(_, hint) => hint.map(Duration::from_millis),
        };
        Some(
            hint.unwrap_or_else(|| self.backoff(attempt, draw))
                .min(MAX_WAIT),
        )
    }

    /// The waits before the retries of one piece of a long text (see [`piece_wait`]).
    pub(crate) fn piece_waits(&self, draw: u64) -> Vec<u64> {
        (0..self.max_retries.min(8))
            .map(|a| {
                let wait = self.backoff(a as u32, draw.wrapping_add(a));
                u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
            })
            .collect()
    }

    /// The backoff before retry `attempt + 1`: 500 ms doubling (up to 32 s), ±20%.
    pub(crate) fn backoff(&self, attempt: u32, draw: u64) -> Duration {
        let base = BASE * (1u32 << attempt.min(6));
        jitter(base, self.seed, draw)
    }
}

/// `base` ±20%, from splitmix64 over the seed and the draw: deterministic for a seed.
fn jitter(base: Duration, seed: u64, draw: u64) -> Duration {
    let mut z = seed ^ draw.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let base_ms = base.as_millis() as u64;
    let spread = base_ms / 5;
    let offset = if spread == 0 { 0 } else { z % (2 * spread + 1) };
    Duration::from_millis(base_ms - spread + offset)
}

/// Seconds or milliseconds to wait before a retry, from `retry-after-ms` / `retry-after`.
pub(crate) fn retry_after_ms(resp: &HttpResponse, now_unix: u64) -> Option<u64> {
    if let Some(ms) = resp
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(ms.max(0.0) as u64);
    }
    let value = resp.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Some((seconds.max(0.0) * 1000.0) as u64);
    }
    let at = super::super::httpdate::parse(value)?;
    Some(at.saturating_sub(now_unix).saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::super::super::elevenlabs::{ApiError, ErrorKind};
    use super::*;
    use proptest::prelude::*;

    fn transient() -> Failure {
        Failure::Transport(Transport::ConnectionRefused)
    }

    fn api(status: u16, retry_after_ms: Option<u64>) -> Failure {
        let body = format!(r#"{{"detail":{{"status":"x","message":"m{status}"}}}}"#);
        let e = parse_error(status, body.as_bytes());
        Failure::Api(e, retry_after_ms)
    }

    proptest! {
        #[test]
        fn never_longer_than_a_minute_and_bounded_in_attempts(
            max in 0u64..10, attempt in 0u32..40, draw: u64, seed: u64,
            hint in proptest::option::of(0u64..10_000_000),
        ) {
            let r = Retry::new(max, seed);
            for failure in [transient(), api(503, hint), api(429, hint)] {
                let d = r.delay(&failure, Sent::Other, attempt, draw);
                prop_assert_eq!(d.is_some(), u64::from(attempt) < max);
                if let Some(d) = d {
                    prop_assert!(d <= MAX_WAIT);
                }
            }
        }

        #[test]
        fn backoff_is_the_doubling_base_within_twenty_percent(attempt in 0u32..40, draw: u64, seed: u64) {
            let r = Retry::new(u64::MAX, seed);
            let base = BASE.as_millis() as u64 * (1 << attempt.min(6));
            let got = r.delay(&transient(), Sent::Other, attempt, draw).unwrap().as_millis() as u64;
            prop_assert!(got >= base - base / 5 && got <= base + base / 5, "{got} vs {base}");
            prop_assert_eq!(r.delay(&transient(), Sent::Other, attempt, draw), Some(Duration::from_millis(got)));
        }

        #[test]
        fn retry_after_wins_but_is_capped(hint in 0u64..200_000, attempt in 0u32..5, draw: u64) {
            let r = Retry::new(5, 7);
            let d = r.delay(&api(429, Some(hint)), Sent::Other, attempt, draw).unwrap();
            prop_assert_eq!(d, Duration::from_millis(hint).min(MAX_WAIT));
        }
    }

    #[test]
    fn jitter_spreads_over_draws() {
        let r = Retry::new(3, 42);
        let mut seen: Vec<Duration> = (0..200).map(|d| r.backoff(0, d)).collect();
        seen.sort();
        seen.dedup();
        assert!(seen.len() > 50, "only {} distinct waits", seen.len());
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let r = Retry::new(3, 0);
        let never = [
            Failure::Other("bad voice".into()),
            Failure::Transport(Transport::Cancelled),
            Failure::Transport(Transport::TooLarge),
            Failure::Transport(Transport::Tls("bad cert".into())),
            Failure::Transport(Transport::Setup("bad CA file".into())),
            api(400, None),
            api(401, None),
            api(422, None),
        ];
        for f in &never {
            assert_eq!(r.delay(f, Sent::Other, 0, 0), None, "{f:?}");
        }
        for f in [transient(), api(500, None), api(503, None), api(429, None)] {
            assert!(r.delay(&f, Sent::Other, 0, 0).is_some(), "{f:?}");
        }
        // Speech after a timeout may have been billed: not retried; a refused connection is.
        let timeout = Failure::Transport(Transport::Timeout);
        assert!(r.delay(&timeout, Sent::Other, 0, 0).is_some());
        assert_eq!(r.delay(&timeout, Sent::Speech, 0, 0), None);
        assert!(r.delay(&transient(), Sent::Speech, 0, 0).is_some());
        assert_eq!(
            r.delay(&transient(), Sent::Pieces, 0, 0),
            None,
            "pieces went well"
        );
        let status = |code: u16| {
            SpeechFailed::Status(HttpResponse {
                status: code,
                ..HttpResponse::default()
            })
        };
        assert_eq!(piece_wait(&status(503), 700, 0), Some(700));
        assert_eq!(piece_wait(&status(429), 700, 0), Some(700));
        assert_eq!(piece_wait(&status(400), 700, 0), None);
        assert_eq!(piece_wait(&status(401), 700, 0), None);
        let told = |after: &str| {
            SpeechFailed::Status(HttpResponse {
                status: 429,
                headers: vec![("retry-after".into(), after.into())],
                body: Vec::new(),
            })
        };
        assert_eq!(
            piece_wait(&told("2"), 700, 0),
            Some(2000),
            "as ElevenLabs says"
        );
        assert_eq!(
            piece_wait(&told("30"), 700, 0),
            None,
            "too long for a piece"
        );
        let cut = |bytes| SpeechFailed::Transport {
            error: Transport::ConnectionRefused,
            bytes,
        };
        assert_eq!(piece_wait(&cut(0), 700, 0), Some(700));
        assert_eq!(piece_wait(&cut(10), 700, 0), None);
        let timeout = SpeechFailed::Transport {
            error: Transport::Timeout,
            bytes: 0,
        };
        assert_eq!(piece_wait(&timeout, 700, 0), None, "may have been billed");
        let quota = Failure::Api(
            ApiError {
                status: 401,
                kind: ErrorKind::Quota,
                code: Some("quota_exceeded".into()),
                message: None,
            },
            None,
        );
        assert_eq!(r.delay(&quota, Sent::Other, 0, 0), None);
    }

    #[test]
    fn retry_after_headers() {
        let mut r = HttpResponse {
            status: 429,
            ..HttpResponse::default()
        };
        r.headers.push(("retry-after".into(), "2".into()));
        assert_eq!(retry_after_ms(&r, 0), Some(2000));
        r.headers[0].1 = "Thu, 01 Jan 2026 00:00:05 GMT".into();
        assert_eq!(retry_after_ms(&r, 1_767_225_600), Some(5000));
        assert_eq!(
            retry_after_ms(&r, 1_767_225_700),
            Some(0),
            "a date past is now"
        );
        r.headers[0].1 = "soon".into();
        assert_eq!(retry_after_ms(&r, 0), None);
        r.headers.insert(0, ("retry-after-ms".into(), "150".into()));
        assert_eq!(retry_after_ms(&r, 0), Some(150));
    }
}
