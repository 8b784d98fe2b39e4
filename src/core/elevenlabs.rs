//! The ElevenLabs API as data: requests the shell sends, responses and errors parsed.
//!
//! The shell adds the base URL and the `xi-api-key` header and moves the bytes; nothing here
//! sees the key. Errors accept all three body shapes the API uses (a FastAPI 422 list, the
//! current `{detail:{code,message,…}}` and the legacy `{detail:{status,message}}`) and become
//! messages that tell the agent what to do.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST with a JSON body.
    Post,
}

/// One request to the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// Path and query, starting with `/` (appended to the base URL).
    pub path: String,
    /// The JSON body of a POST.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    fn get(path: String) -> Self {
        Self {
            method: Method::Get,
            path,
            body: None,
        }
    }
}

/// Response headers the core looks at (names lower-case).
pub const KEPT_HEADERS: &[&str] = &[
    "request-id",
    "retry-after",
    "retry-after-ms",
    "character-cost",
    "current-concurrent-requests",
    "maximum-concurrent-requests",
];

/// A complete response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The [`KEPT_HEADERS`] that were present, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body (bounded by the shell).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The host name did not resolve.
    Dns,
    /// Nothing accepted the connection.
    ConnectionRefused,
    /// The TLS handshake or certificate check failed.
    Tls(String),
    /// No bytes for `limits.request_timeout_ms` while connecting or waiting.
    Timeout,
    /// The connection broke.
    Io(String),
    /// The reply was larger than the shell accepts.
    TooLarge,
    /// The request was cancelled.
    Cancelled,
    /// The client could not be set up (e.g. an unreadable `elevenlabs.ca_file`).
    Setup(String),
}

/// Percent-encodes a query value or path segment.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `GET /v1/models`.
pub fn models() -> HttpRequest {
    HttpRequest::get("/v1/models".into())
}

/// `GET /v1/user/subscription`.
pub fn subscription() -> HttpRequest {
    HttpRequest::get("/v1/user/subscription".into())
}

/// `GET /v1/voices/{id}`.
pub fn voice(id: &str) -> HttpRequest {
    HttpRequest::get(format!("/v1/voices/{}", encode(id)))
}

/// A `GET /v2/voices` query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoiceQuery {
    /// Free-text search.
    pub search: Option<String>,
    /// premade, cloned, generated or professional.
    pub category: Option<String>,
    /// 1 to 100.
    pub page_size: u32,
    /// A `next_page_token`.
    pub page_token: Option<String>,
}

/// `GET /v2/voices`.
pub fn voices(q: &VoiceQuery) -> HttpRequest {
    let mut path = format!(
        "/v2/voices?page_size={}&include_total_count=false",
        q.page_size.clamp(1, 100)
    );
    for (name, value) in [
        ("search", &q.search),
        ("category", &q.category),
        ("next_page_token", &q.page_token),
    ] {
        if let Some(v) = value {
            let _ = write!(path, "&{name}={}", encode(v));
        }
    }
    HttpRequest::get(path)
}

/// The body of a text-to-speech request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Speech {
    /// Text as sent (billed).
    pub text: String,
    /// Model id.
    pub model_id: String,
    /// ISO 639-1 code, for models that take one.
    pub language_code: Option<String>,
    /// Voice settings overrides.
    pub voice_settings: Map<String, Value>,
    /// Seed for repeatable output.
    pub seed: Option<u32>,
    /// Ask for character timings: `/stream/with-timestamps`, newline-delimited JSON with the
    /// audio in base64.
    pub timestamps: bool,
    /// The text spoken before this, for continuity across a long text's pieces (not billed).
    pub previous_text: Option<String>,
    /// The text spoken after this.
    pub next_text: Option<String>,
}

