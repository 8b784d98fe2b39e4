//! The usage ledger as data: what a call that could spend is recorded as (never the spoken
//! text, never the key), and the budgets: the periods they count over, whether a call fits
//! ([`admit`]: the shell asks it inside the transaction that reserves), what a refusal says,
//! and which warning thresholds a call crossed. The shell keeps the database
//! (`shell/ledger.rs`, feature `usage-db`).

use super::audio::utc_minute;
use super::httpdate::{civil_from_days, days_from_civil};
use serde_json::Value;

/// One call that could spend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageRow {
    /// When it ended, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The tool.
    pub tool: String,
    /// The model (empty if the call never got that far).
    pub model: String,
    /// The voice id.
    pub voice: String,
    /// Characters sent to be spoken.
    pub characters: u64,
    /// Characters billed: ElevenLabs' `character-cost`, else what the model's rate makes of the
    /// characters sent (`billed_characters` either way); 0 for a cache hit, the fallback voice
    /// and a failure.
    pub billed: u64,
    /// ElevenLabs' `request-id`.
    pub request_id: Option<String>,
    /// Audio bytes delivered.
    pub audio_bytes: u64,
    /// The audio's length, when known.
    pub duration_ms: Option<u64>,
    /// Served from the audio cache.
    pub cached: bool,
    /// Spoken by the offline fallback voice.
    pub fallback: bool,
    /// `ok`, `error`, or `playing` (answered when playback started).
    pub outcome: &'static str,
    /// From the call's start to its answer.
    pub latency_ms: u64,
    /// The budget reservation this row settles (deleted in the same transaction).
    pub reservation: Option<i64>,
}

/// The budgets (`limits.daily_characters`, `limits.monthly_characters`,
/// `limits.per_call_characters`; 0: none), in billed characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budgets {
    /// Per UTC day.
    pub daily: u64,
    /// Per month (from `usage.reset_day`).
    pub monthly: u64,
    /// Per call.
    pub per_call: u64,
}

impl Budgets {
    /// Whether any is set.
    pub fn any(self) -> bool {
        self.daily > 0 || self.monthly > 0 || self.per_call > 0
    }

    /// Whether one shared through the ledger (daily or monthly) is set.
    pub fn shared(self) -> bool {
        self.daily > 0 || self.monthly > 0
    }
}

/// A stretch of time, `[start, end)` in unix seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// Its first second.
    pub start: u64,
    /// The first second after it: when the budget resets.
    pub end: u64,
}

/// The unix time of `YYYY-MM-DD` at 00:00 UTC; `None` for anything else.
pub fn parse_date(s: &str) -> Option<u64> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (u64, u64, u64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // 2026-02-30 is not a date.
    (civil_from_days(days) == (y, m, d)).then_some(days * 86_400)
}

/// The UTC day of `unix`.
pub fn day(unix: u64) -> Period {
    let start = unix - unix % 86_400;
    Period {
        start,
        end: start + 86_400,
    }
}

/// The month of `unix`: from the `reset_day` of a month (clamped to its length; 0 or 1: the
/// calendar month) at 00:00 UTC to the same day of the next.
pub fn month(unix: u64, reset_day: u64) -> Period {
    let reset = reset_day.clamp(1, 31);
    let (y, m, _) = civil_from_days(unix / 86_400);
    let start_of = |y: u64, m: u64| {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let length = days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1);
        days_from_civil(y, m, reset.min(length)) * 86_400
    };
    let prev = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let this = start_of(y, m);
    if unix < this && (y, m) == (1970, 1) {
        // Before the first reset day there is: a clock at zero.
        return Period {
            start: 0,
            end: this,
        };
    }
    if unix >= this {
        Period {
            start: this,
            end: start_of(next.0, next.1),
        }
    } else {
        Period {
            start: start_of(prev.0, prev.1),
            end: this,
        }
    }
}

/// A request to hold `characters` against the shared budgets before a call spends them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reserve {
    /// What the call may bill at most.
    pub characters: u64,
    /// The budgets.
    pub budgets: Budgets,
    /// The day and month it counts in.
    pub day: Period,
    /// The month.
    pub month: Period,
    /// Now, in unix milliseconds.
    pub now_ms: u64,
    /// When the reservation lapses if its process never settles it (a crash).
    pub expires_ms: u64,
}

/// What the ledger holds against the budgets: characters billed in the period plus those
/// reserved by calls in flight (in any process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Used {
    /// In the day.
    pub day: u64,
    /// In the month.
    pub month: u64,
}

