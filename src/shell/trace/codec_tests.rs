//! Round trips of the trace codec: what is written decodes to what was there (audio to the
//! placeholder of its input), and an output decoder (test-only) shows no two outputs share an
//! encoding.

use super::*;
use crate::core::settings::DEFAULT_VOICE_ID;
use crate::core::settings::{ApiKey, Delivery, Problem, Settings, Source};
use crate::core::stream_input::WsSpeech;
use crate::core::{Alignment, Config, Join, More};
use crate::shell::trace::config::{REPLAY_KEY, decode_config, encode_config};
use std::time::Duration;

const KEY: &str = "sk_codec_test_0123456789";

fn redactor() -> Redactor {
    Redactor::new(Some(KEY))
}

fn config() -> Config {
    let mut settings = Settings {
        api_key: Some(ApiKey::new(KEY)),
        default_voice_id: Some(DEFAULT_VOICE_ID.into()),
        ca_file: Some("/etc/ca.pem".into()),
        output_dir: Some("~/audio".into()),
        delivery: Delivery::Inline,
        player: vec!["mpv".into(), "-".into()],
        ..Settings::default()
    };
    settings.limits.max_retries = 7;
    settings.limits.breaker_cooldown_ms = 1234;
    let mut c = Config::default().settings(
        settings,
        vec![Problem {
            origin: "config.yaml".into(),
            key: "limits.max_retries".into(),
            message: "must be at most 10".into(),
        }],
    );
    c.max_line = 4096;
    c.shutdown_grace = Duration::from_nanos(1_500_000_001);
    c.max_queued = 3;
    c.max_read_bytes = 99;
    c.output_dir = "/tmp/out".into();
    c.sources
        .insert("elevenlabs.api_key", Source::Env("ELEVENLABS_API_KEY"));
    c.sources.insert("elevenlabs.model", Source::File);
    c.sources.insert("output.dir", Source::Default);
    c.sources
        .insert("elevenlabs.default_voice_id", Source::State);
    c.start_unix = 1_790_000_000;
    c.rng_seed = u64::MAX - 5;
    c
}

#[test]
fn config_round_trips_without_the_key() {
    let c = config();
    let v = encode_config(&c);
    assert!(!v.to_string().contains(KEY), "{v}");
    assert_eq!(v["settings"]["api_key"], "set");
    let back = decode_config(&v).unwrap();
    let mut want = c.clone();
    want.settings.api_key = Some(ApiKey::new(REPLAY_KEY));
    assert_eq!(back.settings, want.settings);
    assert_eq!(back.problems, want.problems);
    assert_eq!(back.sources, want.sources);
    assert_eq!(
        (
            back.max_line,
            back.shutdown_grace,
            back.max_queued,
            back.max_read_bytes
        ),
        (4096, Duration::from_nanos(1_500_000_001), 3, 99)
    );
    assert_eq!(
        (back.output_dir.as_str(), back.start_unix, back.rng_seed),
        ("/tmp/out", 1_790_000_000, u64::MAX - 5)
    );
    // Without a key, and the defaults.
    let plain = Config::default();
    let back = decode_config(&encode_config(&plain)).unwrap();
    assert_eq!(back.settings, plain.settings);
    assert_eq!(back.settings.api_key, None);
}

#[test]
fn bad_configs_are_explained_by_path() {
    let mut v = encode_config(&config());
    v["settings"]["limits"]
        .as_object_mut()
        .unwrap()
        .remove("max_retries");
    let e = decode_config(&v).unwrap_err();
    assert!(
        e.contains("config.settings.limits: missing `max_retries`"),
        "{e}"
    );
    let mut v = encode_config(&config());
    v["sources"]["elevenlabs.api_key"] = json!({"env": "NOT_A_VARIABLE"});
    assert!(decode_config(&v).unwrap_err().contains("NOT_A_VARIABLE"));
    let mut v = encode_config(&config());
    v["settings"]["delivery"] = "shout".into();
    assert!(decode_config(&v).unwrap_err().contains("`shout`"));
}

