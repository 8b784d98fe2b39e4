//! The table of every settings key: its path, the kind of value it takes, and the environment
//! variables that override it.

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Secret,
    Id,
    Bool,
    Url,
    Path,
    Delivery,
    Argv,
    /// A list of names from this set.
    Cases(&'static [&'static str]),
    /// One name from this set.
    OneOf(&'static [&'static str]),
    /// A list of whole percentages, 1 to 100.
    Percents,
    /// A decimal number with up to 6 places, kept in millionths.
    Decimal,
    /// A list of names (hosts, origins): non-empty strings of visible ASCII.
    Names,
    /// A socket address, `host:port` with an IP host.
    Addr,
    Int {
        min: u64,
        max: u64,
    },
}

pub(super) struct Key {
    pub(super) path: &'static str,
    pub(super) kind: Kind,
    /// Environment variables that override it, strongest first.
    pub(super) env: &'static [&'static str],
    /// Persisted by the server in the state file.
    pub(super) state: bool,
}

/// How a text's tone sets its delivery: `speech.emotion` (and `speak`'s `emotion`).
pub const EMOTIONS: &[&str] = &["auto", "neutral", "happy", "sad", "urgent", "off"];

/// How speech is fetched: `elevenlabs.transport`.
pub(super) const TRANSPORTS: &[&str] = &["http", "websocket"];

pub(super) const KEYS: &[Key] = &[
    key("elevenlabs.api_key", Kind::Secret, &["ELEVENLABS_API_KEY"]),
    Key {
        state: true,
        ..key(
            "elevenlabs.default_voice_id",
            Kind::Id,
            &["ELEVENLABS_VOICE_ID", "ELEVENLABS_DEFAULT_VOICE_ID"],
        )
    },
    key("elevenlabs.model", Kind::Id, &["ELEVENLABS_MODEL_ID"]),
    key("elevenlabs.optimize_streaming", Kind::Bool, &[]),
    key(
        "elevenlabs.transport",
        Kind::OneOf(TRANSPORTS),
        &["MCP_ELEVENLABS_TRANSPORT"],
    ),
    key(
        "elevenlabs.base_url",
        Kind::Url,
        &["ELEVENLABS_BASE_URL", "ELEVENLABS_API_RESIDENCY"],
    ),
    key("elevenlabs.ca_file", Kind::Path, &["ELEVENLABS_CA_FILE"]),
    key(
        "output.dir",
        Kind::Path,
        &["ELEVENLABS_OUTPUT_DIR", "ELEVENLABS_MCP_BASE_PATH"],
    ),
    key(
        "output.delivery",
        Kind::Delivery,
        &["ELEVENLABS_MCP_OUTPUT_MODE"],
    ),
    key(
        "output.max_mb",
        Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        &[],
    ),
    key(
        "output.keep_days",
        Kind::Int {
            min: 0,
            max: 36_500,
        },
        &[],
    ),
    key("cache.enabled", Kind::Bool, &["MCP_ELEVENLABS_CACHE"]),
    key("usage.enabled", Kind::Bool, &["MCP_ELEVENLABS_USAGE"]),
    key("usage.reset_day", Kind::Int { min: 0, max: 31 }, &[]),
    key("usage.warn_at", Kind::Percents, &[]),
    key("usage.price_per_1000_characters", Kind::Decimal, &[]),
    key("usage.currency", Kind::Id, &[]),
    key(
        "speech.emotion",
        Kind::OneOf(EMOTIONS),
        &["MCP_ELEVENLABS_EMOTION"],
    ),
    key(
        "cache.max_mb",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        &[],
    ),
    key("player", Kind::Argv, &[]),
    key("fallback.command", Kind::Argv, &[]),
    key("fallback.when", Kind::Cases(FALLBACK_CASES), &[]),
    key(
        "limits.request_timeout_ms",
        Kind::Int {
            min: 100,
            max: 600_000,
        },
        &[],
    ),
    key("limits.max_retries", Kind::Int { min: 0, max: 10 }, &[]),
    key(
        "limits.call_deadline_ms",
        Kind::Int {
            min: 1000,
            max: 3_600_000,
        },
        &[],
    ),
    key("limits.max_concurrent", Kind::Int { min: 1, max: 100 }, &[]),
    key(
        "limits.requests_per_minute",
        Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        &[],
    ),
    key(
        "limits.characters_per_minute",
        Kind::Int {
            min: 0,
            max: 100_000_000,
        },
        &[],
    ),
    key(
        "limits.breaker_failures",
        Kind::Int { min: 1, max: 1000 },
        &[],
    ),
    key(
        "limits.breaker_window_ms",
        Kind::Int {
            min: 1000,
            max: 86_400_000,
        },
        &[],
    ),
    key(
        "limits.breaker_cooldown_ms",
        Kind::Int {
            min: 100,
            max: 86_400_000,
        },
        &[],
    ),
    key(
        "limits.max_inline_bytes",
        Kind::Int {
            min: 1024,
            max: 16 << 20,
        },
        &[],
    ),
    key("limits.daily_characters", BUDGET, &[]),
    key("limits.monthly_characters", BUDGET, &[]),
    key("limits.per_call_characters", BUDGET, &[]),
    key(
        "limits.max_text_chars",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        &[],
    ),
    key("http.listen", Kind::Addr, &["MCP_ELEVENLABS_HTTP_LISTEN"]),
    key("http.token", Kind::Secret, &["MCP_ELEVENLABS_HTTP_TOKEN"]),
    key("http.token_file", Kind::Path, &[]),
    key("http.allowed_hosts", Kind::Names, &[]),
    key("http.allowed_origins", Kind::Names, &[]),
    key(
        "http.max_connections",
        Kind::Int {
            min: 1,
            max: 100_000,
        },
        &[],
    ),
    key(
        "http.max_in_flight",
        Kind::Int {
            min: 1,
            max: 100_000,
        },
        &[],
    ),
    key(
        "http.max_sessions",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        &[],
    ),
    key(
        "http.session_idle_s",
        Kind::Int {
            min: 1,
            max: 604_800,
        },
        &[],
    ),
    key("http.idle_timeout_s", Kind::Int { min: 1, max: 3600 }, &[]),
    key(
        "http.max_body_kb",
        Kind::Int {
            min: 1,
            max: 65_536,
        },
        &[],
    ),
];

/// A budget in characters (0: none).
const BUDGET: Kind = Kind::Int {
    min: 0,
    max: 1_000_000_000_000,
};

const fn key(path: &'static str, kind: Kind, env: &'static [&'static str]) -> Key {
    Key {
        path,
        kind,
        env,
        state: false,
    }
}

pub(super) const SECTIONS: &[&str] = &[
    "elevenlabs",
    "output",
    "cache",
    "usage",
    "speech",
    "limits",
    "fallback",
    "http",
];

/// When the fallback voice may speak instead of ElevenLabs.
pub const FALLBACK_CASES: &[&str] = &["unreachable", "breaker_open", "quota_exceeded", "budget"];

/// Every key path, in the order `config list` shows them.
pub fn key_paths() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.path)
}

/// The state file keys the server may write.
pub fn is_state_key(path: &str) -> bool {
    KEYS.iter().any(|k| k.state && k.path == path)
}

/// The environment variables that can override `path`, strongest first.
pub fn env_names(path: &str) -> &'static [&'static str] {
    KEYS.iter().find(|k| k.path == path).map_or(&[], |k| k.env)
}
