//! Loading: the table of every key (its kind and environment names), the merge of the config
//! file, the state file and the environment, and the checks that name each problem's key path.

use super::keys::{KEYS, Key, Kind, SECTIONS};
use super::{ApiKey, DEFAULT_BASE_URL, Delivery, Inputs, Loaded, Problem, Settings, Source};
use serde_json::{Map, Value};

enum Val {
    Str(String),
    Bool(bool),
    Int(u64),
    Ints(Vec<u64>),
    List(Vec<String>),
    Delivery(Delivery),
}

/// Merges and validates the inputs.
pub fn load(inputs: &Inputs<'_>) -> Loaded {
    let mut loaded = Loaded::default();
    for key in KEYS {
        loaded.sources.insert(key.path, Source::Default);
    }
    if let Some((text, origin)) = inputs.config {
        load_file(&mut loaded, text, origin);
    }
    if let Some((text, origin)) = inputs.state {
        load_state(&mut loaded, text, origin);
    }
    for key in KEYS {
        for &name in key.env {
            let Some(raw) = (inputs.env)(name).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            match parse_env(key, name, raw.trim()) {
                Ok(val) => {
                    set(&mut loaded.settings, key.path, val);
                    loaded.sources.insert(key.path, Source::Env(name));
                }
                Err(message) => loaded.problems.push(Problem {
                    origin: format!("env {name}"),
                    key: String::new(),
                    message,
                }),
            }
            break;
        }
    }
    budgets_need_the_ledger(&mut loaded, inputs.config.map_or("config", |(_, o)| o));
    loaded
}

/// Budgets are kept in the usage ledger: without it they would be silently ignored.
fn budgets_need_the_ledger(loaded: &mut Loaded, file: &str) {
    let s = &loaded.settings;
    let why = if !cfg!(feature = "usage-db") {
        "this build has no usage ledger (feature `usage-db`), which budgets are kept in"
    } else if !s.usage_enabled {
        "budgets are kept in the usage ledger, and `usage.enabled` is false"
    } else {
        return;
    };
    let l = &s.limits;
    let set = [
        ("limits.daily_characters", l.daily_characters),
        ("limits.monthly_characters", l.monthly_characters),
    ];
    for (key, value) in set {
        if value > 0 {
            let origin = match loaded.sources.get(key) {
                Some(Source::Env(name)) => format!("env {name}"),
                _ => file.to_string(),
            };
            loaded.problems.push(Problem {
                origin,
                key: key.to_string(),
                message: format!("{why}: unset it (0), or turn the ledger on"),
            });
        }
    }
}

fn load_file(loaded: &mut Loaded, text: &str, origin: &str) {
    if text.trim().is_empty() {
        return;
    }
    let doc: Value = match yaml_serde::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            loaded.problems.push(Problem {
                origin: origin.to_string(),
                key: String::new(),
                message: format!("is not valid YAML ({e}); fix it or recreate it with `mcp-elevenlabs config init --force`"),
            });
            return;
        }
    };
    let doc = match doc {
        Value::Null => return,
        Value::Object(map) => map,
        _ => {
            loaded.problems.push(Problem {
                origin: origin.to_string(),
                key: String::new(),
                message: "must be a mapping with the sections elevenlabs, output, player, limits"
                    .to_string(),
            });
            return;
        }
    };
    walk(loaded, &doc, "", origin, Source::File);
}

fn walk(loaded: &mut Loaded, map: &Map<String, Value>, prefix: &str, origin: &str, source: Source) {
    for (name, value) in map {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if prefix.is_empty() && SECTIONS.contains(&name.as_str()) {
            match value {
                Value::Object(inner) => walk(loaded, inner, name, origin, source.clone()),
                Value::Null => {}
                _ => loaded.problems.push(Problem {
                    origin: origin.to_string(),
                    key: path,
                    message: "must be a mapping of keys".to_string(),
                }),
            }
            continue;
        }
        let Some(key) = KEYS.iter().find(|k| k.path == path) else {
            loaded.problems.push(Problem {
                origin: origin.to_string(),
                message: unknown_key_message(&path, prefix),
                key: path,
            });
            continue;
        };
        if value.is_null() {
            continue;
        }
        match parse_value(key, value) {
            Ok(Some(val)) => {
                set(&mut loaded.settings, key.path, val);
                loaded.sources.insert(key.path, source.clone());
            }
            Ok(None) => {}
            Err(message) => loaded.problems.push(Problem {
                origin: origin.to_string(),
                key: path,
                message,
            }),
        }
    }
}

