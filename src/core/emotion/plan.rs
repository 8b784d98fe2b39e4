//! What the analysis does to one request, and how it is reported: the same for `speak` (its
//! `structuredContent.emotion`) and `mcp-elevenlabs analyze`.

use std::ops::Range;

use serde_json::{Map, Value, json};

use super::mapping::{self, Settings};
use super::{Analysis, Tone};

/// How the tone is chosen: `speech.emotion`, or `speak`'s `emotion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Read from the text.
    Auto,
    /// This tone, whatever the text says (questions are still found).
    Fixed(Tone),
    /// No analysis: the request carries what the caller gave only.
    Off,
}

impl Choice {
    /// A choice from its name (`auto`, a tone's name, `off`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "off" => Some(Self::Off),
            t => Tone::parse(t).map(Self::Fixed),
        }
    }
}

/// The intensity of a tone imposed on a text that does not read that way.
const IMPOSED: f32 = 0.5;

/// What the analysis does to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The whole text's reading.
    pub whole: Analysis,
    /// Each sentence's, with its byte range.
    pub sentences: Vec<(Range<usize>, Analysis)>,
    /// `eleven_v3`: tags at sentence starts instead of settings.
    pub tags: bool,
}

/// The plan for `text` (as it is sent), or `None` when the choice is off.
pub fn plan(text: &str, choice: Choice, model_id: &str) -> Option<Plan> {
    let impose = |a: Analysis| match choice {
        Choice::Fixed(t) if a.tone != t => Analysis {
            tone: t,
            intensity: IMPOSED,
            ..a
        },
        _ => a,
    };
    match choice {
        Choice::Off => None,
        Choice::Auto | Choice::Fixed(_) => Some(Plan {
            whole: impose(super::analyze(text)),
            sentences: super::sentences(text)
                .into_iter()
                .map(|(r, a)| (r, impose(a)))
                .collect(),
            tags: model_id.starts_with("eleven_v3"),
        }),
    }
}

impl Plan {
    /// The voice settings of the whole text's tone; none for a neutral one (the voice's own
    /// settings are right for it) or for `eleven_v3`.
    pub fn settings(&self) -> Option<Settings> {
        (!self.tags && self.whole.tone != Tone::Neutral)
            .then(|| mapping::settings(self.whole.tone, self.whole.intensity))
    }

    /// Each sentence's `eleven_v3` tag (none unless [`Plan::tags`]).
    fn sentence_tags(&self) -> Vec<(Range<usize>, Option<&'static str>)> {
        self.sentences
            .iter()
            .map(|(r, a)| (r.clone(), mapping::tag(a).filter(|_| self.tags)))
            .collect()
    }

    /// `text` with its tags (unchanged unless [`Plan::tags`]).
    pub fn text(&self, text: &str) -> String {
        if !self.tags {
            return text.to_string();
        }
        mapping::tagged(text, &self.sentence_tags())
    }

    /// The report: `tone`, `question`, `urgency`, `intensity`; `voice_settings` (the fields of
    /// [`Plan::settings`] the caller did not give, `given`) or `tags` (those inserted, in
    /// order); and `sentences` when they differ in tone or question.
    pub fn report(&self, text: &str, given: &Map<String, Value>) -> Value {
        let mut out = reading(&self.whole);
        if let Some(used) = self.used_settings(given) {
            out.insert("voice_settings".into(), Value::Object(used));
        }
        if self.tags {
            let mut previous = None;
            let mut tags = Vec::new();
            for (_, t) in self.sentence_tags() {
                if let Some(t) = t
                    && previous != Some(t)
                {
                    tags.push(t);
                }
                previous = t;
            }
            out.insert("tags".into(), json!(tags));
        }
        let first = self.sentences.first().map(|(_, a)| (a.tone, a.question));
        let differ = self
            .sentences
            .iter()
            .any(|(_, a)| Some((a.tone, a.question)) != first);
        if differ {
            let list: Vec<Value> = self
                .sentences
                .iter()
                .map(|(r, a)| {
                    let mut s = Map::new();
                    s.insert("text".into(), text[r.clone()].into());
                    s.extend(reading(a));
                    Value::Object(s)
                })
                .collect();
            out.insert("sentences".into(), list.into());
        }
        Value::Object(out)
    }

