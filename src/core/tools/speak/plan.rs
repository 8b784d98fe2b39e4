//! What a `speak` call's arguments ask for, before anything is sent: the text as it is spoken,
//! the format, the voice settings, and where the audio goes (memory, a file, or a player).

use super::super::super::audio::{self, Format};
use super::super::super::event::{FileName, PlayerSink, Sink};
use super::super::super::player::{self, Player};
use super::super::super::speech as prepare;
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
    Ok(Wanted {
        characters: text.chars().count() as u64,
        text,
        model_id: args.str("model").unwrap_or(&settings.model).to_string(),
        format,
        format_name,
        language: args.str("language").map(String::from),
        voice_settings,
        seed: args.int("seed").and_then(|n| u32::try_from(n).ok()),
        out,
        notes,
    })
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
