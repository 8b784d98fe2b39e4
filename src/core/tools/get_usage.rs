//! `get_usage`: characters used and left this billing period, the reset time and the plan. The
//! reset time is remembered for quota error messages.

use super::super::audio;
use super::super::elevenlabs::{self as api, Subscription};
use super::{Call, Cx, Failure, Outcome, READ_ONLY, Reply, Step, Tool};
use serde_json::json;

pub(super) const TOOL: Tool = Tool {
    name: "get_usage",
    title: "Get usage",
    description: "Characters used and left this billing period, reset time and plan.",
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
                Ok(Step::Done(render(&sub)))
            }
            (_, reply) => Err(Failure::unexpected(reply.as_ref())),
        }
    }
}

fn render(sub: &Subscription) -> Outcome {
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
    let structured = json!({
        "character_count": sub.character_count,
        "character_limit": sub.character_limit,
        "characters_left": left,
        "reset_unix": sub.next_character_count_reset_unix,
        "reset_at": reset,
        "tier": sub.tier,
        "status": sub.status,
    });
    Outcome::ok(text, structured)
}
