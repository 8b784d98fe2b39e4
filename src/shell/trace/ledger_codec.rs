//! The trace's form of the usage ledger's jobs and results: rows, reservations and reports
//! (voice ids are redacted like the rest; rows never hold text).

use super::codec::{Res, field, str_at, u64_at, unknown, variant};
use super::scrub::Redactor;
use crate::core::Job;
use crate::core::usage::{Refusal, Reserved, Summary, Totals, Used};
use serde_json::{Value, json};

/// A ledger job (`Record`, `Reserve`, `Release`, `Report`); `Null` for any other.
pub(super) fn encode_job(job: &Job, r: &Redactor) -> Value {
    match job {
        Job::Record(row) => {
            let mut v = json!({"record": {
                "tool": row.tool,
                "model": row.model,
                "voice": r.string(&row.voice),
                "characters": row.characters,
                "billed": row.billed,
                "audio_bytes": row.audio_bytes,
                "cached": row.cached,
                "fallback": row.fallback,
                "outcome": row.outcome,
            }});
            if let Some(id) = row.reservation {
                v["record"]["reservation"] = id.into();
            }
            v
        }
        Job::Reserve(q) => json!({"reserve": {
            "characters": q.characters,
            "budgets": [q.budgets.daily, q.budgets.monthly, q.budgets.per_call],
            "day": q.day.start,
            "month": [q.month.start, q.month.end],
        }}),
        Job::Release(id) => json!({"release": id}),
        Job::Report(ask) => {
            json!({"report": {"day": ask.day, "month": ask.month, "account": ask.account}})
        }
        _ => Value::Null,
    }
}

pub(super) fn encode_reserved(v: &Reserved) -> Value {
    match v {
        Reserved::Held { id, used } => {
            json!({"held": {"id": id, "day": used.day, "month": used.month}})
        }
        Reserved::Refused(f) => json!({"refused": {
            "key": f.key, "limit": f.limit, "used": f.used, "asked": f.asked,
            "resets": f.resets,
        }}),
    }
}

fn encode_totals(t: &Totals) -> Value {
    json!([
        t.calls,
        t.billed,
        t.characters,
        t.cached,
        t.failures,
        t.fallbacks
    ])
}

fn decode_totals(v: &Value, p: &str) -> Res<Totals> {
    let n: Vec<u64> = v
        .as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .filter(|n: &Vec<u64>| n.len() == 6)
        .ok_or_else(|| format!("{p}: expected six counts"))?;
    Ok(Totals {
        calls: n[0],
        billed: n[1],
        characters: n[2],
        cached: n[3],
        failures: n[4],
        fallbacks: n[5],
    })
}

pub(super) fn encode_summary(s: &Summary, r: &Redactor) -> Value {
    let groups = |g: &[(String, Totals)]| -> Vec<Value> {
        g.iter()
            .map(|(k, t)| json!([r.string(k), encode_totals(t)]))
            .collect()
    };
    json!({
        "day": encode_totals(&s.day),
        "month": encode_totals(&s.month),
        "account": s.account.as_ref().map(encode_totals),
        "held": s.held,
        "by_model": groups(&s.by_model),
        "by_voice": groups(&s.by_voice),
    })
}

pub(super) fn decode_summary(v: &Value, p: &str) -> Res<Summary> {
    let groups = |k: &str| -> Res<Vec<(String, Totals)>> {
        field(v, p, k)?
            .as_array()
            .ok_or_else(|| format!("{p}.{k}: expected a list"))?
            .iter()
            .map(|g| {
                let name = g[0]
                    .as_str()
                    .ok_or_else(|| format!("{p}.{k}: expected a name"))?;
                Ok((name.to_string(), decode_totals(&g[1], p)?))
            })
            .collect()
    };
    Ok(Summary {
        day: decode_totals(field(v, p, "day")?, p)?,
        month: decode_totals(field(v, p, "month")?, p)?,
        account: match v.get("account") {
            None | Some(Value::Null) => None,
            Some(a) => Some(decode_totals(a, p)?),
        },
        held: u64_at(v, p, "held")?,
        by_model: groups("by_model")?,
        by_voice: groups("by_voice")?,
    })
}

pub(super) fn decode_reserved(v: &Value, p: &str) -> Res<Reserved> {
    Ok(match variant(v, p)? {
        ("held", b) => Reserved::Held {
            id: i64::try_from(u64_at(b, p, "id")?).map_err(|e| format!("{p}.id: {e}"))?,
            used: Used {
                day: u64_at(b, p, "day")?,
                month: u64_at(b, p, "month")?,
            },
        },
        ("refused", b) => Reserved::Refused(Refusal {
            key: match str_at(b, p, "key")? {
                "limits.daily_characters" => "limits.daily_characters",
                "limits.monthly_characters" => "limits.monthly_characters",
                "limits.per_call_characters" => "limits.per_call_characters",
                other => return unknown(p, other),
            },
            limit: u64_at(b, p, "limit")?,
            used: u64_at(b, p, "used")?,
            asked: u64_at(b, p, "asked")?,
            resets: b.get("resets").and_then(Value::as_u64),
        }),
        (other, _) => return unknown(p, other),
    })
}
