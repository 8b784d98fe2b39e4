//! Resilience through the whole core: the circuit breaker, retries against the call deadline and
//! `Retry-After`, the rate limits and the concurrency cap, and the offline fallback voice.

use super::server_tests::{Harness, SUBSCRIPTION, http_ok, with_key};
use super::*;
use serde_json::Value;
use std::time::Duration;

/// A config whose breaker opens after three failures, without retries.
fn fragile() -> Config {
    let mut config = with_key();
    config.settings.limits.max_retries = 0;
    config.settings.limits.breaker_failures = 3;
    config
}

fn usage_call(id: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_usage"}}}}"#
    )
}

fn server_error() -> JobResult {
    JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 500,
        headers: vec![],
        body: b"{}".to_vec(),
    }))
}

#[test]
fn the_breaker_opens_fails_fast_probes_and_closes() {
    let mut h = Harness::new(fragile());
    h.init("2025-11-25");
    h.one(r#"{"jsonrpc":"2.0","id":90,"method":"logging/setLevel","params":{"level":"warning"}}"#);
    let mut notices = Vec::new();
    for id in 1..=3 {
        assert!(h.send(&usage_call(id)).is_empty());
        let (job, _) = h.jobs.pop().unwrap();
        for reply in h.finish(job, server_error()) {
            if reply["method"] == "notifications/message" {
                notices.push(reply["params"]["data"].as_str().unwrap().to_string());
            } else {
                assert_eq!(reply["result"]["isError"], true, "{reply}");
            }
        }
    }
    let breaker: Vec<&String> = notices
        .iter()
        .filter(|n| n.starts_with("circuit breaker"))
        .collect();
    assert_eq!(breaker.len(), 1, "{notices:?}");
    assert!(
        breaker[0].starts_with("circuit breaker open:"),
        "{notices:?}"
    );
    assert!(
        notices[2].starts_with("get_usage:"),
        "the failure's own notice first"
    );

    // Open: the next call fails at once, without a job.
    let replies = h.send(&usage_call(4));
    let r = replies
        .iter()
        .find(|m| m["id"] == 4)
        .expect("an answer to 4");
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("next one goes in 30 s") && text.contains("Nothing was sent"),
        "{text}"
    );
    assert!(h.jobs.is_empty(), "nothing sent while open");
    let health = h.health(5);
    assert_eq!(health["upstream"]["breaker"]["state"], "open");
    assert_eq!(health["upstream"]["breaker"]["next_probe_in_ms"], 30_000);

    // After the cool-down one probe goes; a second call meanwhile still fails fast.
    h.now += Duration::from_secs(30);
    let replies = h.send(&usage_call(6));
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0]["params"]["data"]
            .as_str()
            .unwrap()
            .starts_with("circuit breaker half-open")
    );
    assert_eq!(h.jobs.len(), 1, "the probe");
    let r = h.send(&usage_call(7));
    let r = r.iter().find(|m| m["id"] == 7).expect("an answer to 7");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("test request")
    );
    let (probe, _) = h.jobs.pop().unwrap();
    let replies = h.finish(probe, http_ok(SUBSCRIPTION));
    let six = replies
        .iter()
        .find(|m| m["id"] == 6)
        .expect("the probe's answer");
    assert_eq!(six["result"]["isError"], false);
    assert!(replies.iter().any(|m| {
        m["params"]["data"]
            .as_str()
            .is_some_and(|d| d.starts_with("circuit breaker closed"))
    }));

    // Closed again: calls go.
    assert!(h.send(&usage_call(8)).is_empty());
    assert_eq!(h.jobs.len(), 1);
}

