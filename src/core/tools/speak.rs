//! `speak`: text to speech. Fetches the model list (cached) to check the text against the model's
//! limit before anything is spent, resolves a voice name, then streams the audio into a new file
//! or into memory (inline delivery).

use super::super::audio::{self, Format};
use super::super::elevenlabs::{self as api, Model};
use super::super::event::{FileName, Job, Sink, SpeechDone};
use super::super::settings::DEFAULT_VOICE_ID;
use super::super::speech as prepare;
use super::args::{Arg, Args, Kind, Param, opt, req};
use super::voice::{self, Chosen, Lookup};
use super::{Call, Cx, Failure, Hints, Media, Outcome, Reply, Step, Tool};
use serde_json::{Map, Value, json};

pub(super) const TOOL: Tool = Tool {
    name: "speak",
    title: "Speak",
    description: "Turn text into speech with ElevenLabs. Spends credits (about one per character). Returns the audio as a saved file or inline.",
    params: PARAMS,
    hints: Hints {
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
    output_schema: Some(output_schema),
    start: |args| {
        Box::new(Speak {
            args,
            voice: None,
            state: State::Start,
        })
    },
};

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

/// The output format when none is given.
const DEFAULT_FORMAT: &str = "mp3_44100_128";
/// The largest audio stream accepted into a file.
const MAX_AUDIO_FILE: u64 = 512 << 20;

const UNIT: Kind = Kind::Num { min: 0.0, max: 1.0 };

const VOICE_SETTINGS: &[Param] = &[
    opt("stability", UNIT, ""),
    opt("similarity_boost", UNIT, ""),
    opt("style", UNIT, ""),
    opt("speed", Kind::Num { min: 0.7, max: 1.2 }, ""),
    opt("use_speaker_boost", Kind::Bool, ""),
];

const PARAMS: &[Param] = &[
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

/// The `outputSchema` of `speak`: every successful result matches it, whatever the delivery.
fn output_schema() -> Value {
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
            "request_id": {"type": "string"},
            "attempts": {"type": "integer", "minimum": 2},
            "fallback": {"type": "boolean"},
            "fallback_reason": {"type": "string"}
        },
        "required": ["delivery", "mime_type", "bytes", "characters", "voice_id", "model_id"]
    })
}

/// One `speak` call.
#[derive(Debug)]
struct Speak {
    args: Args,
    /// The voice, once known.
    voice: Option<Chosen>,
    state: State,
}

/// What a `speak` call waits for.
#[derive(Debug)]
enum State {
    Start,
    /// `/v1/models`, to check the model and the text's length.
    Models,
    /// The voice a name stands for.
    Voice(Lookup),
    /// The audio, planned as this.
    Audio(Plan),
    /// The offline fallback voice's WAV, because of `why`.
    Fallback {
        why: String,
        inline: bool,
        characters: u64,
    },
}

/// What `speak` decided before spending credits.
#[derive(Debug)]
struct Plan {
    format: Format,
    format_name: String,
    model_id: String,
    characters: u64,
    inline: bool,
    notes: Vec<String>,
}

