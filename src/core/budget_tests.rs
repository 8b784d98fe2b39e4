//! Budgets through the whole core: a speech job waits for its reservation, a refusal sends
//! nothing (or hands over to the fallback voice), the row settles the reservation, warnings
//! are said once per threshold, and a call that goes away gives its reservation back.

use super::server_tests::{Harness, http_ok, with_key};
use super::usage::{Refusal, Reserved, Used};
use super::*;
use serde_json::Value;

const MODELS: &str = r#"[{"model_id":"eleven_flash_v2_5","can_do_text_to_speech":true,"max_characters_request_subscribed_user":40000,"languages":[{"language_id":"en"}]}]"#;

fn speak(id: u32, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"speak","arguments":{{"text":"{text}","voice":"21m00Tcm4TlvDq8ikWAM","delivery":"inline","raw":true}}}}}}"#
    )
}

fn budgeted(daily: u64, per_call: u64) -> Config {
    let mut config = with_key();
    config.settings.limits.daily_characters = daily;
    config.settings.limits.per_call_characters = per_call;
    config.settings.limits.max_retries = 0;
    config
}

fn done(bytes: usize) -> JobResult {
    JobResult::Speech(Ok(SpeechDone {
        first_byte_us: None,
        head: elevenlabs::HttpResponse {
            status: 200,
            headers: vec![("character-cost".into(), "6".into())],
            body: Vec::new(),
        },
        data_bytes: bytes as u64,
        total_bytes: bytes as u64,
        file: None,
        data: Some(vec![1; bytes]),
        cache_entry: None,
        player_failed: None,
        alignment: None,
    }))
}

/// Starts `speak` of `text` and answers the model list: returns the job that comes next.
fn start(h: &mut Harness, id: u32, text: &str) -> (JobId, Job) {
    assert!(h.send(&speak(id, text)).is_empty());
    if let Some((models, Job::Http { .. })) = h.jobs.last().cloned() {
        h.jobs.pop();
        assert!(h.finish(models, http_ok(MODELS)).is_empty());
    }
    h.jobs.pop().expect("a job after the model list")
}

fn text_of(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"].as_str().unwrap()
}

