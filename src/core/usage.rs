//! The usage ledger's rows as data: what a call that could spend is recorded as (never the
//! spoken text, never the key). The shell writes them (`shell/ledger.rs`, feature `usage-db`).

use serde_json::Value;

/// One call that could spend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageRow {
    /// When it ended, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The tool.
    pub tool: String,
    /// The model (empty if the call never got that far).
    pub model: String,
    /// The voice id.
    pub voice: String,
    /// Characters sent to be spoken.
    pub characters: u64,
    /// Characters billed: ElevenLabs' `character-cost`, else the characters sent; 0 for a cache
    /// hit, the fallback voice and a failure.
    pub billed: u64,
    /// ElevenLabs' `request-id`.
    pub request_id: Option<String>,
    /// Audio bytes delivered.
    pub audio_bytes: u64,
    /// The audio's length, when known.
    pub duration_ms: Option<u64>,
    /// Served from the audio cache.
    pub cached: bool,
    /// Spoken by the offline fallback voice.
    pub fallback: bool,
    /// `ok`, `error`, or `playing` (answered when playback started).
    pub outcome: &'static str,
    /// From the call's start to its answer.
    pub latency_ms: u64,
}

/// The row of a finished `speak` from its result: `structured` is its `structuredContent`
/// (absent for an error).
pub fn speak_row(
    structured: Option<&Value>,
    is_error: bool,
    unix_ms: u64,
    latency_ms: u64,
) -> UsageRow {
    let empty = Value::Null;
    let s = structured.unwrap_or(&empty);
    let text = |k: &str| {
        s.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let num = |k: &str| s.get(k).and_then(Value::as_u64);
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    let cached = flag("cached");
    let fallback = s
        .get("fallback")
        .is_some_and(|f| !f.is_null() && f != false);
    let characters = num("characters").unwrap_or(0);
    let spent = !(is_error || cached || fallback);
    let outcome = if is_error {
        "error"
    } else if flag("playing") {
        "playing"
    } else {
        "ok"
    };
    UsageRow {
        unix_ms,
        tool: "speak".into(),
        model: text("model_id"),
        voice: text("voice_id"),
        characters,
        billed: if spent {
            num("billed_characters").unwrap_or(characters)
        } else {
            0
        },
        request_id: s
            .get("request_id")
            .and_then(Value::as_str)
            .map(String::from),
        audio_bytes: num("bytes").unwrap_or(0),
        duration_ms: num("duration_ms").or_else(|| num("estimated_duration_ms")),
        cached,
        fallback,
        outcome,
        latency_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_of_speak_results() {
        let fresh = json!({"delivery": "file", "characters": 12, "billed_characters": 6,
            "model_id": "eleven_flash_v2_5", "voice_id": "v1", "request_id": "req_3",
            "bytes": 4096, "duration_ms": 256});
        let r = speak_row(Some(&fresh), false, 1_000, 40);
        assert_eq!((r.characters, r.billed, r.outcome), (12, 6, "ok"));
        assert_eq!(
            (r.request_id.as_deref(), r.audio_bytes, r.duration_ms),
            (Some("req_3"), 4096, Some(256))
        );
        let cached = json!({"characters": 12, "cached": true});
        assert_eq!(speak_row(Some(&cached), false, 0, 0).billed, 0);
        let fallback = json!({"characters": 12, "fallback": "espeak-ng"});
        assert!(speak_row(Some(&fallback), false, 0, 0).fallback);
        assert_eq!(speak_row(Some(&fallback), false, 0, 0).billed, 0);
        let no_header = json!({"characters": 9});
        assert_eq!(speak_row(Some(&no_header), false, 0, 0).billed, 9);
        let failed = speak_row(None, true, 0, 0);
        assert_eq!((failed.billed, failed.outcome), (0, "error"));
        let playing = json!({"characters": 5, "playing": true, "estimated_duration_ms": 900});
        let p = speak_row(Some(&playing), false, 0, 0);
        assert_eq!((p.outcome, p.duration_ms), ("playing", Some(900)));
    }
}
