//! What a job's result means for its call: the reply the call reads, or the failure the retry
//! policy judges; the note a result gets when it took more than one attempt; and why a call
//! cannot run at all.

use super::super::Config;
use super::super::cache::Index;
use super::super::elevenlabs as api;
use super::super::event::Job;
use super::super::event::{JobResult, SpeechDone, SpeechFailed};
use super::super::settings::{Limits, Settings};
use super::super::tools::{Failure, Outcome, Reply};
use super::gate::Expiry;
use serde_json::{Value, json};
use std::time::Duration;

/// A job's result as a call receives it: the reply, or a failure for the retry policy.
pub(super) fn classify(result: JobResult, s: &Settings, now_unix: u64) -> Result<Reply, Failure> {
    match result {
        JobResult::Http(Err(t)) => Err(Failure::Transport(t)),
        JobResult::Http(Ok(resp)) if !(200..300).contains(&resp.status) => {
            Err(api_failure(&resp, now_unix))
        }
        JobResult::Http(Ok(resp)) => Ok(Reply::Http(resp)),
        JobResult::Speech(Ok(done)) => Ok(Reply::Speech(done)),
        JobResult::Speech(Err(failed)) | JobResult::Cached(Some(Err(failed))) => {
            Err(speech_failure(failed, s, now_unix))
        }
        JobResult::Cached(Some(Ok(done))) => Ok(Reply::Cached(Some(done))),
        JobResult::Cached(None) => Ok(Reply::Cached(None)),
        JobResult::Written(result) => Ok(Reply::Written(result)),
        JobResult::Report(result) => Ok(Reply::Report(result)),
        JobResult::Audio(_) | JobResult::CacheScanned(_) | JobResult::Reserved(_) => Err(
            Failure::Other("internal error: unexpected local job result".into()),
        ),
    }
}

/// Why a synthesis (or serving it from the cache) failed, for the retry policy.
fn speech_failure(failed: SpeechFailed, s: &Settings, now_unix: u64) -> Failure {
    match failed {
        SpeechFailed::Status(resp) => api_failure(&resp, now_unix),
        SpeechFailed::Transport { error, bytes } if bytes > 0 => {
            // Audio was already flowing: a retry would bill the text twice.
            let text = api::describe_transport(&error, &s.base_url, s.limits.request_timeout_ms);
            Failure::Other(format!(
                "{text} The stream broke after {bytes} bytes; nothing was saved."
            ))
        }
        SpeechFailed::Transport { error, .. } => Failure::Transport(error),
        SpeechFailed::Sink(why) => Failure::Other(format!(
            "Could not save the audio: {why}. Check that `output.dir` is writable and has space."
        )),
        SpeechFailed::InlineTooLarge { limit } => Failure::Other(format!(
            "The audio is larger than {limit} bytes, the inline limit (`limits.max_inline_bytes`): use `delivery: \"file\"` for long text or high bitrates."
        )),
        SpeechFailed::Command(why) => {
            Failure::Other(format!("The offline fallback voice failed too: {why}."))
        }
        SpeechFailed::Player(why) => Failure::Other(format!(
            "Could not play the audio: {why}. Set `player` in the config to a program that reads audio on stdin (e.g. [mpv, --no-terminal, -]), or use `delivery: \"file\"`."
        )),
    }
}

/// What a job's result tells the cache's index: a hit, a miss, a new entry.
pub(super) fn learn_cache(ix: &mut Index, job: Option<&Job>, result: &JobResult) {
    match (job, result) {
        (Some(Job::CacheRead { key, .. }), JobResult::Cached(found)) => match found {
            Some(Ok(done)) => ix.hit(*key, done.cache_entry.unwrap_or(0)),
            // Found, but the sink failed: the entry is whole.
            Some(Err(_)) => {}
            None => ix.miss(*key),
        },
        (
            Some(Job::Speech {
                cache: Some((key, _)),
                ..
            }),
            JobResult::Speech(Ok(SpeechDone {
                cache_entry: Some(size),
                ..
            })),
        ) => ix.stored(*key, *size),
        _ => {}
    }
}

/// The `fallback.when` case a final failure falls under, if any: ElevenLabs unreachable or
/// failing, or the credits used up.
pub(super) fn fallback_case(failure: &Failure) -> Option<&'static str> {
    use super::super::elevenlabs::{ErrorKind, Transport};
    match failure {
        Failure::Transport(
            Transport::Dns
            | Transport::ConnectionRefused
            | Transport::Timeout
            | Transport::Io(_)
            | Transport::Tls(_),
        ) => Some("unreachable"),
        Failure::Api(e, _) if e.is_service_failure() => Some("unreachable"),
        Failure::Api(e, _) if e.kind == ErrorKind::Quota => Some("quota_exceeded"),
        _ => None,
    }
}

