//! `speak`: text to speech. Fetches the model list (cached) to check the text against the model's
//! limit before anything is spent, resolves a voice name, then streams the audio into a new file
//! or into memory (inline delivery).

mod plan;
mod render;

use super::super::audio::{self, Format};
use super::super::cache::CacheKey;
use super::super::elevenlabs::{self as api, Model};
use super::super::event::{FileName, Job, More, Sink};
use super::super::settings::DEFAULT_VOICE_ID;
use super::args::{Args, Kind, Param, opt, req};
use super::voice::{self, Chosen, Lookup};
use super::{Call, Cx, Failure, Hints, Outcome, Reply, Step, Tool};
use plan::{Out, sink, spoken_text, wanted};
use render::{render, render_fallback, render_playing};
use serde_json::{Value, json};

pub(super) const TOOL: Tool = Tool {
    name: "speak",
    title: "Speak",
    description: "Say text aloud with ElevenLabs: plays here, or saves a file. About one credit per character.",
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
            cache: CacheUse::Unasked,
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

/// The output format when none is given (and no player wants another).
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
        "What to say. Markdown, code and URLs are tidied unless raw.",
    ),
    opt("voice", Kind::Str, "Voice id or name."),
    opt("model", Kind::Str, "Model id."),
    opt(
        "output_format",
        Kind::OneOf(OUTPUT_FORMATS),
        "Default: mp3_44100_128.",
    ),
    opt("language", Kind::Lang, "ISO 639-1 code, e.g. en."),
    opt("voice_settings", Kind::Obj(VOICE_SETTINGS), ""),
    opt(
        "delivery",
        Kind::Enum(&["auto", "play", "file", "inline"]),
        "auto: play if possible, else file.",
    ),
    opt("wait", Kind::Bool, "play: answer when playback ends."),
    opt("filename", Kind::Str, "Name of the saved file."),
    opt(
        "seed",
        Kind::Int {
            min: 0,
            max: 4_294_967_295,
        },
        "For repeatable output.",
    ),
    opt("raw", Kind::Bool, "Send text exactly as given."),
    opt("alignment", Kind::Bool, "Word timings."),
    #[cfg(feature = "emotion")]
    opt(
        "emotion",
        Kind::Enum(super::super::settings::EMOTIONS),
        "Tone; auto (default) reads the text.",
    ),
];

/// The `outputSchema` of `speak`: every successful result matches it, whatever the delivery.
/// Fields a result has only sometimes (`uri`, `request_id`, `attempts`, `cached`, `playing`,
/// `estimated_duration_ms`, `not_played`, `fallback`, `fallback_reason`) are allowed without
/// being listed, to keep `tools/list` small (README lists them).
fn output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "delivery": {"type": "string", "enum": ["file", "inline", "play"]},
            "path": {"type": "string"},
            "mime_type": {"type": "string"},
            "bytes": {"type": "integer"},
            "duration_ms": {"type": "integer"},
            "characters": {"type": "integer"},
            "voice_id": {"type": "string"},
            "model_id": {"type": "string"}
        },
        "required": ["delivery", "mime_type", "characters", "voice_id", "model_id"]
    })
}

/// One `speak` call.
#[derive(Debug)]
struct Speak {
    args: Args,
    /// The voice, once known.
    voice: Option<Chosen>,
    /// What the cache said.
    cache: CacheUse,
    state: State,
}

/// The cache, for one call.
#[derive(Debug, Clone, Copy)]
enum CacheUse {
    /// Not asked yet.
    Unasked,
    /// Not there: the audio is stored under this key as it arrives.
    Missed(CacheKey),
    /// Off, or the call never got as far as asking.
    Off,
}

/// What a `speak` call waits for.
#[derive(Debug)]
enum State {
    Start,
    /// The cache entry of this request, which would be served as planned.
    Cached(Plan),
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
    /// What they cost when ElevenLabs does not say (from `/v1/models`; unknown for a cache
    /// lookup, which costs nothing).
    cost: Option<u64>,
    out: Out,
    notes: Vec<String>,
    /// What the tone set (feature `emotion`).
    emotion: Option<Value>,
}