fn response(body: &[u8]) -> HttpResponse {
    HttpResponse {
        status: 429,
        headers: vec![("retry-after".into(), "2".into())],
        body: body.to_vec(),
    }
}

/// Every input kind and every job result, audio as input 9's placeholder.
fn inputs() -> Vec<Input> {
    let done = |result| Input::JobDone {
        id: JobId(3),
        result,
    };
    let speech = SpeechDone {
        first_byte_us: Some(1500),
        head: response(b"{}"),
        data_bytes: 40,
        total_bytes: 84,
        file: None,
        data: Some(placeholder(9, 40)),
        cache_entry: None,
        player_failed: None,
        alignment: None,
    };
    vec![
        Input::Stdin(b"{\"jsonrpc\":\"2.0\"}\n".to_vec()),
        Input::Stdin(vec![0xff, 0x00, b'a']),
        Input::StdinClosed,
        Input::Progress {
            id: JobId(2),
            bytes: 4096,
        },
        done(JobResult::Audio(Ok(placeholder(9, 1000)))),
        done(JobResult::Audio(Err(FileError::NotFound))),
        done(JobResult::Audio(Err(FileError::TooLarge { limit: 5 }))),
        done(JobResult::Audio(Err(FileError::Other("denied".into())))),
        done(JobResult::Http(Ok(response(b"{\"detail\":1}")))),
        done(JobResult::Http(Ok(response(&[0xc3, 0x28])))),
        done(JobResult::Http(Err(Transport::Dns))),
        done(JobResult::Http(Err(Transport::ConnectionRefused))),
        done(JobResult::Http(Err(Transport::Tls("bad cert".into())))),
        done(JobResult::Http(Err(Transport::Timeout))),
        done(JobResult::Http(Err(Transport::Io("reset".into())))),
        done(JobResult::Http(Err(Transport::TooLarge))),
        done(JobResult::Http(Err(Transport::Cancelled))),
        done(JobResult::Http(Err(Transport::Setup("ca".into())))),
        done(JobResult::Speech(Ok(speech.clone()))),
        done(JobResult::Speech(Ok(SpeechDone {
            first_byte_us: None,
            file: Some("a.mp3".into()),
            data: None,
            ..speech.clone()
        }))),
        done(JobResult::Speech(Err(SpeechFailed::Status(response(b"x"))))),
        done(JobResult::Speech(Err(SpeechFailed::Transport {
            error: Transport::Io("cut".into()),
            bytes: 77,
        }))),
        done(JobResult::Speech(Err(SpeechFailed::Sink(
            "disk full".into(),
        )))),
        done(JobResult::Speech(Err(SpeechFailed::InlineTooLarge {
            limit: 10,
        }))),
        done(JobResult::Written(Ok(()))),
        done(JobResult::Written(Err("read-only".into()))),
        done(JobResult::Speech(Ok(SpeechDone {
            alignment: Some(Box::new(Alignment {
                chars: "Hi é".chars().collect(),
                start_ms: vec![0, 70, 140, 210],
                end_ms: vec![70, 140, 210, 280],
                joins: vec![Join {
                    char: 2,
                    audio_bytes: 960,
                }],
            })),
            ..speech.clone()
        }))),
        done(JobResult::Cached(None)),
        done(JobResult::Cached(Some(Ok(SpeechDone {
            cache_entry: Some(80),
            file: Some("b.mp3".into()),
            data: None,
            ..speech
        })))),
        done(JobResult::Cached(Some(Err(SpeechFailed::InlineTooLarge {
            limit: 3,
        })))),
        done(JobResult::CacheScanned(vec![
            (CacheKey::of(&["replayed scan", "0"]), 41),
            (CacheKey::of(&["replayed scan", "1"]), 90),
        ])),
    ]
}