fn load_state(loaded: &mut Loaded, text: &str, origin: &str) {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        loaded.warnings.push(Problem {
            origin: origin.to_string(),
            key: String::new(),
            message: "is not a JSON object and was ignored; delete this file and choose the default voice again".to_string(),
        });
        return;
    };
    for (path, value) in &map {
        // Unknown state keys are ignored: a newer version may have written them.
        let Some(key) = KEYS.iter().find(|k| k.state && k.path == path) else {
            continue;
        };
        match parse_value(key, value) {
            Ok(Some(val)) => {
                set(&mut loaded.settings, key.path, val);
                loaded.sources.insert(key.path, Source::State);
            }
            Ok(None) => {}
            Err(message) => loaded.warnings.push(Problem {
                origin: origin.to_string(),
                key: path.clone(),
                message: format!("{message}; ignored"),
            }),
        }
    }
}

fn unknown_key_message(path: &str, prefix: &str) -> String {
    let candidates: Vec<&str> = if prefix.is_empty() {
        SECTIONS.iter().copied().chain(["player"]).collect()
    } else {
        KEYS.iter()
            .filter(|k| {
                k.path.starts_with(prefix) && k.path.as_bytes().get(prefix.len()) == Some(&b'.')
            })
            .map(|k| &k.path[prefix.len() + 1..])
            .collect()
    };
    let name = path.rsplit('.').next().unwrap_or(path);
    let close = candidates
        .iter()
        .filter(|c| edit_distance(c, name) <= 2.max(name.len() / 3))
        .min_by_key(|c| edit_distance(c, name));
    let hint = match close {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    };
    let place = if prefix.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{prefix}`")
    };
    format!(
        "is not a known key{hint} Allowed {place}: {}",
        candidates.join(", ")
    )
}

/// Levenshtein distance, for "did you mean" hints on short key names.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

fn describe(kind: Kind) -> String {
    match kind {
        Kind::Secret => "must be a string (your ElevenLabs API key)".to_string(),
        Kind::Id => "must be a string of letters, digits, `_` or `-`".to_string(),
        Kind::Bool => "must be true or false".to_string(),
        Kind::Url => "must be an https:// URL (http:// only for 127.0.0.1, localhost or [::1]), or one of us, eu, in, sg, global".to_string(),
        Kind::Path => "must be a path (absolute, ~/..., or relative to your home directory)".to_string(),
        Kind::Delivery => "must be one of auto, play, file, inline".to_string(),
        Kind::Argv => "must be a list of strings: a program and its arguments, e.g. [mpv, --no-video, -]".to_string(),
        Kind::Int { min, max } => format!("must be a whole number from {min} to {max}"),
        Kind::Cases(all) => format!("must be a list of any of {}", all.join(", ")),
        Kind::OneOf(all) => format!("must be one of {}", all.join(", ")),
        Kind::Percents => "must be a list of whole percentages from 1 to 100, e.g. [80, 95]".to_string(),
        Kind::Decimal => "must be a number of at most 6 decimal places, e.g. 0.30".to_string(),
        Kind::Names => "must be a list of names without spaces, e.g. [voice.lan, \"voice.lan:8765\"]".to_string(),
        Kind::Addr => "must be an IP address and port, e.g. 127.0.0.1:8765 or [::1]:8765".to_string(),
    }
}

/// What a bad value was, without repeating strings: a secret pasted into the wrong key (or a
/// URL with credentials) must not reach logs or tool results.
fn got(value: &Value, kind: Kind) -> String {
    let shown = match value {
        Value::String(_)
            if !matches!(
                kind,
                Kind::Bool
                    | Kind::Int { .. }
                    | Kind::Argv
                    | Kind::Names
                    | Kind::Addr
                    | Kind::Cases(_)
                    | Kind::Percents
                    | Kind::Decimal
            ) =>
        {
            return String::new();
        }
        Value::String(_) => "a string".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
        other => other.to_string().chars().take(24).collect(),
    };
    format!(" (got {shown})")
}

/// `Ok(None)` means "unset" (an empty string for an optional key).
fn parse_value(key: &Key, value: &Value) -> Result<Option<Val>, String> {
    let bad = || format!("{}{}", describe(key.kind), got(value, key.kind));
    match (key.kind, value) {
        (Kind::Bool, Value::Bool(b)) => Ok(Some(Val::Bool(*b))),
        (Kind::Int { min, max }, Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(Val::Int(v))),
            _ => Err(bad()),
        },
        (Kind::Argv, Value::Array(items)) => {
            let mut argv = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() => argv.push(s.clone()),
                    _ => return Err(bad()),
                }
            }
            Ok(Some(Val::List(argv)))
        }
        (Kind::Cases(all), Value::Array(items)) => {
            let mut cases = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if all.contains(&s.as_str()) => cases.push(s.clone()),
                    _ => return Err(bad()),
                }
            }
            Ok(Some(Val::List(cases)))
        }
        (Kind::Names, Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().filter(|s| is_name(s)).map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .map(|n| Some(Val::List(n)))
            .ok_or_else(bad),
        (Kind::Percents, Value::Array(items)) => items
            .iter()
            .map(|i| i.as_u64().filter(|p| (1..=100).contains(p)))
            .collect::<Option<Vec<u64>>>()
            .map(|p| Some(Val::Ints(p)))
            .ok_or_else(bad),
        (Kind::Decimal, Value::Number(n)) => micros(&n.to_string())
            .map(|m| Some(Val::Int(m)))
            .ok_or_else(bad),
        (
            Kind::Bool
            | Kind::Int { .. }
            | Kind::Argv
            | Kind::Cases(_)
            | Kind::Percents
            | Kind::Names,
            _,
        ) => Err(bad()),
        (_, Value::String(s)) => parse_str(key.kind, s.trim()).map_err(|()| bad()),
        _ => Err(bad()),
    }
}

fn parse_str(kind: Kind, s: &str) -> Result<Option<Val>, ()> {
    if s.is_empty() {
        return Ok(None);
    }
    match kind {
        Kind::Secret => Ok(Some(Val::Str(s.to_string()))),
        Kind::Id
            if s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok(Some(Val::Str(s.to_string())))
        }
        Kind::Url => base_url(s).map(|u| Some(Val::Str(u))),
        Kind::Path if !s.contains('\0') => Ok(Some(Val::Str(s.to_string()))),
        Kind::Addr if s.parse::<std::net::SocketAddr>().is_ok() => {
            Ok(Some(Val::Str(s.to_string())))
        }
        Kind::OneOf(all) if all.contains(&s) => Ok(Some(Val::Str(s.to_string()))),
        Kind::Decimal => micros(s).map(|m| Some(Val::Int(m))).ok_or(()),
        Kind::Delivery => match s {
            "auto" => Ok(Some(Val::Delivery(Delivery::Auto))),
            "file" => Ok(Some(Val::Delivery(Delivery::File))),
            "inline" => Ok(Some(Val::Delivery(Delivery::Inline))),
            "play" => Ok(Some(Val::Delivery(Delivery::Play))),
            _ => Err(()),
        },
        _ => Err(()),
    }
}

/// A decimal number (`0.3`, `12`, `0.000125`) in millionths.
fn micros(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || frac.len() > 6 || !digits(whole) || !digits(frac) {
        return None;
    }
    let frac: u64 = format!("{frac:0<6}").parse().ok()?;
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac)
}

fn parse_env(key: &Key, name: &str, raw: &str) -> Result<Val, String> {
    let parsed = match name {
        // The deprecated official server's spellings, case-insensitive as it read them.
        "ELEVENLABS_MCP_OUTPUT_MODE" => match raw.to_ascii_lowercase().as_str() {
            "files" | "both" => Ok(Some(Val::Delivery(Delivery::File))),
            "resources" => Ok(Some(Val::Delivery(Delivery::Inline))),
            _ => return Err("must be one of files, resources, both".to_string()),
        },
        "ELEVENLABS_API_RESIDENCY" => match raw.to_ascii_lowercase().as_str() {
            // The official server sends `us` to the global host; keep that meaning here.
            "us" | "global" => Ok(Some(Val::Str(DEFAULT_BASE_URL.to_string()))),
            "eu-residency" | "eu" => Ok(Some(Val::Str(residency("eu").to_string()))),
            "in-residency" | "in" => Ok(Some(Val::Str(residency("in").to_string()))),
            "sg" => Ok(Some(Val::Str(residency("sg").to_string()))),
            _ => {
                return Err(
                    "must be one of global, us, eu-residency, in-residency, eu, in, sg".to_string(),
                );
            }
        },
        _ => match key.kind {
            Kind::Bool => match raw {
                "true" | "1" | "yes" => Ok(Some(Val::Bool(true))),
                "false" | "0" | "no" => Ok(Some(Val::Bool(false))),
                _ => Err(()),
            },
            Kind::Int { min, max } => match raw.parse::<u64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(Some(Val::Int(v))),
                _ => Err(()),
            },
            kind => parse_str(kind, raw),
        },
    };
    match parsed {
        Ok(Some(val)) => Ok(val),
        _ => Err(describe(key.kind)),
    }
}

fn residency(name: &str) -> &'static str {
    match name {
        "global" => DEFAULT_BASE_URL,
        "us" => "https://api.us.elevenlabs.io",
        "eu" => "https://api.eu.residency.elevenlabs.io",
        "in" => "https://api.in.residency.elevenlabs.io",
        "sg" => "https://api.sg.residency.elevenlabs.io",
        _ => "",
    }
}

/// Validates a base URL or residency name, returning the URL without a trailing slash.
fn base_url(s: &str) -> Result<String, ()> {
    let known = residency(s);
    if !known.is_empty() {
        return Ok(known.to_string());
    }
    let (scheme, rest) = s.split_once("://").ok_or(())?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    let ok = host_ok
        && !rest.contains(['?', '#', '@', ' '])
        && (scheme == "https" || (scheme == "http" && loopback));
    if ok {
        Ok(s.trim_end_matches('/').to_string())
    } else {
        Err(())
    }
}

fn set(settings: &mut Settings, path: &str, val: Val) {
    let limits = &mut settings.limits;
    match (path, val) {
        ("elevenlabs.api_key", Val::Str(s)) => settings.api_key = Some(ApiKey(s)),
        ("elevenlabs.default_voice_id", Val::Str(s)) => settings.default_voice_id = Some(s),
        ("elevenlabs.model", Val::Str(s)) => settings.model = s,
        ("elevenlabs.optimize_streaming", Val::Bool(b)) => settings.optimize_streaming = b,
        ("elevenlabs.transport", Val::Str(s)) => settings.websocket = s == "websocket",
        ("elevenlabs.base_url", Val::Str(s)) => settings.base_url = s,
        ("elevenlabs.ca_file", Val::Str(s)) => settings.ca_file = Some(s),
        ("output.dir", Val::Str(s)) => settings.output_dir = Some(s),
        ("output.delivery", Val::Delivery(d)) => settings.delivery = d,
        ("output.max_mb", Val::Int(v)) => settings.output_max_mb = v,
        ("output.keep_days", Val::Int(v)) => settings.output_keep_days = v,
        ("cache.enabled", Val::Bool(b)) => settings.cache_enabled = b,
        ("usage.enabled", Val::Bool(b)) => settings.usage_enabled = b,
        ("usage.reset_day", Val::Int(v)) => settings.usage_reset_day = v,
        ("usage.warn_at", Val::Ints(p)) => settings.usage_warn_at = p,
        ("usage.price_per_1000_characters", Val::Int(v)) => settings.usage_price_micros = Some(v),
        ("usage.currency", Val::Str(s)) => settings.usage_currency = s,
        ("speech.emotion", Val::Str(s)) => settings.emotion = s,
        ("cache.max_mb", Val::Int(v)) => settings.cache_max_mb = v,
        ("player", Val::List(argv)) => settings.player = argv,
        ("fallback.command", Val::List(argv)) => settings.fallback_command = argv,
        ("fallback.when", Val::List(cases)) => settings.fallback_when = cases,
        ("limits.request_timeout_ms", Val::Int(v)) => limits.request_timeout_ms = v,
        ("limits.max_retries", Val::Int(v)) => limits.max_retries = v,
        ("limits.call_deadline_ms", Val::Int(v)) => limits.call_deadline_ms = v,
        ("limits.max_concurrent", Val::Int(v)) => limits.max_concurrent = v,
        ("limits.requests_per_minute", Val::Int(v)) => limits.requests_per_minute = v,
        ("limits.characters_per_minute", Val::Int(v)) => limits.characters_per_minute = v,
        ("limits.breaker_failures", Val::Int(v)) => limits.breaker_failures = v,
        ("limits.breaker_window_ms", Val::Int(v)) => limits.breaker_window_ms = v,
        ("limits.breaker_cooldown_ms", Val::Int(v)) => limits.breaker_cooldown_ms = v,
        ("limits.max_inline_bytes", Val::Int(v)) => limits.max_inline_bytes = v,
        ("limits.max_text_chars", Val::Int(v)) => limits.max_text_chars = v,
        ("limits.daily_characters", Val::Int(v)) => limits.daily_characters = v,
        ("limits.monthly_characters", Val::Int(v)) => limits.monthly_characters = v,
        ("limits.per_call_characters", Val::Int(v)) => limits.per_call_characters = v,
        ("http.listen", Val::Str(s)) => settings.http.listen = s,
        ("http.token", Val::Str(s)) => settings.http.token = Some(ApiKey(s)),
        ("http.token_file", Val::Str(s)) => settings.http.token_file = Some(s),
        ("http.allowed_hosts", Val::List(n)) => settings.http.allowed_hosts = n,
        ("http.allowed_origins", Val::List(n)) => settings.http.allowed_origins = n,
        ("http.max_connections", Val::Int(v)) => settings.http.max_connections = v,
        ("http.max_in_flight", Val::Int(v)) => settings.http.max_in_flight = v,
        ("http.max_sessions", Val::Int(v)) => settings.http.max_sessions = v,
        ("http.session_idle_s", Val::Int(v)) => settings.http.session_idle_s = v,
        ("http.idle_timeout_s", Val::Int(v)) => settings.http.idle_timeout_s = v,
        ("http.max_body_kb", Val::Int(v)) => settings.http.max_body_kb = v,
        _ => debug_assert!(false, "no setter for {path}"),
    }
}

/// A host or origin name: visible ASCII, no spaces, at most 253 bytes.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The commented template `config init` writes.
pub const TEMPLATE: &str = include_str!("template.yaml");

#[cfg(test)]
mod tests {
    use super::super::show;
    use super::*;

    fn run(config: Option<&str>, state: Option<&str>, env: &[(&str, &str)]) -> Loaded {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        load(&Inputs {
            config: config.map(|c| (c, "config.yaml")),
            state: state.map(|s| (s, "state.json")),
            env: &lookup,
        })
    }

    #[test]
    fn budgets_thresholds_and_prices() {
        let l = run(
            Some(
                "limits: {daily_characters: 5000, per_call_characters: 800}\nusage: {warn_at: [50, 90], price_per_1000_characters: 0.3, currency: EUR, reset_day: 15}\n",
            ),
            None,
            &[],
        );
        if cfg!(feature = "usage-db") {
            assert!(l.problems.is_empty(), "{:?}", l.problems);
        } else {
            assert_eq!(l.problems.len(), 1, "{:?}", l.problems);
            assert_eq!(l.problems[0].key, "limits.daily_characters");
            assert!(l.problems[0].message.contains("usage-db"));
        }
        let s = &l.settings;
        assert_eq!(
            (s.limits.daily_characters, s.limits.per_call_characters),
            (5000, 800)
        );
        assert_eq!(s.usage_warn_at, vec![50, 90]);
        assert_eq!(s.usage_price_micros, Some(300_000));
        assert_eq!((s.usage_currency.as_str(), s.usage_reset_day), ("EUR", 15));
        assert_eq!(show(s, "usage.price_per_1000_characters"), "0.300000");
        for bad in [
            "usage: {warn_at: [0]}",
            "usage: {warn_at: 80}",
            "usage: {price_per_1000_characters: -1}",
            "usage: {price_per_1000_characters: 0.1234567}",
            "usage: {reset_day: 32}",
        ] {
            assert_eq!(run(Some(bad), None, &[]).problems.len(), 1, "{bad}");
        }
        // Budgets kept in a ledger that is switched off would be ignored: an error instead.
        let off = run(
            Some("usage: {enabled: false}\nlimits: {monthly_characters: 9}\n"),
            None,
            &[],
        );
        assert_eq!(off.problems.len(), 1, "{:?}", off.problems);
        assert_eq!(off.problems[0].origin, "config.yaml");
        let why = if cfg!(feature = "usage-db") {
            "usage.enabled"
        } else {
            "usage-db"
        };
        assert!(off.problems[0].message.contains(why), "{:?}", off.problems);
        assert!(
            run(
                Some("usage: {enabled: false}\nlimits: {per_call_characters: 9}\n"),
                None,
                &[]
            )
            .problems
            .is_empty()
        );
    }

    #[test]
    fn template_is_valid_and_equals_defaults() {
        let loaded = run(Some(TEMPLATE), None, &[]);
        assert_eq!(loaded.problems, vec![]);
        assert_eq!(loaded.settings, Settings::default());
    }

    #[test]
    fn precedence_env_state_file_default() {
        let file = "elevenlabs:\n  default_voice_id: fromfile\n  model: eleven_v3\n";
        let state = r#"{"elevenlabs.default_voice_id": "fromstate"}"#;
        let loaded = run(Some(file), Some(state), &[]);
        assert_eq!(
            loaded.settings.default_voice_id.as_deref(),
            Some("fromstate")
        );
        assert_eq!(loaded.sources["elevenlabs.default_voice_id"], Source::State);
        assert_eq!(loaded.sources["elevenlabs.model"], Source::File);
        assert_eq!(loaded.sources["limits.max_retries"], Source::Default);
        let loaded = run(
            Some(file),
            Some(state),
            &[
                ("ELEVENLABS_DEFAULT_VOICE_ID", "official"),
                ("ELEVENLABS_VOICE_ID", "ours"),
            ],
        );
        assert_eq!(loaded.settings.default_voice_id.as_deref(), Some("ours"));
        assert_eq!(
            loaded.sources["elevenlabs.default_voice_id"],
            Source::Env("ELEVENLABS_VOICE_ID")
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_path() {
        let file = "elevenlabs:\n  modle: x\nlimits:\n  max_retries: -1\n  max_concurrent: \"4\"\noutput:\n  delivery: stream\nextra: 1\n";
        let loaded = run(Some(file), None, &[]);
        let text: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 5, "{text:#?}");
        assert!(
            text.iter()
                .any(|t| t.contains("`elevenlabs.modle`") && t.contains("did you mean `model`"))
        );
        assert!(text.iter().any(|t| {
            t.contains("`limits.max_retries` must be a whole number from 0 to 10 (got -1)")
        }));
        assert!(text.iter().any(|t| t.contains("`limits.max_concurrent`")));
        assert!(
            text.iter()
                .any(|t| t.contains("`output.delivery` must be one of auto, play, file, inline"))
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`extra` is not a known key"))
        );
        // Good keys still apply; bad ones keep their defaults.
        assert_eq!(loaded.settings.limits.max_retries, 2);
    }

    #[test]
    fn strings_are_never_echoed_in_problems() {
        let loaded = run(
            Some(
                "elevenlabs:\n  base_url: https://user:hunter2@proxy.corp\n  model: \"has space\"\n",
            ),
            None,
            &[("ELEVENLABS_BASE_URL", "https://u:hunter3@x")],
        );
        let text = format!("{:?}", loaded.problems);
        assert_eq!(loaded.problems.len(), 3, "{text}");
        assert!(
            !text.contains("hunter") && !text.contains("has space"),
            "{text}"
        );
    }

    #[test]
    fn a_broken_state_file_only_warns() {
        let loaded = run(None, Some("not json"), &[]);
        assert_eq!(loaded.problems, vec![]);
        assert_eq!(loaded.warnings.len(), 1);
        let loaded = run(None, Some(r#"{"elevenlabs.default_voice_id": 5}"#), &[]);
        assert_eq!(loaded.problems, vec![]);
        assert!(loaded.warnings[0].message.contains("ignored"));
        assert_eq!(loaded.settings.default_voice_id, None);
    }

    #[test]
    fn broken_yaml_is_one_problem() {
        let loaded = run(Some("elevenlabs: [unclosed\n"), None, &[]);
        assert_eq!(loaded.problems.len(), 1);
        assert!(loaded.problems[0].message.contains("not valid YAML"));
    }

    #[test]
    fn api_key_never_in_problems() {
        let secret = "sk_0123456789abcdef0123";
        let loaded = run(
            Some(&format!("elevenlabs:\n  api_key: [\"{secret}\"]\n")),
            None,
            &[],
        );
        assert_eq!(loaded.problems.len(), 1);
        assert!(!format!("{:?}", loaded.problems).contains(secret));
        let loaded = run(None, None, &[("ELEVENLABS_API_KEY", secret)]);
        assert!(!format!("{:?}", loaded.settings).contains(secret));
        assert_eq!(
            loaded.settings.api_key.as_ref().unwrap().masked(),
            "sk_…0123"
        );
    }

    #[test]
    fn official_server_env_names() {
        let loaded = run(
            None,
            None,
            &[
                ("ELEVENLABS_MCP_OUTPUT_MODE", "resources"),
                ("ELEVENLABS_API_RESIDENCY", "eu-residency"),
                ("ELEVENLABS_MCP_BASE_PATH", "~/Desktop"),
            ],
        );
        assert_eq!(loaded.problems, vec![]);
        assert_eq!(loaded.settings.delivery, Delivery::Inline);
        assert_eq!(
            loaded.settings.base_url,
            "https://api.eu.residency.elevenlabs.io"
        );
        assert_eq!(loaded.settings.output_dir.as_deref(), Some("~/Desktop"));
        let loaded = run(
            None,
            None,
            &[
                ("ELEVENLABS_API_RESIDENCY", "eu"),
                ("ELEVENLABS_BASE_URL", "http://127.0.0.1:9/"),
            ],
        );
        assert_eq!(loaded.settings.base_url, "http://127.0.0.1:9");
        let loaded = run(None, None, &[("ELEVENLABS_MCP_OUTPUT_MODE", "nope")]);
        assert_eq!(loaded.problems.len(), 1);
        assert_eq!(loaded.problems[0].origin, "env ELEVENLABS_MCP_OUTPUT_MODE");
        // As the official server read them: case-insensitive, and `us` is the global host.
        let loaded = run(
            None,
            None,
            &[
                ("ELEVENLABS_MCP_OUTPUT_MODE", "Files"),
                ("ELEVENLABS_API_RESIDENCY", "US"),
            ],
        );
        assert_eq!(loaded.problems, vec![]);
        assert_eq!(loaded.settings.delivery, Delivery::File);
        assert_eq!(loaded.settings.base_url, DEFAULT_BASE_URL);
    }

    #[test]
    fn base_urls() {
        assert!(base_url("https://proxy.corp:8443/eleven/").is_ok());
        assert!(base_url("http://localhost:8080").is_ok());
        assert!(base_url("http://[::1]:8080").is_ok());
        assert!(base_url("http://api.elevenlabs.io").is_err());
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("https://user:pw@host").is_err());
        assert_eq!(
            base_url("sg").unwrap(),
            "https://api.sg.residency.elevenlabs.io"
        );
    }

    #[test]
    fn masks() {
        assert_eq!(ApiKey::new("sk_abcdefghijkla1b2").masked(), "sk_…a1b2");
        assert_eq!(ApiKey::new("abcdefghijkla1b2").masked(), "…a1b2");
        assert_eq!(ApiKey::new("short").masked(), "…");
    }
}
