//! The audio cache through the whole core: asked before anything is sent, filled as audio
//! arrives, served with the breaker open, counted in `health://status`, trimmed to its size.

use super::cache::CacheKey;
use super::server_tests::{Harness, http_ok, with_key};
use super::*;
use serde_json::Value;

const MODELS: &str = r#"[{"model_id":"eleven_flash_v2_5","can_do_text_to_speech":true,"max_characters_request_free_user":10000,"max_characters_request_subscribed_user":40000,"languages":[{"language_id":"en"}]}]"#;

fn speak(id: u32, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"speak","arguments":{{"text":"{text}","voice":"21m00Tcm4TlvDq8ikWAM","delivery":"inline"}}}}}}"#
    )
}

fn cached_config(max_mb: u64) -> Config {
    let mut config = with_key();
    config.settings.cache_enabled = true;
    config.settings.cache_max_mb = max_mb;
    config
}

fn audio(n: usize, entry: Option<u64>) -> SpeechDone {
    SpeechDone {
        first_byte_us: None,
        head: elevenlabs::HttpResponse {
            status: 200,
            ..Default::default()
        },
        data_bytes: n as u64,
        total_bytes: n as u64,
        file: None,
        data: Some(vec![7; n]),
        cache_entry: entry,
        player_failed: None,
        alignment: None,
    }
}

/// Speaks `text` with an empty cache: a miss, the model list, the stream (stored as an entry
/// of `entry` bytes). Returns the key and the result.
fn speak_fresh(h: &mut Harness, id: u32, text: &str, entry: u64) -> (CacheKey, Value) {
    assert!(h.send(&speak(id, text)).is_empty());
    let (read, job) = h.jobs.pop().expect("the cache is asked first");
    let Job::CacheRead { key, .. } = job else {
        panic!("{job:?}")
    };
    assert!(h.finish(read, JobResult::Cached(None)).is_empty());
    if let Some((models, Job::Http { .. })) = h.jobs.last().cloned() {
        h.jobs.pop();
        assert!(h.finish(models, http_ok(MODELS)).is_empty());
    }
    let (stream, job) = h.jobs.pop().expect("the stream");
    let Job::Speech { cache, .. } = &job else {
        panic!("{job:?}")
    };
    assert_eq!(
        cache.map(|(k, _)| k),
        Some(key),
        "stored under the key asked for"
    );
    let r = h
        .finish(stream, JobResult::Speech(Ok(audio(100, Some(entry)))))
        .remove(0);
    (key, r)
}

#[test]
fn a_repeated_speak_is_served_from_the_cache_with_nothing_sent() {
    let mut h = Harness::new(cached_config(200));
    h.init("2025-11-25");
    assert!(h.upkeep.is_empty(), "nothing before the first request");
    let (key, first) = speak_fresh(&mut h, 1, "Hello there.", 140);
    assert!(matches!(h.upkeep[..], [(_, Job::CacheScan)]), "listed once");
    assert_eq!(first["result"]["isError"], false, "{first}");
    assert!(first["result"]["structuredContent"].get("cached").is_none());

    assert!(h.send(&speak(2, "Hello there.")).is_empty());
    let (read, job) = h.jobs.pop().unwrap();
    assert!(
        matches!(job, Job::CacheRead { key: k, .. } if k == key),
        "{job:?}"
    );
    assert!(h.jobs.is_empty(), "nothing else asked for");
    let r = h
        .finish(read, JobResult::Cached(Some(Ok(audio(100, Some(140))))))
        .remove(0);
    let result = &r["result"];
    assert_eq!(result["isError"], false, "{r}");
    assert_eq!(result["structuredContent"]["cached"], true);
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("from the cache") && text.contains("nothing billed"),
        "{text}"
    );
    assert!(h.jobs.is_empty(), "a hit sends nothing");
    if cfg!(feature = "usage-db") {
        // One ledger row each, written before the answer: the first billed, the hit not.
        let rows: Vec<(u64, u64, bool, &str)> = h
            .rows
            .iter()
            .map(|r| (r.characters, r.billed, r.cached, r.outcome))
            .collect();
        assert_eq!(rows, [(12, 12, false, "ok"), (12, 0, true, "ok")]);
    }

    // Another text, voice setting or format is another key.
    assert!(h.send(&speak(3, "Hello there!")).is_empty());
    let (_, job) = h.jobs.pop().unwrap();
    assert!(matches!(job, Job::CacheRead { key: k, .. } if k != key));

    let health = h.health(9);
    let cache = &health["cache"];
    assert_eq!(cache["hits"], 1, "{cache}");
    assert_eq!(cache["misses"], 1);
    assert_eq!(cache["stored"], 1);
    assert_eq!(cache["entries"], 1);
    assert_eq!(cache["bytes"], 140);
}

