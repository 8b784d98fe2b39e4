//! Long text cut into pieces that each fit one request: after a sentence where one fits, else
//! after a clause, else between words; only a word longer than a whole piece is cut inside.
//!
//! Sentence ends know abbreviations (`Dr.`, `e.g.`), initials (`J. R. R.`), decimals (`3.14`),
//! ellipses that do not end a sentence (`wait... what`), closing quotes and brackets after the
//! stop (`"Go."`), CJK stops (`。！？`, no space after them), and line breaks.

use std::ops::Range;

/// Words that end in a full stop without ending a sentence (compared without case).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd",
    "co", "corp", "no", "fig", "approx", "mt", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "a.m", "p.m", "cf", "al", "ca", "gen", "gov",
    "lt", "col", "sgt", "capt", "rev", "hon", "dept", "est", "vol", "pp",
];

/// What may close a sentence after its stop: quotes and brackets.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | ')' | ']' | '}' | '»' | '」' | '』' | '）' | '】'
    )
}

/// Stops that end a sentence with no space after them.
fn is_cjk_stop(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '｡' | '．')
}

/// Marks after which a clause ends (when a space follows, or at once for the CJK ones).
fn is_clause_mark(c: char) -> Option<bool> {
    match c {
        ',' | ';' | ':' | '—' | '–' => Some(false),
        '、' | '，' | '；' | '：' => Some(true),
        _ => None,
    }
}

/// The byte ranges of `text`, in order, that together are exactly the text: the first of at most
/// `first` characters (kept short so its audio starts soon), the others of at most `max`. A text
/// that fits in `first` is one piece; an empty text is none. Limits below 1 count as 1.
pub fn pieces(text: &str, first: usize, max: usize) -> Vec<Range<usize>> {
    let (first, max) = (first.max(1), max.max(1));
    let ends = sentence_ends(text);
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let limit = if out.is_empty() { first } else { max };
        let window = match text[start..].char_indices().nth(limit) {
            Some((i, _)) => start + i,
            None => {
                out.push(start..text.len());
                break;
            }
        };
        let cut = last_end(&ends, start, window)
            .or_else(|| last_break(text, start, window, true))
            .or_else(|| last_break(text, start, window, false))
            .unwrap_or(window);
        out.push(start..cut);
        start = cut;
    }
    out
}

/// The byte ranges of the sentences of `text`, in order, without the spaces around them; blank
/// ones are left out.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in sentence_ends(text).into_iter().chain([text.len()]) {
        let s = &text[start..end];
        let lead = s.len() - s.trim_start().len();
        let t = s.trim();
        if !t.is_empty() {
            out.push(start + lead..start + lead + t.len());
        }
        start = end;
    }
    out
}

/// The last sentence end in `(start, window]`.
fn last_end(ends: &[usize], start: usize, window: usize) -> Option<usize> {
    let i = ends.partition_point(|&e| e <= window);
    ends[..i].last().copied().filter(|&e| e > start)
}

/// The last place in `(start, window]` after a clause (`clauses`) or after a run of spaces.
fn last_break(text: &str, start: usize, window: usize, clauses: bool) -> Option<usize> {
    let part = &text[start..window];
    let mut best = None;
    let mut chars = part.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let after = i + c.len_utf8();
        let cut = if clauses {
            match is_clause_mark(c) {
                Some(true) => Some(after),
                Some(false) => chars
                    .peek()
                    .filter(|(_, n)| n.is_whitespace())
                    .map(|_| skip_space(part, after)),
                None => None,
            }
        } else if c.is_whitespace() {
            Some(skip_space(part, after))
        } else {
            None
        };
        // A space run that reaches past the window still cuts at the window.
        if let Some(cut) = cut.filter(|&cut| cut > 0) {
            best = Some(start + cut);
        }
    }
    best
}

/// The first byte at or after `i` that is not whitespace (or the end).
fn skip_space(text: &str, i: usize) -> usize {
    text[i..]
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(text.len(), |(j, _)| i + j)
}

/// Where each sentence ends (after its stop, closers and the spaces after them), in order.
fn sentence_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let cjk = is_cjk_stop(c);
        if c == '\n' {
            ends.push(skip_space(text, i + 1));
            continue;
        }
        if !(cjk || matches!(c, '.' | '!' | '?' | '…')) {
            continue;
        }
        // The whole run of stops, then its closers.
        let mut stops = String::from(c);
        let mut end = i + c.len_utf8();
        while let Some(&(j, n)) = chars.peek() {
            if matches!(n, '.' | '!' | '?' | '…') || is_cjk_stop(n) {
                stops.push(n);
            } else if !is_closer(n) {
                break;
            }
            end = j + n.len_utf8();
            chars.next();
        }
        let next = text[end..].chars().next();
        let spaced = next.is_some_and(char::is_whitespace);
        if !(cjk || spaced || next.is_none()) {
            // `3.14`, `example.com`, `?!x`: not an end.
            continue;
        }
        let after = skip_space(text, end);
        let following = text[after..].chars().next();
        let lower_next = following.is_some_and(|n| n.is_lowercase() || n.is_ascii_digit());
        let ends_here = match stops.as_str() {
            "." => !lower_next && !abbreviation(&text[..i]),
            "..." | "…" => !lower_next,
            _ => true,
        };
        if ends_here {
            ends.push(after);
        }
    }
    ends
}

