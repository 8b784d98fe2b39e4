//! `usage://report`: what the usage ledger holds (today, this month, by model and voice), the
//! budgets and what is left of them, a cost estimate and the cache's hit rate. A resource read
//! through a call, as `voices://catalog` is; `get_usage` shows the same next to the account's
//! own count. Needs no API key: the ledger is local.

use super::super::event::Job;
use super::super::usage::{self, Ask, Budgets, Context, Summary};
use super::{Call, Cx, Failure, Outcome, Reply, Step};

/// What a build without the `usage-db` feature says.
pub(crate) const NOT_BUILT: &str =
    "This build has no usage ledger (feature `usage-db`): usage is not recorded.";

/// The name it goes by in logs.
pub(crate) const NAME: &str = "usage://report";

/// A new report read.
pub(crate) fn start() -> Box<dyn Call> {
    Box::new(Report)
}

/// One report read: it waits for the ledger's totals.
#[derive(Debug)]
struct Report;

impl Call for Report {
    fn tool(&self) -> &'static str {
        NAME
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        if !cfg!(feature = "usage-db") {
            // First, so that a build without the ledger carries none of what follows.
            return Err(Failure::Other(NOT_BUILT.into()));
        }
        if let Some(why) = unavailable(cx) {
            return Err(Failure::Other(why));
        }
        match reply {
            None => Ok(Step::Job(Job::Report(ask(cx, None)))),
            Some(Reply::Report(Ok(summary))) => {
                let report = usage::report(&summary, &context(cx));
                Ok(Step::Done(Outcome::ok(headline(&summary, cx), report)))
            }
            Some(Reply::Report(Err(why))) => Err(Failure::Other(format!(
                "The usage ledger cannot be read: {why}."
            ))),
            Some(other) => Err(Failure::unexpected(Some(&other))),
        }
    }
}

/// Why there is no ledger to read, if there is none.
pub(super) fn unavailable(cx: &Cx<'_>) -> Option<String> {
    if !cfg!(feature = "usage-db") {
        return Some(NOT_BUILT.into());
    }
    if !cx.config.settings.usage_enabled {
        return Some(
            "The usage ledger is off (`usage.enabled: false`): usage is not recorded.".into(),
        );
    }
    None
}

/// The totals a report needs now; `account`, the start of the account's billing period.
pub(super) fn ask(cx: &Cx<'_>, account: Option<u64>) -> Ask {
    let cxt = context(cx);
    Ask {
        day: cxt.day.start,
        month: cxt.month.start,
        account,
    }
}

/// The budgets, periods, price and subscription a report is read with.
pub(super) fn context<'a>(cx: &'a Cx<'_>) -> Context<'a> {
    let s = &cx.config.settings;
    Context {
        budgets: Budgets {
            daily: s.limits.daily_characters,
            monthly: s.limits.monthly_characters,
            per_call: s.limits.per_call_characters,
        },
        day: usage::day(cx.wall_now),
        month: usage::month(cx.wall_now, s.usage_reset_day),
        price: s.usage_price_micros.map(|m| (m, s.usage_currency.as_str())),
        subscription: cx.memory.subscription,
    }
}

/// One line for people: today and this month, and what is left of the budgets.
pub(super) fn headline(s: &Summary, cx: &Cx<'_>) -> String {
    let b = &cx.config.settings.limits;
    let mut text = format!(
        "This server recorded {} characters billed today and {} this month, in {} calls ({} from the cache).",
        s.day.billed, s.month.billed, s.month.calls, s.month.cached
    );
    for (name, limit, used) in [
        ("daily", b.daily_characters, s.day.billed),
        ("monthly", b.monthly_characters, s.month.billed),
    ] {
        if limit > 0 {
            let left = limit.saturating_sub(used + s.held);
            text.push_str(&format!(" {left} of the {name} budget of {limit} left."));
        }
    }
    text
}
