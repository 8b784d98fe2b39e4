//! Tool arguments: the specs from which both the advertised `inputSchema` and the validation are
//! derived, so the two cannot drift apart, and the validated [`Args`] a call starts with.

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The kind of one argument.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Str,
    /// A string from a fixed list, advertised as a JSON Schema `enum`.
    Enum(&'static [&'static str]),
    /// A string from a list too long to advertise; the description names examples.
    OneOf(&'static [&'static str]),
    /// An ISO 639-1 language code.
    Lang,
    Int {
        min: i64,
        max: i64,
    },
    Num {
        min: f64,
        max: f64,
    },
    Bool,
    Obj(&'static [Param]),
}

/// One argument.
#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) required: bool,
    pub(crate) doc: &'static str,
}

pub(crate) const fn opt(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        doc,
    }
}

pub(crate) const fn req(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        kind,
        required: true,
        doc,
    }
}

fn param_schema(p: &Param) -> Value {
    let mut s = Map::new();
    match p.kind {
        Kind::Str | Kind::OneOf(_) => {
            s.insert("type".into(), "string".into());
        }
        Kind::Lang => {
            s.insert("type".into(), "string".into());
            s.insert("pattern".into(), "^[a-z]{2}$".into());
        }
        Kind::Enum(values) => {
            s.insert("type".into(), "string".into());
            s.insert("enum".into(), json!(values));
        }
        Kind::Int { min, max } => {
            s.insert("type".into(), "integer".into());
            s.insert("minimum".into(), min.into());
            s.insert("maximum".into(), max.into());
        }
        Kind::Num { min, max } => {
            s.insert("type".into(), "number".into());
            s.insert("minimum".into(), min.into());
            s.insert("maximum".into(), max.into());
        }
        Kind::Bool => {
            s.insert("type".into(), "boolean".into());
        }
        Kind::Obj(params) => {
            s = object_schema(params);
        }
    }
    if !p.doc.is_empty() {
        s.insert("description".into(), p.doc.into());
    }
    Value::Object(s)
}

pub(crate) fn object_schema(params: &[Param]) -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("type".into(), "object".into());
    if !params.is_empty() {
        let props: Map<String, Value> = params
            .iter()
            .map(|p| (p.name.to_string(), param_schema(p)))
            .collect();
        s.insert("properties".into(), Value::Object(props));
        let required: Vec<&str> = params
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        if !required.is_empty() {
            s.insert("required".into(), json!(required));
        }
    }
    s.insert("additionalProperties".into(), false.into());
    s
}

/// A validated argument value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    Obj(Args),
}

/// Validated arguments: only known names, right types, in range; blanks dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Args(pub(crate) Vec<(&'static str, Arg)>);

impl Args {
    /// An argument by name.
    pub(crate) fn get(&self, name: &str) -> Option<&Arg> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }

    /// A string argument.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Arg::Str(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// A whole-number argument.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Arg::Int(n)) => Some(*n),
            _ => None,
        }
    }

    /// A boolean argument that is present and true.
    pub(crate) fn is_true(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Arg::Bool(true)))
    }
}

/// Validates the `arguments` of tool `tool` against its `params`, returning every problem at once.
pub(crate) fn validate(
    tool: &str,
    params: &'static [Param],
    arguments: Option<&RawValue>,
) -> Result<Args, String> {
    let mut problems = Vec::new();
    let args = match arguments {
        None => Args::default(),
        Some(raw) if raw.get() == "null" => Args::default(),
        Some(raw) => object(params, raw, "", &mut problems),
    };
    for p in params.iter().filter(|p| p.required) {
        if !args.0.iter().any(|(n, _)| *n == p.name)
            && !problems
                .iter()
                .any(|m: &String| m.starts_with(&format!("`{}`", p.name)))
        {
            problems.push(format!("`{}` is required: {}", p.name, p.doc));
        }
    }
    if problems.is_empty() {
        Ok(args)
    } else {
        Err(format!(
            "Invalid arguments for `{tool}`: {}.",
            problems.join("; ")
        ))
    }
}

fn object(
    params: &'static [Param],
    raw: &RawValue,
    prefix: &str,
    problems: &mut Vec<String>,
) -> Args {
    let Ok(map) = serde_json::from_str::<BTreeMap<Cow<'_, str>, &RawValue>>(raw.get()) else {
        let what = if prefix.is_empty() {
            "arguments".to_string()
        } else {
            format!("`{}`", prefix.trim_end_matches('.'))
        };
        problems.push(format!("{what} must be an object"));
        return Args::default();
    };
    let mut args = Args::default();
    for (name, value) in &map {
        let Some(p) = params.iter().find(|p| p.name == name) else {
            let known: Vec<&str> = params.iter().map(|p| p.name).collect();
            let shown: String = name.chars().take(40).collect();
            problems.push(format!(
                "`{prefix}{shown}` is not an argument (expected: {})",
                known.join(", ")
            ));
            continue;
        };
        if let Some(arg) = one(p, value, prefix, problems) {
            args.0.push((p.name, arg));
        }
    }
    args.0
        .sort_by_key(|(n, _)| params.iter().position(|p| p.name == *n));
    args
}

