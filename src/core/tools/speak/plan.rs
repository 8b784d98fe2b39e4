//! What a `speak` call's arguments ask for, before anything is sent: the text as it is spoken,
//! the format, the voice settings, and where the audio goes (memory, a file, or a player).

use super::super::super::audio::{self, Format};
use super::super::super::elevenlabs::{self as api, HttpRequest, Model};
use super::super::super::event::{FileName, PlayerSink, Sink};
use super::super::super::player::{self, Player};
use super::super::super::speech as prepare;
use super::super::super::split;
use super::super::super::stream_input;
use super::super::Cx;
use super::super::args::{Arg, Args};
use super::DEFAULT_FORMAT;
use serde_json::{Map, Value, json};

/// Where the audio goes.
#[derive(Debug, Clone)]
pub(super) enum Out {
    /// Inside the result.
    Inline,
    /// A new file.
    File,
    /// A player, as it arrives.
    Play {
        player: Player,
        /// Answer when playback ends, not when it starts.
        wait: bool,
        /// `auto`: save a file instead if the player cannot play.
        auto: bool,
    },
}

/// What the arguments ask for, before the model list checks it.
#[derive(Debug)]
pub(super) struct Wanted {
    pub(super) text: String,
    pub(super) characters: u64,
    pub(super) model_id: String,
    pub(super) format: Format,
    pub(super) format_name: String,
    pub(super) language: Option<String>,
    pub(super) voice_settings: Map<String, Value>,
    pub(super) seed: Option<u32>,
    pub(super) out: Out,
    /// What was decided for the caller (a delivery changed), for the result.
    pub(super) notes: Vec<String>,
    /// The tone read from the text and what it set, for the result (feature `emotion`).
    pub(super) emotion: Option<Value>,
}

/// At or below this many characters (and the model's limit) a text is one request.
const ONE_REQUEST: usize = 600;
/// The first piece of a longer text, at most: short, so that its audio starts as soon as a
/// short text's would.
const FIRST_PIECE: usize = 250;
/// The other pieces, at most (and the model's limit).
const PIECE: usize = 2_000;
/// Pieces of one text requested at once.
pub(super) const PARALLEL: usize = 2;
/// The text either side of a piece sent with it for continuity, at most (characters).
const CONTEXT: usize = 300;

/// The requests that speak `speech.text`: one, or for a text over [`ONE_REQUEST`] characters or
/// the model's limit (`max`), one per piece (cut at sentences, see [`split`]), each told the
/// text either side of it so that the voice runs on across the joins.
pub(super) fn requests(
    voice_id: &str,
    wire_format: &str,
    speech: &api::Speech,
    max: Option<u64>,
) -> Vec<HttpRequest> {
    let max = max.map_or(usize::MAX, |m| {
        usize::try_from(m).unwrap_or(usize::MAX).max(1)
    });
    let text = speech.text.as_str();
    let n = text.chars().count();
    if n <= ONE_REQUEST.min(max) || !cfg!(feature = "long-text") {
        return vec![api::speech_stream(voice_id, wire_format, speech)];
    }
    let pieces: Vec<HttpRequest> = split::pieces(text, FIRST_PIECE.min(max), PIECE.min(max))
        .into_iter()
        // Only spaces: nothing to say.
        .filter(|r| !text[r.clone()].trim().is_empty())
        .map(|r| {
            // `eleven_v3` takes no stitching (reference §4).
            let stitch = !speech.model_id.starts_with("eleven_v3");
            let piece = api::Speech {
                text: text[r.clone()].to_string(),
                previous_text: tail(&text[..r.start], CONTEXT).filter(|_| stitch),
                next_text: head(&text[r.end..], CONTEXT).filter(|_| stitch),
                ..speech.clone()
            };
            api::speech_stream(voice_id, wire_format, &piece)
        })
        .collect();
    if pieces.is_empty() {
        return vec![api::speech_stream(voice_id, wire_format, speech)];
    }
    pieces
}

/// The WebSocket synthesis of `speech` when `elevenlabs.transport` asks for it and it can be
/// used; else why not, as a note when it was asked for.
pub(super) fn websocket(
    cx: &Cx<'_>,
    voice_id: &str,
    wire_format: &str,
    speech: &api::Speech,
) -> Result<Option<Box<stream_input::WsSpeech>>, Option<String>> {
    if !cx.config.settings.websocket {
        return Err(None);
    }
    if !cfg!(feature = "websocket") {
        return Err(Some(
            "HTTP used: this build has no WebSocket (feature `websocket`)".into(),
        ));
    }
    if let Some(why) = stream_input::unsuitable(&speech.model_id, wire_format) {
        return Err(Some(format!("HTTP used: {why}")));
    }
    let text = speech.text.as_str();
    // The text goes in pieces too, the first short, so that its audio starts at once.
    let pieces: Vec<&str> = split::pieces(text, FIRST_PIECE, PIECE)
        .into_iter()
        .map(|r| &text[r])
        .filter(|p| !p.trim().is_empty())
        .collect();
    let ws = stream_input::speech(voice_id, wire_format, speech, &pieces);
    Ok(Some(Box::new(ws)))
}

