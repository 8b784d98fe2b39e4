//! The voice tools end to end: the real binary over stdio against the fake ElevenLabs API.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::fake_elevenlabs::{FakeElevenLabs, RACHEL, Reply, StreamConfig, fake_audio};
use support::{Home, Schemas, Server, initialize, req};

const KEY: &str = "sk_test_5f4e3d2c1b0a99887766";
const V: &str = "2025-11-25";

struct Setup {
    home: Home,
    fake: FakeElevenLabs,
    srv: Server,
}

fn start(name: &str, version: &str, extra: &[(&str, &str)]) -> Setup {
    let home = Home::new(name);
    let fake = FakeElevenLabs::start(KEY);
    let url = fake.url();
    // These tests are about saved files; playback has its own (tests/play.rs).
    let mut env = vec![
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", url.as_str()),
        ("MCP_ELEVENLABS_LOG", "debug"),
        ("ELEVENLABS_MCP_OUTPUT_MODE", "files"),
    ];
    env.extend_from_slice(extra);
    let mut srv = Server::start(&home, &env);
    if version != "2026-07-28" {
        srv.call(&initialize(1, version));
    }
    Setup { home, fake, srv }
}

fn call(s: &mut Setup, version: &str, id: u64, tool: &str, args: Value) -> Value {
    let r = s.srv.call(&req(
        version,
        id,
        "tools/call",
        json!({"name": tool, "arguments": args}),
    ));
    assert!(r.get("result").is_some(), "{r}");
    r["result"].clone()
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn finish(s: Setup) -> (String, Vec<String>) {
    let Setup { home, fake, srv } = s;
    let (status, stderr, seen) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{stderr}");
    for line in seen.iter().chain([&stderr]) {
        assert!(!line.contains(KEY), "the API key leaked: {line}");
    }
    for r in fake.requests() {
        assert_eq!(
            r.header("xi-api-key"),
            Some(KEY),
            "every request is authenticated"
        );
        assert!(!String::from_utf8_lossy(&r.body).contains(KEY));
        assert!(!r.path.contains(KEY) && !r.raw_query.contains(KEY));
    }
    drop(home);
    (stderr, seen)
}

#[test]
fn models_usage_and_voices() {
    let schemas = Schemas::load();
    for version in [V, "2026-07-28"] {
        let mut s = start("lists", version, &[]);
        let r = call(&mut s, version, 2, "list_models", json!({}));
        schemas.check(version, "CallToolResult", &r);
        assert_eq!(r["isError"], false, "{r}");
        let models = r["structuredContent"]["models"].as_array().unwrap();
        assert!(
            models
                .iter()
                .any(|m| m["model_id"] == "eleven_flash_v2_5" && m["max_characters"] == 40000)
        );
        assert!(
            !models
                .iter()
                .any(|m| m["model_id"] == "eleven_multilingual_sts_v2"),
            "only TTS models"
        );
        // Cached: a second call does not ask again.
        let before = s.fake.requests().len();
        call(&mut s, version, 3, "list_models", json!({}));
        assert_eq!(s.fake.requests().len(), before);

        s.fake.set_character_count(1234, 10000);
        let r = call(&mut s, version, 4, "get_usage", json!({}));
        schemas.check(version, "CallToolResult", &r);
        assert_eq!(r["structuredContent"]["characters_left"], 8766);
        assert!(text(&r).contains("Used 1234 of 10000"), "{r}");

        let r = call(&mut s, version, 5, "list_voices", json!({"page_size": 10}));
        schemas.check(version, "CallToolResult", &r);
        let first = r["structuredContent"]["voices"].as_array().unwrap().len();
        assert_eq!(first, 10);
        let cursor = r["structuredContent"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_string();
        let r = call(
            &mut s,
            version,
            6,
            "list_voices",
            json!({"page_size": 10, "cursor": cursor}),
        );
        let second: Vec<String> = r["structuredContent"]["voices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["voice_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(second.len(), 10);
        let r = call(
            &mut s,
            version,
            7,
            "list_voices",
            json!({"search": "rachel", "category": "premade"}),
        );
        assert_eq!(
            r["structuredContent"]["voices"][0]["voice_id"], RACHEL,
            "{r}"
        );
        finish(s);
    }
}

#[test]
fn set_default_voice_persists_and_notes_env_overrides() {
    let mut s = start("default-voice", V, &[]);
    let r = call(
        &mut s,
        V,
        2,
        "set_default_voice",
        json!({"voice": "rachel"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(s.home.state_path()).unwrap()).unwrap();
    assert_eq!(state["elevenlabs.default_voice_id"], RACHEL);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(s.home.state_path())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let r = call(
        &mut s,
        V,
        3,
        "set_default_voice",
        json!({"voice": "Nobody Atall"}),
    );
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("No voice called"), "{r}");
    let r = call(
        &mut s,
        V,
        4,
        "set_default_voice",
        json!({"voice": "AAAAAAAAAAAAAAAAAAAA"}),
    );
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("list_voices"), "{r}");
    finish(s);

    let mut s = start("default-voice-env", V, &[("ELEVENLABS_VOICE_ID", RACHEL)]);
    let r = call(&mut s, V, 2, "set_default_voice", json!({"voice": RACHEL}));
    assert!(text(&r).contains("ELEVENLABS_VOICE_ID is set"), "{r}");
    finish(s);
}

#[test]
fn speak_saves_files_that_match_what_was_served() {
    let schemas = Schemas::load();
    let mut s = start("speak-file", V, &[]);
    let output_schema = {
        let r = s.srv.call(&req(V, 90, "tools/list", Value::Null));
        r["result"]["tools"][0]["outputSchema"].clone()
    };
    let validator = jsonschema::validator_for(&output_schema).unwrap();
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": "Hello **world**, see https://docs.rs/serde for more.", "delivery": "file"}),
    );
    schemas.check(V, "CallToolResult", &r);
    assert_eq!(r["isError"], false, "{r}");
    let sc = &r["structuredContent"];
    assert!(validator.is_valid(sc), "{sc}");
    assert_eq!(sc["mime_type"], "audio/mpeg");
    assert_eq!(sc["voice_id"], RACHEL);
    assert_eq!(sc["model_id"], "eleven_flash_v2_5");
    let sent = s
        .fake
        .requests()
        .into_iter()
        .find(|q| q.path.contains("/stream"))
        .unwrap();
    let body = sent.json();
    assert_eq!(
        body["text"], "Hello world, see docs.rs for more.",
        "Markdown and URLs tidied"
    );
    assert_eq!(
        sc["characters"],
        body["text"].as_str().unwrap().chars().count()
    );
    assert_eq!(sent.param("output_format"), Some("mp3_44100_128"));
    let path = sc["path"].as_str().unwrap();
    let saved = std::fs::read(path).unwrap();
    assert_eq!(
        saved,
        fake_audio(body["text"].as_str().unwrap(), "mp3_44100_128", 4 * 2048),
        "bytes saved equal bytes served"
    );
    assert_eq!(sc["bytes"], saved.len());
    let name = std::path::Path::new(path)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        name.contains("-rachel-") && name.ends_with(".mp3"),
        "{name}"
    );
    assert_eq!(r["content"][1]["type"], "resource_link");
    assert_eq!(r["content"][1]["uri"], format!("audio://{name}"));
    // The link reads back as a blob.
    let rr = s.srv.call(&req(
        V,
        3,
        "resources/read",
        json!({"uri": format!("audio://{name}")}),
    ));
    schemas.check(V, "ReadResourceResult", &rr["result"]);
    let blob = rr["result"]["contents"][0]["blob"].as_str().unwrap();
    assert_eq!(blob.len(), saved.len().div_ceil(3) * 4);

    // WAV: PCM requested from the stream endpoint and wrapped with a correct header.
    let r = call(
        &mut s,
        V,
        4,
        "speak",
        json!({"text": "Wave", "output_format": "wav_16000", "raw": true}),
    );
    let sc = &r["structuredContent"];
    assert!(validator.is_valid(sc), "{sc}");
    assert_eq!(sc["mime_type"], "audio/wav");
    let req_sent = s
        .fake
        .requests()
        .into_iter()
        .rev()
        .find(|q| q.path.contains("/stream"))
        .unwrap();
    assert_eq!(req_sent.param("output_format"), Some("pcm_16000"));
    let wav = std::fs::read(sc["path"].as_str().unwrap()).unwrap();
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..12], b"WAVE");
    let data_len = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!(data_len, wav.len() - 44);
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16000);
    assert_eq!(&wav[44..], &fake_audio("Wave", "pcm_16000", data_len)[..]);
    assert_eq!(sc["duration_ms"], (data_len as u64) * 1000 / 32000);

    // Same text three times in the same second: three files, none overwritten.
    let mut paths = Vec::new();
    for i in 0..3 {
        let r = call(
            &mut s,
            V,
            10 + i,
            "speak",
            json!({"text": "Same", "filename": "same.mp3"}),
        );
        paths.push(r["structuredContent"]["path"].as_str().unwrap().to_string());
    }
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 3, "{paths:?}");
    // A filename cannot leave the directory.
    let r = call(
        &mut s,
        V,
        20,
        "speak",
        json!({"text": "x", "filename": "../escape.mp3"}),
    );
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("plain file name"));
    finish(s);
}

