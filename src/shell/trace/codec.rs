//! The core's inputs and outputs as trace JSON, written by hand (the core stays free of serde
//! derives); the config is in `config.rs`.
//!
//! Encoders destructure every struct exhaustively: a field added to the core fails to compile
//! here until the trace learns it. Bytes are a string when they are UTF-8, `{"b64": …}`
//! otherwise; the API key is masked at that step (see [`Redactor`]). Audio bytes are only their
//! length and SHA-256; decoding gives back [`placeholder`] bytes of that length.

use super::ledger_codec;
use super::scrub::{Redactor, audio_digest, placeholder};
use super::timings;
use crate::core::audio::{Codec, Format};
use crate::core::cache::CacheKey;
use crate::core::elevenlabs::{HttpRequest, HttpResponse, Method, Transport};
use crate::core::player::PlayerInput;
use crate::core::{
    FileError, FileName, Input, Job, JobId, JobResult, Output, PlayerSink, Sink, SpeechDone,
    SpeechFailed,
};
use base64::Engine as _;
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub(crate) use super::fields::{
    Res, bool_at, field, opt_str_at, str_at, u64_at, unknown, usize_at, variant,
};

// ---- bytes -------------------------------------------------------------------------------------

/// Bytes as a string when they are UTF-8, else `{"b64": …}`; the key masked either way.
pub(crate) fn bytes_value(bytes: &[u8], r: &Redactor) -> Value {
    let mut b = bytes.to_vec();
    r.bytes(&mut b);
    match String::from_utf8(b) {
        Ok(s) => Value::String(s),
        Err(e) => json!({"b64": B64.encode(e.as_bytes())}),
    }
}

pub(crate) fn bytes_from(v: &Value, path: &str) -> Res<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.clone().into_bytes()),
        Value::Object(_) => B64
            .decode(str_at(v, path, "b64")?)
            .map_err(|e| format!("{path}.b64: {e}")),
        _ => Err(format!("{path}: expected a string or {{\"b64\": …}}")),
    }
}

/// Audio as `{"len","sha256"}` → placeholder bytes for input `n`.
fn audio_from(v: &Value, path: &str, n: u64) -> Res<Vec<u8>> {
    Ok(placeholder(n, usize_at(v, path, "len")?))
}

// ---- inputs ------------------------------------------------------------------------------------

/// The audio bytes an input carries, if any (an `audio://` read or an inline synthesis).
pub(crate) fn input_audio(input: &Input) -> Option<&[u8]> {
    match input {
        Input::JobDone {
            result: JobResult::Audio(Ok(bytes)),
            ..
        } => Some(bytes),
        Input::JobDone {
            result: JobResult::Speech(Ok(SpeechDone { data: Some(d), .. })),
            ..
        } => Some(d),
        _ => None,
    }
}

/// An input other than stdin bytes (the recorder encodes those itself, see `record.rs`).
pub(crate) fn encode_input(input: &Input, r: &Redactor) -> Value {
    match input {
        Input::Stdin(bytes) => json!({ "stdin": bytes_value(bytes, r) }),
        Input::StdinClosed => "stdin_closed".into(),
        Input::JobDone { id, result } => {
            json!({"job_done": {"id": id.0, "result": encode_result(result, r)}})
        }
        Input::Progress { id, bytes } => json!({"progress": {"id": id.0, "bytes": bytes}}),
        Input::Playing { id, request_id } => {
            json!({"playing": {"id": id.0, "request_id": request_id}})
        }
        // Traces record stdio sessions only (`serve --trace` refuses `--http`).
        #[cfg(feature = "http-server")]
        Input::Http(_) => "http".into(),
    }
}

/// A recorded input: `None` for a timer firing (`"timeout"`). Audio becomes the placeholder
/// bytes of input `n`.
pub(crate) fn decode_input(v: &Value, n: u64) -> Res<Option<Input>> {
    let p = "input";
    Ok(Some(match variant(v, p)? {
        ("timeout", _) => return Ok(None),
        ("stdin_closed", _) => Input::StdinClosed,
        ("stdin", b) => Input::Stdin(bytes_from(b, "input.stdin")?),
        ("job_done", b) => Input::JobDone {
            id: JobId(u64_at(b, "input.job_done", "id")?),
            result: decode_result(field(b, "input.job_done", "result")?, n)?,
        },
        ("progress", b) => Input::Progress {
            id: JobId(u64_at(b, "input.progress", "id")?),
            bytes: u64_at(b, "input.progress", "bytes")?,
        },
        ("playing", b) => Input::Playing {
            id: JobId(u64_at(b, "input.playing", "id")?),
            request_id: opt_str_at(b, "input.playing", "request_id")?,
        },
        (other, _) => return unknown(p, other),
    }))
}

