//! A fake ElevenLabs HTTP API for integration tests: std only (plus serde_json), HTTP/1.1 with
//! keep-alive on 127.0.0.1, a thread per connection, stopped when the handle is dropped.
//!
//! Shapes follow `shared/reference/elevenlabs-api.md` and the vendored OpenAPI spec. Where no
//! ElevenLabs source gives a shape (unknown model, bad page token) the fake invents a plausible one
//! and says so. Use it as `support::fake_elevenlabs::*`, or include the file with `#[path]`.
#![allow(dead_code, unreachable_pub, missing_docs)]

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

#[path = "fake_ws.rs"]
mod ws;
pub use ws::WsFault;

/// Request bodies above this get 413 (not recorded) and the connection is closed.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// Only the last this many requests are kept by [`FakeElevenLabs::requests`].
pub const MAX_RECORDED: usize = 1000;
const MAX_HEAD: u64 = 64 * 1024;
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Output formats of the full endpoint, space-separated; `/stream` takes the same without `wav_*`
/// (reference §2).
pub const OUTPUT_FORMATS: &str = "alaw_8000 mp3_22050_32 mp3_24000_48 mp3_44100_32 mp3_44100_64 \
    mp3_44100_96 mp3_44100_128 mp3_44100_192 opus_48000_32 opus_48000_64 opus_48000_96 \
    opus_48000_128 opus_48000_192 pcm_8000 pcm_16000 pcm_22050 pcm_24000 pcm_32000 pcm_44100 \
    pcm_48000 ulaw_8000 wav_8000 wav_16000 wav_22050 wav_24000 wav_32000 wav_44100 wav_48000";

pub const RACHEL: &str = "21m00Tcm4TlvDq8ikWAM";

/// How TTS audio is sent: `chunks` HTTP chunks of `chunk_bytes` (rounded up to even for `pcm_*`),
/// after `first_byte_delay`, with `chunk_delay` between chunks.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    pub chunks: usize,
    pub chunk_bytes: usize,
    pub first_byte_delay: Duration,
    pub chunk_delay: Duration,
    /// Added to `first_byte_delay` for the first piece of a long text (a request with
    /// `next_text` but no `previous_text`), so that later pieces finish before it starts.
    pub first_piece_delay: Duration,
    /// Added to `first_byte_delay` for each character of the text: a model of an upstream
    /// that takes longer to start on a longer text.
    pub first_byte_per_char: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            chunks: 4,
            chunk_bytes: 2048,
            first_byte_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            first_piece_delay: Duration::ZERO,
            first_byte_per_char: Duration::ZERO,
        }
    }
}

