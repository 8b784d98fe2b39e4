//! Self-test of the fake ElevenLabs API (tests/support/fake_elevenlabs.rs), driven by a tiny std-only
//! HTTP/1.1 client: every endpoint against the vendored OpenAPI schemas, pagination, search, every
//! injected error shape, chunked streaming with delays, transport faults, bounds, and shutdown.

#[path = "support/fake_elevenlabs.rs"]
mod fake_elevenlabs;

use fake_elevenlabs::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const KEY: &str = "sk_fake_0123456789abcdef0123456789abcdef";

/// A response as the tiny client read it.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Size and arrival time of each chunk of a chunked body.
    chunks: Vec<(usize, Instant)>,
    /// False when the body ended early; `error` says how.
    complete: bool,
    error: Option<ErrorKind>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Client {
    fn connect(fake: &FakeElevenLabs) -> Self {
        let stream = TcpStream::connect(fake.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Resp> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)?;
        self.read_response()
    }

    fn read_response(&mut self) -> io::Result<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(ErrorKind::InvalidData)?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').ok_or(ErrorKind::InvalidData)?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
            chunks: Vec::new(),
            complete: true,
            error: None,
        };
        let result = if resp.header("transfer-encoding") == Some("chunked") {
            self.read_chunked(&mut resp)
        } else {
            let len: usize = resp
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap());
            resp.body = vec![0; len];
            self.reader.read_exact(&mut resp.body)
        };
        if let Err(e) = result {
            resp.complete = false;
            resp.error = Some(e.kind());
        }
        Ok(resp)
    }

    fn read_chunked(&mut self, resp: &mut Resp) -> io::Result<()> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            let size =
                usize::from_str_radix(line.trim(), 16).map_err(|_| ErrorKind::InvalidData)?;
            if size == 0 {
                line.clear();
                self.reader.read_line(&mut line)?;
                return Ok(());
            }
            let mut chunk = Vec::new();
            (&mut self.reader)
                .take(size as u64)
                .read_to_end(&mut chunk)?;
            resp.body.extend_from_slice(&chunk);
            if chunk.len() < size {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            resp.chunks.push((size, Instant::now()));
            let mut crlf = [0; 2];
            self.reader.read_exact(&mut crlf)?;
            assert_eq!(&crlf, b"\r\n");
        }
    }

    fn get(&mut self, target: &str) -> Resp {
        self.send("GET", target, &[("xi-api-key", KEY)], b"")
            .unwrap()
    }

    fn post(&mut self, target: &str, body: &Value) -> Resp {
        let body = serde_json::to_vec(body).unwrap();
        self.send(
            "POST",
            target,
            &[("xi-api-key", KEY), ("content-type", "application/json")],
            &body,
        )
        .unwrap()
    }
}

/// The vendored OpenAPI document.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor-schemas/elevenlabs/openapi.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `vendor-schemas/sync` first (scripts/check.sh does)",
                path.display()
            )
        });
        serde_json::from_str(&text).unwrap()
    })
}