#[test]
fn speak_inline_in_every_era() {
    for version in ["2024-11-05", "2025-03-26", V, "2026-07-28"] {
        let mut s = start("inline", version, &[]);
        let r = call(
            &mut s,
            version,
            2,
            "speak",
            json!({"text": "Inline", "delivery": "inline", "raw": true}),
        );
        assert_eq!(r["isError"], false, "{version}: {r}");
        let expected = fake_audio("Inline", "mp3_44100_128", 4 * 2048);
        let block = &r["content"][1];
        let data = if version == "2024-11-05" {
            assert_eq!(block["type"], "resource");
            block["resource"]["blob"].as_str().unwrap().to_string()
        } else {
            assert_eq!(block["type"], "audio");
            assert_eq!(block["mimeType"], "audio/mpeg");
            block["data"].as_str().unwrap().to_string()
        };
        assert_eq!(data.len(), expected.len().div_ceil(3) * 4);
        if version >= "2025-06-18" {
            assert_eq!(r["structuredContent"]["delivery"], "inline");
            assert!(r["structuredContent"].get("path").is_none());
        } else {
            assert!(r.get("structuredContent").is_none());
            assert!(r["content"].as_array().unwrap().iter().any(|c| {
                c["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("\"delivery\":\"inline\""))
            }));
        }
        finish(s);
    }
}

