//! What a finished `speak` says: the result of ElevenLabs' audio (fresh or from the cache) and
//! of the offline fallback voice.

use super::super::super::event::SpeechDone;
use super::super::super::timing;
use super::super::voice::Chosen;
use super::super::{Cx, Media, Outcome};
use super::Plan;
use super::plan::Out;
use serde_json::{Map, Value, json};

/// The result of ElevenLabs' audio; `cached`: served from the cache, so nothing was sent.
pub(super) fn render(
    cx: &Cx<'_>,
    done: &SpeechDone,
    plan: &Plan,
    voice: &Chosen,
    cached: bool,
) -> Outcome {
    let (voice_id, voice_name) = voice;
    let duration = plan.format.duration_ms(done.data_bytes);
    let mime = plan.format.mime();
    let inline = matches!(plan.out, Out::Inline);
    // Played through (`wait`), not saved: nothing to link.
    let played = matches!(plan.out, Out::Play { .. }) && done.file.is_none();
    let mut structured = Map::new();
    let delivery = match (inline, played) {
        (true, _) => "inline",
        (_, true) => "play",
        _ => "file",
    };
    structured.insert("delivery".into(), delivery.into());
    structured.insert("mime_type".into(), mime.into());
    structured.insert("bytes".into(), done.total_bytes.into());
    if let Some(d) = duration {
        structured.insert("duration_ms".into(), d.into());
    }
    structured.insert("characters".into(), plan.characters.into());
    structured.insert("voice_id".into(), voice_id.clone().into());
    structured.insert("model_id".into(), plan.model_id.clone().into());
    if let Some(e) = &plan.emotion {
        structured.insert("emotion".into(), e.clone());
    }
    if let Some(rid) = done.head.header("request-id") {
        structured.insert("request_id".into(), rid.into());
    }
    if cached {
        structured.insert("cached".into(), true.into());
    }
    let mut notes = plan.notes.clone();
    if let Some(a) = &done.alignment {
        let words = timing::words(a, plan.format);
        notes.push(format!(
            "word timings for {} words are in the result",
            words.len()
        ));
        let secs = |ms: u32| f64::from(ms) / 1000.0;
        let list: Vec<Value> = words
            .iter()
            .map(|w| json!({"word": w.text, "start": secs(w.start_ms), "end": secs(w.end_ms), "chars": [w.chars.0, w.chars.1]}))
            .collect();
        structured.insert("words".into(), list.into());
    }
    if let Some(why) = &done.player_failed {
        structured.insert("not_played".into(), why.clone().into());
        notes.push(format!("not played: {why}"));
    } else if let Some(why) = plan
        .notes
        .iter()
        .find_map(|n| n.strip_prefix("not played: "))
    {
        structured.insert("not_played".into(), why.into());
    }
    // What ElevenLabs says it billed (`character-cost`), else what the model's rate makes of
    // the characters sent (the WebSocket sends no such header).
    let cost = done
        .head
        .header("character-cost")
        .and_then(|c| c.trim().parse::<u64>().ok())
        .or(plan.cost);
    if let (Some(cost), false) = (cost, cached) {
        structured.insert("billed_characters".into(), cost.into());
    }
    let billed = if cached {
        "from the cache: no request, nothing billed".to_string()
    } else {
        format!("{} characters billed", cost.unwrap_or(plan.characters))
    };
    let seconds = duration
        .map(|d| format!("{:.1} s of ", d as f64 / 1000.0))
        .unwrap_or_default();
    let who = voice_name.clone().unwrap_or_else(|| voice_id.clone());
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" Note: {}.", notes.join("; "))
    };
    if played {
        let text = format!(
            "Played {seconds}audio with {who} ({}, {billed}).{notes}",
            plan.format_name
        );
        return Outcome::ok(text, Value::Object(structured));
    }
    let (text, media) = if inline {
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
            "Spoke {seconds}audio with {who} ({}, {billed}).{notes}",
            plan.format_name
        );
        (text, Media::Inline { data, mime })
    } else {
        let (file, path) = saved(cx, done, &mut structured);
        let text = format!(
            "Saved {seconds}audio with {who} to {path} ({} bytes, {billed}).{notes}",
            done.total_bytes
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
pub(super) fn render_fallback(
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

/// The answer to a `play` call when its playback starts (unless it waits for the end).
pub(super) fn render_playing(
    plan: &Plan,
    voice: &Chosen,
    request_id: Option<String>,
    cached: bool,
) -> Outcome {
    let (voice_id, voice_name) = voice;
    // About 15 characters a second: ElevenLabs' voices at their default speed.
    let estimate = plan.characters * 1000 / 15;
    let mut structured = Map::new();
    structured.insert("delivery".into(), "play".into());
    structured.insert("playing".into(), true.into());
    structured.insert("mime_type".into(), plan.format.mime().into());
    structured.insert("estimated_duration_ms".into(), estimate.into());
    structured.insert("characters".into(), plan.characters.into());
    structured.insert("voice_id".into(), voice_id.clone().into());
    structured.insert("model_id".into(), plan.model_id.clone().into());
    if let Some(e) = &plan.emotion {
        structured.insert("emotion".into(), e.clone());
    }
    let who = voice_name.clone().unwrap_or_else(|| voice_id.clone());
    if let Some(rid) = &request_id {
        structured.insert("request_id".into(), rid.clone().into());
    }
    if let (Some(cost), false) = (plan.cost, cached) {
        // What the model's rate makes of it: `character-cost` comes with the audio, after this.
        structured.insert("billed_characters".into(), cost.into());
    }
    let from = match (&request_id, cached) {
        (_, true) => {
            structured.insert("cached".into(), true.into());
            "from the cache, nothing billed".to_string()
        }
        (Some(rid), false) => format!("request {rid}"),
        (None, false) => format!("{} characters billed", plan.characters),
    };
    let text = format!(
        "Playing about {:.0} s of audio with {who} ({from}). Call stop_speaking to stop it.",
        (estimate as f64 / 1000.0).max(1.0)
    );
    Outcome::ok(text, Value::Object(structured))
}