fn encode_result(result: &JobResult, r: &Redactor) -> Value {
    let ok_err = |res: Result<Value, Value>| match res {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": e }),
    };
    match result {
        JobResult::Audio(res) => json!({"audio": ok_err(match res {
            Ok(bytes) => Ok(audio_digest(bytes)),
            Err(FileError::NotFound) => Err("not_found".into()),
            Err(FileError::TooLarge { limit }) => Err(json!({"too_large": {"limit": limit}})),
            Err(FileError::Other(why)) => Err(json!({"other": r.string(why)})),
        })}),
        JobResult::Http(res) => json!({"http": ok_err(match res {
            Ok(resp) => Ok(encode_response(resp, r)),
            Err(t) => Err(encode_transport(t, r)),
        })}),
        JobResult::Speech(res) => json!({"speech": ok_err(match res {
            Ok(done) => Ok(encode_done(done, r)),
            Err(failed) => Err(encode_failed(failed, r)),
        })}),
        JobResult::Cached(res) => json!({"cached": ok_err(match res {
            None => Ok(Value::Null),
            Some(Ok(done)) => Ok(encode_done(done, r)),
            Some(Err(failed)) => Err(encode_failed(failed, r)),
        })}),
        // Keys are left out (see `encode_job`): a scan is its entries' sizes.
        JobResult::CacheScanned(entries) => json!({"cache_scanned": {"ok": entries
            .iter()
            .map(|(_, size)| size)
            .collect::<Vec<_>>()}}),
        JobResult::Written(res) => json!({"written": ok_err(match res {
            Ok(()) => Ok(Value::Null),
            Err(why) => Err(r.string(why).into()),
        })}),
        JobResult::Reserved(res) => json!({"reserved": ok_err(match res {
            Ok(v) => Ok(ledger_codec::encode_reserved(v)),
            Err(why) => Err(r.string(why).into()),
        })}),
        JobResult::Report(res) => json!({"report": ok_err(match res {
            Ok(s) => Ok(ledger_codec::encode_summary(s, r)),
            Err(why) => Err(r.string(why).into()),
        })}),
    }
}

fn encode_failed(failed: &SpeechFailed, r: &Redactor) -> Value {
    match failed {
        SpeechFailed::Status(resp) => json!({"status": encode_response(resp, r)}),
        SpeechFailed::Transport { error, bytes } => {
            json!({"transport": {"error": encode_transport(error, r), "bytes": bytes}})
        }
        SpeechFailed::Sink(why) => json!({"sink": r.string(why)}),
        SpeechFailed::InlineTooLarge { limit } => json!({"inline_too_large": {"limit": limit}}),
        SpeechFailed::Command(why) => json!({"command": r.string(why)}),
        SpeechFailed::Player(why) => json!({"player": r.string(why)}),
    }
}

fn decode_failed(v: &Value, p: &str) -> Res<SpeechFailed> {
    Ok(match variant(v, p)? {
        ("status", b) => SpeechFailed::Status(decode_response(b, p)?),
        ("transport", b) => SpeechFailed::Transport {
            error: decode_transport(field(b, p, "error")?, p)?,
            bytes: u64_at(b, p, "bytes")?,
        },
        ("sink", Value::String(s)) => SpeechFailed::Sink(s.clone()),
        ("inline_too_large", b) => SpeechFailed::InlineTooLarge {
            limit: u64_at(b, p, "limit")?,
        },
        ("command", Value::String(s)) => SpeechFailed::Command(s.clone()),
        ("player", Value::String(s)) => SpeechFailed::Player(s.clone()),
        (other, _) => return unknown(p, other),
    })
}