#[test]
fn upstream_errors_become_actionable_results() {
    let mut s = start("errors", V, &[("MCP_ELEVENLABS_LOG", "debug")]);
    let cases: Vec<(&str, Reply, &str)> = vec![
        (
            "/v1/text-to-speech",
            Reply::quota_exceeded(),
            "credits are exhausted",
        ),
        (
            "/v1/text-to-speech",
            Reply::invalid_api_key(),
            "rejected the API key",
        ),
        (
            "/v1/text-to-speech",
            Reply::max_character_limit_exceeded(10, 20),
            "longer than this model accepts",
        ),
        (
            "/v1/text-to-speech",
            Reply::voice_not_found("x"),
            "list_voices",
        ),
        (
            "/v1/text-to-speech",
            Reply::only_for_creator(),
            "plan does not allow",
        ),
        (
            "/v1/text-to-speech",
            Reply::validation(
                &["body", "voice_settings", "stability"],
                "too big",
                "value_error",
            ),
            "voice_settings.stability",
        ),
    ];
    for (i, (path, reply, needle)) in cases.into_iter().enumerate() {
        s.fake.fail_next(path, 1, reply);
        let r = call(
            &mut s,
            V,
            100 + i as u64,
            "speak",
            json!({"text": "hi", "raw": true}),
        );
        assert_eq!(r["isError"], true, "{needle}: {r}");
        assert!(text(&r).contains(needle), "{needle}: {}", text(&r));
    }
    // Transient failures are retried (max_retries = 2): one 429 system_busy, then success.
    s.fake
        .fail_next("/v1/text-to-speech", 1, Reply::system_busy().retry_after(0));
    let r = call(
        &mut s,
        V,
        200,
        "speak",
        json!({"text": "retry me", "raw": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    // Three 500s in a row exhaust the retries.
    s.fake
        .fail_next("/v1/user/subscription", 3, Reply::internal_error());
    let r = call(&mut s, V, 201, "get_usage", json!({}));
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("internal error"), "{r}");
    let h = s.srv.call(&req(
        V,
        202,
        "resources/read",
        json!({"uri": "health://status"}),
    ));
    let health: Value =
        serde_json::from_str(h["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert!(
        health["upstream"]["failures"].as_u64().unwrap() >= 9,
        "{health}"
    );
    assert!(
        health["upstream"]["last_error"]
            .as_str()
            .unwrap()
            .contains("internal error"),
        "{health}"
    );
    assert!(
        health["upstream"]["last_first_audio_byte_added_us"].is_u64(),
        "{health}"
    );
    let (stderr, _) = finish(s);
    assert!(stderr.contains("retrying"), "{stderr}");
}

#[test]
fn a_broken_stream_leaves_nothing_behind() {
    let mut s = start("reset", V, &[]);
    s.fake.set_stream(StreamConfig {
        chunks: 8,
        chunk_bytes: 4096,
        ..StreamConfig::default()
    });
    s.fake
        .fail_next("/v1/text-to-speech", 1, Reply::ResetAfter(10_000));
    let r = call(&mut s, V, 2, "speak", json!({"text": "cut", "raw": true}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("nothing was saved"), "{r}");
    let dir = s.home.audio_dir();
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    finish(s);
}

#[test]
fn unreachable_api_is_explained() {
    let home = Home::new("refused");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut srv = Server::start(
        &home,
        &[("ELEVENLABS_API_KEY", KEY), ("ELEVENLABS_BASE_URL", &url)],
    );
    srv.call(&initialize(1, V));
    let r = srv.call(&req(V, 2, "tools/call", json!({"name": "list_models"})));
    assert_eq!(r["result"]["isError"], true);
    assert!(text(&r["result"]).contains("refused"), "{r}");
    // ping is answered while calls are in flight or retrying.
    srv.send(&req(V, 3, "tools/call", json!({"name": "get_usage"})));
    let p = srv.call(&req(V, 4, "ping", Value::Null));
    assert_eq!(p["result"], json!({}));
    let (status, stderr, _) = srv.finish(Duration::from_secs(15));
    assert!(status.unwrap().success(), "{stderr}");
}

#[test]
fn cli_commands_against_the_api() {
    let home = Home::new("cli-tools");
    let fake = FakeElevenLabs::start(KEY);
    let url = fake.url();
    let env = [
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", url.as_str()),
    ];
    let (code, out, err) = home.run(&["config", "test"], &env, "");
    assert_eq!(code, 0, "{err}");
    // The player (or its absence, fine with `auto`), the key, the voice, the model.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok:")).count(),
        4,
        "{out}"
    );
    assert!(
        out.contains("ok: player `") || out.contains("ok: no audio player"),
        "{out}"
    );
    // `play` with no player to be found fails the check, naming what was looked for.
    let (code, _, err) = home.run(
        &["config", "test"],
        &[
            env[0],
            env[1],
            ("ELEVENLABS_MCP_OUTPUT_MODE", "files"),
            ("PATH", "/nonexistent"),
        ],
        "",
    );
    assert_eq!(code, 0, "file delivery needs no player: {err}");
    home.write_config("output:\n  delivery: play\n");
    let (code, _, err) = home.run(
        &["config", "test"],
        &[env[0], env[1], ("PATH", "/nonexistent")],
        "",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "fail: output.delivery is play but no audio player was found (looked for mpv, ffplay"
        ),
        "{err}"
    );
    std::fs::remove_file(home.config_path()).unwrap();
    assert!(!out.contains(KEY) && !err.contains(KEY));
    let (code, _, err) = home.run(
        &["config", "test"],
        &[env[0], env[1], ("ELEVENLABS_MODEL_ID", "eleven_nope")],
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("fail: model eleven_nope"), "{err}");
    let (code, _, err) = home.run(
        &["config", "test"],
        &[("ELEVENLABS_API_KEY", "sk_wrong_key_0000000"), env[1]],
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("rejected the API key"), "{err}");
    let (code, out, _) = home.run(&["models"], &env, "");
    assert_eq!(code, 0);
    assert!(out.contains("eleven_flash_v2_5"));
    let (code, out, _) = home.run(&["usage"], &env, "");
    assert_eq!(code, 0);
    assert!(out.starts_with("Used "), "{out}");
    let (code, out, _) = home.run(&["voices", "--search", "rachel"], &env, "");
    assert_eq!(code, 0);
    assert!(out.contains(RACHEL));
    let speak_wav = |text: &str, out: &std::path::Path| {
        let out = out.to_str().unwrap();
        home.run(
            &["speak", text, "--format", "wav_16000", "--out", out],
            &env,
            "",
        )
    };
    let target = home.dir.join("hello.wav");
    let (code, out, err) = speak_wav("Hello there", &target);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), target.display().to_string());
    assert_eq!(&std::fs::read(&target).unwrap()[..4], b"RIFF");
    let (code, _, err) = speak_wav("Again", &target);
    assert_eq!(code, 1, "never overwrites");
    assert!(err.contains("already exists"));
    let wrong = home.dir.join("wrong.mp3");
    let (code, _, err) = speak_wav("x", &wrong);
    assert_eq!(code, 2, "{err}");
    assert!(!wrong.exists());
    let (code, _, err) = home.run(&["speak", "x", "--format", "flac_1"], &env, "");
    assert_eq!(code, 1);
    assert!(err.contains("output_format"), "{err}");
    let (code, _, _) = home.run(&["usage"], &[], "");
    assert_eq!(code, 2, "no key is a configuration error");
}

#[test]
fn voice_catalog_resource_follows_pages_and_stops_on_a_repeat() {
    let schemas = Schemas::load();
    let mut s = start("catalog", V, &[]);
    let r = s.srv.call(&req(
        V,
        2,
        "resources/read",
        json!({"uri": "voices://catalog"}),
    ));
    schemas.check(V, "ReadResourceResult", &r["result"]);
    let catalog: Value =
        serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        catalog["voices"].as_array().unwrap().len(),
        s.fake.voices().len()
    );
    assert_eq!(catalog["complete"], true);
    // Cached: no second fetch.
    let before = s.fake.requests().len();
    s.srv.call(&req(
        V,
        3,
        "resources/read",
        json!({"uri": "voices://catalog"}),
    ));
    assert_eq!(s.fake.requests().len(), before);
    finish(s);

    // A server that keeps handing back the same page token: the loop ends, marked incomplete.
    let mut s = start("catalog-loop", "2026-07-28", &[]);
    let page =
        json!({"voices": [], "has_more": true, "total_count": 0, "next_page_token": "again"});
    s.fake.fail_next("/v2/voices", 5, Reply::json(200, page));
    let r = s.srv.call(&req(
        "2026-07-28",
        2,
        "resources/read",
        json!({"uri": "voices://catalog"}),
    ));
    schemas.check("2026-07-28", "ReadResourceResult", &r["result"]);
    let catalog: Value =
        serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(catalog["complete"], false);
    let fetched = s
        .fake
        .requests()
        .iter()
        .filter(|q| q.path == "/v2/voices")
        .count();
    assert_eq!(fetched, 2, "the repeated token is not followed");
    finish(s);
}