/// `POST /v1/text-to-speech/{voice}/stream[/with-timestamps]?output_format=…`.
pub fn speech_stream(voice_id: &str, output_format: &str, speech: &Speech) -> HttpRequest {
    let mut body = Map::new();
    body.insert("text".into(), speech.text.clone().into());
    body.insert("model_id".into(), speech.model_id.clone().into());
    if let Some(lang) = &speech.language_code {
        body.insert("language_code".into(), lang.clone().into());
    }
    if !speech.voice_settings.is_empty() {
        body.insert(
            "voice_settings".into(),
            Value::Object(speech.voice_settings.clone()),
        );
    }
    if let Some(seed) = speech.seed {
        body.insert("seed".into(), seed.into());
    }
    if let Some(t) = &speech.previous_text {
        body.insert("previous_text".into(), t.clone().into());
    }
    if let Some(t) = &speech.next_text {
        body.insert("next_text".into(), t.clone().into());
    }
    HttpRequest {
        method: Method::Post,
        path: format!(
            "/v1/text-to-speech/{}/stream{}?output_format={}",
            encode(voice_id),
            if speech.timestamps {
                "/with-timestamps"
            } else {
                ""
            },
            encode(output_format)
        ),
        body: Some(Value::Object(body).to_string().into_bytes()),
    }
}

/// A text-to-speech model.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Model {
    /// Its id.
    pub model_id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Whether it does text to speech at all.
    #[serde(default)]
    pub can_do_text_to_speech: bool,
    /// The per-request character limit for subscribers.
    #[serde(default)]
    pub max_characters_request_subscribed_user: Option<u64>,
    /// The per-request character limit for free users.
    #[serde(default)]
    pub max_characters_request_free_user: Option<u64>,
    /// The longest text accepted.
    #[serde(default)]
    pub maximum_text_length_per_request: Option<u64>,
    /// Languages it speaks.
    #[serde(default)]
    pub languages: Vec<Language>,
    /// `{character_cost_multiplier, …}`: what a character costs in credits.
    #[serde(default)]
    pub model_rates: Option<Value>,
}

impl Model {
    /// The character limit for one request: the subscriber limit, else the hard maximum.
    pub fn max_characters(&self) -> Option<u64> {
        self.max_characters_request_subscribed_user
            .or(self.maximum_text_length_per_request)
    }

    /// Whether the model takes a `language_code`.
    pub fn takes_language(&self) -> bool {
        // multilingual_v2 rejects it; the v2.5 and v3 models accept it.
        !self.model_id.contains("multilingual_v2") && !self.model_id.contains("_v1")
    }
}

/// A language a model speaks.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Language {
    /// ISO code.
    pub language_id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// Parses `/v1/models`, keeping the text-to-speech models.
pub fn parse_models(body: &[u8]) -> Result<Vec<Model>, String> {
    let all: Vec<Model> = serde_json::from_slice(body).map_err(|e| unexpected("models", &e))?;
    Ok(all
        .into_iter()
        .filter(|m| m.can_do_text_to_speech)
        .collect())
}

/// A voice.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Voice {
    /// Its id.
    pub voice_id: String,
    /// Its name.
    pub name: String,
    /// premade, cloned, generated, professional, …
    #[serde(default)]
    pub category: String,
    /// Labels such as accent, gender, age, use case.
    #[serde(default)]
    pub labels: Map<String, Value>,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// Languages it was verified in.
    #[serde(default)]
    pub verified_languages: Option<Vec<VerifiedLanguage>>,
}

/// A language a voice was verified in.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct VerifiedLanguage {
    /// The language.
    pub language: String,
}

impl Voice {
    /// Its languages, without repeats.
    pub fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = Vec::new();
        for l in self.verified_languages.iter().flatten() {
            if !langs.contains(&l.language) {
                langs.push(l.language.clone());
            }
        }
        langs
    }
}

/// One page of `/v2/voices`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct VoicePage {
    /// The voices.
    pub voices: Vec<Voice>,
    /// More pages follow.
    #[serde(default)]
    pub has_more: bool,
    /// The token for the next page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// Parses a `/v2/voices` page.
pub fn parse_voice_page(body: &[u8]) -> Result<VoicePage, String> {
    serde_json::from_slice(body).map_err(|e| unexpected("voices", &e))
}

/// Parses `/v1/voices/{id}`.
pub fn parse_voice(body: &[u8]) -> Result<Voice, String> {
    serde_json::from_slice(body).map_err(|e| unexpected("voice", &e))
}

/// The subscription fields `get_usage` reports.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Subscription {
    /// Plan.
    #[serde(default)]
    pub tier: String,
    /// Characters used this period.
    #[serde(default)]
    pub character_count: u64,
    /// Characters allowed this period.
    #[serde(default)]
    pub character_limit: u64,
    /// When the count resets (unix seconds).
    #[serde(default)]
    pub next_character_count_reset_unix: Option<i64>,
    /// Subscription status.
    #[serde(default)]
    pub status: String,
}