impl Call for Speak {
    fn tool(&self) -> &'static str {
        TOOL.name
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        match (&mut self.state, reply) {
            (State::Start, None) => {}
            (State::Models, Some(reply)) => {
                let models = api::parse_models(reply.body()?)?;
                cx.memory.models = Some((cx.now, models));
            }
            (State::Voice(lookup), Some(reply)) => match lookup.absorb(&reply)? {
                Some(chosen) => self.voice = Some(chosen),
                // The search widened: ask again.
                None => return Ok(Step::http(lookup.request())),
            },
            (State::Audio(plan), Some(Reply::Speech(done))) => {
                let voice = self.voice.clone().unwrap_or_default();
                return Ok(Step::Done(render(cx, &done, plan, &voice)));
            }
            (
                State::Fallback {
                    why,
                    inline,
                    characters,
                },
                Some(Reply::Speech(done)),
            ) => {
                return Ok(Step::Done(render_fallback(
                    cx,
                    &done,
                    why,
                    *inline,
                    *characters,
                )));
            }
            (_, reply) => return Err(Failure::unexpected(reply.as_ref())),
        }
        self.next(cx)
    }

    fn fallback(&mut self, cx: &mut Cx<'_>, why: &str) -> Option<Step> {
        let settings = &cx.config.settings;
        if settings.fallback_command.is_empty() || matches!(self.state, State::Fallback { .. }) {
            return None;
        }
        let text = self.spoken_text();
        if text.trim().is_empty() {
            return None;
        }
        let delivery = self
            .args
            .str("delivery")
            .unwrap_or(settings.delivery.as_str());
        let inline = delivery == "inline";
        let sink = if inline {
            Sink::Memory {
                max_bytes: settings.limits.max_inline_bytes,
            }
        } else {
            Sink::File {
                name: FileName::Stem {
                    stem: format!("{}-fallback", audio::timestamp(cx.wall_now)),
                    ext: "wav",
                },
                wav: None,
            }
        };
        let characters = text.chars().count() as u64;
        self.state = State::Fallback {
            why: why.to_string(),
            inline,
            characters,
        };
        Some(Step::Job(Job::Fallback {
            argv: settings.fallback_command.clone(),
            text,
            sink,
            max_bytes: MAX_AUDIO_FILE,
            timeout_ms: settings.limits.call_deadline_ms,
        }))
    }
}

impl Speak {
    /// The text as it is sent: tidied for speech unless `raw`.
    fn spoken_text(&self) -> String {
        let given = self.args.str("text").unwrap_or_default();
        if self.args.is_true("raw") {
            given.to_string()
        } else {
            prepare::prepare(given).text
        }
    }

    fn next(&mut self, cx: &mut Cx<'_>) -> Result<Step, Failure> {
        let Some(models) = cx.memory.models(cx.now).cloned() else {
            self.state = State::Models;
            return Ok(Step::http(api::models()));
        };
        if self.voice.is_none() {
            match self.args.str("voice") {
                Some(v) if !voice::looks_like_id(v) => {
                    let lookup = Lookup::new(v);
                    let request = lookup.request();
                    self.state = State::Voice(lookup);
                    return Ok(Step::http(request));
                }
                Some(v) => self.voice = Some((v.to_string(), None)),
                None => {
                    let id = cx.default_voice().unwrap_or(DEFAULT_VOICE_ID).to_string();
                    let name = (id == DEFAULT_VOICE_ID).then(|| "Rachel".to_string());
                    self.voice = Some((id, name));
                }
            }
        }
        match self.plan(cx, &models) {
            Ok((plan, job)) => {
                self.state = State::Audio(plan);
                Ok(Step::Job(job))
            }
            Err(text) => Ok(Step::Done(Outcome::error(text))),
        }
    }