#[test]
fn a_stalled_api_times_out_with_the_configured_bound() {
    let home = Home::new("stall");
    let fake = FakeElevenLabs::start(KEY);
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\nlimits:\n  request_timeout_ms: 300\n  max_retries: 0\n",
        fake.url()
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    fake.fail_next(
        "/v1/user/subscription",
        1,
        Reply::Stall(Duration::from_secs(5)),
    );
    let started = std::time::Instant::now();
    let r = srv.call(&req(V, 2, "tools/call", json!({"name": "get_usage"})));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by request_timeout_ms"
    );
    assert_eq!(r["result"]["isError"], true);
    assert!(text(&r["result"]).contains("within 300 ms"), "{r}");
    // Plain HTTP where TLS is expected is a TLS failure, explained.
    let tls_url = fake.url().replace("http://127.0.0.1", "https://localhost");
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {tls_url}\nlimits:\n  max_retries: 0\n"
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let r = srv.call(&req(V, 2, "tools/call", json!({"name": "get_usage"})));
    assert_eq!(r["result"]["isError"], true);
    let t = text(&r["result"]);
    assert!(t.contains("TLS") || t.contains("broke"), "{t}");
}

#[test]
fn a_cancelled_speak_stops_the_stream_and_leaves_no_file() {
    let mut s = start("cancel", V, &[]);
    s.fake.set_stream(StreamConfig {
        chunks: 50,
        chunk_bytes: 1024,
        chunk_delay: Duration::from_millis(100),
        ..StreamConfig::default()
    });
    s.srv.send(&req(
        V,
        7,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "long", "raw": true}}),
    ));
    std::thread::sleep(Duration::from_millis(400));
    let partial = std::fs::read_dir(s.home.audio_dir()).unwrap().count();
    assert_eq!(partial, 1, "a temp file is being written");
    s.srv.send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "user"}}));
    // The next reply is for the ping: nothing ever answers the cancelled call.
    let r = s.srv.call(&req(V, 8, "ping", Value::Null));
    assert_eq!(r["id"], 8);
    std::thread::sleep(Duration::from_millis(500));
    let left: Vec<_> = std::fs::read_dir(s.home.audio_dir()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        s.srv.recv_within(Duration::from_millis(300)).is_none(),
        "no reply to a cancelled request"
    );
    finish(s);
}

#[test]
fn a_bad_ca_file_is_explained() {
    let home = Home::new("cafile");
    let missing = home.dir.join("no-such-ca.pem");
    let not_pem = home.dir.join("empty.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    for (path, needle) in [
        (&missing, "cannot read CA file"),
        (&not_pem, "no PEM certificates"),
    ] {
        let env = [
            ("ELEVENLABS_API_KEY", KEY),
            ("ELEVENLABS_CA_FILE", path.to_str().unwrap()),
        ];
        let mut srv = Server::start(&home, &env);
        srv.call(&initialize(1, V));
        let r = srv.call(&req(V, 2, "tools/call", json!({"name": "list_models"})));
        assert_eq!(r["result"]["isError"], true);
        assert!(text(&r["result"]).contains(needle), "{r}");
        let (code, _, err) = home.run(&["config", "test"], &env, "");
        assert_eq!(code, 1);
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn inline_cap_spaces_and_latency_in_health() {
    let home = Home::new("inline-cap");
    let fake = FakeElevenLabs::start(KEY);
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\nlimits:\n  max_inline_bytes: 4096\n",
        fake.url()
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "big", "delivery": "inline"}}),
    ));
    assert_eq!(r["result"]["isError"], true);
    assert!(
        text(&r["result"]).contains("inline limit") && text(&r["result"]).contains("\"file\""),
        "{r}"
    );
    let r = srv.call(&req(
        V,
        3,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "x", "filename": "my greeting.mp3"}}),
    ));
    assert!(text(&r["result"]).contains("no spaces"), "{r}");
    let r = srv.call(&req(
        V,
        4,
        "tools/call",
        json!({"name": "set_default_voice", "arguments": {"voice": "Nobody Atall"}}),
    ));
    assert_eq!(r["result"]["isError"], true);
    let h = srv.call(&req(
        V,
        5,
        "resources/read",
        json!({"uri": "health://status"}),
    ));
    let health: Value =
        serde_json::from_str(h["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert!(health["upstream"]["last_latency_ms"].is_u64(), "{health}");
    assert_eq!(
        health["upstream"]["failures"], 0,
        "an unknown voice name is the caller's mistake: {health}"
    );
}

#[test]
fn retries_reuse_the_reply_and_never_bill_speech_twice() {
    let home = Home::new("retry-precise");
    let fake = FakeElevenLabs::start(KEY);
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\nlimits:\n  request_timeout_ms: 300\n  max_retries: 2\n",
        fake.url()
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    fake.fail_next("/v1/user/subscription", 1, Reply::internal_error());
    let r = srv.call(&req(V, 2, "tools/call", json!({"name": "get_usage"})));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let subs = fake
        .requests()
        .iter()
        .filter(|q| q.path == "/v1/user/subscription")
        .count();
    assert_eq!(subs, 2, "one failure, one retry whose reply is used");
    // A stall after the request was sent may already be billed: speech is not retried.
    fake.fail_next(
        "/v1/text-to-speech",
        3,
        Reply::Stall(Duration::from_secs(2)),
    );
    let r = srv.call(&req(
        V,
        3,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "once", "raw": true}}),
    ));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let tts = fake
        .requests()
        .iter()
        .filter(|q| q.path.starts_with("/v1/text-to-speech"))
        .count();
    assert_eq!(tts, 1, "never sent twice");
    // A misspelt name still gets close matches.
    let r = srv.call(&req(
        V,
        4,
        "tools/call",
        json!({"name": "set_default_voice", "arguments": {"voice": "Rachl"}}),
    ));
    assert!(text(&r["result"]).contains("Close matches: Rachel"), "{r}");
}

#[test]
fn speak_reports_progress_when_asked() {
    let schemas = Schemas::load();
    for version in ["2024-11-05", V, "2026-07-28"] {
        let mut s = start("progress", version, &[]);
        s.fake.set_stream(StreamConfig {
            chunks: 12,
            chunk_bytes: 1024,
            chunk_delay: Duration::from_millis(100),
            ..StreamConfig::default()
        });
        let mut call = req(
            version,
            5,
            "tools/call",
            json!({"name": "speak", "arguments": {"text": "slow", "raw": true}}),
        );
        call["params"]["_meta"]["progressToken"] = json!("tok-1");
        let (r, notes) = s.srv.request(&call);
        assert_eq!(r["result"]["isError"], false, "{r}");
        let progress: Vec<&Value> = notes
            .iter()
            .filter(|n| n["method"] == "notifications/progress")
            .collect();
        assert!(progress.len() >= 2, "{version}: {notes:?}");
        let mut last = 0;
        for n in &progress {
            assert_eq!(n["params"]["progressToken"], "tok-1");
            let p = n["params"]["progress"].as_u64().unwrap();
            assert!(p > last, "strictly increasing");
            last = p;
            schemas.check(version, "JSONRPCNotification", n);
            let mut inner = (*n).clone();
            if !schemas.declares(version, "ProgressNotification", "jsonrpc") {
                inner.as_object_mut().unwrap().remove("jsonrpc");
            }
            schemas.check(version, "ProgressNotification", &inner);
        }
        // Without a token, none.
        let (_, notes) = s.srv.request(&req(
            version,
            6,
            "tools/call",
            json!({"name": "speak", "arguments": {"text": "quiet", "raw": true}}),
        ));
        assert!(
            notes
                .iter()
                .all(|n| n["method"] != "notifications/progress"),
            "{notes:?}"
        );
        finish(s);
    }
}

