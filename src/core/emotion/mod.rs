//! Context-aware speech: the tone, question and urgency of a text, read from its words, and what
//! they become in a request (voice settings, or `eleven_v3` audio tags).
//!
//! The tone is a blend: a linear model ([`model`]) over hashed word and character n-grams and
//! lexicon scores ([`features`]), trained on labelled Reddit comments and film subtitles, then
//! rules for what that data barely holds: alarms, deadlines and failures (urgent), apologies (sad)
//! and thanks and greetings (happy) in agent replies. Pure and deterministic; one pass over the
//! characters, no allocation per word.

pub mod features;
pub mod lexicon;
pub mod mapping;
pub mod model;
pub mod plan;

use std::ops::Range;

use features::Scan;
use lexicon::Lexicon;
use model::Model;

/// A text's tone, in the model's class order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tone {
    /// Plain statements, information.
    Neutral,
    /// Joy, thanks, good news.
    Happy,
    /// Sadness, disappointment, apologies.
    Sad,
    /// Fear, alarms, warnings, deadlines.
    Urgent,
}

impl Tone {
    /// In the model's class order.
    pub const ALL: [Self; 4] = [Self::Neutral, Self::Happy, Self::Sad, Self::Urgent];

    /// The tone's name, as the tools and `analyze` print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Neutral => "neutral",
            Self::Happy => "happy",
            Self::Sad => "sad",
            Self::Urgent => "urgent",
        }
    }

    /// A tone from its name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What the analysis found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Analysis {
    /// The tone the text is read in.
    pub tone: Tone,
    /// Whether the (last) sentence asks something.
    pub question: bool,
    /// How pressing it is, 0–1: the model's urgent probability or the rules' alarm, whichever is
    /// higher.
    pub urgency: f32,
    /// How strongly the tone is felt, 0–1 (0 for a neutral tone).
    pub intensity: f32,
    /// The model's probabilities, in [`Tone::ALL`] order (before the rules).
    pub scores: [f32; 4],
}

impl Analysis {
    /// The analysis of a text with no words.
    pub const NEUTRAL: Self = Self {
        tone: Tone::Neutral,
        question: false,
        urgency: 0.0,
        intensity: 0.0,
        scores: [1.0, 0.0, 0.0, 0.0],
    };
}

/// The alarm at which the rules make a text urgent whatever the model says.
const URGENT_CUES: f32 = 0.5;
/// Below this urgent probability, a question with no alarm in its words is not read as fear.
const WEAK_URGENT: f32 = 0.5;
/// The apology or warmth at which the rules turn a neutral reading sad or happy.
const TONE_CUES: f32 = 0.8;

/// The analysis of `text` with the embedded model and lexicon.
pub fn analyze(text: &str) -> Analysis {
    analyze_with(&model::EMBEDDED, &lexicon::EMBEDDED, text)
}

/// The analysis of `text` with a given model and lexicon.
pub fn analyze_with(model: &Model<'_>, lexicon: &Lexicon<'_>, text: &str) -> Analysis {
    let (scores, scan) = model.probabilities(text, lexicon);
    if scan.words == 0 {
        return Analysis::NEUTRAL;
    }
    decide(scores, &scan, is_question(text))
}

/// The model's probabilities and the rules' cues, made one answer.
fn decide(scores: [f32; 4], scan: &Scan, question: bool) -> Analysis {
    let cues = scan.cues;
    let alarm =
        (cues.urgent * if cues.imperative { 1.25 } else { 1.0 } - 0.5 * cues.calm).clamp(0.0, 1.0);
    let urgency = scores[3].max(alarm);
    let best = (0..4).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
    let mut tone = Tone::ALL[best];
    let apology = cues.apology >= TONE_CUES && cues.apology >= cues.warmth;
    if tone == Tone::Urgent && question && scores[3] < WEAK_URGENT && alarm < URGENT_CUES {
        // A question read as faint fear with no alarm in its words (`How can I help?`): the
        // next best.
        let next = (0..3).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
        tone = Tone::ALL[next];
    }
    if alarm >= URGENT_CUES && !(apology && alarm < 1.0) {
        tone = Tone::Urgent;
    } else if cues.calm >= 1.0 && matches!(tone, Tone::Sad | Tone::Urgent) {
        // `Don't worry, nothing was lost`: reassurance, whatever its words of loss.
        tone = Tone::Neutral;
    } else if apology && tone != Tone::Happy {
        // `Sorry, that failed`: an apology, not an alarm.
        tone = Tone::Sad;
    } else if tone == Tone::Neutral && cues.warmth >= TONE_CUES && scan.dense.compound >= 0.0 {
        tone = Tone::Happy;
    }
    let intensity = match tone {
        Tone::Neutral => 0.0,
        Tone::Urgent => urgency.max(strength(scores[3], scan)),
        t => strength(scores[t as usize], scan),
    };
    Analysis {
        tone,
        question,
        urgency,
        intensity,
        scores,
    }
}

/// How strongly a tone with probability `p` is felt: the model's confidence, the lexicon's
/// valence, exclamation marks and capitals.
fn strength(p: f32, scan: &Scan) -> f32 {
    let d = scan.dense;
    let confidence = ((p - 0.25) / 0.75).clamp(0.0, 1.0);
    (0.55 * confidence + 0.25 * d.compound.abs() + 0.12 * d.exclamations + 0.08 * d.shouting)
        .clamp(0.0, 1.0)
}

/// Words that open a question when they open its sentence (`how`, `is it`, `can you`).
const QUESTION_OPENERS: &[&str] = &[
    "who",
    "whom",
    "whose",
    "what",
    "which",
    "when",
    "where",
    "why",
    "how",
    "is",
    "are",
    "was",
    "were",
    "am",
    "do",
    "does",
    "did",
    "can",
    "could",
    "will",
    "would",
    "shall",
    "should",
    "may",
    "might",
    "must",
    "have",
    "has",
    "had",
    "isn't",
    "aren't",
    "wasn't",
    "weren't",
    "don't",
    "doesn't",
    "didn't",
    "can't",
    "couldn't",
    "won't",
    "wouldn't",
    "shouldn't",
    "haven't",
    "hasn't",
];

/// Whether the last sentence of `text` is a question: it ends with `?`, or it opens with a
/// question word or an inverted auxiliary and does not end with `.` or `!`.
pub fn is_question(text: &str) -> bool {
    let trimmed = text.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ']' | '»' | '”' | '’' | '*' | '_')
    });
    let Some(last) = trimmed.chars().next_back() else {
        return false;
    };
    if matches!(last, '?' | '？' | '¿') {
        return true;
    }
    if matches!(last, '.' | '!' | '…' | '。' | '！') {
        return false;
    }
    // The last sentence: after the last stop.
    let start = trimmed.rfind(['.', '!', '?', '\n', '…']).map_or(0, |i| {
        i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
    });
    let first = trimmed[start..]
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .find(|w| !w.is_empty());
    first.is_some_and(|w| {
        let w = w.replace('’', "'");
        QUESTION_OPENERS.iter().any(|q| q.eq_ignore_ascii_case(&w))
    })
}

/// The analysis of each sentence of `text` (as [`crate::core::split`] finds them), with its
/// byte range; a text of one sentence gives one.
pub fn sentences(text: &str) -> Vec<(Range<usize>, Analysis)> {
    crate::core::split::sentences(text)
        .into_iter()
        .map(|r| {
            let a = analyze(&text[r.clone()]);
            (r, a)
        })
        .collect()
}

#[cfg(test)]
mod tests;
