//! Settings: `config.yaml`, the state file and environment variables, merged and validated.
//!
//! Pure: the shell reads the files and the environment and hands their text and a lookup
//! function here. Precedence is env > state > config file > built-in default. Every problem
//! (unknown key, bad value, broken YAML) is collected with the place it came from and the key
//! path, never stopping the load: the server must start with a broken file and explain it.

mod keys;
mod load;
mod show;

pub use keys::{EMOTIONS, FALLBACK_CASES, env_names, is_state_key, key_paths};
pub(crate) use load::edit_distance;
pub use load::{TEMPLATE, load};
pub use show::show;

use std::collections::BTreeMap;
use std::fmt;

/// The ElevenLabs API key. `Debug` and `Display` mask it; only [`ApiKey::expose`] gives it out.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the `xi-api-key` header and for redacting logs. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key as shown to people: `sk_…a1b2` (prefix kept, last four characters).
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 12 {
            return "…".to_string();
        }
        let prefix: String = match self.0.find('_') {
            Some(i) if i <= 4 => self.0[..=i].to_string(),
            _ => String::new(),
        };
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{prefix}…{tail}")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// How `speak` hands audio back by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Play it on this machine when a player works, else save a file.
    Auto,
    /// Save a file in the output directory and return a link to it.
    File,
    /// Return the audio inside the tool result.
    Inline,
    /// Play it on this machine.
    Play,
}

impl Delivery {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::File => "file",
            Self::Inline => "inline",
            Self::Play => "play",
        }
    }
}

/// Limits on upstream calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bound on connecting and on each wait for bytes (a stall), not on a whole stream.
    pub request_timeout_ms: u64,
    /// Retries after the first attempt for retryable failures.
    pub max_retries: u64,
    /// No retry is scheduled past this long after a call started.
    pub call_deadline_ms: u64,
    /// Upstream calls in flight at once.
    pub max_concurrent: u64,
    /// Requests to ElevenLabs a minute (0: no limit).
    pub requests_per_minute: u64,
    /// Characters sent to be spoken a minute (0: no limit).
    pub characters_per_minute: u64,
    /// Failures within the window that open the circuit breaker.
    pub breaker_failures: u64,
    /// The breaker's counting window.
    pub breaker_window_ms: u64,
    /// How long the breaker stays open before a probe.
    pub breaker_cooldown_ms: u64,
    /// The largest audio `speak` returns inline; above it the call suggests `file`.
    pub max_inline_bytes: u64,
    /// The longest text `speak` takes, in characters; a longer one is refused before anything
    /// is sent (a text over one request's limit is split into pieces).
    pub max_text_chars: u64,
    /// `limits.daily_characters`: billed characters per UTC day, over every process of this
    /// user (0: no budget).
    pub daily_characters: u64,
    /// `limits.monthly_characters`: per month from `usage.reset_day` (0: no budget).
    pub monthly_characters: u64,
    /// `limits.per_call_characters`: the most one call may spend (0: no budget).
    pub per_call_characters: u64,
}

/// The merged settings the server runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `elevenlabs.api_key`.
    pub api_key: Option<ApiKey>,
    /// `elevenlabs.default_voice_id`.
    pub default_voice_id: Option<String>,
    /// `elevenlabs.model`.
    pub model: String,
    /// `elevenlabs.optimize_streaming`.
    pub optimize_streaming: bool,
    /// `elevenlabs.transport: websocket`: speech over the WebSocket `stream-input` endpoint
    /// (for the models that have it; the others use HTTP streaming).
    pub websocket: bool,
    /// `elevenlabs.base_url`, without a trailing slash.
    pub base_url: String,
    /// `elevenlabs.ca_file`: PEM certificates added to the built-in roots.
    pub ca_file: Option<String>,
    /// `output.dir`; `None` means the platform data directory.
    pub output_dir: Option<String>,
    /// `output.delivery`.
    pub delivery: Delivery,
    /// `output.max_mb`: the audio this server keeps in the output directory (0: no bound).
    pub output_max_mb: u64,
    /// `output.keep_days`: audio older than this is removed (0: kept).
    pub output_keep_days: u64,
    /// `cache.enabled`: repeated requests are served from the audio cache.
    pub cache_enabled: bool,
    /// `usage.enabled`: every `speak` is recorded in the usage ledger.
    pub usage_enabled: bool,
    /// `usage.reset_day`: the day of the month the monthly budget resets (0: the 1st).
    pub usage_reset_day: u64,
    /// `usage.warn_at`: percentages of each budget (and of the subscription) that are warned
    /// about, once per period.
    pub usage_warn_at: Vec<u64>,
    /// `usage.price_per_1000_characters`, in millionths of `usage.currency`.
    pub usage_price_micros: Option<u64>,
    /// `usage.currency`: the price's unit.
    pub usage_currency: String,
    /// `speech.emotion`: `auto` reads each text's tone into its voice settings (or `eleven_v3`
    /// tags); a tone's name always uses that tone; `off` sends what the caller gave only.
    pub emotion: String,
    /// `cache.max_mb`: the audio cache's size; its least recently used entries go first.
    pub cache_max_mb: u64,
    /// `player`: argv of a program reading audio on stdin; empty means auto-detect.
    pub player: Vec<String>,
    /// `fallback.command`: argv of a program reading text on stdin and writing WAV on stdout,
    /// used when ElevenLabs cannot speak; empty means none.
    pub fallback_command: Vec<String>,
    /// `fallback.when`: the cases ([`FALLBACK_CASES`]) in which the fallback voice speaks.
    pub fallback_when: Vec<String>,
    /// `limits.*`.
    pub limits: Limits,
    /// `http.*`: the HTTP transports (`serve --http`).
    pub http: Http,
}