/// Validates `value` against `components/schemas/<def>` (with just the schemas it references).
fn check(def: &str, value: &Value) {
    let all = &spec()["components"]["schemas"];
    let mut picked = BTreeMap::new();
    let mut todo = vec![def.to_string()];
    while let Some(name) = todo.pop() {
        if picked.contains_key(&name) {
            continue;
        }
        let schema = all[&name].clone();
        assert!(!schema.is_null(), "no schema {name}");
        collect_refs(&schema, &mut todo);
        picked.insert(name, schema);
    }
    let doc = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": {"schemas": picked},
        "$ref": format!("#/components/schemas/{def}"),
    });
    let validator = jsonschema::validator_for(&doc).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{def}: {errors:#?}\n{value:#}");
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push(r.rsplit('/').next().unwrap().to_string());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn detail_status(r: &Resp) -> String {
    r.json()["detail"]["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn models_match_the_spec() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let r = c.get("/v1/models");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("request-id").unwrap().starts_with("req_"));
    let models = r.json();
    check("ModelResponseModel", &models[0]);
    let models = models.as_array().unwrap();
    for m in models {
        check("ModelResponseModel", m);
    }
    let by_id = |id: &str| models.iter().find(|m| m["model_id"] == id).unwrap();
    let flash = by_id("eleven_flash_v2_5");
    assert_eq!(flash["maximum_text_length_per_request"], 40_000);
    let langs: Vec<&str> = flash["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["language_id"].as_str().unwrap())
        .collect();
    assert_eq!(langs.len(), 32);
    for l in ["en", "de", "ja", "hu", "no", "vi"] {
        assert!(langs.contains(&l), "{l}");
    }
    assert_eq!(
        by_id("eleven_multilingual_v2")["max_characters_request_subscribed_user"],
        10_000
    );
    assert_eq!(by_id("eleven_v3")["maximum_text_length_per_request"], 5_000);
    assert_eq!(
        by_id("eleven_multilingual_sts_v2")["can_do_text_to_speech"],
        false
    );
    fake.set_model_limit("eleven_v3", 42);
    assert_eq!(
        c.get("/v1/models").json()[3]["maximum_text_length_per_request"],
        42
    );
    // Unknown routes and methods, FastAPI style; all on the one connection.
    let r = c.get("/v1/nope");
    assert_eq!((r.status, r.json()), (404, json!({"detail": "Not Found"})));
    let r = c
        .send("DELETE", "/v1/models", &[("xi-api-key", KEY)], b"")
        .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(fake.connections(), 1);
    assert!(fake.requests().iter().all(|r| r.conn == 1));
}

#[test]
fn voices_paginate_with_the_token() {
    let fake = FakeElevenLabs::start(KEY);
    let all = fake.voices();
    assert!(all.len() >= 25);
    let mut c = Client::connect(&fake);
    let mut seen = Vec::new();
    let mut target = "/v2/voices?page_size=10".to_string();
    let mut pages = 0;
    loop {
        let r = c.get(&target);
        assert_eq!(r.status, 200);
        let page = r.json();
        check("GetVoicesV2ResponseModel", &page);
        assert_eq!(page["total_count"], all.len());
        for v in page["voices"].as_array().unwrap() {
            check("VoiceResponseModel", v);
            seen.push(v["voice_id"].as_str().unwrap().to_string());
        }
        pages += 1;
        if page["has_more"] == false {
            assert!(page["next_page_token"].is_null());
            break;
        }
        let token = page["next_page_token"].as_str().unwrap();
        target = format!("/v2/voices?page_size=10&next_page_token={token}");
    }
    assert_eq!(pages, all.len().div_ceil(10));
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), all.len());
    assert_eq!(seen.len(), all.len());
    // Default page size 10, the maximum 100, and the bounds.
    assert_eq!(
        c.get("/v2/voices").json()["voices"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let r = c.get("/v2/voices?page_size=100").json();
    assert_eq!(
        (r["voices"].as_array().unwrap().len(), &r["has_more"]),
        (all.len(), &json!(false))
    );
    for bad in ["101", "0", "ten"] {
        let r = c.get(&format!("/v2/voices?page_size={bad}"));
        assert_eq!(r.status, 422, "{bad}");
        check("HTTPValidationError", &r.json());
        assert_eq!(r.json()["detail"][0]["loc"], json!(["query", "page_size"]));
    }
    assert_eq!(c.get("/v2/voices?next_page_token=garbage").status, 422);
    let far = c
        .get("/v2/voices?next_page_token=pt_18446744073709551615")
        .json();
    assert_eq!(
        (far["voices"].as_array().unwrap().len(), &far["has_more"]),
        (0, &json!(false))
    );
    // The v1 list returns everything.
    assert_eq!(
        c.get("/v1/voices").json()["voices"]
            .as_array()
            .unwrap()
            .len(),
        all.len()
    );
}

#[test]
fn voices_search_and_category() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let names = |r: &Resp| -> Vec<String> {
        r.json()["voices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = c.get("/v2/voices?search=ADAM");
    assert_eq!(names(&r), ["Adam", "Adam Stone"]);
    assert_eq!(r.json()["total_count"], 2);
    assert_eq!(
        names(&c.get("/v2/voices?search=adam+stone")),
        ["Adam Stone"]
    );
    assert_eq!(
        names(&c.get("/v2/voices?search=adam%20stone")),
        ["Adam Stone"]
    );
    // Labels and descriptions count.
    let british = names(&c.get("/v2/voices?search=british&page_size=100"));
    assert!(british.contains(&"George".to_string()) && british.contains(&"Adam Stone".to_string()));
    assert!(!british.contains(&"Rachel".to_string()));
    assert_eq!(names(&c.get("/v2/voices?search=gravelly")), ["Adam Stone"]);
    assert_eq!(
        names(&c.get("/v2/voices?category=cloned")),
        ["Adam Stone", "My Clone"]
    );
    assert_eq!(
        names(&c.get("/v2/voices?category=generated")),
        ["Yuki", "Old Wizard"]
    );
    let pro = c
        .get("/v2/voices?category=professional&search=deutsch")
        .json();
    assert_eq!(pro["voices"][0]["verified_languages"][0]["language"], "de");
    // Search and pagination together.
    let r = c.get("/v2/voices?search=american&page_size=3").json();
    assert_eq!(r["voices"].as_array().unwrap().len(), 3);
    assert_eq!(r["has_more"], true);
    let nothing = c.get("/v2/voices?search=zzzz").json();
    assert_eq!(
        nothing,
        json!({"voices": [], "has_more": false, "total_count": 0, "next_page_token": null})
    );
    let rec = fake.requests();
    assert_eq!(rec[1].raw_query, "search=adam+stone");
    assert_eq!(rec[1].param("search"), Some("adam stone"));
    assert_eq!(rec[2].param("search"), Some("adam stone"));
}

#[test]
fn voice_by_id_and_unknown_voice() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let r = c.get(&format!("/v1/voices/{RACHEL}"));
    assert_eq!(r.status, 200);
    let v = r.json();
    check("VoiceResponseModel", &v);
    assert_eq!(
        (v["name"].as_str(), v["category"].as_str()),
        (Some("Rachel"), Some("premade"))
    );
    for k in ["accent", "gender", "age", "use_case", "description"] {
        assert!(v["labels"][k].is_string(), "{k}");
    }
    let r = c.get("/v1/voices/doesNotExist00000000");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"detail": {"status": "voice_not_found",
            "message": "A voice for the voice_id doesNotExist00000000 was not found."}})
    );
}

