//! Playback end to end: the real binary, the fake ElevenLabs API, a recorder player that
//! timestamps what it reads, and the real `aplay` on ALSA's null device.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use support::fake_elevenlabs::{FakeElevenLabs, RACHEL, StreamConfig, fake_audio};
use support::{Home, Server, initialize, req};

const KEY: &str = "sk_test_play_0123456789abcdef";
const V: &str = "2025-11-25";

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A server whose `player` is the recorder, reading `pace` bytes a second into `log`.
/// A home, the fake streaming `chunks` of 4 KiB per call, and the recorder's log path.
fn stage(name: &str, chunks: usize) -> (Home, FakeElevenLabs, std::path::PathBuf) {
    let home = Home::new(name);
    let fake = FakeElevenLabs::start(KEY);
    fake.set_stream(StreamConfig {
        chunks,
        chunk_bytes: 4096,
        ..StreamConfig::default()
    });
    let log = home.dir.join("player.log");
    (home, fake, log)
}

/// A server whose `player` is the recorder, reading `pace` bytes a second into `log`; the
/// cache off unless `extra` (more YAML) sets it.
fn serve_with(
    home: &Home,
    fake: &FakeElevenLabs,
    log: &std::path::Path,
    pace: u32,
    extra: &str,
) -> Server {
    let recorder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/recorder.py");
    let cache = if extra.contains("cache:") {
        ""
    } else {
        "cache:\n  enabled: false\n"
    };
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\n{cache}player: [python3, {recorder}, {}, \"{pace}\"]\n{extra}",
        fake.url(),
        log.display()
    ));
    let mut srv = Server::start(home, &[]);
    srv.call(&initialize(1, V));
    srv
}

fn serve_recorded(home: &Home, fake: &FakeElevenLabs, log: &std::path::Path, pace: u32) -> Server {
    serve_with(home, fake, log, pace, "")
}

fn speak_args(text: &str, extra: Value) -> Value {
    let mut args = json!({"text": text, "voice": RACHEL, "delivery": "play", "raw": true, "output_format": "pcm_24000"});
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    json!({"name": "speak", "arguments": args})
}

/// Each recorder process's events, by pid: (first byte ns, first bytes hex, eof ns).
#[derive(Debug, Default, Clone)]
struct Played {
    start: u128,
    head: String,
    last_read: u128,
    eof: Option<u128>,
}

fn played(log: &std::path::Path) -> Vec<Played> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut by_pid: BTreeMap<u64, Played> = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let p = by_pid.entry(parts[0].parse().unwrap()).or_default();
        let ns: u128 = parts[2].parse().unwrap();
        match parts[1] {
            "start" => {
                p.start = ns;
                p.head = parts[3].to_string();
            }
            "read" => p.last_read = ns,
            "eof" => p.eof = Some(ns),
            _ => panic!("{line}"),
        }
    }
    let mut all: Vec<Played> = by_pid.into_values().collect();
    all.sort_by_key(|p| p.start);
    all
}

fn head_of(text: &str) -> String {
    fake_audio(text, "pcm_24000", 16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

#[test]
fn play_answers_when_playback_starts_and_wait_when_it_ends() {
    // 128 KiB of PCM at 64 KB/s: two seconds of playing, more than a pipe holds, so a late
    // answer would come near the end.
    let (home, fake, log) = stage("play-start", 32);
    let mut srv = serve_recorded(&home, &fake, &log, 64_000);
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        speak_args("Answer at the start.", json!({})),
    ));
    let answered = now_ns();
    let result = &r["result"];
    assert_eq!(result["isError"], false, "{r}");
    assert_eq!(result["structuredContent"]["delivery"], "play");
    assert_eq!(result["structuredContent"]["playing"], true);
    assert!(result["structuredContent"]["request_id"].is_string(), "{r}");
    assert!(wait_for(Duration::from_secs(10), || played(&log)
        .first()
        .is_some_and(|p| p.eof.is_some())));
    let first = played(&log)[0].clone();
    assert_eq!(first.head, head_of("Answer at the start."));
    // The answer comes once the player has the first audio (the recorder, a Python process, may
    // read it a little later), and long before the audio ends.
    assert!(
        first.eof.unwrap() > answered + 1_000_000_000,
        "answered at the start, not near the end"
    );

    let r = srv.call(&req(
        V,
        3,
        "tools/call",
        speak_args("Answer at the end.", json!({"wait": true})),
    ));
    let answered = now_ns();
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert_eq!(r["result"]["structuredContent"]["delivery"], "play", "{r}");
    let second = played(&log)[1].clone();
    assert_eq!(second.head, head_of("Answer at the end."));
    assert!(
        second.eof.is_some_and(|eof| eof <= answered),
        "wait: answered after the end"
    );
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
}

