//! What a tone becomes in a request: voice settings for most models, an audio tag at the start
//! of each sentence for `eleven_v3` (whose tags steer delivery better than its settings). The
//! table is README's "Context-aware speech".

use super::{Analysis, Tone};

/// Voice settings for a tone (each in ElevenLabs' range; speed 0.7–1.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// `voice_settings.stability`.
    pub stability: f32,
    /// `voice_settings.similarity_boost`.
    pub similarity_boost: f32,
    /// `voice_settings.style`.
    pub style: f32,
    /// `voice_settings.speed`.
    pub speed: f32,
}

/// The settings of a tone felt with `intensity` (0–1), rounded to two decimals.
pub fn settings(tone: Tone, intensity: f32) -> Settings {
    let i = intensity.clamp(0.0, 1.0);
    let s = match tone {
        Tone::Neutral => Settings {
            stability: 0.5,
            similarity_boost: 0.75,
            style: 0.0,
            speed: 1.0,
        },
        Tone::Happy => Settings {
            stability: 0.45 - 0.15 * i,
            similarity_boost: 0.75,
            style: 0.25 + 0.35 * i,
            speed: 1.0 + 0.08 * i,
        },
        Tone::Sad => Settings {
            stability: 0.6 + 0.15 * i,
            similarity_boost: 0.75,
            style: 0.2 + 0.25 * i,
            speed: 0.95 - 0.1 * i,
        },
        Tone::Urgent => Settings {
            stability: 0.4 - 0.1 * i,
            similarity_boost: 0.8,
            style: 0.3 + 0.3 * i,
            speed: 1.05 + 0.1 * i,
        },
    };
    let r = |x: f32| (x * 100.0).round() / 100.0;
    Settings {
        stability: r(s.stability),
        similarity_boost: r(s.similarity_boost),
        style: r(s.style),
        speed: r(s.speed).clamp(0.7, 1.2),
    }
}

/// Intensity at and above which the stronger tag is used.
const STRONG: f32 = 0.6;

/// The `eleven_v3` audio tag for an analysis, if its tone has one: `[excited]`/`[happy]`,
/// `[sighs]`/`[sad]`, `[urgent]`/`[serious]`; a neutral question is `[curious]`.
pub fn tag(a: &Analysis) -> Option<&'static str> {
    let strong = a.intensity >= STRONG;
    match a.tone {
        Tone::Neutral => a.question.then_some("[curious]"),
        Tone::Happy => Some(if strong { "[excited]" } else { "[happy]" }),
        Tone::Sad => Some(if strong { "[sighs]" } else { "[sad]" }),
        Tone::Urgent => Some(if strong { "[urgent]" } else { "[serious]" }),
    }
}

/// `text` with each sentence's tag before it, where the tag differs from the sentence before
/// (a run of cheerful sentences is tagged once). `sentences` are the byte ranges and tags of
/// `text`'s sentences, in order. Nothing but the tags is added.
pub fn tagged(text: &str, sentences: &[(std::ops::Range<usize>, Option<&str>)]) -> String {
    let extra: usize = sentences
        .iter()
        .filter_map(|(_, t)| t.map(|t| t.len() + 1))
        .sum();
    let mut out = String::with_capacity(text.len() + extra);
    let mut at = 0;
    let mut previous = None;
    for (r, t) in sentences {
        out.push_str(&text[at..r.start]);
        if let Some(t) = t
            && previous != Some(*t)
        {
            out.push_str(t);
            out.push(' ');
        }
        previous = *t;
        at = r.start;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_stay_in_range() {
        for tone in Tone::ALL {
            for i in [0.0, 0.3, 0.6, 1.0, 7.0, -1.0] {
                let s = settings(tone, i);
                for x in [s.stability, s.similarity_boost, s.style] {
                    assert!((0.0..=1.0).contains(&x), "{tone:?} {i}: {s:?}");
                }
                assert!((0.7..=1.2).contains(&s.speed), "{tone:?} {i}: {s:?}");
            }
        }
        assert!(settings(Tone::Urgent, 1.0).speed > settings(Tone::Sad, 1.0).speed);
    }

    #[test]
    fn tags_go_before_changed_sentences_only() {
        let text = "Great news! It worked. Sadly the disk is gone.";
        let s = [
            (0..11, Some("[excited]")),
            (12..22, Some("[excited]")),
            (23..46, Some("[sad]")),
        ];
        assert_eq!(
            tagged(text, &s),
            "[excited] Great news! It worked. [sad] Sadly the disk is gone."
        );
        assert_eq!(tagged(text, &[(0..11, None), (12..22, None)]), text);
    }
}