/// The end of a [`Reserve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// Held under this id; `used` counts it.
    Held {
        /// The reservation's id, settled by the call's row.
        id: i64,
        /// What the budgets hold with it.
        used: Used,
    },
    /// It does not fit.
    Refused(Refusal),
}

/// A call the budgets do not admit, and what is left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The configuration key of the budget.
    pub key: &'static str,
    /// Its limit.
    pub limit: u64,
    /// Held against it already.
    pub used: u64,
    /// What the call needs.
    pub asked: u64,
    /// When it resets (unix seconds; `None` for the per-call budget).
    pub resets: Option<u64>,
}

impl Refusal {
    /// What the caller is told (nothing was sent).
    pub fn message(&self) -> String {
        let Some(resets) = self.resets else {
            return format!(
                "Over budget: this call needs {} characters, more than `{}` ({}) allows. Nothing was sent; split the text or raise the limit.",
                self.asked, self.key, self.limit
            );
        };
        let when = utc_minute(i64::try_from(resets).unwrap_or(i64::MAX)).unwrap_or_default();
        let left = self.limit.saturating_sub(self.used);
        let hint = if left == 0 {
            "nothing fits until then (characters held by calls still running come back if they bill less), or raise the limit"
        } else {
            "shorter text fits, or raise the limit"
        };
        format!(
            "Over budget: this call needs {} characters and `{}` ({}) has {left} left until it resets at {when}. Nothing was sent; {hint}.",
            self.asked, self.key, self.limit
        )
    }
}

/// The per-call budget, which needs no ledger.
pub fn per_call(budgets: Budgets, characters: u64) -> Result<(), Refusal> {
    if budgets.per_call > 0 && characters > budgets.per_call {
        return Err(Refusal {
            key: "limits.per_call_characters",
            limit: budgets.per_call,
            used: 0,
            asked: characters,
            resets: None,
        });
    }
    Ok(())
}

/// Whether `r` fits the shared budgets with `used` already held.
pub fn admit(r: &Reserve, used: Used) -> Result<(), Refusal> {
    per_call(r.budgets, r.characters)?;
    let budgets = [
        ("limits.daily_characters", r.budgets.daily, used.day, r.day),
        (
            "limits.monthly_characters",
            r.budgets.monthly,
            used.month,
            r.month,
        ),
    ];
    for (key, limit, used, period) in budgets {
        if limit > 0 && used.saturating_add(r.characters) > limit {
            return Err(Refusal {
                key,
                limit,
                used,
                asked: r.characters,
                resets: Some(period.end),
            });
        }
    }
    Ok(())
}

/// A warning threshold a budget has reached: said once per threshold per period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossed {
    /// What it is of (`daily budget`, `monthly budget`, `subscription`).
    pub what: &'static str,
    /// The highest threshold reached, in percent.
    pub percent: u64,
    /// When its period began (unix seconds), which keys "once per period".
    pub period_start: u64,
    /// The line said.
    pub message: String,
}

/// The highest of `warn_at` (percentages) that `used` of `limit` reached, if any.
pub fn crossed(
    what: &'static str,
    used: u64,
    limit: u64,
    period: Period,
    warn_at: &[u64],
) -> Option<Crossed> {
    if limit == 0 {
        return None;
    }
    let percent = warn_at
        .iter()
        .copied()
        .filter(|p| u128::from(used) * 100 >= u128::from(*p) * u128::from(limit))
        .max()?;
    let when = utc_minute(i64::try_from(period.end).unwrap_or(i64::MAX)).unwrap_or_default();
    Some(Crossed {
        what,
        percent,
        period_start: period.start,
        message: format!(
            "Usage warning: {used} of the {what}'s {limit} characters are used (past {percent}%); it resets at {when}."
        ),
    })
}