#[test]
fn a_failed_probe_reopens_and_a_cancelled_one_hands_over() {
    let mut h = Harness::new(fragile());
    h.init("2025-11-25");
    for id in 1..=3 {
        h.send(&usage_call(id));
        let (job, _) = h.jobs.pop().unwrap();
        h.finish(job, server_error());
    }
    h.now += Duration::from_secs(31);
    // The probe is cancelled: the next call becomes the probe.
    h.send(&usage_call(10));
    let (probe, _) = h.jobs.pop().unwrap();
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":10}}"#);
    assert!(
        h.finish(
            probe,
            JobResult::Http(Err(elevenlabs::Transport::Cancelled)),
        )
        .is_empty(),
        "no answer to a cancelled request"
    );
    assert!(
        h.send(&usage_call(11)).is_empty(),
        "the next call is the probe"
    );
    let (probe, _) = h.jobs.pop().unwrap();
    h.finish(probe, server_error());
    // Reopened: fails fast again for a whole cool-down.
    h.now += Duration::from_secs(29);
    let r = h.one(&usage_call(12));
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("next one goes in 1 s")
    );
    assert!(h.jobs.is_empty());
}

fn unavailable(retry_after: &str) -> JobResult {
    JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 503,
        headers: vec![("retry-after".into(), retry_after.into())],
        body: b"{}".to_vec(),
    }))
}

#[test]
fn retry_after_as_a_date_is_waited_for_and_the_result_counts_attempts() {
    let mut config = with_key();
    config.start_unix = 1_767_225_600; // 2026-01-01 00:00:00 UTC
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    let (job, _) = h.jobs.pop().unwrap();
    let result = unavailable("Thu, 01 Jan 2026 00:00:07 GMT");
    assert!(h.finish(job, result).is_empty());
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(7))
    );
    h.now += Duration::from_secs(7);
    h.server.handle_timeout(h.now);
    h.drain();
    let (job, _) = h.jobs.pop().expect("the retry");
    let r = h.finish(job, http_ok(SUBSCRIPTION)).remove(0);
    assert_eq!(r["result"]["isError"], false);
    assert_eq!(r["result"]["structuredContent"]["attempts"], 2);
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .ends_with("(2 attempts.)")
    );
}

#[test]
fn no_retry_is_scheduled_past_the_call_deadline() {
    let mut config = with_key();
    config.settings.limits.call_deadline_ms = 5_000;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    let (job, _) = h.jobs.pop().unwrap();
    let r = h.finish(job, unavailable("10")).remove(0);
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("limits.call_deadline_ms"), "{text}");
    assert_eq!(h.server.poll_timeout(), None, "no retry timer");
    assert!(h.jobs.is_empty());
}

#[test]
fn requests_over_the_rate_wait_in_order_then_go() {
    let mut config = with_key();
    config.settings.limits.requests_per_minute = 2;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    for id in 1..=3 {
        h.send(&usage_call(id));
    }
    assert_eq!(h.jobs.len(), 2, "a burst of two, then the rate");
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(30))
    );
    h.now += Duration::from_secs(29);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.jobs.len(), 2, "not before its time");
    h.now += Duration::from_secs(1);
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.jobs.len(), 3, "the third goes after 30 s");
    let health = h.health(9);
    assert_eq!(
        health["upstream"]["rate_limits"]["requests"]["per_minute"],
        2
    );
    assert_eq!(
        health["upstream"]["rate_limits"]["requests"]["available"],
        0
    );
}

#[test]
fn a_rate_wait_past_the_deadline_fails_at_once() {
    let mut config = with_key();
    config.settings.limits.requests_per_minute = 1;
    config.settings.limits.call_deadline_ms = 10_000;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    assert!(h.send(&usage_call(1)).is_empty());
    let r = h.send(&usage_call(2));
    let r = r.iter().find(|m| m["id"] == 2).expect("an answer to 2");
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Rate limit: this call would wait 60 s"),
        "{text}"
    );
    assert_eq!(h.jobs.len(), 1);
    assert_eq!(h.server.in_flight(), 1);
}

#[test]
fn a_text_longer_than_the_character_rate_is_refused_before_sending() {
    let mut config = with_key();
    config.settings.limits.characters_per_minute = 10;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"speak","arguments":{"text":"Far more than ten characters.","voice":"21m00Tcm4TlvDq8ikWAM"}}}"#);
    let (models, _) = h.jobs.pop().expect("the model list");
    let list = r#"[{"model_id":"eleven_flash_v2_5","name":"Flash","can_do_text_to_speech":true,"max_characters_request_subscribed_user":40000,"languages":[]}]"#;
    let r = h.finish(models, http_ok(list)).remove(0);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("`limits.characters_per_minute` (10)"),
        "{text}"
    );
    assert!(h.jobs.is_empty(), "no speech job");
}