#[test]
fn a_hit_is_served_with_the_breaker_open_and_every_slot_taken() {
    let mut config = cached_config(200);
    config.settings.limits.max_retries = 0;
    config.settings.limits.breaker_failures = 1;
    config.settings.limits.max_concurrent = 1;
    let mut h = Harness::new(config);
    h.init("2025-11-25");
    // The one slot is taken by a call that then fails and opens the breaker.
    h.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_usage"}}"#);
    let (usage, _) = h.jobs.pop().unwrap();
    h.send(
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"audio://a.mp3"}}"#,
    );
    let refused = JobResult::Http(Err(elevenlabs::Transport::ConnectionRefused));
    h.finish(usage, refused);
    assert_eq!(h.health(3)["upstream"]["breaker"]["state"], "open");
    // The file read holds the slot now.
    assert_eq!(h.jobs.len(), 1);
    assert!(h.send(&speak(4, "Cached line.")).is_empty());
    let (read, job) = h.jobs.pop().unwrap();
    assert!(matches!(job, Job::CacheRead { .. }), "{job:?}");
    let r = h
        .finish(read, JobResult::Cached(Some(Ok(audio(10, Some(50))))))
        .remove(0);
    assert_eq!(r["id"], 4);
    assert_eq!(r["result"]["structuredContent"]["cached"], true, "{r}");

    // A miss goes on to the network, where the open breaker stops it.
    assert!(h.send(&speak(5, "Not cached.")).is_empty());
    let (read, _) = h.jobs.pop().unwrap();
    let r = h.finish(read, JobResult::Cached(None)).remove(0);
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("pausing its requests"), "{text}");
}

#[test]
fn the_least_recently_used_entries_are_evicted_past_the_size() {
    // 1 MiB: three entries of 400 KiB do not fit.
    let mut h = Harness::new(cached_config(1));
    h.init("2025-11-25");
    let (a, _) = speak_fresh(&mut h, 1, "First.", 400 << 10);
    // The scan comes after: what it lists is older than what this run used.
    let (scan, _) = h.upkeep.pop().unwrap();
    let old = CacheKey::of(&["from an earlier run"]);
    h.finish(scan, JobResult::CacheScanned(vec![(old, 400 << 10)]));
    assert!(h.upkeep.is_empty(), "two entries fit");
    let (b, _) = speak_fresh(&mut h, 2, "Second.", 400 << 10);
    match h.upkeep.pop() {
        Some((_, Job::CacheEvict { keys })) => assert_eq!(keys, vec![old]),
        other => panic!("{other:?}"),
    }
    // Using `a` makes `b` the least recently used.
    h.send(&speak(3, "First."));
    let (read, _) = h.jobs.pop().unwrap();
    h.finish(
        read,
        JobResult::Cached(Some(Ok(audio(100, Some(400 << 10))))),
    );
    speak_fresh(&mut h, 4, "Third.", 400 << 10);
    match h.upkeep.pop() {
        Some((_, Job::CacheEvict { keys })) => assert_eq!(keys, vec![b]),
        other => panic!("{other:?}"),
    }
    let cache = &h.health(9)["cache"];
    assert_eq!(cache["entries"], 2, "{cache}");
    assert_ne!(a, b);
}

#[test]
fn a_cache_off_asks_nothing_of_it() {
    let mut h = Harness::new(with_key());
    h.init("2025-11-25");
    assert!(h.upkeep.is_empty());
    h.send(&speak(1, "Hello."));
    let (_, job) = h.jobs.pop().unwrap();
    assert!(matches!(job, Job::Http { .. }), "{job:?}");
    assert_eq!(h.health(2)["cache"]["enabled"], false);
}
