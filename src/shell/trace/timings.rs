//! Word timings in a trace: the characters (masked like any text), their times, and where
//! each piece of a long text starts.

use super::codec::{Res, field, str_at};
use super::scrub::Redactor;
use crate::core::{Alignment, Join};
use serde_json::{Value, json};

/// A timed request's character timings (the characters masked as any text).
pub(super) fn encode(a: &Alignment, r: &Redactor) -> Value {
    let Alignment {
        chars,
        start_ms,
        end_ms,
        joins,
    } = a;
    let mut v = json!({
        "chars": r.string(&chars.iter().collect::<String>()),
        "start_ms": start_ms,
        "end_ms": end_ms,
    });
    if !joins.is_empty() {
        let list: Vec<Value> = joins
            .iter()
            .map(|j| json!([j.char, j.audio_bytes]))
            .collect();
        v["joins"] = list.into();
    }
    v
}

/// [`encode`] read back.
pub(super) fn decode(v: &Value, p: &str) -> Res<Alignment> {
    let ms = |k: &str| -> Res<Vec<u32>> {
        field(v, p, k)?
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
                    .collect()
            })
            .ok_or_else(|| format!("{p}.{k}: expected a list of milliseconds"))
    };
    // Only long texts have joins: `[[char, audio_bytes], …]`.
    let joins = match v.get("joins") {
        None => Vec::new(),
        Some(j) => j
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|pair| {
                        let char = usize::try_from(pair.get(0)?.as_u64()?).ok()?;
                        let audio_bytes = pair.get(1)?.as_u64()?;
                        Some(Join { char, audio_bytes })
                    })
                    .collect()
            })
            .ok_or_else(|| format!("{p}.joins: expected a list of [char, audio_bytes]"))?,
    };
    Ok(Alignment {
        chars: str_at(v, p, "chars")?.chars().collect(),
        start_ms: ms("start_ms")?,
        end_ms: ms("end_ms")?,
        joins,
    })
}