/// A burst of 500s opens the breaker: the next call fails fast without reaching ElevenLabs, and
/// `health://status` says so; after the cool-down one probe goes and, answered, closes it.
#[test]
fn a_burst_of_server_errors_opens_the_breaker() {
    let home = Home::new("breaker");
    let fake = FakeElevenLabs::start(KEY);
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\nlimits:\n  max_retries: 0\n  breaker_failures: 3\n  breaker_cooldown_ms: 1000\n",
        fake.url()
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    fake.fail_next("/v1/user/subscription", 3, Reply::internal_error());
    for id in 2..5 {
        let r = srv.call(&req(V, id, "tools/call", json!({"name": "get_usage"})));
        assert!(text(&r["result"]).contains("HTTP 500"), "{r}");
    }
    fake.clear_requests();
    let started = std::time::Instant::now();
    let r = srv.call(&req(V, 5, "tools/call", json!({"name": "get_usage"})));
    assert!(started.elapsed() < Duration::from_millis(200), "fails fast");
    assert_eq!(r["result"]["isError"], true);
    assert!(text(&r["result"]).contains("Nothing was sent"), "{r}");
    assert!(fake.requests().is_empty(), "no request while open");
    let r = srv.call(&req(
        V,
        6,
        "resources/read",
        json!({"uri": "health://status"}),
    ));
    let health: Value =
        serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(health["upstream"]["breaker"]["state"], "open", "{health}");
    assert_eq!(health["upstream"]["failures"], 3);
    std::thread::sleep(Duration::from_millis(1100));
    let r = srv.call(&req(V, 7, "tools/call", json!({"name": "get_usage"})));
    assert_eq!(r["result"]["isError"], false, "the probe succeeds: {r}");
    assert_eq!(fake.requests().len(), 1, "one probe");
    let r = srv.call(&req(
        V,
        8,
        "resources/read",
        json!({"uri": "health://status"}),
    ));
    let health: Value =
        serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(health["upstream"]["breaker"]["state"], "closed", "{health}");
    assert!(health["upstream"]["latency_ms"]["p95"].is_u64(), "{health}");
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{stderr}");
    assert!(stderr.contains("circuit breaker open"), "{stderr}");
    assert!(stderr.contains("circuit breaker closed"), "{stderr}");
}

/// `output.max_mb` and `output.keep_days` remove this server's oldest files, never the user's.
#[test]
fn the_output_directory_stays_within_its_bounds() {
    let home = Home::new("bounds");
    let fake = FakeElevenLabs::start(KEY);
    fake.set_stream(StreamConfig {
        chunks: 2,
        chunk_bytes: 300_000,
        ..StreamConfig::default()
    });
    let audio = home.audio_dir();
    std::fs::create_dir_all(&audio).unwrap();
    std::fs::write(audio.join("mine.mp3"), vec![0u8; 900_000]).unwrap();
    let touch_old = |p: &std::path::Path| {
        let ok = std::process::Command::new("touch")
            .args(["-d", "3 days ago"])
            .arg(p)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    let old_user_file = audio.join("old-mine.mp3");
    std::fs::write(&old_user_file, b"x").unwrap();
    touch_old(&old_user_file);
    let speak = |srv: &mut Server, id: u64, name: &str| {
        let args = json!({"text": format!("File {id}."), "filename": name, "raw": true, "delivery": "file"});
        let r = srv.call(&req(
            V,
            id,
            "tools/call",
            json!({"name": "speak", "arguments": args}),
        ));
        assert_eq!(r["result"]["isError"], false, "{r}");
    };
    let run = |limits: &str, files: &[(u64, &str)]| {
        home.write_config(&format!(
            "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\noutput:\n{limits}",
            fake.url()
        ));
        let mut srv = Server::start(&home, &[]);
        srv.call(&initialize(1, V));
        for (id, name) in files {
            speak(&mut srv, *id, name);
        }
        let (status, stderr, _) = srv.finish(Duration::from_secs(10));
        assert!(status.is_some_and(|st| st.success()), "{stderr}");
    };
    // Size: 1.2 MB of ours > 1 MB: the older goes; the user's 900 KB file is not ours.
    run("  max_mb: 1\n", &[(2, "one.mp3"), (3, "two.mp3")]);
    assert!(!audio.join("one.mp3").exists(), "the oldest of ours went");
    assert!(audio.join("two.mp3").exists() && audio.join("mine.mp3").exists());
    // Age alone (no size bound): ours older than keep_days goes; the user's old file stays.
    touch_old(&audio.join("two.mp3"));
    run("  max_mb: 0\n  keep_days: 1\n", &[(4, "three.mp3")]);
    assert!(!audio.join("two.mp3").exists(), "older than keep_days");
    assert!(audio.join("three.mp3").exists() && old_user_file.exists());
    assert!(audio.join("mine.mp3").exists());
    let record = std::fs::read_to_string(home.state_path().with_file_name("outputs.txt")).unwrap();
    assert_eq!(record.lines().count(), 1, "{record}");
    assert!(record.trim_end().ends_with("three.mp3"), "{record}");
}

/// With ElevenLabs unreachable, the real `espeak-ng` speaks instead: a valid WAV, said so.
#[test]
fn the_offline_fallback_voice_is_real_espeak_ng() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed); // nothing listens there now: connections are refused
    let home = Home::new("fallback");
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {url}\nlimits:\n  max_retries: 0\nfallback:\n  command: [espeak-ng, --stdout]\n"
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let args = json!({"text": "The network is down, but I can still talk.", "voice": RACHEL});
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        json!({"name": "speak", "arguments": args}),
    ));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let s = &r["result"]["structuredContent"];
    assert_eq!(s["fallback"], true, "{s}");
    assert!(text(&r["result"]).contains("offline fallback voice"), "{r}");
    let wav = std::fs::read(s["path"].as_str().unwrap()).unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[8..12], b"WAVE");
    assert!(wav.len() > 10_000, "real speech: {} bytes", wav.len());
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{stderr}");
    // `config test` runs the fallback voice once, first: it works while ElevenLabs does not.
    let (code, out, err) = home.run(&["config", "test"], &[], "");
    assert_eq!(code, 1, "ElevenLabs is unreachable: {out}{err}");
    assert!(
        out.contains("ok: fallback voice `espeak-ng` wrote a WAV of"),
        "{out}{err}"
    );

    // A fallback program that is not installed: a clear error, nothing left behind.
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {url}\nlimits:\n  max_retries: 0\nfallback:\n  command: [no-such-voice-program]\n"
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        json!({"name": "speak", "arguments": args}),
    ));
    assert_eq!(r["result"]["isError"], true);
    assert!(
        text(&r["result"]).contains("`no-such-voice-program` was not found"),
        "{r}"
    );
    let (_, _, err) = home.run(&["config", "test"], &[], "");
    assert!(
        err.contains("fail: fallback voice: `no-such-voice-program` was not found"),
        "{err}"
    );
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{stderr}");
}

