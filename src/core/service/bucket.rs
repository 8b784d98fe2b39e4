//! Token buckets for `limits.requests_per_minute` and `limits.characters_per_minute`: at most
//! that many units a minute, in bursts of up to a minute's worth. Pure and exact: the level is
//! kept in units × 60,000,000 (one unit refills in 60,000,000 / rate microseconds), refilled from
//! whole elapsed microseconds, so no rounding drifts however often it is asked.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Microseconds in a minute: the scale of the level.
const MINUTE_US: u128 = 60_000_000;

/// Why units cannot be taken now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Enough will have refilled after this long.
    For(Duration),
    /// More than the bucket ever holds: never.
    Never,
}

/// One token bucket.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    per_minute: u64,
    /// Units × 60,000,000.
    level: u128,
}

impl Bucket {
    /// A full bucket of `per_minute` units a minute (at least 1).
    pub(crate) fn new(per_minute: u64) -> Self {
        let per_minute = per_minute.max(1);
        Self {
            per_minute,
            level: u128::from(per_minute) * MINUTE_US,
        }
    }

    fn capacity(&self) -> u128 {
        u128::from(self.per_minute) * MINUTE_US
    }

    /// Its rate.
    pub(crate) fn per_minute(&self) -> u64 {
        self.per_minute
    }

    /// Whole units available now.
    pub(crate) fn available(&self) -> u64 {
        u64::try_from(self.level / MINUTE_US).unwrap_or(u64::MAX)
    }

    /// Time passed: `elapsed_us` microseconds refill it, up to its capacity.
    pub(crate) fn refill(&mut self, elapsed_us: u64) {
        let added = u128::from(elapsed_us) * u128::from(self.per_minute);
        self.level = (self.level + added).min(self.capacity());
    }

    /// How long until `units` could be taken (zero: now).
    pub(crate) fn wait_for(&self, units: u64) -> Wait {
        let need = u128::from(units) * MINUTE_US;
        if need > self.capacity() {
            return Wait::Never;
        }
        let deficit = need.saturating_sub(self.level);
        let us = deficit.div_ceil(u128::from(self.per_minute));
        Wait::For(Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX)))
    }

    /// Takes `units` if they are there.
    pub(crate) fn take(&mut self, units: u64) -> bool {
        let need = u128::from(units) * MINUTE_US;
        if need > self.level {
            return false;
        }
        self.level -= need;
        true
    }
}

/// The rate limits (`limits.requests_per_minute`, `limits.characters_per_minute`; off when 0).
#[derive(Debug)]
pub(crate) struct Rates {
    requests: Option<Bucket>,
    pub(super) characters: Option<Bucket>,
    /// The instant the buckets were last refilled up to.
    refilled: Instant,
}

impl Rates {
    pub(crate) fn new(requests_per_minute: u64, characters_per_minute: u64, now: Instant) -> Self {
        let bucket = |n: u64| (n > 0).then(|| Bucket::new(n));
        Self {
            requests: bucket(requests_per_minute),
            characters: bucket(characters_per_minute),
            refilled: now,
        }
    }

    pub(super) fn refill(&mut self, now: Instant) {
        let us = u64::try_from(now.saturating_duration_since(self.refilled).as_micros())
            .unwrap_or(u64::MAX);
        self.refilled += Duration::from_micros(us);
        for b in [&mut self.requests, &mut self.characters]
            .into_iter()
            .flatten()
        {
            b.refill(us);
        }
    }

    /// How long until a job of this cost may start (zero: now). A job of more requests than a
    /// minute allows (a long text's pieces) waits for a full minute's worth and takes it.
    pub(super) fn wait(&self, requests: u64, characters: u64) -> Wait {
        let one = |b: &Option<Bucket>, n: u64| {
            b.as_ref()
                .map_or(Wait::For(Duration::ZERO), |b| b.wait_for(n))
        };
        let requests = self
            .requests
            .as_ref()
            .map_or(requests, |b| requests.min(b.per_minute()));
        match (
            one(&self.requests, requests),
            one(&self.characters, characters),
        ) {
            (Wait::For(a), Wait::For(b)) => Wait::For(a.max(b)),
            _ => Wait::Never,
        }
    }

    pub(super) fn take(&mut self, requests: u64, characters: u64) {
        if let Some(b) = &mut self.requests {
            b.take(requests.min(b.per_minute()));
        }
        if let Some(b) = &mut self.characters {
            b.take(characters);
        }
    }

    pub(super) fn to_json(&self) -> Value {
        let one = |b: &Option<Bucket>| {
            b.as_ref()
                .map(|b| json!({"per_minute": b.per_minute(), "available": b.available()}))
        };
        json!({"requests": one(&self.requests), "characters": one(&self.characters)})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Refill(u64),
        Take(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..120_000_000).prop_map(Op::Refill),
            (0u64..200).prop_map(Op::Take),
        ]
    }

    proptest! {
        /// Never over capacity; a take succeeds exactly when `wait_for` says zero; after waiting
        /// what `wait_for` said, the take succeeds; over any stretch no more than the rate plus
        /// the initial burst is taken.
        #[test]
        fn never_over_capacity_nor_rate(rate in 1u64..100, ops in proptest::collection::vec(op(), 0..100)) {
            let mut b = Bucket::new(rate);
            let mut elapsed_us: u128 = 0;
            let mut taken: u128 = 0;
            for op in ops {
                match op {
                    Op::Refill(us) => {
                        b.refill(us);
                        elapsed_us += u128::from(us);
                    }
                    Op::Take(n) => {
                        let wait = b.wait_for(n);
                        let ok = b.clone().take(n);
                        prop_assert_eq!(ok, wait == Wait::For(Duration::ZERO), "{:?}", wait);
                        if let Wait::For(d) = wait {
                            let mut later = b.clone();
                            later.refill(u64::try_from(d.as_micros()).unwrap());
                            prop_assert!(later.take(n), "enough after the wait");
                        } else {
                            prop_assert!(n > rate);
                        }
                        if b.take(n) {
                            taken += u128::from(n);
                        }
                    }
                }
                prop_assert!(b.available() <= rate);
                // A full minute's burst plus what the elapsed time refilled.
                let allowed = u128::from(rate) + elapsed_us * u128::from(rate) / MINUTE_US;
                prop_assert!(taken <= allowed, "{taken} > {allowed}");
            }
        }
    }

    #[test]
    fn refills_at_its_rate() {
        let mut b = Bucket::new(60); // one a second
        assert!(b.take(60));
        assert_eq!(b.wait_for(1), Wait::For(Duration::from_secs(1)));
        b.refill(500_000);
        assert_eq!(b.wait_for(1), Wait::For(Duration::from_millis(500)));
        b.refill(500_000);
        assert!(b.take(1));
        assert_eq!(b.wait_for(61), Wait::Never);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a base `Instant`; the buckets never read the clock
    fn more_requests_than_a_minute_allows_wait_for_a_full_minute() {
        let now = Instant::now();
        let mut r = Rates::new(10, 0, now);
        // A long text of 25 pieces: allowed with a full bucket, and it empties it.
        assert_eq!(r.wait(25, 0), Wait::For(Duration::ZERO));
        r.take(25, 0);
        assert_eq!(r.wait(25, 0), Wait::For(Duration::from_secs(60)));
        assert_eq!(r.wait(1, 0), Wait::For(Duration::from_secs(6)));
    }
}
