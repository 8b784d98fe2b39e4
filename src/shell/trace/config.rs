//! The core's `Config` as the first line of a trace: everything that shapes behaviour, the API
//! key only as `"set"` or `"missing"` (a replay then gives the core [`REPLAY_KEY`]).

use super::codec::{Res, bool_at, field, opt_str_at, str_at, u64_at, unknown, usize_at, variant};
use crate::core::Config;
use crate::core::player::{self, Player, PlayerKind};
use crate::core::settings::{self, ApiKey, Delivery, Limits, Problem, Settings, Source};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The key a replay gives the core when the recorded session had one (the core only asks
/// whether a key is set; the shell, which sends it, does not run in a replay).
pub(crate) const REPLAY_KEY: &str = "sk_trace_replay_placeholder_key";

/// Everything of [`Config`] that shapes behaviour; the key only as `"set"` or `"missing"`.
pub(crate) fn encode_config(c: &Config) -> Value {
    let Config {
        settings,
        problems,
        max_line,
        shutdown_grace,
        max_queued,
        max_read_bytes,
        output_dir,
        sources,
        start_unix,
        rng_seed,
        player,
    } = c;
    let sources: Map<String, Value> = sources
        .iter()
        .map(|(k, s)| ((*k).to_string(), source_value(s)))
        .collect();
    json!({
        "settings": encode_settings(settings),
        "problems": problems.iter().map(|p| json!({"origin": p.origin, "key": p.key, "message": p.message})).collect::<Vec<_>>(),
        "max_line": max_line,
        "shutdown_grace_ns": nanos(*shutdown_grace),
        "max_queued": max_queued,
        "max_read_bytes": max_read_bytes,
        "output_dir": output_dir,
        "sources": sources,
        "start_unix": start_unix,
        "rng_seed": rng_seed,
        "player": player.as_ref().map(|p| json!({"kind": format!("{:?}", p.kind), "argv": p.argv})),
    })
}

pub(crate) fn decode_config(v: &Value) -> Res<Config> {
    let p = "config";
    let problems = field(v, p, "problems")?
        .as_array()
        .ok_or("config.problems: expected an array")?
        .iter()
        .map(|q| {
            let p = "config.problems[]";
            Ok(Problem {
                origin: str_at(q, p, "origin")?.to_string(),
                key: str_at(q, p, "key")?.to_string(),
                message: str_at(q, p, "message")?.to_string(),
            })
        })
        .collect::<Res<Vec<_>>>()?;
    let mut sources = std::collections::BTreeMap::new();
    for (k, s) in field(v, p, "sources")?
        .as_object()
        .ok_or("config.sources: expected an object")?
    {
        let key = settings::key_paths()
            .find(|path| path == k)
            .ok_or_else(|| format!("config.sources: unknown setting `{k}`"))?;
        sources.insert(key, decode_source(key, s)?);
    }
    Ok(Config {
        settings: decode_settings(field(v, p, "settings")?)?,
        problems,
        max_line: usize_at(v, p, "max_line")?,
        shutdown_grace: Duration::from_nanos(u64_at(v, p, "shutdown_grace_ns")?),
        max_queued: usize_at(v, p, "max_queued")?,
        max_read_bytes: u64_at(v, p, "max_read_bytes")?,
        output_dir: str_at(v, p, "output_dir")?.to_string(),
        sources,
        start_unix: u64_at(v, p, "start_unix")?,
        rng_seed: u64_at(v, p, "rng_seed")?,
        player: decode_player(v.get("player"))?,
    })
}

/// The player of a trace (`null` or missing: none found).
fn decode_player(v: Option<&Value>) -> Res<Option<Player>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let p = "config.player";
    let name = str_at(v, p, "kind")?;
    let kind = player::SEARCH
        .iter()
        .map(|(_, k)| *k)
        .chain([PlayerKind::Custom])
        .find(|k| format!("{k:?}") == name)
        .ok_or_else(|| format!("{p}.kind: unknown player `{name}`"))?;
    let argv = field(v, p, "argv")?
        .as_array()
        .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
        .ok_or("config.player.argv: expected an array of strings")?;
    Ok(Some(Player { kind, argv }))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn source_value(s: &Source) -> Value {
    match s {
        Source::Default => "default".into(),
        Source::File => "file".into(),
        Source::State => "state".into(),
        Source::Env(name) => json!({ "env": name }),
    }
}

fn decode_source(key: &'static str, v: &Value) -> Res<Source> {
    let path = format!("config.sources.{key}");
    match variant(v, &path)? {
        ("default", _) => Ok(Source::Default),
        ("file", _) => Ok(Source::File),
        ("state", _) => Ok(Source::State),
        ("env", Value::String(name)) => settings::env_names(key)
            .iter()
            .find(|n| *n == name)
            .map(|n| Source::Env(n))
            .ok_or_else(|| format!("{path}: `{name}` is not a variable of `{key}`")),
        (other, _) => unknown(&path, other),
    }
}

fn encode_settings(s: &Settings) -> Value {
    let Settings {
        api_key,
        default_voice_id,
        model,
        optimize_streaming,
        websocket,
        base_url,
        ca_file,
        output_dir,
        delivery,
        output_max_mb,
        output_keep_days,
        cache_enabled,
        usage_enabled,
        usage_reset_day,
        usage_warn_at,
        usage_price_micros,
        usage_currency,
        emotion,
        cache_max_mb,
        player,
        fallback_command,
        fallback_when,
        limits,
        // The HTTP transport's settings do not change how the core answers a stdio session.
        http: _,
    } = s;
    let Limits {
        request_timeout_ms,
        max_retries,
        call_deadline_ms,
        max_concurrent,
        requests_per_minute,
        characters_per_minute,
        breaker_failures,
        breaker_window_ms,
        breaker_cooldown_ms,
        max_inline_bytes,
        max_text_chars,
        daily_characters,
        monthly_characters,
        per_call_characters,
    } = limits;
    json!({
        "api_key": if api_key.is_some() { "set" } else { "missing" },
        "default_voice_id": default_voice_id,
        "model": model,
        "optimize_streaming": optimize_streaming,
        "websocket": websocket,
        "base_url": base_url,
        "ca_file": ca_file,
        "output_dir": output_dir,
        "delivery": delivery.as_str(),
        "output_max_mb": output_max_mb,
        "output_keep_days": output_keep_days,
        "cache_enabled": cache_enabled,
        "usage_enabled": usage_enabled,
        "usage_reset_day": usage_reset_day,
        "usage_warn_at": usage_warn_at,
        "usage_price_micros": usage_price_micros,
        "usage_currency": usage_currency,
        "emotion": emotion,
        "cache_max_mb": cache_max_mb,
        "player": player,
        "fallback_command": fallback_command,
        "fallback_when": fallback_when,
        "limits": {
            "request_timeout_ms": request_timeout_ms,
            "max_retries": max_retries,
            "call_deadline_ms": call_deadline_ms,
            "max_concurrent": max_concurrent,
            "requests_per_minute": requests_per_minute,
            "characters_per_minute": characters_per_minute,
            "breaker_failures": breaker_failures,
            "breaker_window_ms": breaker_window_ms,
            "breaker_cooldown_ms": breaker_cooldown_ms,
            "max_inline_bytes": max_inline_bytes,
            "max_text_chars": max_text_chars,
            "daily_characters": daily_characters,
            "monthly_characters": monthly_characters,
            "per_call_characters": per_call_characters,
        },
    })
}

fn decode_settings(v: &Value) -> Res<Settings> {
    let p = "config.settings";
    let api_key = match str_at(v, p, "api_key")? {
        "set" => Some(ApiKey::new(REPLAY_KEY)),
        "missing" => None,
        other => return unknown(&format!("{p}.api_key"), other),
    };
    let delivery = match str_at(v, p, "delivery")? {
        "auto" => Delivery::Auto,
        "file" => Delivery::File,
        "inline" => Delivery::Inline,
        "play" => Delivery::Play,
        other => return unknown(&format!("{p}.delivery"), other),
    };
    let player = field(v, p, "player")?
        .as_array()
        .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
        .ok_or("config.settings.player: expected an array of strings")?;
    let strings = |k: &str| -> Res<Option<Vec<String>>> {
        let Some(value) = v.get(k) else {
            return Ok(None);
        };
        let list = value
            .as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
            .ok_or(format!("{p}.{k}: expected an array of strings"))?;
        Ok(Some(list))
    };
    let defaults = Settings::default();
    let fallback_command = strings("fallback_command")?.unwrap_or_default();
    let fallback_when = strings("fallback_when")?.unwrap_or(defaults.fallback_when);
    let l = field(v, p, "limits")?;
    let lp = "config.settings.limits";
    Ok(Settings {
        http: defaults.http.clone(),
        api_key,
        default_voice_id: opt_str_at(v, p, "default_voice_id")?,
        model: str_at(v, p, "model")?.to_string(),
        optimize_streaming: bool_at(v, p, "optimize_streaming")?,
        // Traces from before the WebSocket transport replay with HTTP.
        websocket: v.get("websocket").is_some_and(|w| w == true),
        base_url: str_at(v, p, "base_url")?.to_string(),
        ca_file: opt_str_at(v, p, "ca_file")?,
        output_dir: opt_str_at(v, p, "output_dir")?,
        delivery,
        output_max_mb: match v.get("output_max_mb") {
            None => Settings::default().output_max_mb,
            Some(_) => u64_at(v, p, "output_max_mb")?,
        },
        output_keep_days: opt_u64_at(v, p, "output_keep_days")?,
        // Traces from before the cache replay without it.
        cache_enabled: v.get("cache_enabled").is_some() && bool_at(v, p, "cache_enabled")?,
        cache_max_mb: opt_u64_at(v, p, "cache_max_mb")?,
        // Traces from before the ledger replay with it on (it records nothing in them).
        usage_enabled: v.get("usage_enabled").is_none_or(|u| u == true),
        // Traces from before budgets replay with the defaults.
        usage_reset_day: opt_u64_at(v, p, "usage_reset_day")?,
        usage_warn_at: match v.get("usage_warn_at") {
            None => defaults.usage_warn_at.clone(),
            Some(w) => w
                .as_array()
                .and_then(|a| a.iter().map(Value::as_u64).collect())
                .ok_or(format!("{p}.usage_warn_at: expected an array of numbers"))?,
        },
        usage_price_micros: v.get("usage_price_micros").and_then(Value::as_u64),
        usage_currency: opt_str_at(v, p, "usage_currency")?
            .unwrap_or(defaults.usage_currency.clone()),
        // Traces from before `speech.emotion` were recorded without it: off.
        emotion: match v.get("emotion") {
            None | Some(Value::Null) => "off".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("{p}.emotion: expected a string")),
        },
        player,
        fallback_command,
        fallback_when,
        limits: Limits {
            request_timeout_ms: u64_at(l, lp, "request_timeout_ms")?,
            max_retries: u64_at(l, lp, "max_retries")?,
            // Traces of 0.1.0 before the deadline existed replay with its default.
            call_deadline_ms: match l.get("call_deadline_ms") {
                None => Settings::default().limits.call_deadline_ms,
                Some(_) => u64_at(l, lp, "call_deadline_ms")?,
            },
            max_concurrent: u64_at(l, lp, "max_concurrent")?,
            requests_per_minute: opt_u64_at(l, lp, "requests_per_minute")?,
            characters_per_minute: opt_u64_at(l, lp, "characters_per_minute")?,
            breaker_failures: u64_at(l, lp, "breaker_failures")?,
            breaker_window_ms: u64_at(l, lp, "breaker_window_ms")?,
            breaker_cooldown_ms: u64_at(l, lp, "breaker_cooldown_ms")?,
            max_inline_bytes: u64_at(l, lp, "max_inline_bytes")?,
            // Traces from before long text replay with its default.
            max_text_chars: match l.get("max_text_chars") {
                None => Settings::default().limits.max_text_chars,
                Some(_) => u64_at(l, lp, "max_text_chars")?,
            },
            daily_characters: opt_u64_at(l, lp, "daily_characters")?,
            monthly_characters: opt_u64_at(l, lp, "monthly_characters")?,
            per_call_characters: opt_u64_at(l, lp, "per_call_characters")?,
        },
    })
}

/// A limit added after the first traces: 0 (no limit) when a trace does not have it.
fn opt_u64_at(v: &Value, p: &str, k: &str) -> Res<u64> {
    match v.get(k) {
        None => Ok(0),
        Some(_) => u64_at(v, p, k),
    }
}