/// `alignment: true` asks `/stream/with-timestamps` and returns word timings; the audio saved is
/// the audio the JSON lines carried.
#[test]
fn word_timings_come_with_the_audio() {
    use support::fake_elevenlabs::fake_audio;
    let mut s = start("alignment", V, &[]);
    // Lines longer than a chunk: the decoder joins them across reads.
    s.fake.set_stream(StreamConfig {
        chunks: 3,
        chunk_bytes: 1500,
        ..StreamConfig::default()
    });
    let text = "Hello there, timed world.";
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": text, "raw": true, "alignment": true, "output_format": "pcm_16000"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let asked = s.fake.requests();
    let tts = asked.iter().find(|q| q.path.contains("/stream")).unwrap();
    assert!(
        tts.path.ends_with("/stream/with-timestamps"),
        "{}",
        tts.path
    );
    let words = r["structuredContent"]["words"].as_array().unwrap().clone();
    let names: Vec<&str> = words.iter().map(|w| w["word"].as_str().unwrap()).collect();
    assert_eq!(names, ["Hello", "there,", "timed", "world."]);
    let mut last = 0.0;
    for w in &words {
        let (start, end) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(start >= last && end > start, "{w}");
        last = end;
        let [a, b] = [
            w["chars"][0].as_u64().unwrap(),
            w["chars"][1].as_u64().unwrap(),
        ];
        let spoken: String = text
            .chars()
            .skip(a as usize)
            .take((b - a) as usize)
            .collect();
        assert_eq!(spoken, w["word"].as_str().unwrap());
    }
    // "Hello" is characters 0-4, 70 ms each in the fake.
    assert_eq!(
        (words[0]["start"].as_f64(), words[0]["end"].as_f64()),
        (Some(0.0), Some(0.35))
    );
    let path = r["structuredContent"]["path"].as_str().unwrap();
    let wav = std::fs::read(path).unwrap();
    let pcm = &wav[44..];
    assert_eq!(
        pcm,
        &fake_audio(text, "pcm_16000", pcm.len())[..],
        "the decoded audio was saved"
    );
    assert_eq!(pcm.len(), 3 * 1500);
    finish(s);
}

/// A long text of `n` sentences, each different (so each piece's fake audio is its own).
fn long_text(n: usize) -> String {
    support::long_text(n, |i| {
        format!("Sentence number {i} tells of the weather on day {i}, which was fine.")
    })
}

#[test]
fn long_text_is_split_at_sentences_stitched_and_reassembled_in_order() {
    let mut s = start("long", V, &[]);
    s.fake.set_model_limit("eleven_flash_v2_5", 1000);
    // The first piece answers last: its audio must still come first.
    s.fake.set_stream(StreamConfig {
        chunks: 3,
        chunk_bytes: 1000,
        chunk_delay: Duration::from_millis(5),
        first_piece_delay: Duration::from_millis(300),
        ..StreamConfig::default()
    });
    let said = long_text(80);
    assert!(said.chars().count() > 5000);
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": said, "raw": true, "output_format": "wav_16000", "delivery": "file"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let bodies = s.fake.pieces_asked(&said);
    assert!(bodies.len() >= 6, "{} pieces", bodies.len());
    assert!(
        text(&r).contains(&format!("{} pieces", bodies.len())),
        "{r}"
    );
    let mut joined = String::new();
    for (k, b) in bodies.iter().enumerate() {
        let piece = b["text"].as_str().unwrap();
        let limit = if k == 0 { 250 } else { 1000 };
        assert!(piece.chars().count() <= limit, "piece {k}: {piece:?}");
        assert!(
            piece.trim_end().ends_with('.'),
            "cut at a sentence: {piece:?}"
        );
        // Each piece is told its neighbours' text.
        let before = b.get("previous_text").and_then(Value::as_str);
        let after = b.get("next_text").and_then(Value::as_str);
        assert_eq!(before.is_some(), k > 0, "piece {k}");
        assert_eq!(after.is_some(), k + 1 < bodies.len(), "piece {k}");
        if let Some(before) = before {
            assert!(joined.trim_end().ends_with(before), "{before:?}");
        }
        joined.push_str(piece);
    }
    assert_eq!(joined, said, "the pieces are the whole text");
    assert!(s.fake.peak_concurrency() <= 2);
    // One WAV: one header, the pieces' audio in order, the right length.
    let path = r["structuredContent"]["path"].as_str().unwrap();
    let wav = std::fs::read(path).unwrap();
    let expected: Vec<u8> = bodies
        .iter()
        .flat_map(|b| fake_audio(b["text"].as_str().unwrap(), "pcm_16000", 3000))
        .collect();
    assert_eq!(&wav[..4], b"RIFF");
    let data_len = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!(data_len, expected.len());
    assert!(
        wav[44..] == expected[..],
        "the audio is the pieces' in order"
    );
    assert_eq!(r["structuredContent"]["characters"], said.chars().count());
    finish(s);
}

#[test]
fn long_text_word_timings_run_on_across_pieces_and_too_long_is_refused() {
    let mut s = start("long-timed", V, &[]);
    s.fake.set_model_limit("eleven_flash_v2_5", 600);
    s.fake.set_stream(StreamConfig {
        chunks: 2,
        chunk_bytes: 1600,
        first_piece_delay: Duration::from_millis(100),
        ..StreamConfig::default()
    });
    let said = long_text(20);
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": said, "raw": true, "alignment": true, "output_format": "mp3_44100_128"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let pieces = s.fake.pieces_asked(&said).len();
    assert!(pieces > 2, "{pieces}");
    let words = r["structuredContent"]["words"].as_array().unwrap();
    assert_eq!(words.len(), said.split_whitespace().count());
    let mut last = 0.0;
    for w in words {
        let (start, end) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(start >= last && end > start, "{w} after {last}");
        last = end;
        let [a, b] = [0, 1].map(|i| w["chars"][i].as_u64().unwrap() as usize);
        let spoken: String = said.chars().skip(a).take(b - a).collect();
        assert_eq!(spoken, w["word"].as_str().unwrap());
    }
    // The fake times each piece's characters 70 ms apart from its own start, and its audio is
    // shorter than that: joined, every character is 70 ms after the one before it.
    let last = words.last().unwrap();
    let at = last["chars"][0].as_f64().unwrap() * 0.07;
    assert!(
        (last["start"].as_f64().unwrap() - at).abs() < 0.002,
        "{last} vs {at}"
    );

    s.fake.clear_requests();
    let too_long = "a ".repeat(25_001);
    let r = call(
        &mut s,
        V,
        3,
        "speak",
        json!({"text": too_long, "raw": true}),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("limits.max_text_chars"), "{r}");
    assert!(s.fake.requests().is_empty(), "nothing was sent");
    finish(s);
}