#[test]
fn subscription_and_user() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let s = c.get("/v1/user/subscription").json();
    check("ExtendedSubscriptionResponseModel", &s);
    assert_eq!(
        (s["character_count"].as_u64(), s["character_limit"].as_u64()),
        (Some(1234), Some(100_000))
    );
    fake.set_character_count(500, 10_000);
    fake.update_subscription(|s| s["tier"] = json!("pro"));
    let s = c.get("/v1/user/subscription").json();
    assert_eq!(
        (
            s["character_count"].as_u64(),
            s["character_limit"].as_u64(),
            s["tier"].as_str()
        ),
        (Some(500), Some(10_000), Some("pro"))
    );
    assert!(s["next_character_count_reset_unix"].is_u64());
    let u = c.get("/v1/user").json();
    check("UserResponseModel", &u);
    assert_eq!(u["subscription"]["character_count"], 500);
}

#[test]
fn tts_full_and_stream() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let body = json!({"text": "Hello there", "model_id": "eleven_flash_v2_5", "language_code": "en",
        "voice_settings": {"stability": 0.5, "similarity_boost": 0.75, "style": 0.0, "speed": 1.0, "use_speaker_boost": true},
        "seed": 42});
    let r = c.post(
        &format!("/v1/text-to-speech/{RACHEL}?output_format=mp3_44100_128"),
        &body,
    );
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("character-cost"), Some("11"));
    assert_eq!(r.header("request-id"), Some("req_1"));
    assert!(r.header("maximum-concurrent-requests").is_some());
    assert!(r.body.starts_with(b"ID3") && r.body[10..12] == [0xff, 0xfb]);
    assert_eq!(r.chunks.len(), 4);
    assert_eq!(r.body, fake_audio("Hello there", "mp3_44100_128", 4 * 2048));
    // Deterministic: the same text gives the same bytes; another text others.
    let again = c.post(
        &format!("/v1/text-to-speech/{RACHEL}/stream?output_format=mp3_44100_128"),
        &body,
    );
    assert_eq!(
        (again.body == r.body, again.header("request-id")),
        (true, Some("req_2"))
    );
    // pcm: an even byte count, even with an odd chunk size; the default format is mp3.
    fake.set_stream(StreamConfig {
        chunks: 3,
        chunk_bytes: 1001,
        ..StreamConfig::default()
    });
    let r = c.post(
        &format!("/v1/text-to-speech/{RACHEL}/stream?output_format=pcm_24000"),
        &json!({"text": "Hi"}),
    );
    assert_eq!((r.status, r.body.len(), r.chunks.len()), (200, 3 * 1002, 3));
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    let r = c.post(
        &format!("/v1/text-to-speech/{RACHEL}"),
        &json!({"text": "Other"}),
    );
    assert_eq!(r.body.len(), 3 * 1001);
    assert!(r.body.starts_with(b"ID3"));
    assert_eq!(
        c.post(
            &format!("/v1/text-to-speech/{RACHEL}?output_format=wav_16000"),
            &json!({"text": "W"})
        )
        .body[..4],
        *b"RIFF"
    );
    assert_eq!(
        c.post(
            &format!("/v1/text-to-speech/{RACHEL}/stream?output_format=opus_48000_64"),
            &json!({"text": "O"})
        )
        .body[..4],
        *b"OggS"
    );
    // Usage grows with the characters spoken.
    assert_eq!(
        fake.subscription()["character_count"],
        1234 + 11 + 11 + 2 + 5 + 1 + 1
    );
    // Recorded as sent, on one connection; the key only ever in xi-api-key.
    let rec = fake.requests();
    assert_eq!(rec.len(), 6);
    assert!(rec.iter().all(|r| r.conn == 1 && r.method == "POST"));
    assert_eq!(rec[0].path, format!("/v1/text-to-speech/{RACHEL}"));
    assert_eq!(rec[0].param("output_format"), Some("mp3_44100_128"));
    assert_eq!(rec[0].json(), body);
    assert_eq!(rec[0].header("Content-Type"), Some("application/json"));
    for r in &rec {
        assert_eq!(r.header("xi-api-key"), Some(KEY));
        let elsewhere = r
            .headers
            .iter()
            .filter(|(k, _)| k != "xi-api-key")
            .any(|(_, v)| v.contains(KEY))
            || r.raw_query.contains(KEY)
            || String::from_utf8_lossy(&r.body).contains(KEY);
        assert!(!elsewhere);
    }
}