#[test]
fn the_concurrency_cap_follows_what_elevenlabs_allows() {
    let mut config = with_key();
    config.settings.limits.max_concurrent = 4;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    let (job, _) = h.jobs.pop().unwrap();
    let allowed = JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 200,
        headers: vec![("maximum-concurrent-requests".into(), "2".into())],
        body: SUBSCRIPTION.as_bytes().to_vec(),
    }));
    h.finish(job, allowed);
    for id in 2..=4 {
        h.send(&usage_call(id));
    }
    assert_eq!(h.jobs.len(), 2, "the account allows two at once");
    // Two running; one of them is refused for concurrency: the cap drops to one.
    let (job, _) = h.jobs.remove(0);
    let busy = JobResult::Http(Ok(elevenlabs::HttpResponse {
        status: 429,
        headers: vec![],
        body: br#"{"detail":{"status":"concurrent_limit_exceeded","message":"Too many concurrent requests"}}"#.to_vec(),
    }));
    h.finish(job, busy);
    assert_eq!(
        h.jobs.len(),
        1,
        "the queued call waits: one runs, the cap is one"
    );
    let health = h.health(9);
    assert_eq!(health["upstream"]["max_concurrent"]["configured"], 4);
    assert_eq!(health["upstream"]["max_concurrent"]["effective"], 1);
}

#[test]
fn jobs_queued_before_the_breaker_opened_are_not_sent() {
    let mut config = fragile();
    config.settings.limits.max_concurrent = 1;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    for id in 1..=4 {
        h.send(&usage_call(id));
    }
    assert_eq!(h.jobs.len(), 1, "one at a time");
    for _ in 0..3 {
        let (job, _) = h.jobs.remove(0);
        h.finish(job, server_error());
    }
    assert!(
        h.jobs.is_empty(),
        "the fourth call is not sent once the breaker is open"
    );
    assert_eq!(h.server.in_flight(), 0, "it was answered");
}

#[test]
fn a_call_waiting_for_a_slot_fails_at_its_deadline() {
    let mut config = with_key();
    config.settings.limits.max_concurrent = 1;
    config.settings.limits.call_deadline_ms = 5_000;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_call(1));
    h.send(&usage_call(2));
    assert_eq!(h.jobs.len(), 1);
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(5))
    );
    h.now += Duration::from_secs(5);
    h.server.handle_timeout(h.now);
    let r = h.drain().remove(0);
    assert_eq!(r["id"], 2);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("waited for a free slot"), "{text}");
    assert_eq!(h.server.in_flight(), 1, "the first call still runs");
}

/// Three failing calls (ids 2 to 4) open the breaker of a [`fragile`] config.
fn open_breaker(h: &mut Harness) {
    for id in 2..=4 {
        h.send(&usage_call(id));
        let (job, _) = h.jobs.pop().unwrap();
        h.finish(job, server_error());
    }
}

fn with_fallback(mut config: Config) -> Config {
    config.settings.limits.max_retries = 0;
    config.settings.fallback_command = vec!["espeak-ng".into(), "--stdout".into()];
    config
}

const SPEAK_RAW: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"speak","arguments":{"text":"Hello there.","voice":"21m00Tcm4TlvDq8ikWAM","raw":true}}}"#;

fn fallback_done() -> JobResult {
    JobResult::Speech(Ok(SpeechDone {
        first_byte_us: None,
        head: elevenlabs::HttpResponse::default(),
        data_bytes: 1044,
        total_bytes: 1044,
        file: Some("20260101-000000-fallback-0a1b2c3d.wav".into()),
        data: None,
        cache_entry: None,
        player_failed: None,
        alignment: None,
    }))
}