#[test]
fn a_piece_is_retried_before_its_audio_and_a_broken_one_fails_the_text_whole() {
    let mut s = start("long-fail", V, &[]);
    s.fake.set_stream(StreamConfig {
        chunks: 2,
        chunk_bytes: 1000,
        chunk_delay: Duration::from_millis(50),
        ..StreamConfig::default()
    });
    let tts = |s: &Setup| -> Vec<String> {
        s.fake
            .requests()
            .iter()
            .filter(|q| q.path.contains("/stream"))
            .map(|q| q.json()["text"].as_str().unwrap().to_string())
            .collect()
    };
    // A 500 for one of the first two pieces (whichever arrives first): that piece is asked
    // again, and the text is whole.
    s.fake
        .fail_next("/v1/text-to-speech", 1, Reply::internal_error());
    let said = long_text(40);
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": said, "raw": true, "delivery": "file", "output_format": "mp3_44100_128"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let asked = tts(&s);
    let bodies = s.fake.pieces_asked(&said);
    let mut pieces: Vec<&str> = bodies.iter().map(|b| b["text"].as_str().unwrap()).collect();
    pieces.dedup();
    assert_eq!(asked.len(), pieces.len() + 1, "one piece asked twice");
    let path = r["structuredContent"]["path"].as_str().unwrap();
    let expected: Vec<u8> = pieces
        .iter()
        .flat_map(|t| fake_audio(t, "mp3_44100_128", 2000))
        .collect();
    assert!(
        std::fs::read(path).unwrap() == expected,
        "the whole text, in order"
    );

    // A piece cut off mid-stream may have been billed: not asked again, the call fails, and
    // nothing is saved.
    s.fake.clear_requests();
    s.fake
        .fail_next("/v1/text-to-speech", 1, Reply::ResetAfter(500));
    let said = long_text(41);
    let before = std::fs::read_dir(s.home.audio_dir()).unwrap().count();
    let r = call(
        &mut s,
        V,
        3,
        "speak",
        json!({"text": said, "raw": true, "delivery": "file"}),
    );
    assert_eq!(r["isError"], true, "{r}");
    let asked = tts(&s);
    let mut unique = asked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), asked.len(), "no piece sent twice: {asked:?}");
    let after = std::fs::read_dir(s.home.audio_dir()).unwrap().count();
    assert_eq!(before, after, "nothing saved");
    finish(s);
}

/// The TTS requests made over the WebSocket: (path and query, the messages sent).
fn ws_asked(fake: &FakeElevenLabs) -> Vec<(String, Vec<Value>)> {
    fake.requests()
        .iter()
        .filter(|q| q.path.ends_with("/stream-input"))
        .map(|q| {
            let msgs = String::from_utf8_lossy(&q.body)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (format!("{}?{}", q.path, q.raw_query), msgs)
        })
        .collect()
}

#[test]
fn websocket_transport_streams_a_text_with_timings_and_v3_uses_http() {
    use support::fake_elevenlabs::WsFault;
    let mut s = start("ws", V, &[("MCP_ELEVENLABS_TRANSPORT", "websocket")]);
    s.fake.set_stream(StreamConfig {
        chunks: 3,
        chunk_bytes: 1000,
        ..StreamConfig::default()
    });
    let said = long_text(8);
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": said, "raw": true, "alignment": true, "output_format": "pcm_16000"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let asked = ws_asked(&s.fake);
    assert_eq!(asked.len(), 1, "one socket: {asked:?}");
    assert!(
        s.fake
            .requests()
            .iter()
            .all(|q| !q.path.contains("/stream?") && !q.path.ends_with("/stream")),
        "no HTTP synthesis"
    );
    let (path, msgs) = &asked[0];
    assert!(
        path.contains("model_id=eleven_flash_v2_5&output_format=pcm_16000"),
        "{path}"
    );
    assert!(path.contains("sync_alignment=true"), "{path}");
    assert_eq!(msgs[0]["text"], " ");
    // The tone's settings travel in the socket's first message, as in an HTTP body.
    assert_eq!(
        msgs[0].get("voice_settings"),
        r["structuredContent"]["emotion"].get("voice_settings"),
        "{}",
        msgs[0]
    );
    assert_eq!(msgs.last().unwrap(), &json!({"text": ""}));
    let pieces: Vec<&str> = msgs[1..msgs.len() - 1]
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(msgs[1]["flush"], true, "the first piece starts at once");
    assert_eq!(pieces.concat().trim_end(), said);
    // Two generations: the flushed first piece, then the rest at the end of input.
    let first = pieces[0].to_string();
    let rest: String = pieces[1..].concat();
    let expected: Vec<u8> = [first, rest]
        .iter()
        .flat_map(|t| fake_audio(t, "pcm_16000", 3000))
        .collect();
    let path = r["structuredContent"]["path"].as_str().unwrap();
    let wav = std::fs::read(path).unwrap();
    assert!(wav[44..] == expected[..], "the frames' audio, in order");
    let words = r["structuredContent"]["words"].as_array().unwrap();
    assert_eq!(words.len(), said.split_whitespace().count());
    let last = words.last().unwrap();
    let at = last["chars"][0].as_f64().unwrap() * 0.07;
    assert!(
        (last["start"].as_f64().unwrap() - at).abs() < 0.002,
        "{last} vs {at}"
    );

    // eleven_v3 has no WebSocket: HTTP, said so.
    let r = call(
        &mut s,
        V,
        3,
        "speak",
        json!({"text": "Version three.", "raw": true, "model": "eleven_v3"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert!(
        text(&r).contains("HTTP used: `eleven_v3` has no WebSocket"),
        "{r}"
    );

    // A refusal before any audio is an error that quotes ElevenLabs; 1011 is retried like a
    // 500; an error after audio is a broken stream, not retried, and nothing is saved.
    s.fake.set_ws_fault(WsFault::Before {
        code: 1008,
        error: "quota_exceeded".into(),
    });
    let r = call(
        &mut s,
        V,
        4,
        "speak",
        json!({"text": "Refused.", "raw": true}),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("1008"), "{r}");
    s.fake.clear_requests();
    s.fake.set_ws_fault(WsFault::Before {
        code: 1011,
        error: "internal_error".into(),
    });
    let r = call(
        &mut s,
        V,
        5,
        "speak",
        json!({"text": "Retried.", "raw": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(ws_asked(&s.fake).len(), 2, "retried once");
    s.fake.clear_requests();
    s.fake.set_ws_fault(WsFault::After {
        code: 1011,
        error: "internal_error".into(),
    });
    let before = std::fs::read_dir(s.home.audio_dir()).unwrap().count();
    let r = call(
        &mut s,
        V,
        6,
        "speak",
        json!({"text": "Broken.", "raw": true}),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(ws_asked(&s.fake).len(), 1, "not retried");
    assert_eq!(
        std::fs::read_dir(s.home.audio_dir()).unwrap().count(),
        before
    );
    finish(s);
}

#[test]
fn a_stalled_websocket_is_cancelled_at_once_and_times_out_when_silent() {
    use support::fake_elevenlabs::WsFault;
    let mut s = start("ws-stall", V, &[("MCP_ELEVENLABS_TRANSPORT", "websocket")]);
    s.fake.set_ws_fault(WsFault::Stall(Duration::from_secs(5)));
    s.srv.send(&req(
        V,
        7,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "stalled", "raw": true}}),
    ));
    std::thread::sleep(Duration::from_millis(300));
    let sent = std::time::Instant::now();
    s.srv.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}),
    );
    let r = s.srv.call(&req(V, 8, "ping", Value::Null));
    assert_eq!(r["id"], 8);
    // The worker notices within its 50 ms slice; its slot is free for the next call.
    let r = call(&mut s, V, 9, "speak", json!({"text": "next", "raw": true}));
    assert_eq!(r["isError"], false, "{r}");
    eprintln!(
        "next call done {} ms after the cancel",
        sent.elapsed().as_millis()
    );
    assert!(
        s.srv.recv_within(Duration::from_millis(200)).is_none(),
        "no reply to a cancelled request"
    );
    finish(s);

    // Silence longer than the request timeout: a timeout, said so.
    let home = Home::new("ws-silent");
    let fake = FakeElevenLabs::start(KEY);
    fake.set_ws_fault(WsFault::Stall(Duration::from_secs(5)));
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\n  transport: websocket\nlimits:\n  request_timeout_ms: 1000\n  max_retries: 0\ncache:\n  enabled: false\noutput:\n  delivery: file\n",
        fake.url()
    ));
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, V));
    let r = srv.call(&req(
        V,
        2,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "silent", "raw": true}}),
    ));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let said = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(said.contains("1000 ms"), "{said}");
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{stderr}");
}

