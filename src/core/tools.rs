//! The tool table: names, descriptions, annotations, and argument specs from which both the
//! advertised `inputSchema` and the validation are derived, so the two cannot drift apart.

use super::session::Version;
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

const fn opt(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        doc,
    }
}

const fn req(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        kind,
        required: true,
        doc,
    }
}

/// Honest behaviour hints.
#[derive(Debug)]
pub(crate) struct Hints {
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool,
}

/// A read-only call to the ElevenLabs API.
const READ_ONLY: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: true,
};

/// One tool.
#[derive(Debug)]
pub(crate) struct Tool {
    pub(crate) name: &'static str,
    title: &'static str,
    description: &'static str,
    pub(crate) params: &'static [Param],
    hints: Hints,
    output_schema: Option<fn() -> Value>,
}

/// Output formats the ElevenLabs TTS endpoints accept (`wav_*` is fetched as PCM and wrapped).
pub(crate) const OUTPUT_FORMATS: &[&str] = &[
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_32000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
    "alaw_8000",
    "wav_8000",
    "wav_16000",
    "wav_22050",
    "wav_24000",
    "wav_32000",
    "wav_44100",
    "wav_48000",
];

const UNIT: Kind = Kind::Num { min: 0.0, max: 1.0 };

const VOICE_SETTINGS: &[Param] = &[
    opt("stability", UNIT, ""),
    opt("similarity_boost", UNIT, ""),
    opt("style", UNIT, ""),
    opt("speed", Kind::Num { min: 0.7, max: 1.2 }, ""),
    opt("use_speaker_boost", Kind::Bool, ""),
];

const SPEAK: &[Param] = &[
    req(
        "text",
        Kind::Str,
        "What to say. Markdown, code and URLs are tidied for speech unless raw is true.",
    ),
    opt(
        "voice",
        Kind::Str,
        "Voice id or name. Default: the configured voice.",
    ),
    opt(
        "model",
        Kind::Str,
        "Model id. Default: eleven_flash_v2_5 or as configured.",
    ),
    opt(
        "output_format",
        Kind::OneOf(OUTPUT_FORMATS),
        "mp3_44100_128 (default), mp3_*, opus_48000_*, pcm_*, wav_*, ulaw_8000 or alaw_8000.",
    ),
    opt("language", Kind::Lang, "ISO 639-1 code, e.g. en."),
    opt(
        "voice_settings",
        Kind::Obj(VOICE_SETTINGS),
        "Override the voice's settings.",
    ),
    opt(
        "delivery",
        Kind::Enum(&["file", "inline"]),
        "file: save and link (default). inline: audio in the result.",
    ),
    opt(
        "filename",
        Kind::Str,
        "File name inside the output directory.",
    ),
    opt(
        "seed",
        Kind::Int {
            min: 0,
            max: 4_294_967_295,
        },
        "For repeatable output.",
    ),
    opt("raw", Kind::Bool, "Send text exactly as given."),
];

const LIST_VOICES: &[Param] = &[
    opt("search", Kind::Str, "Match names, descriptions and labels."),
    opt(
        "category",
        Kind::Enum(&["premade", "cloned", "generated", "professional"]),
        "",
    ),
    opt("page_size", Kind::Int { min: 1, max: 100 }, "Default 20."),
    opt("cursor", Kind::Str, "next_cursor from a previous call."),
];

const SET_DEFAULT_VOICE: &[Param] = &[req("voice", Kind::Str, "Voice id or name.")];

/// Every tool, in the stable order `tools/list` shows them.
pub(crate) const TOOLS: &[Tool] = &[
    Tool {
        name: "speak",
        title: "Speak",
        description: "Turn text into speech with ElevenLabs. Spends credits (about one per character). Returns the audio as a saved file or inline.",
        params: SPEAK,
        hints: Hints {
            read_only: false,
            destructive: false,
            idempotent: false,
            open_world: true,
        },
        output_schema: Some(speak_output_schema),
    },
    Tool {
        name: "list_voices",
        title: "List voices",
        description: "Find ElevenLabs voices: id, name, category, labels. Paginated.",
        params: LIST_VOICES,
        hints: READ_ONLY,
        output_schema: None,
    },
    Tool {
        name: "set_default_voice",
        title: "Set default voice",
        description: "Check a voice exists and make it the default for speak. Persists across restarts.",
        params: SET_DEFAULT_VOICE,
        hints: Hints {
            read_only: false,
            destructive: false,
            idempotent: true,
            open_world: true,
        },
        output_schema: None,
    },
    Tool {
        name: "list_models",
        title: "List models",
        description: "Text-to-speech models with their character limits and languages.",
        params: &[],
        hints: READ_ONLY,
        output_schema: None,
    },
    Tool {
        name: "get_usage",
        title: "Get usage",
        description: "Characters used and left this billing period, reset time and plan.",
        params: &[],
        hints: READ_ONLY,
        output_schema: None,
    },
];