fn decode_result(v: &Value, n: u64) -> Res<JobResult> {
    let p = "input.job_done.result";
    let (kind, body) = variant(v, p)?;
    let (ok, inner) = variant(body, p)?;
    let ok = match ok {
        "ok" => true,
        "err" => false,
        other => return unknown(p, other),
    };
    let p = &format!("{p}.{kind}.{}", if ok { "ok" } else { "err" });
    Ok(match (kind, ok) {
        ("audio", true) => JobResult::Audio(Ok(audio_from(inner, p, n)?)),
        ("audio", false) => JobResult::Audio(Err(match variant(inner, p)? {
            ("not_found", _) => FileError::NotFound,
            ("too_large", b) => FileError::TooLarge {
                limit: u64_at(b, p, "limit")?,
            },
            ("other", Value::String(s)) => FileError::Other(s.clone()),
            (other, _) => return unknown(p, other),
        })),
        ("http", true) => JobResult::Http(Ok(decode_response(inner, p)?)),
        ("http", false) => JobResult::Http(Err(decode_transport(inner, p)?)),
        ("speech", true) => JobResult::Speech(Ok(decode_done(inner, p, n)?)),
        ("speech", false) => JobResult::Speech(Err(decode_failed(inner, p)?)),
        ("cached", true) if inner.is_null() => JobResult::Cached(None),
        ("cached", true) => JobResult::Cached(Some(Ok(decode_done(inner, p, n)?))),
        ("cached", false) => JobResult::Cached(Some(Err(decode_failed(inner, p)?))),
        ("cache_scanned", true) => JobResult::CacheScanned(
            inner
                .as_array()
                .ok_or_else(|| format!("{p}: expected a list"))?
                .iter()
                .enumerate()
                .map(|(i, size)| {
                    let key = CacheKey::of(&["replayed scan", &i.to_string()]);
                    Ok((
                        key,
                        size.as_u64()
                            .ok_or_else(|| format!("{p}: expected a size"))?,
                    ))
                })
                .collect::<Res<Vec<_>>>()?,
        ),
        ("reserved", true) => JobResult::Reserved(Ok(ledger_codec::decode_reserved(inner, p)?)),
        ("reserved", false) => JobResult::Reserved(Err(inner
            .as_str()
            .ok_or_else(|| format!("{p}: expected a string"))?
            .to_string())),
        ("report", true) => {
            JobResult::Report(Ok(Box::new(ledger_codec::decode_summary(inner, p)?)))
        }
        ("report", false) => JobResult::Report(Err(inner
            .as_str()
            .ok_or_else(|| format!("{p}: expected a string"))?
            .to_string())),
        ("written", true) => JobResult::Written(Ok(())),
        ("written", false) => JobResult::Written(Err(inner
            .as_str()
            .ok_or_else(|| format!("{p}: expected a string"))?
            .to_string())),
        (other, _) => return unknown(p, other),
    })
}

fn encode_done(d: &SpeechDone, r: &Redactor) -> Value {
    let SpeechDone {
        first_byte_us,
        head,
        data_bytes,
        total_bytes,
        file,
        data,
        cache_entry,
        player_failed,
        alignment,
    } = d;
    let mut v = json!({
        "first_byte_us": first_byte_us,
        "head": encode_response(head, r),
        "data_bytes": data_bytes,
        "total_bytes": total_bytes,
        "file": file,
        "data": data.as_deref().map(audio_digest),
    });
    // Only when there is one: traces from before the cache stay as they were.
    if let Some(size) = cache_entry {
        v["cache_entry"] = json!(size);
    }
    if let Some(why) = player_failed {
        v["player_failed"] = json!(r.string(why));
    }
    if let Some(a) = alignment {
        v["alignment"] = timings::encode(a, r);
    }
    v
}

fn decode_done(v: &Value, p: &str, n: u64) -> Res<SpeechDone> {
    Ok(SpeechDone {
        first_byte_us: match field(v, p, "first_byte_us")? {
            Value::Null => None,
            x => Some(
                x.as_u64()
                    .ok_or_else(|| format!("{p}.first_byte_us: expected a number"))?,
            ),
        },
        head: decode_response(field(v, p, "head")?, p)?,
        data_bytes: u64_at(v, p, "data_bytes")?,
        total_bytes: u64_at(v, p, "total_bytes")?,
        file: opt_str_at(v, p, "file")?,
        data: match field(v, p, "data")? {
            Value::Null => None,
            d => Some(audio_from(d, p, n)?),
        },
        cache_entry: match v.get("cache_entry") {
            None => None,
            Some(_) => Some(u64_at(v, p, "cache_entry")?),
        },
        player_failed: match v.get("player_failed") {
            None => None,
            Some(_) => Some(str_at(v, p, "player_failed")?.to_string()),
        },
        alignment: match v.get("alignment") {
            None => None,
            Some(a) => Some(Box::new(timings::decode(a, &format!("{p}.alignment"))?)),
        },
    })
}

