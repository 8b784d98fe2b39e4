//! How `config list` shows each value (the API key and the HTTP token masked).

use super::{ApiKey, DEFAULT_VOICE_ID, Settings};

/// The value of `path` as `config list` shows it (the API key masked).
pub fn show(settings: &Settings, path: &str) -> String {
    let l = &settings.limits;
    match path {
        "elevenlabs.api_key" => settings
            .api_key
            .as_ref()
            .map_or_else(|| "(not set)".to_string(), ApiKey::masked),
        "elevenlabs.default_voice_id" => settings
            .default_voice_id
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT_VOICE_ID} (Rachel)")),
        "elevenlabs.model" => settings.model.clone(),
        "elevenlabs.optimize_streaming" => settings.optimize_streaming.to_string(),
        "elevenlabs.transport" => if settings.websocket {
            "websocket"
        } else {
            "http"
        }
        .to_string(),
        "elevenlabs.base_url" => settings.base_url.clone(),
        "elevenlabs.ca_file" => settings
            .ca_file
            .clone()
            .unwrap_or_else(|| "(none: built-in roots only)".to_string()),
        "output.dir" => settings
            .output_dir
            .clone()
            .unwrap_or_else(|| "(data dir)/mcp-elevenlabs/audio".to_string()),
        "output.delivery" => settings.delivery.as_str().to_string(),
        "output.max_mb" => settings.output_max_mb.to_string(),
        "output.keep_days" => settings.output_keep_days.to_string(),
        "cache.enabled" => settings.cache_enabled.to_string(),
        "usage.enabled" => settings.usage_enabled.to_string(),
        "usage.reset_day" => match settings.usage_reset_day {
            0 | 1 => "1 (calendar months)".to_string(),
            d => d.to_string(),
        },
        "usage.warn_at" => serde_json::to_string(&settings.usage_warn_at).unwrap_or_default(),
        "usage.price_per_1000_characters" => settings.usage_price_micros.map_or_else(
            || "(not set: estimates in credits)".to_string(),
            |m| format!("{}.{:06}", m / 1_000_000, m % 1_000_000),
        ),
        "usage.currency" => settings.usage_currency.clone(),
        "speech.emotion" => settings.emotion.clone(),
        "cache.max_mb" => settings.cache_max_mb.to_string(),
        "player" => {
            if settings.player.is_empty() {
                "[] (auto-detect)".to_string()
            } else {
                serde_json::to_string(&settings.player).unwrap_or_default()
            }
        }
        "fallback.command" => {
            if settings.fallback_command.is_empty() {
                "[] (no fallback voice)".to_string()
            } else {
                serde_json::to_string(&settings.fallback_command).unwrap_or_default()
            }
        }
        "fallback.when" => serde_json::to_string(&settings.fallback_when).unwrap_or_default(),
        "limits.request_timeout_ms" => l.request_timeout_ms.to_string(),
        "limits.max_retries" => l.max_retries.to_string(),
        "limits.call_deadline_ms" => l.call_deadline_ms.to_string(),
        "limits.max_concurrent" => l.max_concurrent.to_string(),
        "limits.requests_per_minute" => l.requests_per_minute.to_string(),
        "limits.characters_per_minute" => l.characters_per_minute.to_string(),
        "limits.breaker_failures" => l.breaker_failures.to_string(),
        "limits.breaker_window_ms" => l.breaker_window_ms.to_string(),
        "limits.breaker_cooldown_ms" => l.breaker_cooldown_ms.to_string(),
        "limits.max_inline_bytes" => l.max_inline_bytes.to_string(),
        "limits.max_text_chars" => l.max_text_chars.to_string(),
        "limits.daily_characters" => budget(l.daily_characters),
        "limits.monthly_characters" => budget(l.monthly_characters),
        "limits.per_call_characters" => budget(l.per_call_characters),
        "http.listen" => settings.http.listen.clone(),
        "http.token" => settings
            .http
            .token
            .as_ref()
            .map_or_else(|| "(not set)".to_string(), ApiKey::masked),
        "http.token_file" => settings
            .http
            .token_file
            .clone()
            .unwrap_or_else(|| "(none)".to_string()),
        "http.allowed_hosts" => names(&settings.http.allowed_hosts, "loopback names only"),
        "http.allowed_origins" => names(&settings.http.allowed_origins, "loopback pages only"),
        "http.max_connections" => settings.http.max_connections.to_string(),
        "http.max_in_flight" => settings.http.max_in_flight.to_string(),
        "http.max_sessions" => settings.http.max_sessions.to_string(),
        "http.session_idle_s" => settings.http.session_idle_s.to_string(),
        "http.idle_timeout_s" => settings.http.idle_timeout_s.to_string(),
        "http.max_body_kb" => settings.http.max_body_kb.to_string(),
        _ => String::new(),
    }
}

fn names(list: &[String], none: &str) -> String {
    if list.is_empty() {
        format!("[] ({none})")
    } else {
        serde_json::to_string(list).unwrap_or_default()
    }
}

fn budget(n: u64) -> String {
    if n == 0 {
        "0 (no budget)".to_string()
    } else {
        n.to_string()
    }
}