#[test]
fn a_speech_waits_for_its_reservation_and_its_row_settles_it() {
    let mut h = Harness::new(budgeted(1000, 0));
    h.init("2025-11-25");
    h.one(r#"{"jsonrpc":"2.0","id":90,"method":"logging/setLevel","params":{"level":"warning"}}"#);
    let (reserve, job) = start(&mut h, 1, "Hello there.");
    let Job::Reserve(r) = job else {
        panic!("the reservation comes first: {job:?}")
    };
    assert_eq!((r.characters, r.budgets.daily), (12, 1000));
    assert!(r.day.start <= r.now_ms / 1000 && r.now_ms / 1000 < r.day.end);
    assert!(r.expires_ms > r.now_ms);
    assert!(h.jobs.is_empty(), "nothing sent before it is held");

    // Held at 81 % of the day: the speech goes, and its answer carries the warning.
    let used = Used {
        day: 810,
        month: 810,
    };
    let replies = h.finish(
        reserve,
        JobResult::Reserved(Ok(Reserved::Held { id: 7, used })),
    );
    let notice = replies
        .iter()
        .find(|m| m["method"] == "notifications/message")
        .expect("a warning to the session");
    assert_eq!(notice["params"]["level"], "warning");
    let (stream, job) = h.jobs.pop().expect("the speech");
    assert!(matches!(job, Job::Speech { .. }), "{job:?}");
    let answer = h.finish(stream, done(64)).remove(0);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert!(text_of(&answer).contains("past 80%"), "{answer}");
    let row = h.rows.pop().expect("its row");
    assert_eq!((row.reservation, row.billed), (Some(7), 6));

    // Still past 80 %, not yet 95 %: not said again.
    let (reserve, _) = start(&mut h, 2, "Hello there.");
    let used = Used {
        day: 830,
        month: 830,
    };
    let replies = h.finish(
        reserve,
        JobResult::Reserved(Ok(Reserved::Held { id: 8, used })),
    );
    assert!(replies.is_empty(), "{replies:?}");
    let (stream, _) = h.jobs.pop().unwrap();
    let answer = h.finish(stream, done(64)).remove(0);
    assert!(!text_of(&answer).contains("warning"), "{answer}");
}

#[test]
fn over_budget_nothing_is_sent_and_the_reason_says_when_it_resets() {
    let mut h = Harness::new(budgeted(1000, 0));
    h.init("2025-11-25");
    let (reserve, _) = start(&mut h, 1, "Hello there.");
    let refusal = Refusal {
        key: "limits.daily_characters",
        limit: 1000,
        used: 995,
        asked: 12,
        resets: Some(1_796_083_200),
    };
    let answer = h
        .finish(reserve, JobResult::Reserved(Ok(Reserved::Refused(refusal))))
        .remove(0);
    assert_eq!(answer["result"]["isError"], true);
    let text = text_of(&answer);
    assert!(
        text.contains("5 left")
            && text.contains("2026-12-01 00:00 UTC")
            && text.contains("Nothing was sent"),
        "{text}"
    );
    assert!(h.jobs.is_empty(), "no speech job");
    let row = h.rows.pop().expect("the refusal is a row too");
    assert_eq!(
        (row.outcome, row.billed, row.reservation),
        ("error", 0, None)
    );
}

#[test]
fn a_ledger_that_cannot_be_read_refuses_rather_than_spend_blindly() {
    let mut h = Harness::new(budgeted(1000, 0));
    h.init("2025-11-25");
    let (reserve, _) = start(&mut h, 1, "Hello there.");
    let broken = JobResult::Reserved(Err(
        "usage ledger /x/usage.sqlite3: database is locked".into()
    ));
    let answer = h.finish(reserve, broken).remove(0);
    assert_eq!(answer["result"]["isError"], true);
    let text = text_of(&answer);
    assert!(
        text.contains("database is locked") && text.contains("never spent blindly"),
        "{text}"
    );
    assert!(h.jobs.is_empty());
}

#[test]
fn the_per_call_budget_needs_no_ledger_and_the_fallback_voice_can_take_over() {
    let mut h = Harness::new(budgeted(0, 5));
    h.init("2025-11-25");
    let answer = h.send(&speak(1, "Hello there.")).pop();
    let answer = match answer {
        Some(a) => a,
        None => {
            let (models, _) = h.jobs.pop().unwrap();
            h.finish(models, http_ok(MODELS)).remove(0)
        }
    };
    assert_eq!(answer["result"]["isError"], true);
    assert!(
        text_of(&answer).contains("limits.per_call_characters"),
        "{answer}"
    );
    assert!(h.jobs.is_empty(), "no reservation, no speech");

    let mut config = budgeted(0, 5);
    config.settings.fallback_command = vec!["espeak-ng".into(), "--stdout".into()];
    config.settings.fallback_when = vec!["budget".into()];
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    let (_, job) = start(&mut h, 1, "Hello there.");
    assert!(matches!(job, Job::Fallback { .. }), "{job:?}");
}

#[test]
fn a_call_that_goes_away_gives_its_reservation_back() {
    let mut config = budgeted(1000, 0);
    config.settings.limits.max_concurrent = 1;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    // The first call holds the only slot.
    let (reserve, _) = start(&mut h, 1, "Hello there.");
    let held = |id| {
        JobResult::Reserved(Ok(Reserved::Held {
            id,
            used: Used::default(),
        }))
    };
    h.finish(reserve, held(1));
    let (_first, _) = h.jobs.pop().unwrap();
    // The second is held and queued behind it, then cancelled: nothing was sent, so the
    // reservation is released.
    let (reserve, _) = start(&mut h, 2, "Hello again.");
    h.finish(reserve, held(2));
    assert!(h.jobs.is_empty(), "queued behind the first");
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#);
    assert!(
        matches!(h.jobs.pop(), Some((_, Job::Release(2)))),
        "{:?}",
        h.jobs
    );
    // The third is cancelled while its reservation is being made: released when it comes.
    let (reserve, _) = start(&mut h, 3, "And again.");
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#);
    h.finish(reserve, held(3));
    assert!(
        matches!(h.jobs.pop(), Some((_, Job::Release(3)))),
        "{:?}",
        h.jobs
    );
    // The first is cancelled while its request runs: settled as billed in full.
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#);
    let row = h.rows.pop().expect("a row for the cancelled call");
    assert_eq!(
        (row.outcome, row.billed, row.reservation),
        ("cancelled", 12, Some(1))
    );
}

#[test]
fn a_call_the_gate_refuses_after_its_reservation_settles_it() {
    let mut config = budgeted(1000, 0);
    config.settings.limits.characters_per_minute = 5;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    let (reserve, _) = start(&mut h, 1, "Hello there.");
    let held = JobResult::Reserved(Ok(Reserved::Held {
        id: 4,
        used: Used::default(),
    }));
    let answer = h.finish(reserve, held).remove(0);
    assert!(
        text_of(&answer).contains("characters_per_minute"),
        "{answer}"
    );
    let row = h.rows.pop().expect("its row");
    assert_eq!(
        (row.outcome, row.billed, row.reservation),
        ("error", 0, Some(4))
    );
}

#[test]
fn a_stream_cut_after_its_audio_began_is_recorded_as_billed() {
    let mut h = Harness::new(budgeted(1000, 0));
    h.init("2025-11-25");
    let (reserve, _) = start(&mut h, 1, "Hello there.");
    let held = JobResult::Reserved(Ok(Reserved::Held {
        id: 9,
        used: Used::default(),
    }));
    h.finish(reserve, held);
    let (stream, _) = h.jobs.pop().unwrap();
    let cut = JobResult::Speech(Err(SpeechFailed::Transport {
        error: elevenlabs::Transport::Io("connection reset".into()),
        bytes: 4096,
    }));
    let answer = h.finish(stream, cut).remove(0);
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let row = h.rows.pop().expect("its row");
    assert_eq!(
        (row.outcome, row.billed, row.reservation),
        ("error", 12, Some(9))
    );
}

#[test]
fn a_subscription_past_a_threshold_is_said_once_per_period() {
    const SUB: &str = r#"{"tier":"creator","character_count":85000,"character_limit":100000,"next_character_count_reset_unix":1798761600,"status":"active"}"#;
    let mut h = Harness::new(budgeted(0, 0));
    h.init("2025-11-25");
    h.one(r#"{"jsonrpc":"2.0","id":90,"method":"logging/setLevel","params":{"level":"warning"}}"#);
    let usage = |h: &mut Harness, id: u32| -> Vec<Value> {
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_usage"}}}}"#
        );
        assert!(h.send(&call).is_empty());
        let (job, _) = h.jobs.pop().unwrap();
        h.finish(job, http_ok(SUB))
    };
    let first = usage(&mut h, 1);
    let notices: Vec<&Value> = first
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .collect();
    assert_eq!(notices.len(), 1, "{first:?}");
    assert!(
        notices[0]["params"]["data"]
            .as_str()
            .unwrap()
            .contains("subscription")
    );
    let answer = first.iter().find(|m| m["id"] == 1).unwrap();
    assert!(text_of(answer).contains("Past 80%"), "{answer}");
    let again = usage(&mut h, 2);
    assert!(
        again.iter().all(|m| m["method"] != "notifications/message"),
        "{again:?}"
    );
}