fn one(p: &'static Param, raw: &RawValue, prefix: &str, problems: &mut Vec<String>) -> Option<Arg> {
    let text = raw.get();
    let path = format!("{prefix}{}", p.name);
    if text == "null" {
        return None;
    }
    // Numbers and booleans are echoed; strings and structures only by kind, so a secret pasted
    // into the wrong argument is never repeated back.
    let shown = || match text.as_bytes().first() {
        Some(b'"') => "a string".to_string(),
        Some(b'[') => "an array".to_string(),
        Some(b'{') => "an object".to_string(),
        _ => text.chars().take(24).collect(),
    };
    let mut fail = |want: String| {
        problems.push(format!("`{path}` must be {want} (got {})", shown()));
        None
    };
    match p.kind {
        Kind::Str | Kind::Enum(_) | Kind::OneOf(_) | Kind::Lang => {
            let Ok(s) = serde_json::from_str::<String>(text) else {
                return fail("a string".into());
            };
            if s.is_empty() {
                if p.required {
                    problems.push(format!("`{path}` must not be empty"));
                }
                return None;
            }
            match p.kind {
                Kind::Enum(values) | Kind::OneOf(values) if !values.contains(&s.as_str()) => {
                    fail(format!("one of {}", values.join(", ")))
                }
                Kind::Lang if !(s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase())) => {
                    fail("a two-letter ISO 639-1 code such as en, de or ja".into())
                }
                _ => Some(Arg::Str(s)),
            }
        }
        Kind::Int { min, max } => match serde_json::from_str::<f64>(text) {
            Ok(v) if v.fract() == 0.0 && v >= min as f64 && v <= max as f64 => {
                Some(Arg::Int(v as i64))
            }
            _ => fail(format!("a whole number from {min} to {max}")),
        },
        Kind::Num { min, max } => match serde_json::from_str::<f64>(text) {
            Ok(v) if v >= min && v <= max => Some(Arg::Num(v)),
            _ => fail(format!("a number from {min} to {max}")),
        },
        Kind::Bool => match serde_json::from_str::<bool>(text) {
            Ok(b) => Some(Arg::Bool(b)),
            Err(_) => fail("true or false".into()),
        },
        Kind::Obj(params) => Some(Arg::Obj(object(params, raw, &format!("{path}."), problems))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{TOOLS, find};
    use super::*;

    fn check(tool: &str, args: &str) -> Result<Args, String> {
        let raw = RawValue::from_string(args.to_string()).unwrap();
        validate(tool, find(tool).unwrap().params, Some(&raw))
    }

    #[test]
    fn valid_speak_arguments() {
        let args = check(
            "speak",
            r#"{"text":"hi","voice":"","seed":7,"voice_settings":{"speed":1.1,"use_speaker_boost":true},"output_format":"pcm_24000"}"#,
        )
        .unwrap();
        assert_eq!(args.str("text"), Some("hi"));
        assert_eq!(args.str("voice"), None, "empty optional string is absent");
        assert_eq!(args.0.len(), 4);
    }

    #[test]
    fn every_problem_named() {
        let err = check(
            "speak",
            r#"{"voice":3,"colour":"red","voice_settings":{"speed":2,"pitch":1},"seed":1.5,"delivery":"speaker","language":"EN"}"#,
        )
        .unwrap_err();
        for needle in [
            "`text` is required",
            "`voice` must be a string (got 3)",
            "`colour` is not an argument",
            "`voice_settings.speed` must be a number from 0.7 to 1.2 (got 2)",
            "`voice_settings.pitch` is not an argument",
            "`seed` must be a whole number",
            "`delivery` must be one of auto, play, file, inline",
            "`language` must be a two-letter",
        ] {
            assert!(err.contains(needle), "{needle} not in {err}");
        }
    }

    #[test]
    fn empty_required_and_non_object() {
        assert!(
            check("speak", r#"{"text":""}"#)
                .unwrap_err()
                .contains("`text` must not be empty")
        );
        assert!(
            check("speak", "[1]")
                .unwrap_err()
                .contains("arguments must be an object")
        );
        assert!(check("list_models", "{}").is_ok());
        assert!(check("list_models", r#"{"x":1}"#).is_err());
    }

    #[test]
    fn schema_and_validation_agree_on_names() {
        for tool in TOOLS {
            let schema = Value::Object(object_schema(tool.params));
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let names: Vec<&str> = tool.params.iter().map(|p| p.name).collect();
            assert_eq!(
                props.keys().map(String::as_str).collect::<Vec<_>>().len(),
                names.len()
            );
            for n in names {
                assert!(props.contains_key(n));
            }
        }
    }
}