/// Parses `/v1/user/subscription`.
pub fn parse_subscription(body: &[u8]) -> Result<Subscription, String> {
    serde_json::from_slice(body).map_err(|e| unexpected("subscription", &e))
}

fn unexpected(what: &str, e: &serde_json::Error) -> String {
    format!(
        "ElevenLabs sent a {what} reply this server cannot read ({e}); try again, and report it if it persists"
    )
}

/// What kind of failure an error response is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401 `invalid_api_key`.
    InvalidKey,
    /// 401 `quota_exceeded`: credits are used up.
    Quota,
    /// `max_character_limit_exceeded`.
    TooLong,
    /// `voice_not_found`.
    VoiceNotFound,
    /// 403, e.g. `only_for_creator+`.
    Forbidden,
    /// 422 (or `invalid_parameters`): the listed fields were rejected.
    Invalid(Vec<String>),
    /// 429 that says to wait for requests in flight or slow down.
    RateLimited,
    /// 429 `system_busy`: ElevenLabs is overloaded.
    Busy,
    /// 5xx.
    Server,
    /// Any other status.
    Other,
}

/// A parsed API error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The classification.
    pub kind: ErrorKind,
    /// `detail.code` or `detail.status`, if any.
    pub code: Option<String>,
    /// ElevenLabs' own message (bounded, single line).
    pub message: Option<String>,
}

impl ApiError {
    /// Worth retrying after a pause: 408, 429 (not quota), 5xx.
    pub fn is_retryable(&self) -> bool {
        self.status == 408
            || matches!(
                self.kind,
                ErrorKind::RateLimited | ErrorKind::Busy | ErrorKind::Server
            )
    }

    /// Counts toward opening the circuit breaker: the service, not the caller, is failing.
    pub fn is_service_failure(&self) -> bool {
        matches!(self.kind, ErrorKind::Busy | ErrorKind::Server)
    }
}

/// Parses an error response of any of the three shapes.
pub fn parse_error(status: u16, body: &[u8]) -> ApiError {
    #[derive(Deserialize)]
    struct Body {
        detail: Option<Value>,
    }
    let detail = serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.detail);
    let mut code = None;
    let mut message = None;
    let mut fields = Vec::new();
    match &detail {
        Some(Value::Array(items)) => {
            for item in items {
                let loc: Vec<String> = item["loc"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter(|p| p.as_str() != Some("body"))
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let msg = item["msg"].as_str().unwrap_or("invalid");
                fields.push(format!("{}: {}", loc.join("."), clip(msg, 120)));
            }
        }
        Some(Value::Object(d)) => {
            code = d
                .get("code")
                .or_else(|| d.get("status"))
                .and_then(Value::as_str)
                .map(|s| clip(s, 64));
            message = d
                .get("message")
                .and_then(Value::as_str)
                .map(|s| clip(s, 300));
            if let Some(param) = d.get("param").and_then(Value::as_str) {
                fields.push(clip(param, 64));
            }
        }
        Some(Value::String(s)) => message = Some(clip(s, 300)),
        _ => {}
    }
    let kind = match (status, code.as_deref()) {
        (_, Some("invalid_api_key")) => ErrorKind::InvalidKey,
        (_, Some("quota_exceeded")) => ErrorKind::Quota,
        (_, Some("max_character_limit_exceeded")) => ErrorKind::TooLong,
        (_, Some("voice_not_found")) => ErrorKind::VoiceNotFound,
        (_, Some("system_busy")) => ErrorKind::Busy,
        (429, _) => ErrorKind::RateLimited,
        (422, _) | (_, Some("invalid_parameters")) => ErrorKind::Invalid(fields),
        (401, _) => ErrorKind::InvalidKey,
        (403, _) => ErrorKind::Forbidden,
        (500..=599, _) => ErrorKind::Server,
        _ => ErrorKind::Other,
    };
    ApiError {
        status,
        kind,
        code,
        message,
    }
}