/// The end of `text`, at most `n` characters, from the start of a word (or anywhere, in a
/// text without spaces, such as Chinese).
fn tail(text: &str, n: usize) -> Option<String> {
    let text = text.trim();
    let count = text.chars().count();
    let mut from = text
        .char_indices()
        .nth(count.saturating_sub(n))
        .map_or(text.len(), |(i, _)| i);
    if from > 0
        && !text[..from].ends_with(char::is_whitespace)
        && let Some(i) = text[from..].find(char::is_whitespace)
    {
        from += i;
    }
    let t = text[from..].trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The start of `text`, at most `n` characters, up to the end of a word (or anywhere, in a
/// text without spaces).
fn head(text: &str, n: usize) -> Option<String> {
    let text = text.trim();
    let mut to = text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
    if to < text.len()
        && !text[to..].starts_with(char::is_whitespace)
        && let Some(i) = text[..to].rfind(char::is_whitespace)
    {
        to = i;
    }
    let t = text[..to].trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The text as it is sent: tidied for speech unless `raw`.
pub(super) fn spoken_text(args: &Args) -> String {
    let given = args.str("text").unwrap_or_default();
    if args.is_true("raw") {
        given.to_string()
    } else {
        prepare::prepare(given).text
    }
}

/// What the arguments ask for, checked as far as they can be without the model list.
pub(super) fn wanted(args: &Args, cx: &Cx<'_>) -> Result<Wanted, String> {
    let settings = &cx.config.settings;
    let text = spoken_text(args);
    if text.trim().is_empty() {
        return Err("Nothing left to say once Markdown, code and links were tidied; pass `raw: true` to send the text exactly as given.".into());
    }
    let characters = text.chars().count() as u64;
    let most = settings.limits.max_text_chars;
    if characters > most {
        return Err(format!(
            "The text is {characters} characters; this server takes at most {most} in one call (`limits.max_text_chars`). Split it into several calls (nothing was spent)."
        ));
    }
    let mut notes = Vec::new();
    let delivery = args.str("delivery").unwrap_or(settings.delivery.as_str());
    let mut out = match delivery {
        "inline" => Out::Inline,
        "file" => Out::File,
        _ => match cx.config.player.as_ref().filter(|_| cfg!(feature = "play")) {
            Some(_) if delivery == "auto" && cx.memory.player_failed.is_some() => {
                let why = cx.memory.player_failed.as_deref().unwrap_or_default();
                notes.push(format!(
                    "not played: the player failed before ({why}); `delivery: \"play\"` tries again"
                ));
                Out::File
            }
            Some(p) => Out::Play {
                player: p.clone(),
                wait: args.is_true("wait"),
                auto: delivery == "auto",
            },
            None if delivery == "auto" => {
                notes.push(format!(
                    "not played: no audio player was found (looked for {})",
                    player::searched()
                ));
                Out::File
            }
            None => {
                return Err(format!(
                    "No audio player found (looked for {} on PATH). Install one (mpv; on Linux `aplay` from alsa-utils), set `player` in the config to a program that reads audio on stdin, or use `delivery: \"file\"`.",
                    player::searched()
                ));
            }
        },
    };
    let format_name = match (args.str("output_format"), &out) {
        (Some(f), _) => f.to_string(),
        (None, Out::Play { player, .. }) => player::preferred_format(player.kind).to_string(),
        (None, _) => DEFAULT_FORMAT.to_string(),
    };
    let Some(format) = Format::parse(&format_name) else {
        return Err(format!("Unknown output_format `{format_name}`."));
    };
    if let Out::Play { player, auto, .. } = &out
        && !player::plays(player.kind, format)
    {
        let program = player.argv.first().cloned().unwrap_or_default();
        let why = format!(
            "`{program}` cannot play {format_name}; leave `output_format` out to get {}",
            player::preferred_format(player.kind)
        );
        if !*auto {
            return Err(format!("{why}."));
        }
        notes.push(format!("not played: {why}"));
        out = Out::File;
    }
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
    let model_id = args.str("model").unwrap_or(&settings.model).to_string();
    let (text, emotion) = tone(args, cx, &model_id, text, &mut voice_settings);
    // `eleven_v3`'s tags are sent, and billed, as characters.
    let characters = text.chars().count() as u64;
    Ok(Wanted {
        characters,
        text,
        model_id,
        emotion,
        format,
        format_name,
        language: args.str("language").map(String::from),
        voice_settings,
        seed: args.int("seed").and_then(|n| u32::try_from(n).ok()),
        out,
        notes,
    })
}

/// The tone's part (feature `emotion`, `speech.emotion` or the call's `emotion`): the text as it
/// is sent (with `eleven_v3`'s audio tags, unless `raw`), the voice settings the caller left out
/// added to `voice_settings`, and the report for the result. Never a request of its own.
#[cfg_attr(not(feature = "emotion"), allow(unused_variables))]
fn tone(
    args: &Args,
    cx: &Cx<'_>,
    model_id: &str,
    text: String,
    voice_settings: &mut Map<String, Value>,
) -> (String, Option<Value>) {
    #[cfg(feature = "emotion")]
    {
        use super::super::super::emotion::plan::{self as tone, Choice};
        let chosen = args.str("emotion").unwrap_or(&cx.config.settings.emotion);
        let choice = Choice::parse(chosen).unwrap_or(Choice::Off);
        // `raw` text is sent exactly as given: no tags in it.
        let v3 = model_id.starts_with("eleven_v3");
        if let Some(p) =
            tone::plan(&text, choice, model_id).filter(|_| !(v3 && args.is_true("raw")))
        {
            let report = p.report(&text, voice_settings);
            p.merge_settings(voice_settings);
            return (p.text(&text), Some(report));
        }
    }
    (text, None)
}

/// Where the audio goes: memory (inline), a player, or a new file named after the time and
/// voice (also the file an `auto` playback saves when the player fails).
pub(super) fn sink(
    args: &Args,
    cx: &Cx<'_>,
    w: &Wanted,
    voice_id: &str,
    voice_name: Option<&str>,
) -> Result<Sink, String> {
    let wav = w.format.wrapped_in_wav().then_some(w.format);
    let name = || -> Result<FileName, String> {
        Ok(match args.str("filename") {
            Some(f) => FileName::Exact(file_name(f, w.format)?),
            None => {
                let label =
                    voice_name.map_or_else(|| voice_id.chars().take(8).collect(), audio::slug);
                FileName::Stem {
                    stem: format!("{}-{label}", audio::timestamp(cx.wall_now)),
                    ext: w.format.extension(),
                }
            }
        })
    };
    Ok(match &w.out {
        Out::Inline => Sink::Memory {
            max_bytes: cx.config.settings.limits.max_inline_bytes,
        },
        Out::File => Sink::File { name: name()?, wav },
        Out::Play { player, auto, .. } => {
            let (argv, input) = player::command(player, w.format);
            Sink::Player(Box::new(PlayerSink {
                argv,
                input,
                format: w.format,
                wav,
                or_file: if *auto { Some(name()?) } else { None },
            }))
        }
    })
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

/// The credits `characters` cost with `model` when ElevenLabs does not say (`character-cost`):
/// its `character_cost_multiplier`, rounded up; the characters themselves without one.
pub(super) fn cost(model: &Model, characters: u64) -> u64 {
    let multiplier = model
        .model_rates
        .as_ref()
        .and_then(|r| r.get("character_cost_multiplier"))
        .and_then(Value::as_f64);
    match multiplier {
        Some(m) if m.is_finite() && m >= 0.0 => (characters as f64 * m).ceil() as u64,
        _ => characters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_rate_prices_what_elevenlabs_does_not() {
        let models = api::parse_models(br#"[{"model_id":"a","can_do_text_to_speech":true,"model_rates":{"character_cost_multiplier":0.5,"cost_discount_multiplier":1.0}},{"model_id":"b","can_do_text_to_speech":true},{"model_id":"c","can_do_text_to_speech":true,"model_rates":{"character_cost_multiplier":-1}}]"#).unwrap();
        assert_eq!(cost(&models[0], 13), 7, "rounded up");
        assert_eq!(cost(&models[1], 13), 13, "no rate: every character");
        assert_eq!(cost(&models[2], 13), 13, "a nonsense rate is ignored");
    }

    #[test]
    fn context_either_side_of_a_piece_is_whole_words() {
        assert_eq!(tail("one two three", 7).as_deref(), Some("three"));
        assert_eq!(tail("one two three", 9).as_deref(), Some("two three"));
        assert_eq!(head("one two three", 7).as_deref(), Some("one two"));
        assert_eq!(head("one two three", 5).as_deref(), Some("one"));
        assert_eq!(tail("  ", 5), None);
        // No spaces (Chinese): cut between characters.
        assert_eq!(tail("今日は晴れです。", 3).as_deref(), Some("です。"));
        assert_eq!(head("今日は晴れです。", 2).as_deref(), Some("今日"));
    }

    #[test]
    fn a_long_text_is_stitched_except_for_v3() {
        let text = "A sentence that goes on for a while. ".repeat(30);
        let bodies = |model: &str| -> Vec<Value> {
            let speech = api::Speech {
                text: text.clone(),
                model_id: model.into(),
                ..api::Speech::default()
            };
            requests("v", "mp3_44100_128", &speech, Some(5000))
                .iter()
                .map(|r| serde_json::from_slice(r.body.as_deref().unwrap()).unwrap())
                .collect()
        };
        let flash = bodies("eleven_flash_v2_5");
        assert!(flash.len() > 1);
        assert!(flash[0]["text"].as_str().unwrap().chars().count() <= FIRST_PIECE);
        assert!(flash[0].get("previous_text").is_none() && flash[0]["next_text"].is_string());
        assert!(flash[1]["previous_text"].is_string());
        let v3 = bodies("eleven_v3");
        assert_eq!(v3.len(), flash.len());
        assert!(
            v3.iter()
                .all(|b| b.get("previous_text").is_none() && b.get("next_text").is_none())
        );
        let joined: String = flash.iter().map(|b| b["text"].as_str().unwrap()).collect();
        assert_eq!(joined, text);
    }
}