#[test]
fn the_fallback_voice_speaks_when_elevenlabs_is_unreachable() {
    let mut h = Harness::new(with_fallback(with_key()));
    h.init("2025-11-25");
    h.send(SPEAK_RAW);
    let (models, _) = h.jobs.pop().unwrap();
    let refused = JobResult::Http(Err(elevenlabs::Transport::ConnectionRefused));
    assert!(
        h.finish(models, refused).is_empty(),
        "no answer yet: the fallback runs"
    );
    let (job, fallback) = h.jobs.pop().expect("a fallback job");
    match &fallback {
        Job::Fallback {
            argv, text, sink, ..
        } => {
            assert_eq!(argv, &["espeak-ng", "--stdout"]);
            assert_eq!(text, "Hello there.");
            assert!(matches!(sink, Sink::File { wav: None, .. }), "{sink:?}");
        }
        other => panic!("{other:?}"),
    }
    let r = h.finish(job, fallback_done()).remove(0);
    assert_eq!(r["result"]["isError"], false, "{r}");
    let s = &r["result"]["structuredContent"];
    assert_eq!(s["fallback"], true);
    assert_eq!(s["mime_type"], "audio/wav");
    assert!(
        s["fallback_reason"].as_str().unwrap().contains("refused"),
        "{s}"
    );
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("offline fallback voice (`espeak-ng`)"),
        "{text}"
    );
}

#[test]
fn the_fallback_voice_speaks_while_the_breaker_is_open_unless_switched_off() {
    let mut config = with_fallback(fragile());
    config.settings.fallback_when = vec!["breaker_open".into()];
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    open_breaker(&mut h);
    h.send(SPEAK_RAW);
    let (_, job) = h.jobs.pop().expect("the fallback goes at once");
    assert!(matches!(job, Job::Fallback { .. }), "{job:?}");

    // Only `unreachable` allowed: a breaker-open speak fails instead.
    let mut config = with_fallback(fragile());
    config.settings.fallback_when = vec!["unreachable".into()];
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    open_breaker(&mut h);
    let r = h.send(SPEAK_RAW);
    let r = r.iter().find(|m| m["id"] == 1).expect("an answer");
    assert_eq!(r["result"]["isError"], true);
    assert!(h.jobs.is_empty());
}

fn usage_with_token(id: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_usage","_meta":{{"progressToken":"t{id}"}}}}}}"#
    )
}

/// The `(progress, message)` of each progress notification for `token`.
fn waits(replies: &[Value], token: &str) -> Vec<(u64, String)> {
    replies
        .iter()
        .filter(|r| {
            r["method"] == "notifications/progress" && r["params"]["progressToken"] == token
        })
        .map(|r| {
            let p = &r["params"];
            (
                p["progress"].as_u64().unwrap(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_queued_call_with_a_progress_token_hears_where_it_waits() {
    let mut config = with_key();
    config.settings.limits.max_concurrent = 1;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    assert!(
        h.send(&usage_with_token(1)).is_empty(),
        "it runs: nothing to say"
    );
    let r2 = h.send(&usage_with_token(2));
    assert_eq!(
        waits(&r2, "t2"),
        vec![(
            1,
            "waiting for a free slot (limits.max_concurrent): 0 call(s) ahead".into()
        )]
    );
    let r3 = h.send(&usage_with_token(3));
    assert_eq!(
        waits(&r3, "t3")[0].1,
        "waiting for a free slot (limits.max_concurrent): 1 call(s) ahead"
    );
    // Without a token nothing is sent.
    assert!(h.send(&usage_call(4)).is_empty());
    let (first, _) = h.jobs.remove(0);
    let after = h.finish(first, http_ok(SUBSCRIPTION));
    assert_eq!(after.iter().filter(|r| r["id"] == 1).count(), 1);
    // 2 runs now; 3 moved up, its progress one more than before.
    assert!(waits(&after, "t2").is_empty());
    assert_eq!(
        waits(&after, "t3"),
        vec![(
            2,
            "waiting for a free slot (limits.max_concurrent): 0 call(s) ahead".into()
        )]
    );
}

#[test]
fn a_call_held_by_the_rate_limit_hears_how_long() {
    let mut config = with_key();
    config.settings.limits.requests_per_minute = 1;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    h.send(&usage_with_token(1));
    let r = h.send(&usage_with_token(2));
    assert_eq!(
        waits(&r, "t2"),
        vec![(1, "waiting 60 s for the rate limits (limits.requests_per_minute, limits.characters_per_minute)".into())]
    );
}
