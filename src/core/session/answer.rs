//! How a session answers a request once its call is done: tool outcomes, the catalog, audio
//! reads and their errors, and the log notifications that go with a failed tool call.

use super::super::event::{FileError, Level};
use super::super::jsonrpc::{self, Id};
use super::super::service::{Answer, Waiting};
use super::super::tools::Outcome;
use super::outbox::{Outbox, Route};
use super::version::Version;
use super::{Ctx, Op, render, resources};
use serde_json::{Value, json};

pub(super) fn answer(out: &mut Outbox, route: Route, id: &Id, ctx: Ctx, op: Op, answer: Answer) {
    match (op, answer) {
        (Op::Tool(tool), Answer::Tool(outcome)) => finish_tool(out, route, id, ctx, tool, outcome),
        (Op::Json { uri }, Answer::Tool(outcome)) if !outcome.is_error => {
            let text = outcome.structured.unwrap_or_default().to_string();
            let body = resources::text_contents(ctx.version, uri, "application/json", &text);
            out.result(route, id, ctx.version, body);
        }
        (Op::Json { .. }, Answer::Tool(Outcome { text: why, .. })) | (_, Answer::Refused(why)) => {
            out.error(route, id, jsonrpc::INTERNAL_ERROR, &why, None)
        }
        (Op::Audio { uri }, Answer::Audio(read)) => audio(out, route, id, ctx, &uri, read),
        (op, answer) => {
            let msg = format!("internal error: {op:?} answered with {answer:?}");
            out.error(route, id, jsonrpc::INTERNAL_ERROR, &msg, None);
        }
    }
}

pub(super) fn finish_tool(
    out: &mut Outbox,
    route: Route,
    id: &Id,
    ctx: Ctx,
    tool: &str,
    outcome: Outcome,
) {
    if outcome.is_error {
        out.log(Level::Info, format!("tools/call {tool}: {}", outcome.text));
        notify_log(
            out,
            ctx,
            Level::Warning,
            &format!("{tool}: {}", outcome.text),
        );
    } else {
        out.log(Level::Debug, format!("tools/call {tool}: ok"));
    }
    let body = render::tool_result(ctx.version, outcome);
    out.result(route, id, ctx.version, body);
}

pub(super) fn audio(
    out: &mut Outbox,
    route: Route,
    id: &Id,
    ctx: Ctx,
    uri: &str,
    read: Result<Vec<u8>, FileError>,
) {
    use FileError;
    match read {
        Ok(bytes) => out.blob_result(route, id, ctx.version, uri, &bytes),
        Err(FileError::NotFound) => not_found(out, route, id, ctx, uri),
        Err(FileError::TooLarge { limit }) => {
            let msg = format!(
                "{uri} is larger than {limit} bytes; open the file from the output directory instead"
            );
            out.error(route, id, jsonrpc::INTERNAL_ERROR, &msg, None);
        }
        Err(FileError::Other(why)) => {
            let msg = format!("could not read {uri}: {why}");
            out.error(route, id, jsonrpc::INTERNAL_ERROR, &msg, None);
        }
    }
}

pub(super) fn not_found(out: &mut Outbox, route: Route, id: &Id, ctx: Ctx, uri: &str) {
    let data = json!({ "uri": uri }).to_string();
    let shown: String = uri.chars().take(200).collect();
    let msg = format!("resource not found: {shown}");
    let code = ctx.version.resource_not_found();
    out.error(route, id, code, &msg, Some(&data));
}

/// Sends `notifications/message` if the request's (or session's) level admits it.
pub(super) fn notify_log(out: &mut Outbox, ctx: Ctx, level: Level, data: &str) {
    match ctx.log {
        Some(min) if level >= min => {}
        _ => return,
    }
    let msg = json!({
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": {"level": level.as_str(), "logger": super::super::NAME, "data": data},
    });
    out.notification(&msg.to_string());
}

/// `notifications/progress` for a call whose request carried `token`.
/// What a call waiting in the queue is told.
pub(super) fn waiting(place: Waiting) -> String {
    if place.rate_wait_s > 0 {
        format!(
            "waiting {} s for the rate limits (limits.requests_per_minute, limits.characters_per_minute)",
            place.rate_wait_s
        )
    } else {
        format!(
            "waiting for a free slot (limits.max_concurrent): {} call(s) ahead",
            place.ahead
        )
    }
}

/// A progress notification on `slot` (the token and the last progress sent): audio `bytes` so
/// far, or a step while the call waits (`waiting`: one more than the last). Progress must
/// strictly increase: anything else is not sent.
pub(super) fn progress(
    out: &mut Outbox,
    version: Version,
    slot: &mut (Id, u64),
    bytes: u64,
    waiting: Option<String>,
) {
    let (token, last) = slot;
    let progress = if waiting.is_some() { *last + 1 } else { bytes };
    if progress <= *last {
        return;
    }
    *last = progress;
    let mut params = json!({
        "progressToken": serde_json::from_str::<Value>(token.as_json()).unwrap_or(Value::Null),
        "progress": progress,
    });
    if version.has_audio() {
        params["message"] = waiting
            .unwrap_or_else(|| format!("{bytes} bytes of audio received"))
            .into();
    }
    let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params});
    out.notification(&note.to_string());
}