#[test]
fn queued_utterances_play_in_order_and_never_overlap() {
    let (home, fake, log) = stage("play-queue", 4);
    let mut srv = serve_recorded(&home, &fake, &log, 64_000);
    let texts = ["One.", "Two.", "Three.", "Four."];
    for (i, text) in texts.iter().enumerate() {
        srv.send(&req(
            V,
            10 + i as u64,
            "tools/call",
            speak_args(text, json!({})),
        ));
    }
    for _ in texts {
        let r = srv.recv();
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    assert!(wait_for(Duration::from_secs(10), || {
        let p = played(&log);
        p.len() == texts.len() && p.iter().all(|p| p.eof.is_some())
    }));
    let all = played(&log);
    let order: Vec<&str> = all
        .iter()
        .map(|p| {
            texts
                .iter()
                .find(|t| head_of(t) == p.head)
                .copied()
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(order, texts, "played in the order asked");
    for pair in all.windows(2) {
        assert!(pair[0].eof.unwrap() <= pair[1].start, "overlap: {pair:?}");
    }
    srv.finish(Duration::from_secs(10));
}

#[test]
fn stop_speaking_stops_the_player_and_drops_the_queue() {
    // 64 KiB at 16 KB/s: four seconds, far longer than the test waits.
    let (home, fake, log) = stage("play-stop", 16);
    let mut srv = serve_recorded(&home, &fake, &log, 16_000);
    let r = srv.call(&req(V, 2, "tools/call", speak_args("Long.", json!({}))));
    assert_eq!(r["result"]["structuredContent"]["playing"], true, "{r}");
    srv.send(&req(
        V,
        3,
        "tools/call",
        speak_args("Queued, never heard.", json!({"wait": true})),
    ));
    assert!(
        wait_for(Duration::from_secs(5), || !played(&log).is_empty()),
        "the player reads"
    );
    let asked = now_ns();
    srv.send(&req(V, 4, "tools/call", json!({"name": "stop_speaking"})));
    let mut replies: BTreeMap<u64, Value> = BTreeMap::new();
    while replies.len() < 2 {
        let r = srv.recv();
        replies.insert(r["id"].as_u64().unwrap(), r);
    }
    let stop = &replies[&4]["result"];
    assert_eq!(
        stop["structuredContent"],
        json!({"stopped": true, "dropped": 1}),
        "{stop}"
    );
    let dropped = &replies[&3]["result"];
    assert_eq!(dropped["isError"], true);
    assert!(
        dropped["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Dropped"),
        "{dropped}"
    );
    #[cfg(target_os = "linux")]
    {
        let pid = std::fs::read_to_string(&log).unwrap();
        let pid = pid.split(' ').next().unwrap().to_string();
        assert!(
            wait_for(Duration::from_secs(1), || !std::path::Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()),
            "the player process is gone"
        );
        let gone_ms = (now_ns() - asked) / 1_000_000;
        eprintln!("player gone at most {gone_ms} ms after stop_speaking was sent");
    }
    std::thread::sleep(Duration::from_millis(300));
    let all = played(&log);
    assert_eq!(all.len(), 1, "the queued one never played: {all:?}");
    assert!(all[0].eof.is_none(), "killed, not played to the end");
    // Nothing more plays later either.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(played(&log).len(), 1);
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
}

#[test]
fn real_aplay_plays_pcm_and_auto_saves_a_file_without_a_sound_device() {
    let home = Home::new("play-aplay");
    let fake = FakeElevenLabs::start(KEY);
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\nplayer: [aplay, -D, \"null\"]\n",
        fake.url()
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let args = json!({"text": "Played by aplay.", "delivery": "play", "wait": true});
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        json!({"name": "speak", "arguments": args}),
    ));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let s = &r["result"]["structuredContent"];
    assert_eq!(s["delivery"], "play", "{r}");
    assert_eq!(s["mime_type"], "audio/wav", "PCM chosen for aplay: {r}");
    let tts = fake.requests();
    let asked = tts
        .iter()
        .find(|q| q.path.starts_with("/v1/text-to-speech/"))
        .unwrap();
    assert_eq!(asked.param("output_format"), Some("pcm_24000"));
    srv.finish(Duration::from_secs(10));

    // A device that exists nowhere: `auto` saves the audio instead, billed once.
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\nplayer: [aplay, -D, no_such_device]\n",
        fake.url()
    ));
    fake.clear_requests();
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let args = json!({"text": "No sound card here."});
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        json!({"name": "speak", "arguments": args}),
    ));
    let s = &r["result"]["structuredContent"];
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert_eq!(s["delivery"], "file", "{r}");
    let why = s["not_played"].as_str().unwrap();
    assert!(
        why.contains("the player exited with status 1") && why.contains("no_such_device"),
        "{r}"
    );
    let path = s["path"].as_str().unwrap();
    let saved = std::fs::read(path).unwrap();
    assert_eq!(&saved[..4], b"RIFF", "PCM saved as WAV");
    let tts = fake
        .requests()
        .iter()
        .filter(|q| q.path.starts_with("/v1/text-to-speech/"))
        .count();
    assert_eq!(tts, 1, "billed once");
    // Having failed once, `auto` saves files in the file format without trying again.
    let args = json!({"text": "Still no sound card."});
    let r = srv.call(&req(
        V,
        3,
        "tools/call",
        json!({"name": "speak", "arguments": args}),
    ));
    let s = &r["result"]["structuredContent"];
    assert_eq!(s["delivery"], "file", "{r}");
    assert_eq!(s["mime_type"], "audio/mpeg", "{r}");
    assert!(
        s["not_played"].as_str().unwrap().contains("failed before"),
        "{r}"
    );
    srv.finish(Duration::from_secs(10));

    // `play` without a working player is a clear error.
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let args = json!({"text": "Must play.", "delivery": "play"});
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        json!({"name": "speak", "arguments": args}),
    ));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("Could not play") && text.contains("player"),
        "{text}"
    );
    srv.finish(Duration::from_secs(10));
}