fn same(a: &Input, b: &Input) -> bool {
    // `Input` has no `PartialEq`; its Debug output is complete (no masking inside).
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn inputs_round_trip_with_audio_as_placeholders() {
    let r = redactor();
    let all = inputs();
    let mut seen = std::collections::HashSet::new();
    for input in &all {
        let v = encode_input(input, &r);
        assert!(seen.insert(v.to_string()), "two inputs encode alike: {v}");
        let back = decode_input(&v, 9).unwrap().expect("not a timeout");
        assert!(same(input, &back), "{input:?}\n{v}\n{back:?}");
    }
    assert!(decode_input(&json!("timeout"), 1).unwrap().is_none());
    // Audio is its length and digest only.
    let v = encode_input(&all[4], &r);
    assert_eq!(
        v["job_done"]["result"]["audio"]["ok"],
        json!({"len": 1000, "sha256": super::super::scrub::sha256_hex(&placeholder(9, 1000))})
    );
    assert!(v.to_string().len() < 200, "{v}");
}

#[test]
fn the_key_never_reaches_an_encoded_input() {
    let r = redactor();
    let with_key = format!("say {KEY}\n").into_bytes();
    let mut bin = with_key.clone();
    bin.push(0xff);
    for input in [
        Input::Stdin(with_key.clone()),
        Input::Stdin(bin),
        Input::JobDone {
            id: JobId(1),
            result: JobResult::Http(Ok(HttpResponse {
                status: 401,
                headers: vec![("request-id".into(), KEY.into())],
                body: with_key.clone(),
            })),
        },
        Input::JobDone {
            id: JobId(1),
            result: JobResult::Http(Err(Transport::Io(KEY.into()))),
        },
    ] {
        let v = encode_input(&input, &r).to_string();
        assert!(!v.contains(KEY), "{v}");
        let b64 = B64.encode(KEY);
        assert!(!v.contains(&b64[..20]), "{v}");
    }
}

#[test]
fn malformed_inputs_are_errors_that_say_where() {
    for (v, want) in [
        (json!({"stdin": 5}), "input.stdin"),
        (json!("shout"), "unknown variant `shout`"),
        (json!({"job_done": {"id": 1}}), "missing `result`"),
        (
            json!({"job_done": {"id": 1, "result": {"http": {"maybe": 1}}}}),
            "unknown variant `maybe`",
        ),
        (
            json!({"progress": {"id": -1, "bytes": 1}}),
            "input.progress.id",
        ),
        (json!([1]), "expected a string or an object"),
    ] {
        let e = decode_input(&v, 1).unwrap_err();
        assert!(e.contains(want), "{v}: {e}");
    }
}

// ---- outputs: a decoder for the tests only -----------------------------------------------------

fn decode_output(values: &[Value]) -> Output {
    let first = &values[0];
    if first.get("stdout").is_some() {
        let mut bytes = Vec::new();
        for v in values {
            bytes.extend_from_slice(v["stdout"].to_string().as_bytes());
            bytes.push(b'\n');
        }
        return Output::Stdout(bytes);
    }
    assert_eq!(values.len(), 1);
    let (kind, body) = variant(first, "output").unwrap();
    match kind {
        "cancel" => Output::Cancel(JobId(body.as_u64().unwrap())),
        "log" => Output::Log {
            level: crate::core::session::Level::parse(body["level"].as_str().unwrap()).unwrap(),
            message: body["message"].as_str().unwrap().into(),
        },
        "start" => Output::Start {
            id: JobId(body["id"].as_u64().unwrap()),
            job: decode_job(&body["job"]),
        },
        other => panic!("{other}"),
    }
}

fn decode_job(v: &Value) -> Job {
    let (kind, b) = variant(v, "job").unwrap();
    let request = |r: &Value| HttpRequest {
        method: if r["method"] == "GET" {
            Method::Get
        } else {
            Method::Post
        },
        path: r["path"].as_str().unwrap().into(),
        body: (!r["body"].is_null()).then(|| bytes_from(&r["body"], "body").unwrap()),
    };
    match kind {
        "read_audio" => Job::ReadAudio {
            name: b["name"].as_str().unwrap().into(),
            max_bytes: b["max_bytes"].as_u64().unwrap(),
        },
        "http" => Job::Http {
            request: request(&b["request"]),
            max_body: b["max_body"].as_u64().unwrap(),
        },
        "write_state" => Job::WriteState {
            key: b["key"].as_str().unwrap().into(),
            value: b["value"].clone(),
        },
        "speech" => Job::Speech {
            request: request(&b["request"]),
            more: b.get("more").and_then(Value::as_array).map(|m| {
                Box::new(More {
                    requests: m.iter().map(request).collect(),
                    parallel: b["parallel"].as_u64().unwrap() as usize,
                    retry_ms: b["retry_ms"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_u64)
                        .collect(),
                })
            }),
            websocket: b.get("websocket").map(|w| {
                Box::new(WsSpeech {
                    path: w["path"].as_str().unwrap().into(),
                    messages: w["messages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m.as_str().unwrap().into())
                        .collect(),
                })
            }),
            sink: decode_sink(&b["sink"]),
            max_bytes: b["max_bytes"].as_u64().unwrap(),
            cache: b
                .get("cache")
                .map(|c| (CacheKey::of(&["s"]), c["max_bytes"].as_u64().unwrap())),
            timestamps: b.get("timestamps").is_some(),
        },
        "cache_read" => Job::CacheRead {
            key: CacheKey::of(&["r"]),
            sink: decode_sink(&b["sink"]),
            max_bytes: b["max_bytes"].as_u64().unwrap(),
        },
        "cache_scan" => Job::CacheScan,
        "cache_evict" => Job::CacheEvict {
            keys: (0..b["entries"].as_u64().unwrap())
                .map(|i| CacheKey::of(&[["e", "f"][i as usize]]))
                .collect(),
        },
        other => panic!("{other}"),
    }
}

fn decode_sink(v: &Value) -> Sink {
    if let Some(m) = v.get("memory") {
        return Sink::Memory {
            max_bytes: m["max_bytes"].as_u64().unwrap(),
        };
    }
    let f = &v["file"];
    let name = match f["name"].get("exact") {
        Some(e) => FileName::Exact(e.as_str().unwrap().into()),
        None => FileName::Stem {
            stem: f["name"]["stem"].as_str().unwrap().into(),
            ext: ["mp3", "opus", "wav"]
                .into_iter()
                .find(|e| f["name"]["ext"] == *e)
                .unwrap(),
        },
    };
    let wav = (!f["wav"].is_null()).then(|| {
        let w = &f["wav"];
        let codec = match w["codec"].as_str().unwrap() {
            "mp3" => Codec::Mp3,
            "opus" => Codec::Opus,
            "pcm" => Codec::Pcm,
            "ulaw" => Codec::Ulaw,
            _ => Codec::Alaw,
        };
        Format {
            codec,
            sample_rate: w["sample_rate"].as_u64().unwrap() as u32,
            kbps: w["kbps"].as_u64().map(|k| k as u32),
            wav: w["wav"].as_bool().unwrap(),
        }
    });
    Sink::File { name, wav }
}

fn outputs() -> Vec<Output> {
    let post = HttpRequest {
        method: Method::Post,
        path: "/v1/text-to-speech/x/stream?output_format=pcm_24000".into(),
        body: Some(b"{\"text\":\"hi\"}".to_vec()),
    };
    vec![
        Output::Stdout(b"{\"a\":1}\n[{\"b\":2},{\"c\":null}]\n".to_vec()),
        Output::Cancel(JobId(4)),
        Output::Log {
            level: crate::core::session::Level::Warning,
            message: "careful".into(),
        },
        Output::Start {
            id: JobId(1),
            job: Job::ReadAudio {
                name: "a.wav".into(),
                max_bytes: 10,
            },
        },
        Output::Start {
            id: JobId(2),
            job: Job::Http {
                request: crate::core::elevenlabs::models(),
                max_body: 11,
            },
        },
        Output::Start {
            id: JobId(3),
            job: Job::WriteState {
                key: "elevenlabs.default_voice_id".into(),
                value: json!("abc"),
            },
        },
        Output::Start {
            id: JobId(5),
            job: Job::Speech {
                request: post.clone(),
                more: Some(Box::new(More {
                    requests: vec![post.clone(), post.clone()],
                    parallel: 2,
                    retry_ms: vec![500, 1000],
                })),
                websocket: None,
                sink: Sink::Memory { max_bytes: 12 },
                max_bytes: 13,
                cache: None,
                timestamps: true,
            },
        },
        Output::Start {
            id: JobId(6),
            job: Job::Speech {
                request: post.clone(),
                more: None,
                websocket: None,
                sink: Sink::File {
                    name: FileName::Stem {
                        stem: "20260101-000000-rachel".into(),
                        ext: "wav",
                    },
                    wav: Format::parse("wav_24000"),
                },
                max_bytes: 14,
                cache: Some((CacheKey::of(&["s"]), 100)),
                timestamps: false,
            },
        },
        Output::Start {
            id: JobId(7),
            job: Job::Speech {
                request: post,
                more: None,
                websocket: Some(Box::new(WsSpeech {
                    path: "/v1/text-to-speech/x/stream-input?model_id=m".into(),
                    messages: vec![r#"{"text":" "}"#.into(), r#"{"text":""}"#.into()],
                })),
                sink: Sink::File {
                    name: FileName::Exact("x.mp3".into()),
                    wav: None,
                },
                max_bytes: 15,
                cache: None,
                timestamps: false,
            },
        },
        Output::Start {
            id: JobId(8),
            job: Job::CacheRead {
                key: CacheKey::of(&["r"]),
                sink: Sink::Memory { max_bytes: 16 },
                max_bytes: 17,
            },
        },
        Output::Start {
            id: JobId(9),
            job: Job::CacheScan,
        },
        Output::Start {
            id: JobId(10),
            job: Job::CacheEvict {
                keys: vec![CacheKey::of(&["e"]), CacheKey::of(&["f"])],
            },
        },
    ]
}

#[test]
fn outputs_round_trip() {
    let r = redactor();
    let mut seen = std::collections::HashSet::new();
    for output in outputs() {
        let values = encode_output(&output, &r, &mut |v| v);
        assert!(seen.insert(Value::Array(values.clone()).to_string()));
        let back = decode_output(&values);
        match (&output, &back) {
            (Output::Stdout(a), Output::Stdout(b)) => {
                let lines = |b: &[u8]| -> Vec<Value> {
                    b.split(|&c| c == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(|l| serde_json::from_slice(l).unwrap())
                        .collect()
                };
                assert_eq!(lines(a), lines(b));
                assert_eq!(values.len(), 2, "one value per line");
            }
            _ => assert_eq!(output, back, "{values:?}"),
        }
    }
}

#[test]
fn outputs_lose_the_key_and_keep_what_is_not_json() {
    let r = redactor();
    let line = format!("{{\"text\":\"{KEY}\"}}\nnot json {KEY}\n");
    let values = encode_output(&Output::Stdout(line.into_bytes()), &r, &mut |v| v);
    assert_eq!(values.len(), 2);
    assert!(
        values[1]["stdout_raw"]
            .as_str()
            .unwrap()
            .starts_with("not json [redacted")
    );
    let log = Output::Log {
        level: crate::core::session::Level::Info,
        message: format!("key {KEY}"),
    };
    let values = [values, encode_output(&log, &r, &mut |v| v)].concat();
    assert!(
        !Value::Array(values.clone()).to_string().contains(KEY),
        "{values:?}"
    );
}
