//! Word timings from character timings: ElevenLabs aligns every character of the text it spoke;
//! a word is a run of characters without whitespace, from its first character's start to its
//! last one's end.

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

/// The words of `a`, in order.
pub fn words(a: &Alignment) -> Vec<Word> {
    let n = a.chars.len().min(a.start_ms.len()).min(a.end_ms.len());
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
        let ends = &a.end_ms[first..i];
        words.push(Word {
            text: a.chars[first..i].iter().collect(),
            start_ms: a.start_ms[first],
            end_ms: ends.iter().copied().max().unwrap_or(a.start_ms[first]),
            chars: (first, i),
        });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_span_their_characters() {
        let text = " Hi there!";
        let a = Alignment {
            chars: text.chars().collect(),
            start_ms: (0..10).map(|i| i * 70).collect(),
            end_ms: (0..10).map(|i| i * 70 + 70).collect(),
        };
        let w = words(&a);
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
            };
            let w = words(&a);
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