/// Whether the word before a full stop (the end of `before`) is an abbreviation or an initial.
fn abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '(' | '"' | '\'' | '“' | '‘' | '['))
        .next()
        .unwrap_or_default();
    let mut letters = word.chars();
    let initial = matches!((letters.next(), letters.next()), (Some(c), None) if c.is_uppercase());
    initial || ABBREVIATIONS.iter().any(|a| a.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(text: &str, first: usize, max: usize) -> Vec<&str> {
        pieces(text, first, max)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split("Hello there.", 50, 100), ["Hello there."]);
        assert!(pieces("", 5, 5).is_empty());
    }

    #[test]
    fn cuts_after_sentences_and_keeps_the_first_short() {
        let text = "One two. Three four five six. Seven eight nine ten eleven.";
        assert_eq!(
            split(text, 12, 40),
            [
                "One two. ",
                "Three four five six. ",
                "Seven eight nine ten eleven."
            ]
        );
    }

    #[test]
    fn abbreviations_initials_and_decimals_do_not_end_a_sentence() {
        let text = "Dr. Smith met J. R. Tolkien at 3.14 p.m. today. Then they left.";
        let ends = sentence_ends(text);
        assert_eq!(ends, [text.find("Then").unwrap(), text.len()]);
        let eg = "Use a tool, e.g. a hammer. Done.";
        assert_eq!(sentence_ends(eg), [eg.find("Done").unwrap(), eg.len()]);
    }

    #[test]
    fn quotes_ellipses_and_cjk() {
        let text = "He said \"Go.\" She went. Wait... what? Well… Fine.";
        let got: Vec<&str> = {
            let ends = sentence_ends(text);
            let mut from = 0;
            ends.iter()
                .map(|&e| {
                    let s = &text[from..e];
                    from = e;
                    s
                })
                .collect()
        };
        assert_eq!(
            got,
            [
                "He said \"Go.\" ",
                "She went. ",
                "Wait... what? ",
                "Well… ",
                "Fine."
            ]
        );
        let cjk = "今日は晴れです。明日は雨！「本当？」はい。";
        assert_eq!(
            split(cjk, 9, 9),
            ["今日は晴れです。", "明日は雨！", "「本当？」はい。"]
        );
    }

    #[test]
    fn long_sentences_cut_at_clauses_then_words_then_anywhere() {
        let text = "alpha beta, gamma delta epsilon";
        assert_eq!(
            split(text, 16, 16),
            ["alpha beta, ", "gamma delta ", "epsilon"]
        );
        assert_eq!(split("abcdefghij", 4, 4), ["abcd", "efgh", "ij"]);
        assert_eq!(
            split("line one\nline two", 12, 12),
            ["line one\n", "line two"]
        );
    }

    fn text() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            "[a-zA-Z]{1,12}",
            Just(" ".to_string()),
            Just(". ".to_string()),
            Just("? ".to_string()),
            Just("... ".to_string()),
            Just(", ".to_string()),
            Just("\n".to_string()),
            Just("Dr. ".to_string()),
            Just("3.5".to_string()),
            Just("\"Hi.\" ".to_string()),
            Just("。".to_string()),
            Just("漢字".to_string()),
            Just("é".to_string()),
        ];
        proptest::collection::vec(atom, 0..80).prop_map(|v| v.concat())
    }

    proptest! {
        /// The pieces are the text, in order, none empty and none over its limit; a cut falls
        /// inside a word only when the word (with its space) fills a whole piece.
        #[test]
        fn pieces_are_the_text(text in text(), first in 1usize..40, max in 1usize..120) {
            let got = pieces(&text, first, max);
            let mut joined = String::new();
            for (k, r) in got.iter().enumerate() {
                let piece = &text[r.clone()];
                prop_assert!(!piece.is_empty());
                let limit = if k == 0 { first } else { max };
                prop_assert!(piece.chars().count() <= limit, "{piece:?} over {limit}");
                let next = text[r.end..].chars().next();
                let last = piece.chars().last();
                if let (Some(n), Some(l)) = (next, last)
                    && n.is_alphabetic() && l.is_alphabetic() && n.is_ascii() && l.is_ascii()
                {
                    prop_assert!(!piece.contains(' ') && !piece.contains('\n'),
                        "{piece:?} cut mid-word though it has a space");
                }
                joined.push_str(piece);
            }
            prop_assert_eq!(joined, text);
        }
    }
}