#[test]
fn two_server_processes_take_turns_through_the_speaker_lock() {
    // 24 KiB at 48 KB/s: half a second each.
    let (home, fake, log) = stage("play-two", 6);
    let mut a = serve_recorded(&home, &fake, &log, 48_000);
    let mut b = serve_recorded(&home, &fake, &log, 48_000);
    a.send(&req(
        V,
        2,
        "tools/call",
        speak_args("From host A.", json!({"wait": true})),
    ));
    b.send(&req(
        V,
        2,
        "tools/call",
        speak_args("From host B.", json!({"wait": true})),
    ));
    for srv in [&mut a, &mut b] {
        let r = srv.recv();
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    let all = played(&log);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter().all(|p| p.eof.is_some()),
        "both played to the end"
    );
    assert!(
        all[0].eof.unwrap() <= all[1].start,
        "two processes overlapped: {all:?}"
    );
    a.finish(Duration::from_secs(10));
    b.finish(Duration::from_secs(10));
}

/// A cancelled call whose stream has stalled lets go at once: its connection is dropped within
/// `watch::SLICE`, so the next utterance does not wait for the read timeout (5 s here).
#[test]
fn a_cancelled_stalled_stream_lets_the_next_utterance_play_at_once() {
    use support::fake_elevenlabs::Reply;
    let (home, fake, log) = stage("play-stall", 4);
    let limits = "limits:\n  request_timeout_ms: 5000\n  max_retries: 0\n";
    let mut srv = serve_with(&home, &fake, &log, 64_000, limits);
    // Warm the model list, so the stalled request is the stream itself.
    srv.call(&req(V, 2, "tools/call", json!({"name": "list_models"})));
    fake.fail_next(
        "/v1/text-to-speech",
        1,
        Reply::Stall(Duration::from_secs(20)),
    );
    srv.send(&req(
        V,
        3,
        "tools/call",
        speak_args("Stalls.", json!({"wait": true})),
    ));
    std::thread::sleep(Duration::from_millis(500));
    let cancelled = std::time::Instant::now();
    srv.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
    );
    let r = srv.call(&req(V, 4, "tools/call", speak_args("Next.", json!({}))));
    let waited = cancelled.elapsed();
    assert_eq!(r["result"]["structuredContent"]["playing"], true, "{r}");
    eprintln!(
        "the next utterance played {} ms after the cancel",
        waited.as_millis()
    );
    assert!(
        waited < Duration::from_millis(2500),
        "it waited for the stalled read: {waited:?}"
    );
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
}