    /// The fields of [`Plan::settings`] the caller did not give (`given`).
    fn used_settings(&self, given: &Map<String, Value>) -> Option<Map<String, Value>> {
        let s = self.settings()?;
        let all = [
            ("stability", s.stability),
            ("similarity_boost", s.similarity_boost),
            ("style", s.style),
            ("speed", s.speed),
        ];
        Some(
            all.into_iter()
                .filter(|(k, _)| !given.contains_key(*k))
                .map(|(k, v)| (k.to_string(), two_places(v).into()))
                .collect(),
        )
    }

    /// The settings to send: the caller's, and the plan's for the fields the caller left out.
    pub fn merge_settings(&self, given: &mut Map<String, Value>) {
        if let Some(used) = self.used_settings(given) {
            given.extend(used);
        }
    }
}

/// `x` to two decimals, as a JSON number (not `0.800000011920929`).
fn two_places(x: f32) -> f64 {
    f64::from((x * 100.0).round()) / 100.0
}

/// An analysis as JSON, its numbers to two decimals.
fn reading(a: &Analysis) -> Map<String, Value> {
    let r = two_places;
    let mut m = Map::new();
    m.insert("tone".into(), a.tone.as_str().into());
    m.insert("question".into(), a.question.into());
    m.insert("urgency".into(), r(a.urgency).into());
    m.insert("intensity".into(), r(a.intensity).into());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_plans_nothing_and_fixed_tones_are_imposed() {
        assert_eq!(plan("Evacuate now.", Choice::Off, "m"), None);
        let p = plan("The meeting is at noon.", Choice::Fixed(Tone::Happy), "m").unwrap();
        assert_eq!(p.whole.tone, Tone::Happy);
        assert_eq!(p.whole.intensity, IMPOSED);
        assert!(p.settings().is_some());
        assert_eq!(Choice::parse("sad"), Some(Choice::Fixed(Tone::Sad)));
        assert_eq!(Choice::parse("loud"), None);
    }

    #[test]
    fn the_callers_settings_win() {
        let p = plan("Error: disk full.", Choice::Auto, "eleven_flash_v2_5").unwrap();
        let mut given = Map::new();
        given.insert("speed".into(), json!(0.8));
        let report = p.report("Error: disk full.", &given);
        let used = report["voice_settings"].as_object().unwrap();
        assert!(
            !used.contains_key("speed") && used.contains_key("stability"),
            "{report}"
        );
        p.merge_settings(&mut given);
        assert_eq!(given["speed"], json!(0.8));
        assert_eq!(given["stability"], used["stability"]);
    }

    #[test]
    fn v3_gets_tags_and_no_settings() {
        let text = "Great news, the release is out! Error: the upload to the mirror failed.";
        let p = plan(text, Choice::Auto, "eleven_v3").unwrap();
        assert_eq!(p.settings(), None);
        let tagged = p.text(text);
        assert!(
            tagged.starts_with('[') && tagged.contains("] Error: the upload"),
            "{tagged}"
        );
        let report = p.report(text, &Map::new());
        let tags = report["tags"].as_array().unwrap();
        assert_eq!(tags.len(), 2, "{report}");
        let mut words = tagged.clone();
        for t in tags {
            words = words.replacen(&format!("{} ", t.as_str().unwrap()), "", 1);
        }
        assert_eq!(words, text, "only tags are added");
        assert_eq!(report["sentences"].as_array().unwrap().len(), 2, "{report}");
        assert_eq!(report.get("voice_settings"), None);
    }
}