impl Call for Speak {
    fn tool(&self) -> &'static str {
        TOOL.name
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        match (&mut self.state, reply) {
            (State::Start, None) => {}
            (State::Cached(_), Some(Reply::Cached(Some(done)))) => {
                let voice = self.given_voice(cx);
                if let State::Cached(plan) = &self.state {
                    return Ok(Step::Done(render(cx, &done, plan, &voice, true)));
                }
            }
            (State::Cached(_), Some(Reply::Cached(None))) => {}
            (State::Cached(plan) | State::Audio(plan), Some(Reply::Playing { request_id })) => {
                if let Out::Play { wait: true, .. } = plan.out {
                    return Ok(Step::Pending);
                }
                let voice = match &self.voice {
                    Some(v) => v.clone(),
                    None => self.given_voice(cx),
                };
                let cached = matches!(self.state, State::Cached(_));
                if let State::Cached(plan) | State::Audio(plan) = &self.state {
                    return Ok(Step::Done(render_playing(plan, &voice, request_id, cached)));
                }
            }
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
                if done.player_failed.is_some() {
                    cx.memory.player_failed.clone_from(&done.player_failed);
                }
                let voice = self.voice.clone().unwrap_or_default();
                return Ok(Step::Done(render(cx, &done, plan, &voice, false)));
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

    fn plays(&self, cx: &Cx<'_>) -> bool {
        // What `wanted` decides (a player found and working, a format it plays, valid text).
        wanted(&self.args, cx).is_ok_and(|w| matches!(w.out, Out::Play { .. }))
    }

    fn fallback(&mut self, cx: &mut Cx<'_>, why: &str) -> Option<Step> {
        let settings = &cx.config.settings;
        if settings.fallback_command.is_empty() || matches!(self.state, State::Fallback { .. }) {
            return None;
        }
        let text = spoken_text(&self.args);
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
    /// The voice as the arguments give it (an id or a name), or the default voice.
    fn given_voice(&self, cx: &Cx<'_>) -> Chosen {
        match self.args.str("voice") {
            Some(v) if voice::looks_like_id(v) => (v.to_string(), None),
            Some(v) => (v.to_string(), Some(v.to_string())),
            None => {
                let id = cx.default_voice().unwrap_or(DEFAULT_VOICE_ID).to_string();
                let name = (id == DEFAULT_VOICE_ID).then(|| "Rachel".to_string());
                (id, name)
            }
        }
    }

    fn next(&mut self, cx: &mut Cx<'_>) -> Result<Step, Failure> {
        if let CacheUse::Unasked = self.cache {
            self.cache = CacheUse::Off;
            // A timed request is not cached: the entries keep audio, not timings.
            let timed = self.args.is_true("alignment");
            if cfg!(feature = "cache") && cx.config.settings.cache_enabled && !timed {
                return Ok(match self.ask_cache(cx) {
                    Ok(step) => step,
                    Err(text) => Step::Done(Outcome::error(text)),
                });
            }
        }
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
                _ => {
                    let (id, name) = self.given_voice(cx);
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

    /// Asks the cache for this request's audio, before anything else: a hit sends no request
    /// (not even for the model list) and so plays with the network down.
    fn ask_cache(&mut self, cx: &Cx<'_>) -> Result<Step, String> {
        let w = wanted(&self.args, cx)?;
        let (voice_id, voice_name) = self.given_voice(cx);
        let settings_json = Value::Object(w.voice_settings.clone()).to_string();
        let seed = w.seed.map(|s| s.to_string()).unwrap_or_default();
        let key = CacheKey::of(&[
            &w.text,
            &voice_id,
            &w.model_id,
            w.language.as_deref().unwrap_or_default(),
            &settings_json,
            &w.format.wire_name(),
            &seed,
        ]);
        let sink = sink(&self.args, cx, &w, &voice_id, voice_name.as_deref())?;
        self.cache = CacheUse::Missed(key);
        self.state = State::Cached(Plan {
            format: w.format,
            format_name: w.format_name,
            model_id: w.model_id,
            characters: w.characters,
            cost: None,
            out: w.out,
            notes: w.notes,
            emotion: w.emotion,
        });
        Ok(Step::Job(Job::CacheRead {
            key,
            sink,
            max_bytes: MAX_AUDIO_FILE,
        }))
    }

    fn plan(&self, cx: &Cx<'_>, models: &[Model]) -> Result<(Plan, Job), String> {
        let w = wanted(&self.args, cx)?;
        let mut notes = w.notes.clone();
        let model_id = w.model_id.clone();
        let Some(model) = models.iter().find(|m| m.model_id == model_id) else {
            let ids: Vec<&str> = models.iter().map(|m| m.model_id.as_str()).collect();
            return Err(format!(
                "Unknown model `{model_id}`. Text-to-speech models on this account: {}.",
                ids.join(", ")
            ));
        };
        let characters = w.characters;
        if let Some(max) = model.max_characters()
            && characters > max
            && !cfg!(feature = "long-text")
        {
            return Err(format!(
                "The text is {characters} characters; `{model_id}` accepts at most {max} per call, and this build does not split long text (feature `long-text`). Shorten it or split it into several calls (nothing was spent)."
            ));
        }
        let language_code = match &w.language {
            Some(lang) if model.takes_language() => Some(lang.clone()),
            Some(lang) => {
                notes.push(format!(
                    "`language: {lang}` was dropped: `{model_id}` detects the language itself"
                ));
                None
            }
            None => None,
        };
        let (voice_id, voice_name) = self.voice.clone().unwrap_or_default();
        let sink = sink(&self.args, cx, &w, &voice_id, voice_name.as_deref())?;
        let speech = api::Speech {
            text: w.text.clone(),
            model_id: model_id.clone(),
            language_code,
            voice_settings: w.voice_settings.clone(),
            seed: w.seed,
            timestamps: self.args.is_true("alignment"),
            ..api::Speech::default()
        };
        let wire = w.format.wire_name();
        let (mut requests, websocket) = match plan::websocket(cx, &voice_id, &wire, &speech) {
            Ok(ws) => (vec![api::speech_stream(&voice_id, &wire, &speech)], ws),
            Err(why) => {
                notes.extend(why);
                let all = plan::requests(&voice_id, &wire, &speech, model.max_characters());
                (all, None)
            }
        };
        let pieces = requests.len();
        if pieces > 1 {
            notes.push(format!(
                "long text: spoken in {pieces} pieces, cut at sentences and stitched"
            ));
        }
        let request = requests.remove(0);
        let cache = match self.cache {
            CacheUse::Missed(key) => Some((key, (cx.config.settings.cache_max_mb << 20) / 4)),
            CacheUse::Unasked | CacheUse::Off => None,
        };
        let job = Job::Speech {
            request,
            more: (!requests.is_empty()).then(|| {
                Box::new(More {
                    requests,
                    parallel: plan::PARALLEL,
                    retry_ms: Vec::new(),
                })
            }),
            websocket,
            sink,
            max_bytes: MAX_AUDIO_FILE,
            cache,
            timestamps: speech.timestamps,
        };
        let plan = Plan {
            format: w.format,
            format_name: w.format_name,
            model_id,
            characters,
            cost: Some(plan::cost(model, characters)),
            out: w.out,
            notes,
            emotion: w.emotion,
        };
        Ok((plan, job))
    }
}