#[test]
fn a_refused_call_does_not_hold_the_queue_and_a_stop_saves_nothing() {
    let (home, fake, log) = stage("play-refused", 16);
    let mut srv = serve_recorded(&home, &fake, &log, 16_000);
    // With the model list known, a bad file name is refused while the call starts, after it
    // took its turn in the queue: the turn must pass on.
    srv.call(&req(V, 2, "tools/call", json!({"name": "list_models"})));
    let bad = json!({"delivery": "auto", "filename": "../escape"});
    let r = srv.call(&req(V, 5, "tools/call", speak_args("Refused.", bad)));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let r = srv.call(&req(
        V,
        3,
        "tools/call",
        speak_args("Still heard.", json!({"delivery": "auto"})),
    ));
    assert_eq!(r["result"]["structuredContent"]["playing"], true, "{r}");
    // Stopping an `auto` playback keeps nothing: its copy is for a player that fails.
    let r = srv.call(&req(V, 4, "tools/call", json!({"name": "stop_speaking"})));
    assert_eq!(r["result"]["structuredContent"]["stopped"], true, "{r}");
    std::thread::sleep(Duration::from_millis(300));
    let files = std::fs::read_dir(home.audio_dir()).map_or(0, |d| d.count());
    assert_eq!(files, 0, "a stopped auto playback saved nothing");
    srv.finish(Duration::from_secs(10));
}

#[test]
fn a_cached_utterance_is_answered_when_it_starts() {
    let (home, fake, log) = stage("play-cached", 32);
    let mut srv = serve_with(&home, &fake, &log, 128_000, "cache:\n  enabled: true\n");
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        speak_args("Twice.", json!({"wait": true})),
    ));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let r = srv.call(&req(V, 3, "tools/call", speak_args("Twice.", json!({}))));
    let answered = now_ns();
    assert_eq!(r["result"]["structuredContent"]["cached"], true, "{r}");
    assert!(wait_for(Duration::from_secs(10), || played(&log).len()
        == 2
        && played(&log)[1].eof.is_some()));
    // 128 KiB at 128 KB/s: one second; the answer came well before its end.
    assert!(
        played(&log)[1].eof.unwrap() > answered + 400_000_000,
        "answered near the end"
    );
    srv.finish(Duration::from_secs(10));
}

/// `n` different sentences: a text long enough to be spoken in pieces.
fn long_text(n: usize) -> String {
    support::long_text(n, |i| {
        format!("Part {i} of the answer goes on about the state of the build today.")
    })
}

#[test]
fn a_long_text_plays_as_one_utterance_in_order_and_stops_whole() {
    let (home, fake, log) = stage("play-long", 2);
    // The first piece answers last; its audio is still heard first.
    fake.set_stream(StreamConfig {
        chunks: 2,
        chunk_bytes: 4096,
        first_piece_delay: Duration::from_millis(200),
        ..StreamConfig::default()
    });
    let mut srv = serve_recorded(&home, &fake, &log, 1_000_000);
    let text = long_text(45);
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        speak_args(&text, json!({"wait": true})),
    ));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let bodies = fake.pieces_asked(&text);
    assert!(bodies.len() >= 3, "{} pieces", bodies.len());
    assert_eq!(
        r["result"]["structuredContent"]["bytes"],
        bodies.len() * 2 * 4096,
        "{r}"
    );
    let all = played(&log);
    assert_eq!(all.len(), 1, "one player for the whole text: {all:?}");
    assert_eq!(all[0].head, head_of(bodies[0]["text"].as_str().unwrap()));
    assert!(all[0].eof.is_some());

    // Slowly played, then stopped: the player and every piece's request end, and no piece is
    // asked for after the stop.
    fake.clear_requests();
    fake.set_stream(StreamConfig {
        chunks: 2,
        chunk_bytes: 4096,
        chunk_delay: Duration::from_millis(400),
        ..StreamConfig::default()
    });
    let text = long_text(60);
    let r = srv.call(&req(V, 3, "tools/call", speak_args(&text, json!({}))));
    assert_eq!(r["result"]["structuredContent"]["playing"], true, "{r}");
    let r = srv.call(&req(V, 4, "tools/call", json!({"name": "stop_speaking"})));
    assert_eq!(r["result"]["structuredContent"]["stopped"], true, "{r}");
    let asked = fake.requests().len();
    assert!(
        asked <= 3,
        "at most two pieces ahead of the one playing: {asked}"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(fake.requests().len(), asked, "nothing asked after the stop");
    let all = played(&log);
    assert_eq!(all.len(), 2);
    assert!(all[1].eof.is_none(), "killed, not played to the end");
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
}