/// The `outputSchema` of `speak`: every successful result matches it, whatever the delivery.
pub(crate) fn speak_output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "delivery": {"type": "string", "enum": ["file", "inline", "play"]},
            "path": {"type": "string"},
            "uri": {"type": "string"},
            "mime_type": {"type": "string"},
            "bytes": {"type": "integer", "minimum": 0},
            "duration_ms": {"type": "integer", "minimum": 0},
            "characters": {"type": "integer", "minimum": 0},
            "voice_id": {"type": "string"},
            "model_id": {"type": "string"},
            "request_id": {"type": "string"}
        },
        "required": ["delivery", "mime_type", "bytes", "characters", "voice_id", "model_id"]
    })
}

/// Finds a tool by name.
pub(crate) fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The names of all tools, for error messages.
pub(crate) fn names() -> String {
    TOOLS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
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

fn object_schema(params: &[Param]) -> Map<String, Value> {
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

/// The `tools/list` entry of `tool` as `version` knows it.
pub(crate) fn describe(tool: &Tool, version: Version) -> Value {
    let mut t = Map::new();
    t.insert("name".into(), tool.name.into());
    if version.has_structured() {
        t.insert("title".into(), tool.title.into());
    }
    t.insert("description".into(), tool.description.into());
    t.insert(
        "inputSchema".into(),
        Value::Object(object_schema(tool.params)),
    );
    if version.has_structured() {
        if let Some(schema) = tool.output_schema {
            t.insert("outputSchema".into(), schema());
        }
    }
    if version.has_audio() {
        let h = &tool.hints;
        let mut a = Map::new();
        if !version.has_structured() {
            a.insert("title".into(), tool.title.into());
        }
        a.insert("readOnlyHint".into(), h.read_only.into());
        if !h.read_only {
            a.insert("destructiveHint".into(), h.destructive.into());
            a.insert("idempotentHint".into(), h.idempotent.into());
        }
        a.insert("openWorldHint".into(), h.open_world.into());
        t.insert("annotations".into(), Value::Object(a));
    }
    Value::Object(t)
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
    /// A string argument.
    #[cfg_attr(not(test), allow(dead_code))] // the voice-tools issue reads arguments
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|(n, a)| match a {
            Arg::Str(s) if *n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Validates `arguments` against `tool`, returning every problem at once.
pub(crate) fn validate(tool: &Tool, arguments: Option<&RawValue>) -> Result<Args, String> {
    let mut problems = Vec::new();
    let args = match arguments {
        None => Args::default(),
        Some(raw) if raw.get() == "null" => Args::default(),
        Some(raw) => object(tool.params, raw, "", &mut problems),
    };
    for p in tool.params.iter().filter(|p| p.required) {
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
            "Invalid arguments for `{}`: {}.",
            tool.name,
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
    use super::*;

    fn check(tool: &str, args: &str) -> Result<Args, String> {
        let raw = RawValue::from_string(args.to_string()).unwrap();
        validate(find(tool).unwrap(), Some(&raw))
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
            r#"{"voice":3,"colour":"red","voice_settings":{"speed":2,"pitch":1},"seed":1.5,"delivery":"play","language":"EN"}"#,
        )
        .unwrap_err();
        for needle in [
            "`text` is required",
            "`voice` must be a string (got 3)",
            "`colour` is not an argument",
            "`voice_settings.speed` must be a number from 0.7 to 1.2 (got 2)",
            "`voice_settings.pitch` is not an argument",
            "`seed` must be a whole number",
            "`delivery` must be one of file, inline",
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
            let schema = describe(tool, Version::V2025_11_25);
            let props = schema["inputSchema"]["properties"]
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