/// What an injected fault answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Any status, headers and body (`content-length` is added).
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with chunked audio headers, then the connection is cut after this many body bytes
    /// (in the middle of a chunk when it falls there). std cannot set SO_LINGER, so the peer sees
    /// an abrupt EOF (a FIN, or an RST if it had sent more) without the terminating chunk.
    ResetAfter(usize),
    /// 200 with chunked audio headers, then nothing for the duration, then the connection closes.
    Stall(Duration),
    /// The request is read, then the connection is closed without a response.
    Close,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self::raw(status, "application/json", body.to_string().as_bytes())
    }

    pub fn raw(status: u16, content_type: &str, body: &[u8]) -> Self {
        Self::Http {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.to_vec(),
        }
    }

    /// Adds a header (ignored by the transport faults).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Http { headers, .. } = &mut self {
            headers.push((name.to_ascii_lowercase(), value.to_string()));
        }
        self
    }

    pub fn retry_after(self, seconds: u64) -> Self {
        self.with_header("retry-after", &seconds.to_string())
    }

    /// The legacy shape `{"detail":{"status","message"}}`.
    pub fn legacy(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            json!({"detail": {"status": code, "message": message}}),
        )
    }

    /// The current documented shape `{"detail":{"type","code","message","status","request_id"}}`.
    pub fn current(status: u16, kind: &str, code: &str, message: &str) -> Self {
        Self::json(
            status,
            json!({"detail": {"type": kind, "code": code, "message": message,
            "status": code, "request_id": "3c807f5a9b1e4d2c8f6a0e7b1d2c3f4a"}}),
        )
    }

    /// FastAPI's 422 list shape for one field.
    pub fn validation(loc: &[&str], msg: &str, kind: &str) -> Self {
        Self::json(
            422,
            json!({"detail": [{"loc": loc, "msg": msg, "type": kind}]}),
        )
    }

    pub fn quota_exceeded() -> Self {
        Self::legacy(
            401,
            "quota_exceeded",
            "This request exceeds your quota of 10000. You have 0 credits remaining, while 91 credits are required for this request.",
        )
    }

    pub fn invalid_api_key() -> Self {
        Self::legacy(401, "invalid_api_key", "Invalid API key")
    }

    pub fn max_character_limit_exceeded(limit: usize, got: usize) -> Self {
        Self::legacy(
            400,
            "max_character_limit_exceeded",
            &format!(
                "You are sending too many characters in a single request. The maximum is {limit} characters, the request has {got}."
            ),
        )
    }

    pub fn voice_not_found(voice_id: &str) -> Self {
        Self::legacy(
            400,
            "voice_not_found",
            &format!("A voice for the voice_id {voice_id} was not found."),
        )
    }

    pub fn only_for_creator() -> Self {
        Self::legacy(
            403,
            "only_for_creator+",
            "Professional voices are only available on the Creator tier and above.",
        )
    }

    pub fn too_many_concurrent_requests() -> Self {
        Self::legacy(
            429,
            "too_many_concurrent_requests",
            "Too many concurrent requests. Your current subscription is associated with a maximum of 5 concurrent requests (running in parallel). Please upgrade your subscription or contact sales if you want to increase this limit.",
        )
    }

    pub fn system_busy() -> Self {
        Self::legacy(
            429,
            "system_busy",
            "We are experiencing heavy traffic, please retry your request with exponential backoff.",
        )
    }

    pub fn rate_limit_exceeded() -> Self {
        Self::current(
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
            "You have exceeded the rate limit. Please back off and retry.",
        )
    }

    pub fn concurrent_limit_exceeded() -> Self {
        Self::current(
            429,
            "rate_limit_error",
            "concurrent_limit_exceeded",
            "Too many concurrent requests for your plan. Wait for in-flight requests to finish.",
        )
    }

    /// 500 as uvicorn sends it (plain text).
    pub fn internal_error() -> Self {
        Self::raw(500, "text/plain; charset=utf-8", b"Internal Server Error")
    }

    /// 502 as a load balancer sends it (HTML).
    pub fn bad_gateway() -> Self {
        Self::raw(502, "text/html", b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>")
    }

    /// 503 as a load balancer sends it (HTML).
    pub fn service_unavailable() -> Self {
        Self::raw(
            503,
            "text/html",
            b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        )
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request number (1-based, across connections); `request-id` is `req_<n>`.
    pub n: u64,
    /// The connection number (1-based); equal numbers mean a reused connection.
    pub conn: u64,
    pub method: String,
    pub path: String,
    pub raw_query: String,
    /// Percent-decoded pairs in order.
    pub query: Vec<(String, String)>,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Fault {
    prefix: String,
    left: usize,
    reply: Reply,
}

struct State {
    models: Vec<Value>,
    voices: Vec<Value>,
    subscription: Value,
    stream: StreamConfig,
    faults: Vec<Fault>,
    requests: VecDeque<Recorded>,
    counter: u64,
    connections: u64,
    read_timeout: Duration,
    concurrency_limit: Option<usize>,
    in_flight: usize,
    peak_in_flight: usize,
    ws_fault: Option<WsFault>,
}

struct Shared {
    key: String,
    stop: AtomicBool,
    state: Mutex<State>,
    conns: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running fake; dropping it closes the listener and every connection.
pub struct FakeElevenLabs {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeElevenLabs {
    pub fn start(api_key: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            key: api_key.to_string(),
            stop: AtomicBool::new(false),
            state: Mutex::new(State {
                models: seed_models(),
                voices: seed_voices(),
                subscription: seed_subscription(),
                stream: StreamConfig::default(),
                faults: Vec::new(),
                requests: VecDeque::new(),
                counter: 0,
                connections: 0,
                read_timeout: DEFAULT_READ_TIMEOUT,
                concurrency_limit: None,
                in_flight: 0,
                peak_in_flight: 0,
                ws_fault: None,
            }),
            conns: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name("fake-elevenlabs-accept".into())
            .spawn(move || accept_loop(&listener, &sh))
            .unwrap();
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next `n` requests whose path starts with `path_prefix` get `reply` (before the key is
    /// checked). Rules are tried in the order they were added.
    pub fn fail_next(&self, path_prefix: &str, n: usize, reply: Reply) {
        lock(&self.shared.state).faults.push(Fault {
            prefix: path_prefix.to_string(),
            left: n,
            reply,
        });
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.state).faults.clear();
    }

    /// The last [`MAX_RECORDED`] requests, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.state).requests.iter().cloned().collect()
    }

    /// The bodies of the HTTP TTS requests whose text is part of `text` (a long text's
    /// pieces), in the order of the text.
    pub fn pieces_asked(&self, text: &str) -> Vec<Value> {
        let mut bodies: Vec<Value> = self
            .requests()
            .iter()
            .filter(|q| q.path.contains("/stream"))
            .map(Recorded::json)
            .filter(|b| b["text"].as_str().is_some_and(|t| text.contains(t)))
            .collect();
        bodies.sort_by_key(|b| b["text"].as_str().and_then(|t| text.find(t)));
        bodies
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.state).requests.clear();
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        lock(&self.shared.state).connections
    }

    /// The next WebSocket synthesis meets `fault`.
    pub fn set_ws_fault(&self, fault: WsFault) {
        lock(&self.shared.state).ws_fault = Some(fault);
    }

    pub fn set_stream(&self, config: StreamConfig) {
        lock(&self.shared.state).stream = config;
    }

    /// Idle/read timeout for connections accepted from now on.
    pub fn set_read_timeout(&self, timeout: Duration) {
        lock(&self.shared.state).read_timeout = timeout;
    }

    /// Sets `character_count` and `character_limit`; TTS adds each request's characters and answers
    /// 401 `quota_exceeded` once a request would pass the limit.
    pub fn set_character_count(&self, count: u64, limit: u64) {
        let mut st = lock(&self.shared.state);
        st.subscription["character_count"] = json!(count);
        st.subscription["character_limit"] = json!(limit);
    }

    /// Edits the subscription JSON (e.g. `tier`, `next_character_count_reset_unix`, `status`).
    pub fn update_subscription(&self, f: impl FnOnce(&mut Value)) {
        f(&mut lock(&self.shared.state).subscription);
    }

    pub fn subscription(&self) -> Value {
        lock(&self.shared.state).subscription.clone()
    }

    /// Sets every per-request character limit of `model_id`.
    pub fn set_model_limit(&self, model_id: &str, chars: u64) {
        let mut st = lock(&self.shared.state);
        let m = st
            .models
            .iter_mut()
            .find(|m| m["model_id"] == model_id)
            .expect("known model");
        for k in [
            "max_characters_request_free_user",
            "max_characters_request_subscribed_user",
            "maximum_text_length_per_request",
        ] {
            m[k] = json!(chars);
        }
    }

    pub fn models(&self) -> Vec<Value> {
        lock(&self.shared.state).models.clone()
    }

    pub fn set_models(&self, models: Vec<Value>) {
        lock(&self.shared.state).models = models;
    }

    pub fn voices(&self) -> Vec<Value> {
        lock(&self.shared.state).voices.clone()
    }

    pub fn set_voices(&self, voices: Vec<Value>) {
        lock(&self.shared.state).voices = voices;
    }

    /// Above `limit` TTS requests in flight, TTS answers 429 `too_many_concurrent_requests`.
    pub fn set_concurrency_limit(&self, limit: Option<usize>) {
        lock(&self.shared.state).concurrency_limit = limit;
    }

    /// The most TTS requests that were in flight at once.
    pub fn peak_concurrency(&self) -> usize {
        lock(&self.shared.state).peak_in_flight
    }
}

impl Drop for FakeElevenLabs {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let conns = std::mem::take(&mut *lock(&self.shared.conns));
        for (s, _) in &conns {
            let _ = s.shutdown(Shutdown::Both);
        }
        for (_, h) in conns {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let conn = {
            let mut st = lock(&shared.state);
            st.connections += 1;
            st.connections
        };
        let sh = shared.clone();
        let handle = thread::Builder::new()
            .name(format!("fake-elevenlabs-conn-{conn}"))
            .spawn(move || serve_connection(stream, &sh, conn))
            .unwrap();
        let mut conns = lock(&shared.conns);
        conns.retain(|(_, h)| !h.is_finished());
        conns.push((clone, handle));
    }
}

/// Sleeps for `d` unless the fake stops first; false if it stopped.
fn nap(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        thread::sleep((end - now).min(Duration::from_millis(10)));
    }
}

struct Request {
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn serve_connection(stream: TcpStream, shared: &Arc<Shared>, conn: u64) {
    let timeout = lock(&shared.state).read_timeout;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut w = stream;
    while !shared.stop.load(Ordering::SeqCst) {
        let req = match read_request(&mut reader, &mut w) {
            Ok(Some(req)) => req,
            Ok(None) => break,
            Err(status) => {
                let body = json!({"detail": reason(status)}).to_string();
                let _ = write_response(&mut w, status, &[], body.as_bytes(), true);
                // Lingering close: drain (boundedly) what the client is still sending, so it
                // reads the refusal instead of a reset.
                let _ = w.shutdown(Shutdown::Write);
                let _ = w.set_read_timeout(Some(Duration::from_millis(500)));
                let _ = io::copy(
                    &mut (&mut reader).take(4 * MAX_BODY as u64),
                    &mut io::sink(),
                );
                break;
            }
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let n = record(shared, conn, &req);
        let upgrade = req
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if upgrade && req.path.ends_with("/stream-input") && reader.buffer().is_empty() {
            ws::serve(shared, w, &req, n);
            return;
        }
        let ok = match handle(shared, &req, n) {
            Outcome::Reply(Reply::Http {
                status,
                headers,
                body,
            }) => write_response(&mut w, status, &headers, &body, close).is_ok(),
            Outcome::Reply(Reply::Close) => false,
            Outcome::Reply(Reply::Stall(d)) => {
                let _ = w
                    .write_all(audio_head(n, 0).as_bytes())
                    .and_then(|()| w.flush());
                nap(d, &shared.stop);
                false
            }
            Outcome::Reply(Reply::ResetAfter(after)) => {
                let (data, cfg) = fault_audio(shared, &req);
                let _ = write_audio(&mut w, shared, &audio_head(n, 0), &data, &cfg, Some(after));
                false
            }
            Outcome::Audio {
                head,
                data,
                cfg,
                _guard,
            } => write_audio(&mut w, shared, &head, &data, &cfg, None).is_ok(),
        };
        if !ok || close {
            break;
        }
    }
    let _ = w.shutdown(Shutdown::Both);
}

/// Reads one request. `Ok(None)` on EOF or timeout before a request; `Err(status)` for a request
/// the fake refuses (the connection is then closed).
fn read_request(r: &mut BufReader<TcpStream>, w: &mut TcpStream) -> Result<Option<Request>, u16> {
    let mut budget = MAX_HEAD;
    let mut line = String::new();
    loop {
        line.clear();
        match r.by_ref().take(budget).read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => budget = budget.saturating_sub(n as u64),
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        match r.by_ref().take(budget).read_line(&mut line) {
            Ok(0) if budget == 0 => return Err(431),
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => budget = budget.saturating_sub(n as u64),
        }
        if !line.ends_with('\n') {
            return Err(431);
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(400);
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let mut req = Request {
        method,
        path,
        raw_query,
        headers,
        body: Vec::new(),
    };
    if req
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let _ = w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            line.clear();
            if r.by_ref().take(1024).read_line(&mut line).unwrap_or(0) == 0 {
                return Ok(None);
            }
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16).map_err(|_| 400u16)?;
            if req.body.len() + size > MAX_BODY {
                return Err(413);
            }
            let mut chunk = vec![0; size + 2];
            if r.read_exact(&mut chunk).is_err() {
                return Ok(None);
            }
            if size == 0 {
                break; // No trailers expected: the two bytes read were the final CRLF.
            }
            req.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len.parse().map_err(|_| 400u16)?;
        if len > MAX_BODY {
            return Err(413);
        }
        req.body = vec![0; len];
        if r.read_exact(&mut req.body).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(req))
}

fn record(shared: &Shared, conn: u64, req: &Request) -> u64 {
    let mut st = lock(&shared.state);
    st.counter += 1;
    let n = st.counter;
    if st.requests.len() >= MAX_RECORDED {
        st.requests.pop_front();
    }
    st.requests.push_back(Recorded {
        n,
        conn,
        method: req.method.clone(),
        path: req.path.clone(),
        raw_query: req.raw_query.clone(),
        query: parse_query(&req.raw_query),
        headers: req.headers.clone(),
        body: req.body.clone(),
    });
    n
}

pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response(
    w: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n",
        reason(status),
        body.len()
    );
    if !headers.iter().any(|(k, _)| k == "content-type") {
        out.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    w.write_all(&bytes)?;
    w.flush()
}

fn audio_head(n: u64, chars: usize) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ntransfer-encoding: chunked\r\nrequest-id: req_{n}\r\ncharacter-cost: {chars}\r\n\r\n"
    )
}

/// Writes a chunked audio body; with `reset_after`, cuts the connection after that many bytes.
fn write_audio(
    w: &mut TcpStream,
    shared: &Shared,
    head: &str,
    data: &[u8],
    cfg: &StreamConfig,
    reset_after: Option<usize>,
) -> io::Result<()> {
    w.write_all(head.as_bytes())?;
    w.flush()?;
    if !nap(cfg.first_byte_delay, &shared.stop) {
        return Err(io::ErrorKind::Interrupted.into());
    }
    let mut sent = 0;
    for (i, chunk) in data.chunks(cfg.chunk_bytes.max(1)).enumerate() {
        if i > 0 && !nap(cfg.chunk_delay, &shared.stop) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        let cut = reset_after.filter(|&limit| sent + chunk.len() > limit);
        match cut {
            Some(limit) => frame.extend_from_slice(&chunk[..limit - sent]),
            None => frame.extend_from_slice(chunk),
        }
        if cut.is_none() {
            frame.extend_from_slice(b"\r\n");
        }
        w.write_all(&frame)?;
        w.flush()?;
        if cut.is_some() {
            let _ = w.shutdown(Shutdown::Both);
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        sent += chunk.len();
    }
    if reset_after.is_some() {
        let _ = w.shutdown(Shutdown::Both);
        return Err(io::ErrorKind::ConnectionReset.into());
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

/// The `/stream/with-timestamps` body for `text` spoken as `audio`: `pieces` newline-delimited
/// JSON objects, each with a piece of the audio in base64 and the alignment of its share of the
/// characters (70 ms each, one after another), as ElevenLabs sends them.
pub fn with_timestamps(text: &str, audio: &[u8], pieces: usize) -> Vec<u8> {
    use base64::Engine as _;
    let chars: Vec<char> = text.chars().collect();
    let per_piece = audio.len().div_ceil(pieces).max(1);
    let mut out = Vec::new();
    for (i, piece) in audio.chunks(per_piece).enumerate() {
        let (from, to) = (chars.len() * i / pieces, chars.len() * (i + 1) / pieces);
        let range = from..to.min(chars.len());
        let alignment = json!({
            "characters": chars[range.clone()].iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "character_start_times_seconds": range.clone().map(|j| j as f64 * 0.07).collect::<Vec<_>>(),
            "character_end_times_seconds": range.map(|j| (j + 1) as f64 * 0.07).collect::<Vec<_>>(),
        });
        let line = json!({
            "audio_base64": base64::engine::general_purpose::STANDARD.encode(piece),
            "alignment": alignment,
            "normalized_alignment": alignment,
        });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Deterministic fake audio of `len` bytes for `text` in `output_format`: mp3 starts with an ID3
/// header and a frame sync, opus with `OggS`, wav with a RIFF header; pcm lengths should be even.
pub fn fake_audio(text: &str, output_format: &str, len: usize) -> Vec<u8> {
    let mut seed = 0xcbf2_9ce4_8422_2325u64;
    for b in text.bytes().chain([0]).chain(output_format.bytes()) {
        seed = (seed ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let prefix: &[u8] = match output_format.split('_').next() {
        Some("mp3") => b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64",
        Some("opus") => b"OggS\x00\x02",
        Some("wav") => b"RIFF\xff\xff\xff\xffWAVEfmt ",
        _ => b"",
    };
    let mut out: Vec<u8> = prefix.iter().copied().take(len).collect();
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.push((seed >> 32) as u8);
    }
    out
}

fn audio_len(cfg: &StreamConfig, output_format: &str) -> (usize, StreamConfig) {
    let mut cfg = cfg.clone();
    if output_format.starts_with("pcm_") && cfg.chunk_bytes % 2 == 1 {
        cfg.chunk_bytes += 1;
    }
    (cfg.chunks * cfg.chunk_bytes, cfg)
}

fn fault_audio(shared: &Shared, req: &Request) -> (Vec<u8>, StreamConfig) {
    let format = parse_query(&req.raw_query)
        .into_iter()
        .find(|(k, _)| k == "output_format")
        .map_or("mp3_44100_128".into(), |(_, v)| v);
    let text = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v["text"].as_str().map(String::from))
        .unwrap_or_default();
    let (len, cfg) = audio_len(&lock(&shared.state).stream, &format);
    (fake_audio(&text, &format, len), cfg)
}

enum Outcome {
    Reply(Reply),
    Audio {
        head: String,
        data: Vec<u8>,
        cfg: StreamConfig,
        _guard: InFlight,
    },
}

/// Counts a TTS request as in flight until the response is written.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0.state).in_flight -= 1;
    }
}

fn handle(shared: &Arc<Shared>, req: &Request, n: u64) -> Outcome {
    {
        let mut st = lock(&shared.state);
        let hit = st
            .faults
            .iter_mut()
            .find(|f| f.left > 0 && req.path.starts_with(&f.prefix));
        if let Some(f) = hit {
            f.left -= 1;
            return Outcome::Reply(f.reply.clone());
        }
    }
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let st = || lock(&shared.state);
    let reply = match (req.method.as_str(), segs.as_slice()) {
        _ if req.header("xi-api-key") != Some(shared.key.as_str()) => Reply::invalid_api_key(),
        ("GET", ["v1", "models"]) => Reply::json(200, Value::Array(st().models.clone())),
        ("GET", ["v2", "voices"]) => list_voices(&st().voices, &parse_query(&req.raw_query)),
        ("GET", ["v1", "voices"]) => Reply::json(200, json!({"voices": st().voices.clone()})),
        ("GET", ["v1", "voices", id]) => match st().voices.iter().find(|v| v["voice_id"] == *id) {
            Some(v) => Reply::json(200, v.clone()),
            None => Reply::voice_not_found(id),
        },
        ("GET", ["v1", "user", "subscription"]) => Reply::json(200, st().subscription.clone()),
        ("GET", ["v1", "user"]) => Reply::json(200, user(&st().subscription)),
        ("POST", ["v1", "text-to-speech", voice, rest @ ..])
            if matches!(rest, [] | ["stream"] | ["stream", "with-timestamps"]) =>
        {
            let timestamps = rest.len() == 2;
            match tts(shared, req, voice, !rest.is_empty(), timestamps, n) {
                Ok(audio) => return audio,
                Err(reply) => reply,
            }
        }
        (_, ["v1", "models" | "voices" | "user" | "text-to-speech", ..] | ["v2", "voices"]) => {
            Reply::json(405, json!({"detail": "Method Not Allowed"}))
        }
        _ => Reply::json(404, json!({"detail": "Not Found"})),
    };
    Outcome::Reply(reply.with_header("request-id", &format!("req_{n}")))
}

fn list_voices(voices: &[Value], q: &[(String, String)]) -> Reply {
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let page_size = match get("page_size").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(Ok(_)) => {
            return Reply::validation(
                &["query", "page_size"],
                "ensure this value is less than or equal to 100",
                "value_error.number.not_le",
            );
        }
        Some(Err(_)) => {
            return Reply::validation(
                &["query", "page_size"],
                "value is not a valid integer",
                "type_error.integer",
            );
        }
    };
    // Invented: the real token is opaque and its error unknown; this one is "pt_<offset>".
    let start = match get("next_page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match t.strip_prefix("pt_").and_then(|o| o.parse::<usize>().ok()) {
            Some(o) => o,
            None => {
                return Reply::validation(
                    &["query", "next_page_token"],
                    "invalid page token",
                    "value_error",
                );
            }
        },
    };
    let search = get("search")
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let category = get("category").filter(|s| !s.is_empty());
    let hits: Vec<&Value> = voices
        .iter()
        .filter(|v| {
            category.is_none_or(|c| {
                v["category"]
                    .as_str()
                    .is_some_and(|vc| vc.eq_ignore_ascii_case(c))
            })
        })
        .filter(|v| {
            let Some(s) = &search else { return true };
            let mut fields = vec![&v["name"], &v["description"], &v["category"]];
            fields.extend(v["labels"].as_object().into_iter().flat_map(|m| m.values()));
            fields.iter().any(|f| {
                f.as_str()
                    .is_some_and(|t| t.to_lowercase().contains(s.as_str()))
            })
        })
        .collect();
    let end = start.saturating_add(page_size).min(hits.len());
    let page: Vec<&Value> = hits.get(start.min(end)..end).unwrap_or_default().to_vec();
    let has_more = end < hits.len();
    Reply::json(
        200,
        json!({
            "voices": page,
            "has_more": has_more,
            "total_count": hits.len(),
            "next_page_token": if has_more { Value::from(format!("pt_{end}")) } else { Value::Null },
        }),
    )
}

/// FastAPI-style validation of a TTS request body: the first failing check gives a 422.
fn validate_tts(req: &Request) -> Result<Value, Reply> {
    let json_type = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let parsed = serde_json::from_slice::<Value>(&req.body);
    let body = parsed.as_ref().cloned().unwrap_or_default();
    let not_str = |k: &str| !matches!(body[k], Value::Null | Value::String(_));
    let not_unit = |k: &str| {
        let v = &body["voice_settings"][k];
        !v.is_null() && v.as_f64().is_none_or(|x| !(0.0..=1.0).contains(&x))
    };
    let seed = &body["seed"];
    let (dict, str_expected) = ("value is not a valid dict", "str type expected");
    let (le, not_le) = (
        "ensure this value is less than or equal to",
        "value_error.number.not_le",
    );
    let big_seed = !seed.is_null() && seed.as_u64().is_none_or(|s| s > u64::from(u32::MAX));
    #[rustfmt::skip]
    let checks: [(bool, &[&str], &str, &str); 12] = [
        (!json_type.starts_with("application/json"), &["body"], dict, "type_error.dict"),
        (parsed.is_err(), &["body", "0"], "JSON decode error", "value_error.jsondecode"),
        (!body.is_object(), &["body"], dict, "type_error.dict"),
        (body["text"].is_null(), &["body", "text"], "field required", "value_error.missing"),
        (!body["text"].is_string(), &["body", "text"], str_expected, "type_error.str"),
        (not_str("model_id"), &["body", "model_id"], str_expected, "type_error.str"),
        (not_str("language_code"), &["body", "language_code"], str_expected, "type_error.str"),
        (not_str("previous_text"), &["body", "previous_text"], str_expected, "type_error.str"),
        (not_str("next_text"), &["body", "next_text"], str_expected, "type_error.str"),
        (not_unit("stability"), &["body", "voice_settings", "stability"], &format!("{le} 1"), not_le),
        (not_unit("similarity_boost"), &["body", "voice_settings", "similarity_boost"], &format!("{le} 1"), not_le),
        (big_seed, &["body", "seed"], &format!("{le} 4294967295"), not_le),
    ];
    match checks.iter().find(|c| c.0) {
        Some((_, loc, msg, kind)) => Err(Reply::validation(loc, msg, kind)),
        None => Ok(body),
    }
}

fn tts(
    shared: &Arc<Shared>,
    req: &Request,
    voice: &str,
    stream: bool,
    timestamps: bool,
    n: u64,
) -> Result<Outcome, Reply> {
    let q = parse_query(&req.raw_query);
    let format = q
        .iter()
        .find(|(k, _)| k == "output_format")
        .map_or("mp3_44100_128", |(_, v)| v.as_str());
    let allowed: Vec<&str> = OUTPUT_FORMATS
        .split_whitespace()
        .filter(|f| !stream || !f.starts_with("wav_"))
        .collect();
    if !allowed.contains(&format) {
        let msg = format!(
            "value is not a valid enumeration member; permitted: '{}'",
            allowed.join("', '")
        );
        return Err(Reply::json(
            422,
            json!({"detail": [{"loc": ["query", "output_format"], "msg": msg,
            "type": "type_error.enum", "ctx": {"enum_values": allowed}}]}),
        ));
    }
    let body = validate_tts(req)?;
    let text = body["text"].as_str().unwrap_or_default();
    let model_id = body["model_id"]
        .as_str()
        .unwrap_or("eleven_multilingual_v2");
    let chars = text.chars().count();
    let mut st = lock(&shared.state);
    // Invented shapes: no ElevenLabs source shows the error for an unknown or non-TTS model.
    let Some(model) = st.models.iter().find(|m| m["model_id"] == model_id) else {
        let msg = format!("A model with model ID {model_id} does not exist.");
        return Err(Reply::legacy(400, "model_not_found", &msg));
    };
    if model["can_do_text_to_speech"] != true {
        let msg = format!("The model {model_id} cannot be used for text to speech.");
        return Err(Reply::legacy(400, "invalid_model", &msg));
    }
    let limit = model["maximum_text_length_per_request"]
        .as_u64()
        .unwrap_or(u64::MAX) as usize;
    if !st.voices.iter().any(|v| v["voice_id"] == voice) {
        return Err(Reply::voice_not_found(voice));
    }
    if chars > limit {
        return Err(Reply::max_character_limit_exceeded(limit, chars));
    }
    let used = st.subscription["character_count"].as_u64().unwrap_or(0);
    let quota = st.subscription["character_limit"]
        .as_u64()
        .unwrap_or(u64::MAX);
    if used + chars as u64 > quota {
        let left = quota.saturating_sub(used);
        let msg = format!(
            "This request exceeds your quota of {quota}. You have {left} credits \
            remaining, while {chars} credits are required for this request."
        );
        return Err(Reply::legacy(401, "quota_exceeded", &msg));
    }
    if st.concurrency_limit.is_some_and(|l| st.in_flight >= l) {
        return Err(Reply::too_many_concurrent_requests());
    }
    st.in_flight += 1;
    st.peak_in_flight = st.peak_in_flight.max(st.in_flight);
    st.subscription["character_count"] = json!(used + chars as u64);
    let (len, mut cfg) = audio_len(&st.stream, format);
    if body.get("previous_text").is_none() && body.get("next_text").is_some() {
        cfg.first_byte_delay += cfg.first_piece_delay;
    }
    cfg.first_byte_delay += cfg.first_byte_per_char * u32::try_from(chars).unwrap_or(u32::MAX);
    let (current, max) = (st.in_flight, st.concurrency_limit.unwrap_or(10));
    drop(st);
    let extra = format!(
        "current-concurrent-requests: {current}\r\nmaximum-concurrent-requests: {max}\r\n\r\n"
    );
    let head = audio_head(n, chars).replace("\r\n\r\n", &format!("\r\n{extra}"));
    let mut data = fake_audio(text, format, len);
    let head = if timestamps {
        data = with_timestamps(text, &data, cfg.chunks.max(1));
        head.replace("content-type: audio/mpeg", "content-type: application/json")
    } else {
        head
    };
    Ok(Outcome::Audio {
        head,
        data,
        cfg,
        _guard: InFlight(shared.clone()),
    })
}

/// The first 29 are Multilingual v2's, 32 Flash v2.5's; v3 gets all 40.
const LANGS: &str = "en English|ja Japanese|zh Chinese|de German|hi Hindi|fr French|ko Korean|\
    pt Portuguese|it Italian|es Spanish|id Indonesian|nl Dutch|tr Turkish|fil Filipino|pl Polish|\
    sv Swedish|bg Bulgarian|ro Romanian|ar Arabic|cs Czech|el Greek|fi Finnish|hr Croatian|\
    ms Malay|sk Slovak|da Danish|ta Tamil|uk Ukrainian|ru Russian|hu Hungarian|no Norwegian|\
    vi Vietnamese|af Afrikaans|hy Armenian|az Azerbaijani|be Belarusian|bn Bengali|ca Catalan|\
    he Hebrew|th Thai";

/// model_id|name|description|text to speech|max characters|languages|cost factor|concurrency group
const MODELS: &str = "\
eleven_multilingual_v2|Eleven Multilingual v2|Our most lifelike model with rich emotional expression.|true|10000|29|1.0|standard_eleven_multilingual_v2
eleven_flash_v2_5|Eleven Flash v2.5|Our ultra-low-latency model in 32 languages.|true|40000|32|0.5|turbo
eleven_flash_v2|Eleven Flash v2|Our ultra-low-latency model, English only.|true|30000|1|0.5|turbo
eleven_v3|Eleven v3|Our most expressive model, with audio tags, in 70+ languages.|true|5000|40|1.0|standard_eleven_v3
eleven_multilingual_sts_v2|Eleven Multilingual v2 (speech to speech)|Speech to speech in 29 languages.|false|10000|29|1.0|standard";

fn seed_models() -> Vec<Value> {
    let langs: Vec<Value> = LANGS
        .split('|')
        .map(|l| l.trim().split_once(' ').unwrap())
        .map(|(id, name)| json!({"language_id": id, "name": name}))
        .collect();
    MODELS.lines().map(|line| {
        let f: Vec<&str> = line.split('|').collect();
        let (tts, limit): (bool, u64) = (f[3] == "true", f[4].parse().unwrap());
        let cost: f64 = f[6].parse().unwrap();
        json!({
            "model_id": f[0], "name": f[1], "description": f[2],
            "can_be_finetuned": true, "can_do_text_to_speech": tts, "can_do_voice_conversion": !tts,
            "can_use_style": tts, "can_use_speaker_boost": true, "serves_pro_voices": false,
            "token_cost_factor": cost, "requires_alpha_access": false,
            "max_characters_request_free_user": limit, "max_characters_request_subscribed_user": limit,
            "maximum_text_length_per_request": limit,
            "languages": langs[..f[5].parse::<usize>().unwrap()],
            "model_rates": {"character_cost_multiplier": cost, "cost_discount_multiplier": 1.0},
            "concurrency_group": f[7],
        })
    }).collect()
}

/// voice_id|name|category|accent|gender|age|use_case|description label|verified languages
const VOICES: &str = "\
21m00Tcm4TlvDq8ikWAM|Rachel|premade|american|female|young|narration|calm|en
pNInz6obpgDQGcFmaJgB|Adam|premade|american|male|middle aged|narration|deep|en
EXAVITQu4vr4xnSDxMaL|Sarah|premade|american|female|young|news|soft|en fr
ErXwobaYiN019PkySvjV|Antoni|premade|american|male|young|narration|well-rounded|en
AZnzlk1XvdvUeBnXmlld|Domi|premade|american|female|young|narration|strong|en
MF3mGyEYCl7XYWbV9V6O|Elli|premade|american|female|young|narration|emotional|en
TxGEqnHWrfWFTfGW9XjX|Josh|premade|american|male|young|narration|deep|en
JBFqnCBsd6RMkjVDRZzb|George|premade|british|male|middle aged|narration|warm|en
XB0fDUnXU5powFXDhCwa|Charlotte|premade|swedish|female|young|characters|seductive|en sv
onwK4e9ZLuTAKqWW03F9|Daniel|premade|british|male|middle aged|news|authoritative|en
pFZP5JQG7iQjIQuC4Bku|Lily|premade|british|female|middle aged|narration|warm|en
nPczCjzI2devNBz1zQrb|Brian|premade|american|male|middle aged|narration|deep|en
N2lVS1w4EtoT3dr4eOWO|Callum|premade|transatlantic|male|middle aged|characters|intense|en
IKne3meq5aSn9XLyUdCD|Charlie|premade|australian|male|middle aged|conversational|natural|en
XrExE9yKIg1WjnnlVkGX|Matilda|premade|american|female|middle aged|narration|friendly|en
jsCqWAovK2LkecY7zXl4|Freya|premade|american|female|young|characters|expressive|en
ThT5KcBeYPX3keUQqHPh|Dorothy|premade|british|female|young|children's stories|pleasant|en
2EiwWnXFnvU5JabPnv8n|Clyde|premade|american|male|middle aged|characters|war veteran|en
TX3LPaxmHKxFdv7VOQHJ|Liam|premade|american|male|young|narration|articulate|en
cl0nEdAdam5t0neVo1ce|Adam Stone|cloned|british|male|middle aged|narration|gravelly|en
cl0nEdMyV01ce0000001|My Clone|cloned|american|male|young|conversational|casual|en
gEnYuk1JapaneseV0ice|Yuki|generated|japanese|female|young|characters|bright|ja
gEnOldW1zardV0ice001|Old Wizard|generated|british|male|old|characters|raspy|en
pr0DeutschErzaehler1|Erzähler Deutsch|professional|german|male|middle aged|audiobook|steady|de en
pr0Podca5tHostV0ice1|Podcast Host|professional|american|female|middle aged|podcast|upbeat|en es";

fn seed_voices() -> Vec<Value> {
    VOICES.lines().map(|line| {
        let f: Vec<&str> = line.split('|').collect();
        let [id, name, category, accent, gender, age, use_case, desc, langs] = f[..] else {
            panic!("bad voice row {line}")
        };
        let verified: Vec<Value> = langs.split(' ').map(|l| json!({"language": l,
            "model_id": "eleven_multilingual_v2", "accent": accent, "locale": null, "preview_url": null})).collect();
        let premade = category == "premade";
        json!({
            "voice_id": id, "name": name, "samples": null, "category": category, "fine_tuning": null,
            "labels": {"accent": accent, "gender": gender, "age": age, "use_case": use_case, "description": desc},
            "description": format!("A {desc} {gender} voice with a {accent} accent, good for {use_case}."),
            "preview_url": format!("https://storage.googleapis.com/eleven-public-prod/voices/{id}/preview.mp3"),
            "available_for_tiers": [], "settings": null, "sharing": null,
            "high_quality_base_model_ids": ["eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_v3"],
            "verified_languages": verified, "collection_ids": [], "safety_control": null,
            "is_owner": !premade, "is_legacy": false, "is_mixed": false, "favorited_at_unix": null,
            "created_at_unix": if premade { Value::Null } else { json!(1_735_689_600) },
        })
    }).collect()
}

fn seed_subscription() -> Value {
    json!({
        "tier": "creator", "character_count": 1234, "character_limit": 100_000,
        "max_character_limit_extension": null, "max_credit_limit_extension": 50_000,
        "can_extend_character_limit": true, "allowed_to_extend_character_limit": true,
        "next_character_count_reset_unix": 1_767_225_600, "voice_slots_used": 3,
        "professional_voice_slots_used": 1, "professional_voice_slots_used_in_workspace": 1,
        "voice_limit": 30, "max_voice_add_edits": 95, "voice_add_edit_counter": 2,
        "professional_voice_limit": 1, "can_extend_voice_limit": false,
        "can_use_instant_voice_cloning": true, "can_use_professional_voice_cloning": true,
        "currency": "usd", "current_overage": {"amount": "0.00", "currency": "usd"}, "status": "active",
        "billing_period": "monthly_period", "character_refresh_period": "monthly_period",
        "next_invoice": null, "open_invoices": [], "has_open_invoices": false, "pending_change": null,
        "has_used_starter_coupon_on_account": false, "has_used_creator_coupon_on_account": false,
    })
}

fn user(subscription: &Value) -> Value {
    let mut sub = subscription.clone();
    if let Some(m) = sub.as_object_mut() {
        for k in [
            "open_invoices",
            "has_open_invoices",
            "next_invoice",
            "pending_change",
            "has_used_starter_coupon_on_account",
            "has_used_creator_coupon_on_account",
        ] {
            m.remove(k);
        }
    }
    json!({
        "user_id": "u_fake0000000000000001", "subscription": sub, "is_new_user": false,
        "can_use_delayed_payment_methods": false, "is_onboarding_completed": true,
        "is_onboarding_checklist_completed": true, "first_name": "Test", "is_api_key_hashed": true,
        "xi_api_key_preview": null, "created_at": 1_704_067_200, "seat_type": "workspace_admin",
    })
}