/// Why a queued job will not run, for its call (`paused`: the breaker's message, when that is
/// why); with its attempts when it had more than one.
pub(super) fn expired(why: Expiry, deadline_ms: u64, paused: String, retries: u32) -> String {
    let text = match why {
        Expiry::Rate(wait) => format!(
            "Rate limit: this call would wait {} s for `limits.requests_per_minute` / `limits.characters_per_minute`, past its deadline (`limits.call_deadline_ms`: {deadline_ms} ms). Nothing was sent; try again later.",
            wait.as_millis().div_ceil(1000)
        ),
        Expiry::Deadline => format!(
            "This call waited for a free slot (`limits.max_concurrent`) until its deadline (`limits.call_deadline_ms`: {deadline_ms} ms) passed. Nothing was sent; try again when fewer calls are running."
        ),
        Expiry::Breaker(_) => paused,
    };
    if retries > 0 {
        format!("{text} ({} attempts.)", retries + 1)
    } else {
        text
    }
}

/// Notes how many attempts a call took, when it took more than one.
pub(super) fn attempts(mut outcome: Outcome, retries: u32) -> Outcome {
    if retries == 0 {
        return outcome;
    }
    let n = retries + 1;
    outcome.text.push_str(&format!(" ({n} attempts.)"));
    if let Some(Value::Object(map)) = &mut outcome.structured {
        map.insert("attempts".into(), n.into());
    }
    outcome
}

fn api_failure(resp: &api::HttpResponse, now_unix: u64) -> Failure {
    Failure::Api(
        api::parse_error(resp.status, &resp.body),
        super::retry::retry_after_ms(resp, now_unix),
    )
}

/// Why a validated call cannot run: broken settings first, then the missing key.
pub(super) fn refusal(config: &Config, tool: &str) -> Option<String> {
    if !config.problems.is_empty() {
        let list: Vec<String> = config.problems.iter().map(ToString::to_string).collect();
        return Some(format!(
            "The mcp-elevenlabs configuration has problems, so `{tool}` cannot run: {}. Fix them (check with `mcp-elevenlabs config list`), then restart the server.",
            list.join("; ")
        ));
    }
    if config.settings.api_key.is_none() {
        return Some("No ElevenLabs API key: run `mcp-elevenlabs --init` and put the key in the config file, or set ELEVENLABS_API_KEY in the server's environment, then restart the server.".to_string());
    }
    None
}

/// Why nothing is sent while the breaker is open: for `left` more (`None`: its probe is out).
pub(super) fn paused(limits: &Limits, left: Option<Duration>, last_error: Option<&str>) -> String {
    let last = last_error.unwrap_or("none recorded");
    match left {
        Some(left) => {
            let secs = left.as_millis().div_ceil(1000);
            format!(
                "ElevenLabs keeps failing (the circuit breaker opened after {} failures within {} ms), so this server is pausing its requests to let it recover: the next one goes in {secs} s. Nothing was sent or spent; try again then. Last error: {last}",
                limits.breaker_failures, limits.breaker_window_ms,
            )
        }
        None => format!(
            "ElevenLabs failed repeatedly, and one test request is checking whether it has recovered. Nothing was sent or spent; try again in a few seconds. Last error: {last}"
        ),
    }
}

/// The JSON text of `health://status`.
pub(super) fn health(
    config: &Config,
    parts: [(&str, Value); 3],
    in_flight: usize,
    uptime: Duration,
) -> String {
    let problems: Vec<String> = config.problems.iter().map(ToString::to_string).collect();
    let key = config.settings.api_key.is_some();
    let status = if !problems.is_empty() {
        "config_error"
    } else if !key {
        "no_api_key"
    } else {
        "ok"
    };
    let mut health = json!({
        "status": status,
        "version": super::super::VERSION,
        "config": {"ok": problems.is_empty(), "problems": problems},
        "api_key": if key { "set" } else { "missing" },
        "in_flight": in_flight,
        "uptime_ms": u64::try_from(uptime.as_millis()).unwrap_or(u64::MAX),
    });
    for (name, part) in parts {
        health[name] = part;
    }
    health.to_string()
}