#[test]
fn the_websocket_goes_through_a_connect_proxy_like_http() {
    let proxy = support::connect_proxy::ConnectProxy::start();
    let url = proxy.url();
    let mut s = start(
        "ws-proxy",
        V,
        &[
            ("MCP_ELEVENLABS_TRANSPORT", "websocket"),
            ("HTTPS_PROXY", url.as_str()),
        ],
    );
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": "Through the proxy.", "raw": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(ws_asked(&s.fake).len(), 1);
    let fake = s.fake.addr().to_string();
    let tunnels = proxy.targets();
    // The model list over HTTP (ureq's tunnel), then the WebSocket (ours).
    assert!(tunnels.len() >= 2, "{tunnels:?}");
    assert_eq!(
        tunnels.len() as u64,
        s.fake.connections(),
        "every connection to the API came through the proxy"
    );
    assert!(tunnels.iter().all(|t| *t == fake), "{tunnels:?} vs {fake}");
    finish(s);
}

#[cfg(feature = "usage-db")]
#[test]
fn the_usage_ledger_holds_a_row_per_speak_committed_before_the_answer() {
    let mut s = start("ledger", V, &[("MCP_ELEVENLABS_CACHE", "true")]);
    let db = s.home.audio_dir().parent().unwrap().join("usage.sqlite3");
    let used = |s: &Setup| s.fake.subscription()["character_count"].as_u64().unwrap();
    let before = used(&s);
    let rows = |db: &std::path::Path| -> (i64, i64, i64) {
        let c = rusqlite::Connection::open(db).unwrap();
        c.query_row(
            "SELECT count(*), coalesce(sum(billed), 0), coalesce(sum(cached), 0) FROM calls",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    let long = long_text(30);
    let calls = [
        json!({"text": "First.", "raw": true}),
        json!({"text": "Second one.", "raw": true}),
        json!({"text": "First.", "raw": true}),
        json!({"text": "Nobody speaks.", "raw": true, "voice": "No Such Voice"}),
        json!({"text": long, "raw": true}),
        json!({"text": "Second one.", "raw": true}),
    ];
    for (i, args) in calls.iter().enumerate() {
        let r = call(&mut s, V, 10 + i as u64, "speak", args.clone());
        // The row is committed before the answer is sent.
        assert_eq!(rows(&db).0, i as i64 + 1, "after call {i}: {r}");
    }
    let (n, billed, cached) = rows(&db);
    assert_eq!(n, calls.len() as i64);
    assert_eq!(cached, 2, "two answers from the cache");
    assert_eq!(
        billed as u64,
        used(&s) - before,
        "the ledger bills what ElevenLabs did"
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let errors: i64 = c
        .query_row(
            "SELECT count(*) FROM calls WHERE outcome = 'error'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(errors, 1);
    let text_kept: i64 = c
        .query_row(
            "SELECT count(*) FROM calls WHERE model LIKE '%First%' OR voice LIKE '%First%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(text_kept, 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the user reads the ledger");
    }
    finish(s);
}

#[cfg(feature = "usage-db")]
#[test]
fn a_broken_ledger_never_stops_speech_and_is_said_once() {
    let mut s = start("ledger-broken", V, &[]);
    let db = s.home.audio_dir().parent().unwrap().join("usage.sqlite3");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, b"this is not a SQLite database, and it never was one").unwrap();
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": "Still spoken.", "raw": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert!(text(&r).contains("Not recorded in the usage ledger"), "{r}");
    assert!(text(&r).contains("usage.sqlite3"), "{r}");
    let r = call(
        &mut s,
        V,
        3,
        "speak",
        json!({"text": "Spoken again.", "raw": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert!(!text(&r).contains("Not recorded"), "said once: {r}");
    let (stderr, _) = finish(s);
    assert!(stderr.contains("usage not recorded"), "{stderr}");
}

#[cfg(feature = "usage-db")]
#[test]
fn with_the_ledger_off_nothing_is_recorded() {
    let mut s = start("ledger-off", V, &[("MCP_ELEVENLABS_USAGE", "false")]);
    let r = call(
        &mut s,
        V,
        2,
        "speak",
        json!({"text": "Unrecorded.", "raw": true}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let db = s.home.audio_dir().parent().unwrap().join("usage.sqlite3");
    assert!(!db.exists(), "the ledger was never opened");
    finish(s);
}