fn encode_response(resp: &HttpResponse, r: &Redactor) -> Value {
    let HttpResponse {
        status,
        headers,
        body,
    } = resp;
    let headers: Vec<Value> = headers
        .iter()
        .map(|(k, v)| json!([r.string(k), r.string(v)]))
        .collect();
    json!({"status": status, "headers": headers, "body": bytes_value(body, r)})
}

fn decode_response(v: &Value, p: &str) -> Res<HttpResponse> {
    let headers = field(v, p, "headers")?
        .as_array()
        .and_then(|hs| {
            hs.iter()
                .map(|h| match h.as_array().map(Vec::as_slice) {
                    Some([Value::String(k), Value::String(v)]) => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| format!("{p}.headers: expected [[name, value], …]"))?;
    Ok(HttpResponse {
        status: u16::try_from(u64_at(v, p, "status")?)
            .map_err(|_| format!("{p}.status: not a status code"))?,
        headers,
        body: bytes_from(field(v, p, "body")?, p)?,
    })
}

fn encode_transport(t: &Transport, r: &Redactor) -> Value {
    match t {
        Transport::Dns => "dns".into(),
        Transport::ConnectionRefused => "connection_refused".into(),
        Transport::Tls(why) => json!({ "tls": r.string(why) }),
        Transport::Timeout => "timeout".into(),
        Transport::Io(why) => json!({ "io": r.string(why) }),
        Transport::TooLarge => "too_large".into(),
        Transport::Cancelled => "cancelled".into(),
        Transport::Setup(why) => json!({ "setup": r.string(why) }),
    }
}

fn decode_transport(v: &Value, p: &str) -> Res<Transport> {
    let text = |b: &Value| {
        b.as_str()
            .map(String::from)
            .ok_or_else(|| format!("{p}: expected a string"))
    };
    Ok(match variant(v, p)? {
        ("dns", _) => Transport::Dns,
        ("connection_refused", _) => Transport::ConnectionRefused,
        ("tls", b) => Transport::Tls(text(b)?),
        ("timeout", _) => Transport::Timeout,
        ("io", b) => Transport::Io(text(b)?),
        ("too_large", _) => Transport::TooLarge,
        ("cancelled", _) => Transport::Cancelled,
        ("setup", b) => Transport::Setup(text(b)?),
        (other, _) => return unknown(p, other),
    })
}

// ---- outputs -----------------------------------------------------------------------------------

/// An output as trace values: one per stdout line (so how the core groups lines into writes does
/// not count, only their order), one for anything else. `stdout` turns a line's JSON into its
/// recorded form (audio blobs replaced).
pub(crate) fn encode_output(
    output: &Output,
    r: &Redactor,
    stdout: &mut dyn FnMut(Value) -> Value,
) -> Vec<Value> {
    match output {
        Output::Stdout(bytes) => {
            let mut bytes = bytes.clone();
            r.bytes(&mut bytes);
            let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            body.split(|&b| b == b'\n')
                .map(|line| match serde_json::from_slice::<Value>(line) {
                    Ok(v) => json!({ "stdout": stdout(v) }),
                    Err(_) => json!({ "stdout_raw": bytes_value(line, r) }),
                })
                .collect()
        }
        Output::Start { id, job } => {
            vec![json!({"start": {"id": id.0, "job": encode_job(job, r)}})]
        }
        Output::Cancel(id) => vec![json!({ "cancel": id.0 })],
        Output::Log { level, message } => {
            vec![json!({"log": {"level": level.as_str(), "message": r.string(message)}})]
        }
        #[cfg(feature = "http-server")]
        Output::Http(_) => Vec::new(),
    }
}

fn encode_job(job: &Job, r: &Redactor) -> Value {
    match job {
        Job::ReadAudio { name, max_bytes } => {
            json!({"read_audio": {"name": r.string(name), "max_bytes": max_bytes}})
        }
        Job::Http { request, max_body } => {
            json!({"http": {"request": encode_request(request, r), "max_body": max_body}})
        }
        Job::Speech {
            request,
            more,
            websocket,
            sink,
            max_bytes,
            cache,
            timestamps,
        } => {
            let mut v = json!({"speech": {
                "request": encode_request(request, r),
                "sink": encode_sink(sink, r),
                "max_bytes": max_bytes,
            }});
            // Only for a long text: traces of one-piece speech stay as they were.
            if let Some(m) = more {
                let more: Vec<Value> = m.requests.iter().map(|q| encode_request(q, r)).collect();
                v["speech"]["more"] = more.into();
                v["speech"]["parallel"] = json!(m.parallel);
                v["speech"]["retry_ms"] = json!(m.retry_ms);
            }
            if let Some(ws) = websocket {
                let messages: Vec<String> = ws.messages.iter().map(|m| r.string(m)).collect();
                v["speech"]["websocket"] =
                    json!({"path": r.string(&ws.path), "messages": messages});
            }
            if let Some((_, max)) = cache {
                v["speech"]["cache"] = json!({"max_bytes": max});
            }
            if *timestamps {
                v["speech"]["timestamps"] = true.into();
            }
            v
        }
        // Cache keys are left out: one is the hash of a text, which may hold the API key that
        // the trace masks, so a replay could not compute it again. The sink, the sizes and the
        // order of the cache's jobs say what the core decided.
        Job::CacheRead {
            sink, max_bytes, ..
        } => json!({"cache_read": {
            "sink": encode_sink(sink, r),
            "max_bytes": max_bytes,
        }}),
        Job::CacheScan => json!({"cache_scan": null}),
        Job::CacheEvict { keys } => json!({"cache_evict": {"entries": keys.len()}}),
        Job::Fallback {
            argv,
            text,
            sink,
            max_bytes,
            timeout_ms,
        } => json!({"fallback": {
            "argv": argv.iter().map(|a| r.string(a)).collect::<Vec<_>>(),
            "text": r.string(text),
            "sink": encode_sink(sink, r),
            "max_bytes": max_bytes,
            "timeout_ms": timeout_ms,
        }}),
        Job::Record(_) | Job::Reserve(_) | Job::Release(_) | Job::Report(_) => {
            ledger_codec::encode_job(job, r)
        }
        Job::WriteState { key, value } => {
            let mut value = value.clone();
            r.value(&mut value);
            json!({"write_state": {"key": r.string(key), "value": value}})
        }
    }
}

fn encode_request(req: &HttpRequest, r: &Redactor) -> Value {
    let HttpRequest { method, path, body } = req;
    let method = match method {
        Method::Get => "GET",
        Method::Post => "POST",
    };
    json!({
        "method": method,
        "path": r.string(path),
        "body": body.as_deref().map(|b| bytes_value(b, r)),
    })
}

fn encode_sink(sink: &Sink, r: &Redactor) -> Value {
    match sink {
        Sink::File { name, wav } => {
            json!({"file": {"name": encode_name(name, r), "wav": wav.map(encode_format)}})
        }
        Sink::Memory { max_bytes } => json!({"memory": {"max_bytes": max_bytes}}),
        Sink::Player(p) => {
            let PlayerSink {
                argv,
                input,
                format,
                wav,
                or_file,
            } = &**p;
            let input = match input {
                PlayerInput::Stdin => json!("stdin"),
                PlayerInput::File { ext } => json!({ "file": ext }),
            };
            let or_file = or_file.as_ref().map(|name| encode_name(name, r));
            json!({"player": {
                "argv": argv.iter().map(|a| r.string(a)).collect::<Vec<_>>(),
                "input": input,
                "format": encode_format(*format),
                "wav": wav.map(encode_format),
                "or_file": or_file,
            }})
        }
    }
}

fn encode_name(name: &FileName, r: &Redactor) -> Value {
    match name {
        FileName::Exact(s) => json!({ "exact": r.string(s) }),
        FileName::Stem { stem, ext } => json!({"stem": r.string(stem), "ext": ext}),
    }
}

fn encode_format(f: Format) -> Value {
    let Format {
        codec,
        sample_rate,
        kbps,
        wav,
    } = f;
    let codec = match codec {
        Codec::Mp3 => "mp3",
        Codec::Opus => "opus",
        Codec::Pcm => "pcm",
        Codec::Ulaw => "ulaw",
        Codec::Alaw => "alaw",
    };
    json!({"codec": codec, "sample_rate": sample_rate, "kbps": kbps, "wav": wav})
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