    fn plan(&self, cx: &Cx<'_>, models: &[Model]) -> Result<(Plan, Job), String> {
        let settings = &cx.config.settings;
        let args = &self.args;
        let mut notes = Vec::new();
        let model_id = args.str("model").unwrap_or(&settings.model).to_string();
        let Some(model) = models.iter().find(|m| m.model_id == model_id) else {
            let ids: Vec<&str> = models.iter().map(|m| m.model_id.as_str()).collect();
            return Err(format!(
                "Unknown model `{model_id}`. Text-to-speech models on this account: {}.",
                ids.join(", ")
            ));
        };
        let text = self.spoken_text();
        if text.trim().is_empty() {
            return Err("Nothing left to say once Markdown, code and links were tidied; pass `raw: true` to send the text exactly as given.".into());
        }
        let characters = text.chars().count() as u64;
        if let Some(max) = model.max_characters() {
            if characters > max {
                return Err(format!(
                    "The text is {characters} characters; `{model_id}` accepts at most {max} per call. Shorten it or split it into several calls (nothing was spent)."
                ));
            }
        }
        let format_name = args
            .str("output_format")
            .unwrap_or(DEFAULT_FORMAT)
            .to_string();
        let Some(format) = Format::parse(&format_name) else {
            return Err(format!("Unknown output_format `{format_name}`."));
        };
        let language_code = match args.str("language") {
            Some(lang) if model.takes_language() => Some(lang.to_string()),
            Some(lang) => {
                notes.push(format!(
                    "`language: {lang}` was dropped: `{model_id}` detects the language itself"
                ));
                None
            }
            None => None,
        };
        let mut voice_settings = Map::new();
        if let Some(Arg::Obj(obj)) = args.get("voice_settings") {
            for (name, value) in &obj.0 {
                let v = match value {
                    Arg::Num(n) => json!(n),
                    Arg::Bool(b) => json!(b),
                    Arg::Int(i) => json!(i),
                    Arg::Str(s) => json!(s),
                    Arg::Obj(_) => continue,
                };
                voice_settings.insert((*name).to_string(), v);
            }
        }
        let seed = args.int("seed").and_then(|n| u32::try_from(n).ok());
        let delivery = args.str("delivery").unwrap_or(settings.delivery.as_str());
        let inline = match delivery {
            "inline" => true,
            "file" => false,
            _ => return Err("`delivery: play` arrives with audio playback in a later release; use `file` or `inline`.".into()),
        };
        let (voice_id, voice_name) = self.voice.clone().unwrap_or_default();
        let speech = api::Speech {
            text,
            model_id: model_id.clone(),
            language_code,
            voice_settings,
            seed,
        };
        let request = api::speech_stream(&voice_id, &format.wire_name(), &speech);
        let sink = if inline {
            Sink::Memory {
                max_bytes: settings.limits.max_inline_bytes,
            }
        } else {
            let name = match args.str("filename") {
                Some(f) => FileName::Exact(file_name(f, format)?),
                None => {
                    let label = voice_name
                        .as_deref()
                        .map_or_else(|| voice_id.chars().take(8).collect(), audio::slug);
                    FileName::Stem {
                        stem: format!("{}-{label}", audio::timestamp(cx.wall_now)),
                        ext: format.extension(),
                    }
                }
            };
            Sink::File {
                name,
                wav: format.wrapped_in_wav().then_some(format),
            }
        };
        let plan = Plan {
            format,
            format_name,
            model_id,
            characters,
            inline,
            notes,
        };
        let job = Job::Speech {
            request,
            sink,
            max_bytes: MAX_AUDIO_FILE,
        };
        Ok((plan, job))
    }
}

fn render(cx: &Cx<'_>, done: &SpeechDone, plan: &Plan, voice: &Chosen) -> Outcome {
    let (voice_id, voice_name) = voice;
    let duration = plan.format.duration_ms(done.data_bytes);
    let mime = plan.format.mime();
    let mut structured = Map::new();
    structured.insert(
        "delivery".into(),
        if plan.inline { "inline" } else { "file" }.into(),
    );
    structured.insert("mime_type".into(), mime.into());
    structured.insert("bytes".into(), done.total_bytes.into());
    if let Some(d) = duration {
        structured.insert("duration_ms".into(), d.into());
    }
    structured.insert("characters".into(), plan.characters.into());
    structured.insert("voice_id".into(), voice_id.clone().into());
    structured.insert("model_id".into(), plan.model_id.clone().into());
    if let Some(rid) = done.head.header("request-id") {
        structured.insert("request_id".into(), rid.into());
    }
    let seconds = duration
        .map(|d| format!("{:.1} s of ", d as f64 / 1000.0))
        .unwrap_or_default();
    let who = voice_name.clone().unwrap_or_else(|| voice_id.clone());
    let notes = if plan.notes.is_empty() {
        String::new()
    } else {
        format!(" Note: {}.", plan.notes.join("; "))
    };
    let (text, media) = if plan.inline {
        let data = done.data.clone().unwrap_or_default();
        let data = if plan.format.wrapped_in_wav() {
            let mut wav = plan
                .format
                .wav_header(u32::try_from(data.len()).unwrap_or(u32::MAX))
                .to_vec();
            wav.extend_from_slice(&data);
            wav
        } else {
            data
        };
        structured.insert("bytes".into(), (data.len() as u64).into());
        let text = format!(
            "Spoke {seconds}audio with {who} ({}, {} characters billed).{notes}",
            plan.format_name, plan.characters
        );
        (text, Media::Inline { data, mime })
    } else {
        let (file, path) = saved(cx, done, &mut structured);
        let text = format!(
            "Saved {seconds}audio with {who} to {path} ({} bytes, {} characters billed).{notes}",
            done.total_bytes, plan.characters
        );
        let media = Media::File {
            name: file,
            mime,
            size: done.total_bytes,
        };
        (text, media)
    };
    Outcome {
        media: Some(media),
        ..Outcome::ok(text, Value::Object(structured))
    }
}