/// `http.*`: how `serve --http` listens and whom it lets in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http {
    /// `http.listen`: the address (`--http ADDR` overrides it).
    pub listen: String,
    /// `http.token`: the bearer token every request must carry.
    pub token: Option<ApiKey>,
    /// `http.token_file`: a file holding the token (surrounding whitespace ignored).
    pub token_file: Option<String>,
    /// `http.allowed_hosts`: `Host` values let in beyond loopback names.
    pub allowed_hosts: Vec<String>,
    /// `http.allowed_origins`: `Origin` values let in beyond loopback pages.
    pub allowed_origins: Vec<String>,
    /// `http.max_connections`: connections open at once.
    pub max_connections: u64,
    /// `http.max_in_flight`: requests in flight at once (more get 503).
    pub max_in_flight: u64,
    /// `http.max_sessions`: sessions kept at once.
    pub max_sessions: u64,
    /// `http.session_idle_s`: an unused session ends after this long.
    pub session_idle_s: u64,
    /// `http.idle_timeout_s`: an idle keep-alive connection is closed after this long.
    pub idle_timeout_s: u64,
    /// `http.max_body_kb`: the largest request body.
    pub max_body_kb: u64,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8765".to_string(),
            token: None,
            token_file: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_connections: 512,
            max_in_flight: 256,
            max_sessions: 1024,
            session_idle_s: 1800,
            idle_timeout_s: 30,
            max_body_kb: 4096,
        }
    }
}

/// The built-in default voice (Rachel, premade).
pub const DEFAULT_VOICE_ID: &str = "21m00Tcm4TlvDq8ikWAM";
/// The built-in default model.
pub const DEFAULT_MODEL: &str = "eleven_flash_v2_5";
/// The global API host.
pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_key: None,
            default_voice_id: None,
            model: DEFAULT_MODEL.to_string(),
            optimize_streaming: true,
            websocket: false,
            base_url: DEFAULT_BASE_URL.to_string(),
            ca_file: None,
            output_dir: None,
            delivery: Delivery::Auto,
            output_max_mb: 1024,
            output_keep_days: 0,
            cache_enabled: true,
            usage_enabled: true,
            usage_reset_day: 0,
            usage_warn_at: vec![80, 95],
            usage_price_micros: None,
            usage_currency: "USD".to_string(),
            emotion: if cfg!(feature = "emotion") {
                "auto"
            } else {
                "off"
            }
            .to_string(),
            cache_max_mb: 200,
            player: Vec::new(),
            fallback_command: Vec::new(),
            // `budget` is asked for, not assumed: a budget means "stop", unless told otherwise.
            fallback_when: FALLBACK_CASES[..3]
                .iter()
                .map(|c| (*c).to_string())
                .collect(),
            limits: Limits {
                request_timeout_ms: 30_000,
                max_retries: 2,
                call_deadline_ms: 120_000,
                max_concurrent: 4,
                requests_per_minute: 0,
                characters_per_minute: 0,
                breaker_failures: 5,
                breaker_window_ms: 60_000,
                breaker_cooldown_ms: 30_000,
                max_inline_bytes: 4 << 20,
                max_text_chars: 50_000,
                daily_characters: 0,
                monthly_characters: 0,
                per_call_characters: 0,
            },
            http: Http::default(),
        }
    }
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The config file.
    File,
    /// The state file the server writes.
    State,
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File => f.write_str("config file"),
            Self::State => f.write_str("state file"),
            Self::Env(name) => write!(f, "env {name}"),
        }
    }
}

/// Something wrong in one of the inputs. Never contains the API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file path or `env NAME` the problem is in.
    pub origin: String,
    /// The key path, such as `limits.max_retries`; empty for a file that does not parse.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: `{}` {}", self.origin, self.key, self.message)
        }
    }
}

/// The result of [`load()`].
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The merged settings (defaults where an input was missing or bad).
    pub settings: Settings,
    /// The source of each key's value, by key path.
    pub sources: BTreeMap<&'static str, Source>,
    /// What was wrong in the config file or environment; tools refuse to run until fixed.
    pub problems: Vec<Problem>,
    /// What was wrong in the state file (the server's own data): reported, then ignored.
    pub warnings: Vec<Problem>,
}

/// The inputs to [`load()`]: file texts with the names to report them by, and an env lookup.
pub struct Inputs<'a> {
    /// Text of `config.yaml` and its path, if the file exists.
    pub config: Option<(&'a str, &'a str)>,
    /// Text of the state file and its path, if it exists.
    pub state: Option<(&'a str, &'a str)>,
    /// Looks up an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}