/// One line, at most `max` characters.
fn clip(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// A message for the agent: what happened and what to do.
pub fn describe_error(e: &ApiError, reset_unix: Option<i64>) -> String {
    let theirs = e
        .message
        .as_deref()
        .map(|m| format!(" ElevenLabs said: \"{m}\""))
        .unwrap_or_default();
    match &e.kind {
        ErrorKind::InvalidKey => format!(
            "ElevenLabs rejected the API key (HTTP {}).{theirs} Check ELEVENLABS_API_KEY or `elevenlabs.api_key` (see `mcp-elevenlabs config list`); a restricted key needs permission for this endpoint.",
            e.status
        ),
        ErrorKind::Quota => {
            let reset = reset_unix
                .and_then(super::audio::utc_minute)
                .map(|at| format!(" Credits reset on {at}."))
                .unwrap_or_else(|| " get_usage shows when they reset.".to_string());
            format!(
                "ElevenLabs credits are exhausted for this billing period.{reset} Upgrade the plan or wait; shorter text costs fewer credits.{theirs}"
            )
        }
        ErrorKind::TooLong => format!(
            "The text is longer than this model accepts in one request: shorten it or split it into several calls.{theirs}"
        ),
        ErrorKind::VoiceNotFound => format!(
            "That voice does not exist in this ElevenLabs account: call list_voices to find a valid voice id or name.{theirs}"
        ),
        ErrorKind::Forbidden => format!(
            "The ElevenLabs plan does not allow this (HTTP 403{}): choose another voice, model or output format, or upgrade the plan.{theirs}",
            e.code
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        ),
        ErrorKind::Invalid(fields) if !fields.is_empty() => format!(
            "ElevenLabs rejected the request (HTTP {}): {}. Fix those values and retry.",
            e.status,
            fields.join("; ")
        ),
        ErrorKind::Invalid(_) => format!(
            "ElevenLabs rejected the request (HTTP {}).{theirs} Fix the arguments and retry.",
            e.status
        ),
        ErrorKind::RateLimited => format!(
            "ElevenLabs is rate limiting this account (HTTP 429{}): too many requests at once. Wait a few seconds and retry, or make fewer calls in parallel.{theirs}",
            e.code
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        ),
        ErrorKind::Busy => format!(
            "ElevenLabs is overloaded right now (HTTP 429 system_busy). Retry in a minute.{theirs}"
        ),
        ErrorKind::Server => format!(
            "ElevenLabs had an internal error (HTTP {}). Retry in a minute; health://status shows the upstream state.",
            e.status
        ),
        ErrorKind::Other => format!("ElevenLabs answered HTTP {}.{theirs}", e.status),
    }
}

/// A message for a request that got no response.
pub fn describe_transport(t: &Transport, base_url: &str, timeout_ms: u64) -> String {
    match t {
        Transport::Dns => format!(
            "Cannot resolve the ElevenLabs host of {base_url}: check the network, DNS, or `elevenlabs.base_url`."
        ),
        Transport::ConnectionRefused => format!(
            "Cannot connect to {base_url}: the connection was refused. Check `elevenlabs.base_url`, a proxy (HTTPS_PROXY), or the network."
        ),
        Transport::Tls(why) => format!(
            "The TLS connection to {base_url} failed ({}). Behind a TLS-inspecting proxy, set `elevenlabs.ca_file` to its CA certificate.",
            clip(why, 160)
        ),
        Transport::Timeout => format!(
            "ElevenLabs did not answer within {timeout_ms} ms. Retry; if it persists, raise `limits.request_timeout_ms` or check the network."
        ),
        Transport::Io(why) => format!(
            "The connection to ElevenLabs broke ({}). Retry.",
            clip(why, 160)
        ),
        Transport::TooLarge => {
            "ElevenLabs sent a reply larger than this server accepts.".to_string()
        }
        Transport::Cancelled => "The request was cancelled.".to_string(),
        Transport::Setup(why) => format!(
            "The HTTP client could not be set up: {}. Fix `elevenlabs.ca_file` (ELEVENLABS_CA_FILE), then restart the server.",
            clip(why, 300)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let q = VoiceQuery {
            search: Some("Ada Lovelace & co".into()),
            category: None,
            page_size: 500,
            page_token: Some("t/1".into()),
        };
        assert_eq!(
            voices(&q).path,
            "/v2/voices?page_size=100&include_total_count=false&search=Ada%20Lovelace%20%26%20co&next_page_token=t%2F1"
        );
        assert_eq!(voice("../x").path, "/v1/voices/..%2Fx");
        let s = Speech {
            text: "hi".into(),
            model_id: "eleven_flash_v2_5".into(),
            seed: Some(7),
            ..Speech::default()
        };
        let r = speech_stream("21m00Tcm4TlvDq8ikWAM", "pcm_24000", &s);
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.path,
            "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream?output_format=pcm_24000"
        );
        let body: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"text": "hi", "model_id": "eleven_flash_v2_5", "seed": 7})
        );
    }

    #[test]
    fn all_three_error_shapes() {
        let e = parse_error(422, br#"{"detail":[{"loc":["body","voice_settings","stability"],"msg":"ensure this value is less than or equal to 1","type":"value_error"}]}"#);
        assert_eq!(
            e.kind,
            ErrorKind::Invalid(vec![
                "voice_settings.stability: ensure this value is less than or equal to 1".into()
            ])
        );
        assert!(describe_error(&e, None).contains("voice_settings.stability"));
        let e = parse_error(429, br#"{"detail":{"type":"rate_limit_error","code":"concurrent_limit_exceeded","message":"Too many","status":"concurrent_limit_exceeded","request_id":"x"}}"#);
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert!(e.is_retryable() && !e.is_service_failure());
        let e = parse_error(401, br#"{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota of 10000."}}"#);
        assert_eq!(e.kind, ErrorKind::Quota);
        assert!(!e.is_retryable());
        let msg = describe_error(&e, Some(1_767_225_600));
        assert!(
            msg.contains("exhausted") && msg.contains("2026-01-01 00:00 UTC"),
            "{msg}"
        );
        assert_eq!(
            parse_error(
                401,
                br#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#
            )
            .kind,
            ErrorKind::InvalidKey
        );
        assert_eq!(
            parse_error(
                429,
                br#"{"detail":{"status":"system_busy","message":"busy"}}"#
            )
            .kind,
            ErrorKind::Busy
        );
        assert_eq!(
            parse_error(
                403,
                br#"{"detail":{"status":"only_for_creator+","message":"no"}}"#
            )
            .kind,
            ErrorKind::Forbidden
        );
        assert_eq!(
            parse_error(
                400,
                br#"{"detail":{"status":"voice_not_found","message":"no"}}"#
            )
            .kind,
            ErrorKind::VoiceNotFound
        );
        assert_eq!(
            parse_error(
                400,
                br#"{"detail":{"status":"max_character_limit_exceeded","message":"no"}}"#
            )
            .kind,
            ErrorKind::TooLong
        );
        let e = parse_error(502, b"<html>bad gateway</html>");
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.is_retryable() && e.is_service_failure());
    }

    #[test]
    fn messages_are_bounded_single_lines() {
        let long = "x ".repeat(1000);
        let body =
            serde_json::json!({"detail": {"status": "weird", "message": format!("line\n{long}")}})
                .to_string();
        let e = parse_error(400, body.as_bytes());
        let m = e.message.unwrap();
        assert!(!m.contains('\n') && m.chars().count() <= 301);
    }

    #[test]
    fn parses_models_voices_subscription() {
        let models = parse_models(br#"[{"model_id":"eleven_flash_v2_5","name":"Flash","can_do_text_to_speech":true,"max_characters_request_subscribed_user":40000,"languages":[{"language_id":"en","name":"English"}]},{"model_id":"sts","can_do_text_to_speech":false}]"#).unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].max_characters(), Some(40000));
        assert!(models[0].takes_language());
        let page = parse_voice_page(br#"{"voices":[{"voice_id":"a","name":"A","category":"premade","labels":{"accent":"american"},"verified_languages":[{"language":"en","model_id":"m"},{"language":"en","model_id":"n"}]}],"has_more":true,"total_count":0,"next_page_token":"t"}"#).unwrap();
        assert_eq!(page.voices[0].languages(), vec!["en".to_string()]);
        assert_eq!(page.next_page_token.as_deref(), Some("t"));
        let s = parse_subscription(br#"{"tier":"creator","character_count":10,"character_limit":100,"next_character_count_reset_unix":5,"status":"active"}"#).unwrap();
        assert_eq!((s.character_count, s.character_limit), (10, 100));
        assert!(parse_models(b"{}").unwrap_err().contains("cannot read"));
    }
}