/// The warnings a reservation reached (`used` counts it).
pub fn warnings(r: &Reserve, used: Used, warn_at: &[u64]) -> Vec<Crossed> {
    [
        crossed("daily budget", used.day, r.budgets.daily, r.day, warn_at),
        crossed(
            "monthly budget",
            used.month,
            r.budgets.monthly,
            r.month,
            warn_at,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The row of a finished `speak` from its result: `structured` is its `structuredContent`
/// (absent for an error).
pub fn speak_row(
    structured: Option<&Value>,
    is_error: bool,
    unix_ms: u64,
    latency_ms: u64,
) -> UsageRow {
    let empty = Value::Null;
    let s = structured.unwrap_or(&empty);
    let text = |k: &str| {
        s.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let num = |k: &str| s.get(k).and_then(Value::as_u64);
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    let cached = flag("cached");
    let fallback = s
        .get("fallback")
        .is_some_and(|f| !f.is_null() && f != false);
    let characters = num("characters").unwrap_or(0);
    let spent = !(is_error || cached || fallback);
    let outcome = if is_error {
        "error"
    } else if flag("playing") {
        "playing"
    } else {
        "ok"
    };
    UsageRow {
        unix_ms,
        tool: "speak".into(),
        model: text("model_id"),
        voice: text("voice_id"),
        characters,
        billed: if spent {
            num("billed_characters").unwrap_or(characters)
        } else {
            0
        },
        request_id: s
            .get("request_id")
            .and_then(Value::as_str)
            .map(String::from),
        audio_bytes: num("bytes").unwrap_or(0),
        duration_ms: num("duration_ms").or_else(|| num("estimated_duration_ms")),
        cached,
        fallback,
        outcome,
        latency_ms,
        reservation: None,
    }
}

/// What a report asks the ledger for: totals since these starts (unix seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ask {
    /// The day's.
    pub day: u64,
    /// The month's (also the start of the per-model and per-voice totals).
    pub month: u64,
    /// The account's billing period's, for the reconciliation with ElevenLabs' count.
    pub account: Option<u64>,
}

/// Totals of the ledger's rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Rows.
    pub calls: u64,
    /// Characters billed.
    pub billed: u64,
    /// Characters sent.
    pub characters: u64,
    /// Served from the cache.
    pub cached: u64,
    /// Failed.
    pub failures: u64,
    /// Spoken by the fallback voice.
    pub fallbacks: u64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, t: Self) {
        self.calls += t.calls;
        self.billed += t.billed;
        self.characters += t.characters;
        self.cached += t.cached;
        self.failures += t.failures;
        self.fallbacks += t.fallbacks;
    }
}

impl Totals {
    fn to_json(self) -> Value {
        serde_json::json!({
            "calls": self.calls,
            "characters_billed": self.billed,
            "characters_sent": self.characters,
            "cached": self.cached,
            "failures": self.failures,
            "fallback_uses": self.fallbacks,
        })
    }
}

/// What the ledger holds for a report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Since the day's start.
    pub day: Totals,
    /// Since the month's.
    pub month: Totals,
    /// Since the account's billing period's, when asked.
    pub account: Option<Totals>,
    /// Characters reserved by calls in flight (every process).
    pub held: u64,
    /// The month's totals by model, most billed first.
    pub by_model: Vec<(String, Totals)>,
    /// The month's totals by voice, most billed first.
    pub by_voice: Vec<(String, Totals)>,
}

/// The account's billing period that ends at `reset` (unix seconds): from the same day of the
/// month before, at 00:00 UTC.
pub fn account_period(reset: u64) -> Period {
    let (_, _, reset_day) = civil_from_days(reset / 86_400);
    // ElevenLabs resets at the reset's own time of day.
    let start = month((reset - reset % 86_400).saturating_sub(1), reset_day).start + reset % 86_400;
    Period { start, end: reset }
}

/// What a report is read with, besides the ledger.
#[derive(Clone, Debug, Default)]
pub struct Context<'a> {
    /// The budgets.
    pub budgets: Budgets,
    /// The day and month the report is of.
    pub day: Period,
    /// The month.
    pub month: Period,
    /// `usage.price_per_1000_characters` (millionths) and `usage.currency`.
    pub price: Option<(u64, &'a str)>,
    /// The subscription's `character_count` and `character_limit`, when known.
    pub subscription: Option<(u64, u64)>,
}