#[test]
fn tts_rejects_bad_requests() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let url = format!("/v1/text-to-speech/{RACHEL}/stream");
    let invalid = |r: &Resp, loc: Value| {
        assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
        check("HTTPValidationError", &r.json());
        assert_eq!(r.json()["detail"][0]["loc"], loc);
    };
    let r = c.post(&url, &json!({"model_id": "eleven_flash_v2_5"}));
    invalid(&r, json!(["body", "text"]));
    assert_eq!(
        r.json(),
        json!({"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "value_error.missing"}]})
    );
    invalid(&c.post(&url, &json!({"text": 5})), json!(["body", "text"]));
    invalid(&c.post(&url, &json!(["text"])), json!(["body"]));
    invalid(
        &c.post(
            &url,
            &json!({"text": "a", "voice_settings": {"stability": 2}}),
        ),
        json!(["body", "voice_settings", "stability"]),
    );
    invalid(
        &c.post(&url, &json!({"text": "a", "seed": -1})),
        json!(["body", "seed"]),
    );
    let r = c
        .send(
            "POST",
            &url,
            &[("xi-api-key", KEY), ("content-type", "application/json")],
            b"{not json",
        )
        .unwrap();
    invalid(&r, json!(["body", "0"]));
    let r = c
        .send("POST", &url, &[("xi-api-key", KEY)], br#"{"text":"a"}"#)
        .unwrap();
    invalid(&r, json!(["body"]));
    invalid(
        &c.post(
            &format!("{url}?output_format=wav_16000"),
            &json!({"text": "a"}),
        ),
        json!(["query", "output_format"]),
    );
    invalid(
        &c.post(&format!("{url}?output_format=mp3_1"), &json!({"text": "a"})),
        json!(["query", "output_format"]),
    );
    // Over the model's limit.
    let long = "x".repeat(5001);
    let r = c.post(&url, &json!({"text": long, "model_id": "eleven_v3"}));
    assert_eq!(
        (r.status, detail_status(&r)),
        (400, "max_character_limit_exceeded".into())
    );
    assert!(
        r.json()["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("5000")
    );
    let r = c.post(
        &url,
        &json!({"text": "x".repeat(5000), "model_id": "eleven_v3"}),
    );
    assert_eq!(r.status, 200);
    // Unknown voice, unknown and non-TTS models.
    let r = c.post("/v1/text-to-speech/nope/stream", &json!({"text": "a"}));
    assert_eq!(
        (r.status, detail_status(&r)),
        (400, "voice_not_found".into())
    );
    let r = c.post(&url, &json!({"text": "a", "model_id": "eleven_nope"}));
    assert_eq!(r.status, 400);
    let r = c.post(
        &url,
        &json!({"text": "a", "model_id": "eleven_multilingual_sts_v2"}),
    );
    assert_eq!(r.status, 400);
    // Quota: used up characters give 401 quota_exceeded.
    fake.set_character_count(9_990, 10_000);
    assert_eq!(c.post(&url, &json!({"text": "0123456789"})).status, 200);
    let r = c.post(&url, &json!({"text": "a"}));
    assert_eq!(
        (r.status, detail_status(&r)),
        (401, "quota_exceeded".into())
    );
    assert!(
        r.json()["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds your quota of 10000")
    );
}

#[test]
fn stream_with_delays() {
    let fake = FakeElevenLabs::start(KEY);
    fake.set_stream(StreamConfig {
        chunks: 5,
        chunk_bytes: 1000,
        first_byte_delay: Duration::from_millis(150),
        chunk_delay: Duration::from_millis(60),
        ..StreamConfig::default()
    });
    let mut c = Client::connect(&fake);
    let start = Instant::now();
    let r = c.post(
        &format!("/v1/text-to-speech/{RACHEL}/stream?output_format=pcm_16000"),
        &json!({"text": "slow"}),
    );
    let total = start.elapsed();
    assert_eq!(
        (r.status, r.complete, r.chunks.len(), r.body.len()),
        (200, true, 5, 5000)
    );
    assert!(r.chunks.iter().all(|(n, _)| *n == 1000));
    // Chunk i cannot arrive before the first-byte delay plus i chunk delays (a lower bound that
    // scheduling jitter cannot break).
    for (i, (_, at)) in r.chunks.iter().enumerate() {
        let earliest = Duration::from_millis(150 + 60 * i as u64);
        assert!(*at - start >= earliest, "chunk {i} at {:?}", *at - start);
    }
    assert!(
        total >= Duration::from_millis(150 + 4 * 60) && total < Duration::from_secs(3),
        "{total:?}"
    );
    // The connection is reusable after a stream.
    assert_eq!(c.get("/v1/models").status, 200);
    assert_eq!(fake.connections(), 1);
}

#[test]
fn injected_error_shapes() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let tts = format!("/v1/text-to-speech/{RACHEL}/stream");
    let legacy = [
        (Reply::quota_exceeded(), 401, "quota_exceeded"),
        (Reply::invalid_api_key(), 401, "invalid_api_key"),
        (
            Reply::max_character_limit_exceeded(10_000, 10_001),
            400,
            "max_character_limit_exceeded",
        ),
        (Reply::voice_not_found(RACHEL), 400, "voice_not_found"),
        (Reply::only_for_creator(), 403, "only_for_creator+"),
        (
            Reply::too_many_concurrent_requests(),
            429,
            "too_many_concurrent_requests",
        ),
        (Reply::system_busy(), 429, "system_busy"),
    ];
    for (reply, status, code) in legacy {
        fake.fail_next("/v1/text-to-speech/", 1, reply);
        let r = c.post(&tts, &json!({"text": "a"}));
        assert_eq!(r.status, status, "{code}");
        let d = &r.json()["detail"];
        assert_eq!(
            (d["status"].as_str(), d["message"].is_string()),
            (Some(code), true),
            "{code}"
        );
        assert_eq!(d.as_object().unwrap().len(), 2, "{code}");
    }
    for (reply, code) in [
        (Reply::rate_limit_exceeded(), "rate_limit_exceeded"),
        (
            Reply::concurrent_limit_exceeded(),
            "concurrent_limit_exceeded",
        ),
    ] {
        fake.fail_next("/v1/text-to-speech/", 1, reply.retry_after(3));
        let r = c.post(&tts, &json!({"text": "a"}));
        assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
        let d = &r.json()["detail"];
        for k in ["type", "code", "message", "status", "request_id"] {
            assert!(d[k].is_string(), "{code} {k}");
        }
        assert_eq!(d["code"], code);
    }
    fake.fail_next(
        "/v1/text-to-speech/",
        1,
        Reply::system_busy().retry_after(1),
    );
    assert_eq!(
        c.post(&tts, &json!({"text": "a"})).header("retry-after"),
        Some("1")
    );
    // The 422 list shape.
    fake.fail_next(
        "/v1/voices",
        1,
        Reply::validation(&["body", "text"], "field required", "value_error.missing"),
    );
    let r = c.get(&format!("/v1/voices/{RACHEL}"));
    assert_eq!(r.status, 422);
    check("HTTPValidationError", &r.json());
    // 5xx, not JSON.
    for (reply, status, kind) in [
        (Reply::internal_error(), 500, "text/plain"),
        (Reply::bad_gateway(), 502, "text/html"),
        (Reply::service_unavailable(), 503, "text/html"),
    ] {
        fake.fail_next("/v1/models", 1, reply);
        let r = c.get("/v1/models");
        assert_eq!(r.status, status);
        assert!(r.header("content-type").unwrap().starts_with(kind));
        assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    }
    // Arbitrary replies; n counts down per matching path only; rules in order.
    fake.fail_next(
        "/v1/models",
        2,
        Reply::raw(418, "text/plain", b"teapot").with_header("X-Extra", "1"),
    );
    fake.fail_next(
        "/v1/models",
        1,
        Reply::json(504, json!({"detail": "gateway timeout"})),
    );
    assert_eq!(c.get("/v2/voices").status, 200);
    let r = c.get("/v1/models");
    assert_eq!(
        (r.status, r.body.as_slice(), r.header("x-extra")),
        (418, &b"teapot"[..], Some("1"))
    );
    assert_eq!(c.get("/v1/models").status, 418);
    assert_eq!(c.get("/v1/models").status, 504);
    assert_eq!(c.get("/v1/models").status, 200);
    // A fault comes before the key check; clear_faults drops pending ones.
    fake.fail_next("/v1/models", 5, Reply::system_busy());
    fake.clear_faults();
    assert_eq!(c.get("/v1/models").status, 200);
    // Everything went over one keep-alive connection.
    assert_eq!(fake.connections(), 1);
}

#[test]
fn reset_mid_stream() {
    let fake = FakeElevenLabs::start(KEY);
    fake.set_stream(StreamConfig {
        chunks: 4,
        chunk_bytes: 1000,
        ..StreamConfig::default()
    });
    fake.fail_next("/v1/text-to-speech/", 1, Reply::ResetAfter(1500));
    let mut c = Client::connect(&fake);
    let url = format!("/v1/text-to-speech/{RACHEL}/stream");
    let r = c.post(&url, &json!({"text": "cut"}));
    assert_eq!((r.status, r.complete, r.body.len()), (200, false, 1500));
    assert_eq!(r.chunks.len(), 1);
    assert_eq!(r.error, Some(ErrorKind::UnexpectedEof));
    assert_eq!(r.body, fake_audio("cut", "mp3_44100_128", 4000)[..1500]);
    // The connection is gone; a new one works.
    assert!(
        c.send("GET", "/v1/models", &[("xi-api-key", KEY)], b"")
            .is_err()
    );
    let mut c = Client::connect(&fake);
    assert_eq!(c.post(&url, &json!({"text": "cut"})).body.len(), 4000);
    // On a chunk boundary, and at zero bytes.
    for after in [2000, 0] {
        fake.fail_next("/v1/text-to-speech/", 1, Reply::ResetAfter(after));
        let mut c = Client::connect(&fake);
        let r = c.post(&url, &json!({"text": "cut"}));
        assert_eq!((r.complete, r.body.len()), (false, after));
    }
}

#[test]
fn stall_hits_client_read_timeout() {
    let fake = FakeElevenLabs::start(KEY);
    fake.fail_next(
        "/v1/text-to-speech/",
        1,
        Reply::Stall(Duration::from_secs(30)),
    );
    let mut c = Client::connect(&fake);
    c.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let start = Instant::now();
    let r = c.post(
        &format!("/v1/text-to-speech/{RACHEL}/stream"),
        &json!({"text": "a"}),
    );
    assert_eq!((r.status, r.complete, r.body.len()), (200, false, 0));
    assert!(
        matches!(r.error, Some(ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "{:?}",
        r.error
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    // Dropping the fake ends the stall at once.
    let start = Instant::now();
    drop(fake);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn close_without_response() {
    let fake = FakeElevenLabs::start(KEY);
    fake.fail_next("/v1/models", 1, Reply::Close);
    let mut c = Client::connect(&fake);
    let err = c
        .send("GET", "/v1/models", &[("xi-api-key", KEY)], b"")
        .err()
        .unwrap();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    let mut c = Client::connect(&fake);
    assert_eq!(c.get("/v1/models").status, 200);
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn auth_failure() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    let expected = json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}});
    for headers in [
        &[("xi-api-key", "sk_wrong")][..],
        &[],
        &[("authorization", KEY)],
    ] {
        for path in [
            "/v1/models",
            "/v2/voices",
            "/v1/user/subscription",
            "/v1/voices/x",
        ] {
            let r = c.send("GET", path, headers, b"").unwrap();
            assert_eq!(
                (r.status, r.json()),
                (401, expected.clone()),
                "{path} {headers:?}"
            );
        }
        let r = c
            .send(
                "POST",
                &format!("/v1/text-to-speech/{RACHEL}"),
                headers,
                br#"{"text":"a"}"#,
            )
            .unwrap();
        assert_eq!(r.status, 401);
    }
    // A rejected request spends nothing.
    assert_eq!(fake.subscription()["character_count"], 1234);
}

#[test]
fn drop_frees_the_port() {
    let fake = FakeElevenLabs::start(KEY);
    let addr = fake.addr();
    assert_eq!(fake.url(), format!("http://{addr}"));
    // An idle keep-alive connection and one mid-request must not keep it alive.
    let mut idle = Client::connect(&fake);
    assert_eq!(idle.get("/v1/models").status, 200);
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /v1/models HTTP/1.1\r\n").unwrap();
    thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    drop(fake);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // Both connections were closed by the fake.
    let mut buf = [0; 16];
    half.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(matches!(half.read(&mut buf), Ok(0) | Err(_)));
    assert!(
        idle.send("GET", "/v1/models", &[("xi-api-key", KEY)], b"")
            .is_err()
    );
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    assert!(refused.is_err(), "still listening");
    let again = TcpListener::bind(addr);
    assert!(again.is_ok(), "port not free: {:?}", again.err());
}

#[test]
fn bounded_body_recording_and_idle_timeout() {
    let fake = FakeElevenLabs::start(KEY);
    let mut c = Client::connect(&fake);
    // Over 2 MiB: 413 and the connection is closed.
    let big = vec![b'a'; MAX_BODY + 1];
    let url = format!("/v1/text-to-speech/{RACHEL}");
    let r = c.send(
        "POST",
        &url,
        &[("xi-api-key", KEY), ("content-type", "application/json")],
        &big,
    );
    let r = r.unwrap();
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
    assert!(fake.requests().is_empty());
    // A chunked request body is accepted.
    let mut c = Client::connect(&fake);
    let r = c
        .send(
            "POST",
            &url,
            &[
                ("xi-api-key", KEY),
                ("content-type", "application/json"),
                ("transfer-encoding", "chunked"),
            ],
            b"5\r\n{\"tex\r\n8\r\nt\":\"ab\"}\r\n0\r\n\r\n",
        )
        .unwrap();
    assert_eq!((r.status, r.header("character-cost")), (200, Some("2")));
    // Only the last MAX_RECORDED requests are kept.
    fake.clear_requests();
    for _ in 0..MAX_RECORDED + 5 {
        assert_eq!(c.get("/v1/nope").status, 404);
    }
    let rec = fake.requests();
    assert_eq!(rec.len(), MAX_RECORDED);
    assert_eq!(rec.last().unwrap().n - rec[0].n, MAX_RECORDED as u64 - 1);
    // A client that stops mid-request is dropped after the read timeout.
    fake.set_read_timeout(Duration::from_millis(200));
    let mut stuck = TcpStream::connect(fake.addr()).unwrap();
    stuck
        .write_all(b"GET /v1/models HTTP/1.1\r\nxi-api-")
        .unwrap();
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0; 16];
    assert!(matches!(stuck.read(&mut buf), Ok(0) | Err(_)));
    assert!(start.elapsed() < Duration::from_secs(2));
    let _ = stuck.shutdown(Shutdown::Both);
}

#[test]
fn concurrency_limit_and_peak() {
    let fake = FakeElevenLabs::start(KEY);
    fake.set_concurrency_limit(Some(1));
    fake.set_stream(StreamConfig {
        chunks: 2,
        chunk_bytes: 10,
        first_byte_delay: Duration::from_millis(400),
        ..StreamConfig::default()
    });
    let url = format!("/v1/text-to-speech/{RACHEL}/stream");
    let addr = fake.addr();
    let slow = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let body = br#"{"text":"slow"}"#;
        let req = format!(
            "POST /v1/text-to-speech/{RACHEL}/stream HTTP/1.1\r\nxi-api-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    });
    thread::sleep(Duration::from_millis(150));
    let mut c = Client::connect(&fake);
    let r = c.post(&url, &json!({"text": "fast"}));
    assert_eq!(
        (r.status, detail_status(&r)),
        (429, "too_many_concurrent_requests".into())
    );
    let slow = slow.join().unwrap();
    assert!(
        slow.starts_with("HTTP/1.1 200") && slow.contains("maximum-concurrent-requests: 1"),
        "{slow}"
    );
    assert_eq!(c.post(&url, &json!({"text": "fast"})).status, 200);
    assert_eq!(fake.peak_concurrency(), 1);
}
