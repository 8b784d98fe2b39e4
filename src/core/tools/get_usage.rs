//! `get_usage`: characters used and left this billing period, the reset time and the plan; then
//! what the usage ledger recorded, reconciled with the account's count (the difference is what
//! other tools, the web app or other machines used). The reset time is remembered for quota
//! error messages.

use super::super::audio;
use super::super::elevenlabs::{self as api, Subscription};
use super::super::event::Job;
use super::super::usage::{self, Summary};
use super::usage_report;
use super::{Call, Cx, Failure, Outcome, READ_ONLY, Reply, Step, Tool};
use serde_json::{Value, json};

pub(super) const TOOL: Tool = Tool {
    name: "get_usage",
    title: "Get usage",
    description: "Characters used and left this billing period, reset time, plan; what this server recorded.",
    params: &[],
    hints: READ_ONLY,
    output_schema: None,
    start: |_| Box::new(GetUsage::Start),
};

/// One `get_usage` call: what it waits for.
#[derive(Debug)]
enum GetUsage {
    Start,
    /// `/v1/user/subscription`.
    Subscription,
    /// The ledger's totals, to go with this subscription.
    Ledger(Subscription),
}

impl Call for GetUsage {
    fn tool(&self) -> &'static str {
        TOOL.name
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        match (&self, reply) {
            (Self::Start, None) => {
                *self = Self::Subscription;
                Ok(Step::http(api::subscription()))
            }
            (Self::Subscription, Some(reply)) => {
                let sub = api::parse_subscription(reply.body()?)?;
                cx.memory.last_reset = sub.next_character_count_reset_unix;
                cx.memory.subscription = Some((sub.character_count, sub.character_limit));
                if let Some(why) = usage_report::unavailable(cx) {
                    return Ok(Step::Done(render(&sub, Err(why), cx)));
                }
                let account = account_start(&sub);
                *self = Self::Ledger(sub);
                Ok(Step::Job(Job::Report(usage_report::ask(cx, account))))
            }
            (Self::Ledger(sub), Some(Reply::Report(summary))) => {
                let ledger =
                    summary.map_err(|why| format!("The usage ledger cannot be read: {why}."));
                Ok(Step::Done(render(sub, ledger, cx)))
            }
            (_, reply) => Err(Failure::unexpected(reply.as_ref())),
        }
    }
}

/// When the account's billing period began, if its reset time is known.
fn account_start(sub: &Subscription) -> Option<u64> {
    let reset = u64::try_from(sub.next_character_count_reset_unix?).ok()?;
    Some(usage::account_period(reset).start)
}

fn render(sub: &Subscription, ledger: Result<Box<Summary>, String>, cx: &Cx<'_>) -> Outcome {
    // A build without the ledger carries none of its rendering.
    let ledger = if cfg!(feature = "usage-db") {
        ledger
    } else {
        Err(usage_report::NOT_BUILT.to_string())
    };
    let left = sub.character_limit.saturating_sub(sub.character_count);
    let pct = sub
        .character_count
        .saturating_mul(100)
        .checked_div(sub.character_limit)
        .unwrap_or(0);
    let reset = sub
        .next_character_count_reset_unix
        .and_then(audio::utc_minute);
    let text = format!(
        "Used {} of {} characters ({pct}%), {left} left{}. Plan: {} ({}).",
        sub.character_count,
        sub.character_limit,
        reset
            .as_ref()
            .map(|r| format!("; resets {r}"))
            .unwrap_or_default(),
        sub.tier,
        sub.status
    );
    let mut text = text;
    let mut structured = json!({
        "character_count": sub.character_count,
        "character_limit": sub.character_limit,
        "characters_left": left,
        "reset_unix": sub.next_character_count_reset_unix,
        "reset_at": reset,
        "tier": sub.tier,
        "status": sub.status,
    });
    let start = account_start(sub);
    if let Some(start) = start {
        let period = usage::Period {
            start,
            end: start + 1,
        };
        let warn_at = &cx.config.settings.usage_warn_at;
        let limit = sub.character_limit;
        if let Some(c) = usage::crossed("subscription", sub.character_count, limit, period, warn_at)
        {
            text.push_str(&format!(" Past {}% of the plan's characters.", c.percent));
        }
    }
    match ledger {
        Err(why) => {
            text.push_str(&format!(" {why}"));
            structured["ledger"] = json!({ "error": why });
        }
        Ok(summary) => {
            text.push_str(&format!(" {}", usage_report::headline(&summary, cx)));
            structured["ledger"] = usage::report(&summary, &usage_report::context(cx));
            if let (Some(account), Some(start)) = (summary.account, start) {
                let (line, value) = reconcile(sub.character_count, account.billed, start);
                text.push_str(&format!(" {line}"));
                structured["reconciliation"] = value;
            }
        }
    }
    Outcome::ok(text, structured)
}

/// How far the account's count (`used`) is from what the ledger recorded since the billing
/// period began at `start`.
pub(crate) fn reconcile(used: u64, recorded: u64, start: u64) -> (String, Value) {
    let since = audio::utc_minute(i64::try_from(start).unwrap_or(i64::MAX)).unwrap_or_default();
    let line = if used >= recorded {
        format!(
            "Since {since} the account used {used} characters and this ledger recorded {recorded}: {} were used elsewhere (other tools, the web app, other machines).",
            used - recorded
        )
    } else {
        format!(
            "Since {since} this ledger recorded {recorded} characters, {} more than the account's count ({used}): ElevenLabs may not have counted them yet.",
            recorded - used
        )
    };
    let value = json!({
        "since": since,
        "account_used": used,
        "ledger_billed": recorded,
        "unrecorded": used.saturating_sub(recorded),
        "ledger_ahead": recorded.saturating_sub(used),
    });
    (line, value)
}