/// The result of speaking with the offline fallback voice.
fn render_fallback(
    cx: &Cx<'_>,
    done: &SpeechDone,
    why: &str,
    inline: bool,
    characters: u64,
) -> Outcome {
    let program = cx
        .config
        .settings
        .fallback_command
        .first()
        .cloned()
        .unwrap_or_default();
    let mime = "audio/wav";
    let mut structured = Map::new();
    structured.insert(
        "delivery".into(),
        if inline { "inline" } else { "file" }.into(),
    );
    structured.insert("mime_type".into(), mime.into());
    structured.insert("bytes".into(), done.total_bytes.into());
    structured.insert("characters".into(), characters.into());
    structured.insert("voice_id".into(), "fallback".into());
    structured.insert("model_id".into(), program.clone().into());
    structured.insert("fallback".into(), true.into());
    structured.insert("fallback_reason".into(), why.into());
    let lead = format!(
        "ElevenLabs could not speak this, so the offline fallback voice (`{program}`) did; nothing was billed. Why: {why}"
    );
    let (text, media) = if inline {
        let data = done.data.clone().unwrap_or_default();
        (
            format!("{lead} The WAV is inline."),
            Media::Inline { data, mime },
        )
    } else {
        let (file, path) = saved(cx, done, &mut structured);
        let text = format!("{lead} Saved to {path} ({} bytes).", done.total_bytes);
        (
            text,
            Media::File {
                name: file,
                mime,
                size: done.total_bytes,
            },
        )
    };
    Outcome {
        media: Some(media),
        ..Outcome::ok(text, Value::Object(structured))
    }
}

/// The saved file's name and path, noted in `structured` (`path`, `uri`).
fn saved(cx: &Cx<'_>, done: &SpeechDone, structured: &mut Map<String, Value>) -> (String, String) {
    let file = done.file.clone().unwrap_or_default();
    let sep = std::path::MAIN_SEPARATOR;
    let path = format!("{}{sep}{file}", cx.config.output_dir);
    structured.insert("path".into(), path.clone().into());
    structured.insert("uri".into(), format!("audio://{file}").into());
    (file, path)
}

/// A `filename` argument made into a safe file name with the format's extension.
fn file_name(given: &str, format: Format) -> Result<String, String> {
    let ext = format.extension();
    // The alphabet `audio://{id}` accepts, so every saved file can be read back.
    let ok = given.len() <= 200
        && !given.starts_with('.')
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(format!(
            "`filename` must be a plain file name (letters, digits, `.`, `_`, `-`; no spaces or directories), e.g. \"greeting.{ext}\"."
        ));
    }
    match given.rsplit_once('.') {
        Some((_, e)) if e.eq_ignore_ascii_case(ext) => Ok(given.to_string()),
        Some((_, e))
            if ["mp3", "wav", "opus", "ogg", "pcm"].contains(&e.to_ascii_lowercase().as_str()) =>
        {
            Err(format!(
                "`filename` ends in .{e} but the audio will be .{ext}: use \"{}.{ext}\" or change output_format.",
                given.rsplit_once('.').map_or(given, |(stem, _)| stem)
            ))
        }
        _ => Ok(format!("{given}.{ext}")),
    }
}