/// The `usage://report` JSON (and the ledger's part of `get_usage`).
pub fn report(s: &Summary, cx: &Context<'_>) -> Value {
    let left = |limit: u64, used: u64| (limit > 0).then(|| limit.saturating_sub(used));
    let cost = match cx.price {
        Some((micros, currency)) => {
            let amount = u128::from(s.month.billed) * u128::from(micros) / 1000;
            // Millionths to a number with 4 decimals.
            let amount = (amount / 100) as f64 / 10_000.0;
            serde_json::json!({"amount": amount, "currency": currency})
        }
        None => serde_json::json!({"amount": s.month.billed, "currency": "credits"}),
    };
    let rate = (s.month.cached * 1000)
        .checked_div(s.month.calls)
        .map_or(0.0, |r| r as f64 / 1000.0);
    let by = |groups: &[(String, Totals)]| -> Value {
        groups
            .iter()
            .map(|(k, t)| (k.clone(), t.to_json()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let at = |unix: u64| utc_minute(i64::try_from(unix).unwrap_or(i64::MAX));
    serde_json::json!({
        "daily_characters": s.day.billed,
        "monthly_characters": s.month.billed,
        "monthly_cost_estimate": cost,
        "cache_hit_rate": rate,
        "quota_remaining": {
            "daily": left(cx.budgets.daily, s.day.billed + s.held),
            "monthly": left(cx.budgets.monthly, s.month.billed + s.held),
            "per_call": (cx.budgets.per_call > 0).then_some(cx.budgets.per_call),
            "subscription": cx.subscription.map(|(count, limit)| limit.saturating_sub(count)),
        },
        "reserved": s.held,
        "calls": s.month.calls,
        "failures": s.month.failures,
        "fallback_uses": s.month.fallbacks,
        "today": s.day.to_json(),
        "by_model": by(&s.by_model),
        "by_voice": by(&s.by_voice),
        "period": {
            "day_resets_at": at(cx.day.end),
            "month_started_at": at(cx.month.start),
            "month_resets_at": at(cx.month.end),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_of_speak_results() {
        let fresh = json!({"delivery": "file", "characters": 12, "billed_characters": 6,
            "model_id": "eleven_flash_v2_5", "voice_id": "v1", "request_id": "req_3",
            "bytes": 4096, "duration_ms": 256});
        let r = speak_row(Some(&fresh), false, 1_000, 40);
        assert_eq!((r.characters, r.billed, r.outcome), (12, 6, "ok"));
        assert_eq!(
            (r.request_id.as_deref(), r.audio_bytes, r.duration_ms),
            (Some("req_3"), 4096, Some(256))
        );
        let cached = json!({"characters": 12, "cached": true});
        assert_eq!(speak_row(Some(&cached), false, 0, 0).billed, 0);
        let fallback = json!({"characters": 12, "fallback": "espeak-ng"});
        assert!(speak_row(Some(&fallback), false, 0, 0).fallback);
        assert_eq!(speak_row(Some(&fallback), false, 0, 0).billed, 0);
        let no_header = json!({"characters": 9});
        assert_eq!(speak_row(Some(&no_header), false, 0, 0).billed, 9);
        let failed = speak_row(None, true, 0, 0);
        assert_eq!((failed.billed, failed.outcome), (0, "error"));
        let playing = json!({"characters": 5, "playing": true, "estimated_duration_ms": 900});
        let p = speak_row(Some(&playing), false, 0, 0);
        assert_eq!((p.outcome, p.duration_ms), ("playing", Some(900)));
    }

    const NOV_30_2026: u64 = 1_795_996_800; // 2026-11-30 00:00:00 UTC

    #[test]
    fn days_and_months_in_utc() {
        let noon = NOV_30_2026 + 12 * 3600;
        assert_eq!(
            day(noon),
            Period {
                start: NOV_30_2026,
                end: NOV_30_2026 + 86_400
            }
        );
        let dec_1 = NOV_30_2026 + 86_400;
        let nov_1 = NOV_30_2026 - 29 * 86_400;
        assert_eq!(
            month(noon, 0),
            Period {
                start: nov_1,
                end: dec_1
            }
        );
        assert_eq!(month(noon, 1), month(noon, 0));
        // Reset on the 15th: the 30th is in the month from Nov 15 to Dec 15.
        assert_eq!(
            month(noon, 15),
            Period {
                start: nov_1 + 14 * 86_400,
                end: dec_1 + 14 * 86_400
            }
        );
        // Before the 15th of December: from Nov 15.
        assert_eq!(month(dec_1, 15).start, nov_1 + 14 * 86_400);
        // The 31st in a 30-day month is its last day; February's is the 28th.
        assert_eq!(month(noon, 31).start, NOV_30_2026);
        let feb_28_2027 = days_from_civil(2027, 2, 28) * 86_400;
        assert_eq!(month(feb_28_2027 + 5, 31).start, feb_28_2027);
        assert_eq!(
            month(feb_28_2027 + 5, 31).end,
            days_from_civil(2027, 3, 31) * 86_400
        );
        assert_eq!(
            month(feb_28_2027 - 5, 31).start,
            days_from_civil(2027, 1, 31) * 86_400
        );
    }

    proptest::proptest! {
        #[test]
        fn every_instant_is_in_its_periods(unix in 3_000_000u64..8_000_000_000, reset in 0u64..=31) {
            for p in [day(unix), month(unix, reset)] {
                proptest::prop_assert!(p.start <= unix && unix < p.end, "{p:?} {unix}");
                proptest::prop_assert!(p.end - p.start >= 86_400);
            }
            let m = month(unix, reset);
            proptest::prop_assert!((28 * 86_400..=31 * 86_400).contains(&(m.end - m.start)));
            proptest::prop_assert_eq!(month(m.end, reset).start, m.end);
        }
    }

    #[test]
    fn budgets_admit_refuse_and_warn() {
        let r = Reserve {
            characters: 100,
            budgets: Budgets {
                daily: 1000,
                monthly: 5000,
                per_call: 0,
            },
            day: day(NOV_30_2026),
            month: month(NOV_30_2026, 0),
            ..Reserve::default()
        };
        assert!(
            admit(
                &r,
                Used {
                    day: 900,
                    month: 900
                }
            )
            .is_ok()
        );
        let refused = admit(
            &r,
            Used {
                day: 901,
                month: 901,
            },
        )
        .unwrap_err();
        assert_eq!(
            (refused.key, refused.limit - refused.used),
            ("limits.daily_characters", 99)
        );
        let text = refused.message();
        assert!(
            text.contains("99 left") && text.contains("2026-12-01 00:00 UTC"),
            "{text}"
        );
        assert_eq!(
            admit(
                &r,
                Used {
                    day: 0,
                    month: 4950
                }
            )
            .unwrap_err()
            .key,
            "limits.monthly_characters"
        );
        let big = Reserve {
            budgets: Budgets {
                per_call: 50,
                ..r.budgets
            },
            ..r.clone()
        };
        let text = admit(&big, Used::default()).unwrap_err().message();
        assert!(
            text.contains("per_call") && text.contains("split"),
            "{text}"
        );
        let w = warnings(
            &r,
            Used {
                day: 960,
                month: 100,
            },
            &[80, 95],
        );
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].what, w[0].percent), ("daily budget", 95));
        assert!(
            warnings(
                &r,
                Used {
                    day: 799,
                    month: 3999
                },
                &[80, 95]
            )
            .is_empty()
        );
        assert!(crossed("subscription", 10, 0, r.day, &[80]).is_none());
    }

    #[test]
    fn dates_for_the_command_line() {
        assert_eq!(parse_date("2026-11-30"), Some(NOV_30_2026));
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-30",
            "2026-11-30T00:00",
            "",
            "yesterday",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_report_of_the_month() {
        let month_totals = Totals {
            calls: 8,
            billed: 2500,
            characters: 3000,
            cached: 2,
            failures: 1,
            fallbacks: 1,
        };
        let s = Summary {
            day: Totals {
                billed: 700,
                calls: 3,
                ..Totals::default()
            },
            month: month_totals,
            held: 50,
            by_model: vec![("eleven_flash_v2_5".into(), month_totals)],
            ..Summary::default()
        };
        let cx = Context {
            budgets: Budgets {
                daily: 1000,
                monthly: 0,
                per_call: 0,
            },
            day: day(NOV_30_2026),
            month: month(NOV_30_2026, 0),
            price: Some((300_000, "USD")),
            subscription: Some((1234, 100_000)),
        };
        let r = report(&s, &cx);
        assert_eq!(r["daily_characters"], 700);
        assert_eq!(r["monthly_cost_estimate"]["amount"], 0.75);
        assert_eq!(r["monthly_cost_estimate"]["currency"], "USD");
        assert_eq!(r["cache_hit_rate"], 0.25);
        assert_eq!(r["quota_remaining"]["daily"], 250, "the reservations count");
        assert!(r["quota_remaining"]["monthly"].is_null());
        assert_eq!(r["quota_remaining"]["subscription"], 98_766);
        assert_eq!(
            r["by_model"]["eleven_flash_v2_5"]["characters_billed"],
            2500
        );
        assert_eq!(r["period"]["day_resets_at"], "2026-12-01 00:00 UTC");
        let credits = report(&s, &Context { price: None, ..cx });
        assert_eq!(credits["monthly_cost_estimate"]["currency"], "credits");
        // A period that resets on the 15th at 09:30 began on the 15th of the month before.
        let reset = days_from_civil(2026, 12, 15) * 86_400 + 9 * 3600 + 1800;
        assert_eq!(
            account_period(reset).start,
            days_from_civil(2026, 11, 15) * 86_400 + 9 * 3600 + 1800,
            "at the reset's time of day"
        );
        assert_eq!(
            month(5, 15),
            Period {
                start: 0,
                end: 14 * 86_400
            },
            "a clock at zero"
        );
    }
}
