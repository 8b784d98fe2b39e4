//! Word timings from character timings: ElevenLabs aligns every character of the text it spoke;
//! a word is a run of characters without whitespace, from its first character's start to its
//! last one's end.

use super::audio::Format;
use super::event::Alignment;

/// A word and when it was spoken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word as spoken.
    pub text: String,
    /// When it starts, in milliseconds from the start of the audio.
    pub start_ms: u32,
    /// When it ends.
    pub end_ms: u32,
    /// Its characters in the spoken text: `[first, last + 1)`, counted in characters.
    pub chars: (usize, usize),
}

/// The words of `a`, in order, timed from the start of the whole audio (in `format`).
pub fn words(a: &Alignment, format: Format) -> Vec<Word> {
    let n = a.chars.len().min(a.start_ms.len()).min(a.end_ms.len());
    let (start_ms, end_ms) = absolute(a, format, n);
    let mut words = Vec::new();
    let mut i = 0;
    while i < n {
        if a.chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let first = i;
        while i < n && !a.chars[i].is_whitespace() {
            i += 1;
        }
        let ends = &end_ms[first..i];
        words.push(Word {
            text: a.chars[first..i].iter().collect(),
            start_ms: start_ms[first],
            end_ms: ends.iter().copied().max().unwrap_or(start_ms[first]),
            chars: (first, i),
        });
    }
    words
}

/// The first `n` characters' times from the start of the whole audio: the times of each piece
/// of a long text after the first are shifted by the length of the audio before it, known from
/// its bytes, and never less than the end of the last character before it (which is all there
/// is for a format of unknown bitrate), so that the times only go forward.
fn absolute(a: &Alignment, format: Format, n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut start = a.start_ms[..n].to_vec();
    let mut end = a.end_ms[..n].to_vec();
    for (k, join) in a.joins.iter().enumerate() {
        let from = join.char.min(n);
        let to = a
            .joins
            .get(k + 1)
            .map_or(n, |next| next.char.clamp(from, n));
        let spoken = end[..from].iter().copied().max().unwrap_or(0);
        let offset = format.duration_ms(join.audio_bytes).map_or(spoken, |ms| {
            u32::try_from(ms).unwrap_or(u32::MAX).max(spoken)
        });
        for i in from..to {
            start[i] = start[i].saturating_add(offset);
            end[i] = end[i].saturating_add(offset);
        }
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mp3() -> Format {
        Format::parse("mp3_44100_128").unwrap()
    }

    #[test]
    fn pieces_count_from_the_audio_before_them() {
        // Two pieces, each timed from its own start: the second follows 16,000 bytes of
        // 128 kb/s MP3 (1 s), or, for a bitrate not known, its last character's end (450 ms).
        let piece = |text: &str| Alignment {
            chars: text.chars().collect(),
            start_ms: (0..3).map(|i| i * 150).collect(),
            end_ms: (0..3).map(|i| i * 150 + 150).collect(),
            joins: Vec::new(),
        };
        let mut a = piece("Hi ");
        a.append(piece("yo."), 16_000);
        let w = words(&a, mp3());
        assert_eq!(
            (w[1].text.as_str(), w[1].start_ms, w[1].chars),
            ("yo.", 1000, (3, 6))
        );
        let opus = Format::parse("opus_48000_32").unwrap();
        let unknown = Format { kbps: None, ..opus };
        assert_eq!(words(&a, unknown)[1].start_ms, 450);
    }

    #[test]
    fn words_span_their_characters() {
        let text = " Hi there!";
        let a = Alignment {
            chars: text.chars().collect(),
            start_ms: (0..10).map(|i| i * 70).collect(),
            end_ms: (0..10).map(|i| i * 70 + 70).collect(),
            joins: Vec::new(),
        };
        let w = words(&a, mp3());
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].text.as_str(), w[0].start_ms, w[0].end_ms, w[0].chars),
            ("Hi", 70, 210, (1, 3))
        );
        assert_eq!((w[1].text.as_str(), w[1].chars), ("there!", (4, 10)));
    }

    proptest! {
        /// Every word is a whole run of non-whitespace, in order, as the text has it; together
        /// they are every non-whitespace character once; each ends no earlier than it starts
        /// when the timings do.
        #[test]
        fn words_cover_the_text(text in "[a-z .!\\n]{0,60}", step in 1u32..200) {
            let chars: Vec<char> = text.chars().collect();
            let a = Alignment {
                start_ms: (0..chars.len() as u32).map(|i| i * step).collect(),
                end_ms: (0..chars.len() as u32).map(|i| i * step + step).collect(),
                chars: chars.clone(),
                joins: Vec::new(),
            };
            let w = words(&a, mp3());
            let expected: Vec<&str> = text.split_whitespace().collect();
            prop_assert_eq!(w.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), expected);
            let mut last = 0;
            for word in &w {
                prop_assert!(word.chars.0 >= last && word.chars.0 < word.chars.1);
                prop_assert_eq!(chars[word.chars.0..word.chars.1].iter().collect::<String>(), word.text.clone());
                prop_assert!(word.start_ms <= word.end_ms);
                last = word.chars.1;
            }
        }
    }
}
