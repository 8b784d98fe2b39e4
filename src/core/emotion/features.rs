//! What the tone model sees of a text: hashed word and character n-grams (sparse) and a few
//! dense scores (lexicon valence, punctuation, capitals), all computed in one pass over the
//! characters with no allocation.
//!
//! The trainer (`examples/train_emotion.rs`) calls the same functions, so the model is trained
//! on exactly what it is later shown.

use super::lexicon::{Lexicon, Word};

/// log2 of the number of hashed buckets the sparse features fall into.
pub const BITS: u32 = 16;
/// The number of hashed buckets.
pub const BUCKETS: usize = 1 << BITS;
/// The number of dense features ([`Dense`]).
pub const DENSE: usize = 8;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Namespaces, so a word, a bigram and a character n-gram with equal hashes differ.
const SEED_WORD: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED_BIGRAM: u64 = 0xc2b2_ae3d_27d4_eb4f;
const SEED_CHARS: u64 = 0x1656_67b1_9e37_79f9;
/// The word boundary in character n-grams.
const BOUNDARY: u32 = ' ' as u32;

/// The hash of a lowercased word, as [`Lexicon`] keys it. `const`, so fixed word lists are
/// hashed at compile time; ASCII-only there, which is what those lists hold.
pub const fn word_hash(word: &str) -> u64 {
    let bytes = word.as_bytes();
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i].to_ascii_lowercase() as u64).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// [`word_hash`] of a word with any characters, lowercased as the scanner lowercases them.
pub fn hash_word(w: &str) -> u64 {
    w.chars()
        .flat_map(char::to_lowercase)
        .fold(FNV_OFFSET, |h, c| hash_char(h, c as u32))
}

/// One step of [`word_hash`] for a character already lowercased.
fn hash_char(h: u64, c: u32) -> u64 {
    (h ^ c as u64).wrapping_mul(FNV_PRIME)
}

/// A bucket from a 64-bit hash (the high bits of a multiplicative mix).
fn bucket(h: u64) -> u32 {
    let mut x = h;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> (64 - BITS)) as u32
}

/// Apostrophes that belong inside words (`don't`, `don’t`).
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ')
}

/// Which buckets a text has already counted: a text's features are present or absent, however
/// often they occur. 8 KiB, on the stack.
pub struct Seen([u64; BUCKETS / 64]);

impl Seen {
    /// Nothing seen.
    pub fn new() -> Self {
        Self([0; BUCKETS / 64])
    }

    /// Whether `bucket` is new (and now seen).
    pub fn insert(&mut self, bucket: u32) -> bool {
        let (word, bit) = (bucket as usize / 64, 1u64 << (bucket % 64));
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }
}

impl Default for Seen {
    fn default() -> Self {
        Self::new()
    }
}

/// The dense features ([`Dense::to_array`] gives them in the model's order, the compound split
/// into its positive and negative parts so that its magnitude counts too).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dense {
    /// Share of the lexicon's positive valence (0–1).
    pub positive: f32,
    /// Share of the negative valence (0–1).
    pub negative: f32,
    /// Share of words with no valence (0–1).
    pub neutral: f32,
    /// The normalized sum of valence (-1–1).
    pub compound: f32,
    /// Exclamation marks, 0–1 (three or more is 1).
    pub exclamations: f32,
    /// Whether a question mark is present.
    pub question_mark: f32,
    /// Share of words (of two letters or more) in capitals, when the text is not all capitals.
    pub shouting: f32,
}

impl Dense {
    /// The features as the model's input vector.
    pub fn to_array(self) -> [f32; DENSE] {
        [
            self.positive,
            self.negative,
            self.neutral,
            self.compound.max(0.0),
            (-self.compound).max(0.0),
            self.exclamations,
            self.question_mark,
            self.shouting,
        ]
    }
}

/// What one pass over a text found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scan {
    /// The dense features.
    pub dense: Dense,
    /// How many sparse features were emitted, repeats included.
    pub features: u32,
    /// Words (runs of letters, digits and inner apostrophes).
    pub words: u32,
    /// The sum of the fixed-list cues seen ([`Word::cue`]), for the rules.
    pub cues: Cues,
}

/// The rules' evidence: weights of the fixed word lists' cues, with negation applied.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cues {
    /// Alarm, failure and deadline words, and prohibitions.
    pub urgent: f32,
    /// Apologies.
    pub apology: f32,
    /// Thanks, greetings, good news.
    pub warmth: f32,
    /// `don't worry`, `do not panic`: reassurance.
    pub calm: f32,
    /// A clause starts with an urgent imperative (`stop`, `evacuate`, `hurry`).
    pub imperative: bool,
}

/// The valence changes of VADER (Hutto & Gilbert 2014): a booster or dampener shifts the next
/// sentiment word by this much, capitals by [`CAPS`], a negation scales it by [`NEGATION`].
const BOOST: f32 = 0.293;
const CAPS: f32 = 0.733;
const NEGATION: f32 = -0.74;
/// VADER's normalization constant for the compound score.
const ALPHA: f32 = 15.0;
/// The urgency of a clause that forbids (`do not drive`).
const PROHIBITION: f32 = 0.6;

/// Runs over `text` once: calls `emit` with the bucket of every sparse feature and returns the
/// dense ones. Deterministic; whitespace only separates words, so changing its amount or kind
/// changes nothing.
pub fn scan(text: &str, lexicon: &Lexicon<'_>, mut emit: impl FnMut(u32)) -> Scan {
    let (upper, lower) = text.chars().fold((0u32, 0u32), |(u, l), c| {
        (
            u + u32::from(c.is_uppercase()),
            l + u32::from(c.is_lowercase()),
        )
    });
    let all_caps = upper > 0 && lower == 0;

    let mut s = State::default();
    let mut out = Scan::default();
    let mut word = WordState::default();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let inner_apostrophe =
            is_apostrophe(c) && word.len > 0 && chars.peek().is_some_and(|n| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_apostrophe {
            if word.len == 0 {
                s.grams.begin();
            }
            let c = if inner_apostrophe { '\'' } else { c };
            word.push(c, &mut s.grams, &mut out.features, &mut emit);
            continue;
        }
        if word.len > 0 {
            s.end_word(&word, lexicon, all_caps, &mut out, &mut emit);
            word = WordState::default();
        }
        if c.is_whitespace() {
            continue;
        }
        // Any other character is a token of its own: punctuation, symbols, emoji.
        let lc = c.to_lowercase().next().unwrap_or(c) as u32;
        s.grams.begin();
        out.features += s.grams.push(lc, &mut emit);
        out.features += s.grams.end(&mut emit);
        let h = hash_char(FNV_OFFSET, lc);
        s.token(h, &mut out, &mut emit);
        match c {
            '!' => s.exclamations += 1,
            '?' => s.questions += 1,
            _ => {}
        }
        if matches!(c, '.' | ';' | ':' | '!' | '?' | '…') {
            s.clause_end();
        }
    }
    if word.len > 0 {
        s.end_word(&word, lexicon, all_caps, &mut out, &mut emit);
    }
    s.clause_end();
    out.dense = s.dense();
    out.cues = s.cues;
    out
}

/// The word being read.
#[derive(Default)]
struct WordState {
    hash: u64,
    len: u32,
    upper: u32,
    lower: u32,
}

impl WordState {
    fn push(&mut self, c: char, grams: &mut Grams, features: &mut u32, emit: &mut impl FnMut(u32)) {
        self.upper += u32::from(c.is_uppercase());
        self.lower += u32::from(c.is_lowercase());
        for l in c.to_lowercase() {
            self.hash = hash_char(if self.len == 0 { FNV_OFFSET } else { self.hash }, l as u32);
            self.len += 1;
            *features += grams.push(l as u32, emit);
        }
    }
}

/// The last five characters of the current token, for its character n-grams (2 to 5), each
/// token padded with a boundary on both sides.
#[derive(Default)]
struct Grams {
    window: [u32; 5],
    seen: usize,
}

impl Grams {
    /// A token starts.
    fn begin(&mut self) {
        self.window = [0, 0, 0, 0, BOUNDARY];
        self.seen = 1;
    }

    /// The token ends: its closing boundary's n-grams. Returns how many were emitted.
    fn end(&mut self, emit: &mut impl FnMut(u32)) -> u32 {
        let n = self.push(BOUNDARY, emit);
        self.seen = 0;
        n
    }

    /// A character; emits the n-grams that end with it. Returns how many.
    fn push(&mut self, c: u32, emit: &mut impl FnMut(u32)) -> u32 {
        if self.seen == 0 {
            return 0;
        }
        self.window.rotate_left(1);
        self.window[4] = c;
        self.seen += 1;
        let mut emitted = 0;
        for n in 2..=self.seen.min(5) {
            let mut h = SEED_CHARS ^ n as u64;
            for &g in &self.window[5 - n..] {
                h = hash_char(h, g);
            }
            emit(bucket(h));
            emitted += 1;
        }
        emitted
    }
}

/// The running state of one scan.
#[derive(Default)]
struct State {
    grams: Grams,
    previous: Option<u64>,
    /// The last three words: whether each negated, and its booster (±1, 0).
    negators: [bool; 3],
    boosters: [f32; 3],
    /// Valence sums as VADER keeps them, and the count of words with none.
    positive: f32,
    negative: f32,
    sum: f32,
    neutral_words: u32,
    /// Whether a `but` was seen: what follows weighs more (VADER's `but` rule).
    after_but: bool,
    shouting: u32,
    long_words: u32,
    exclamations: u32,
    questions: u32,
    cues: Cues,
    /// Words since the clause began; whether it began with `do`; whether a prohibition
    /// (`do not`, `never`) is waiting for its verb.
    clause_words: u32,
    opened_with_do: bool,
    prohibition: bool,
}

impl State {
    /// A token's word unigram and the bigram with the token before.
    fn token(&mut self, h: u64, out: &mut Scan, emit: &mut impl FnMut(u32)) {
        emit(bucket(h ^ SEED_WORD));
        out.features += 1;
        if let Some(p) = self.previous {
            emit(bucket(p.rotate_left(23) ^ h ^ SEED_BIGRAM));
            out.features += 1;
        }
        self.previous = Some(h);
    }

    fn clause_end(&mut self) {
        self.negators = [false; 3];
        self.boosters = [0.0; 3];
        self.clause_words = 0;
        self.opened_with_do = false;
        if std::mem::take(&mut self.prohibition) {
            // `Don't!`: a prohibition with nothing after it.
            self.cues.urgent += PROHIBITION;
        }
    }

    fn end_word(
        &mut self,
        w: &WordState,
        lexicon: &Lexicon<'_>,
        all_caps: bool,
        out: &mut Scan,
        emit: &mut impl FnMut(u32),
    ) {
        out.features += self.grams.end(emit);
        self.token(w.hash, out, emit);
        out.words += 1;
        let shouted = !all_caps && w.len >= 2 && w.upper > 0 && w.lower == 0;
        if w.len >= 2 {
            self.long_words += 1;
            self.shouting += u32::from(shouted);
        }
        let found = lexicon.get(w.hash);
        let negated = self.negators.iter().any(|&n| n);
        let first = self.clause_words == 0;
        self.clause_words += 1;
        if self.prohibition && w.hash != const { word_hash("not") } {
            // The word a prohibition forbids.
            self.prohibition = false;
            let c = found.map(|w| w.cue).unwrap_or_default();
            if c.calm {
                self.cues.calm += 1.0;
            } else if !c.subject {
                self.cues.urgent += PROHIBITION;
            }
        }
        match found {
            Some(word) => {
                self.cue(&word, negated, first);
                if word.valence != 0.0 {
                    self.valence(word.valence, shouted, negated);
                } else {
                    self.neutral_words += 1;
                }
            }
            None => self.neutral_words += 1,
        }
        if w.hash == const { word_hash("but") } {
            self.positive *= 0.5;
            self.negative *= 0.5;
            self.sum *= 0.5;
            self.after_but = true;
        }
        let (negator, booster) = found.map_or((false, 0.0), |w| (w.negator, w.booster));
        // `don't`, `never`, `do not` opening a clause: a prohibition, urgent unless what it
        // forbids is worry (`don't worry`, `do not panic`) or it is no command (`don't you`).
        let prohibits = found.is_some_and(|w| w.cue.prohibits);
        let do_not =
            self.clause_words == 2 && self.opened_with_do && w.hash == const { word_hash("not") };
        if (first && prohibits) || do_not {
            self.prohibition = true;
        }
        self.opened_with_do = first && w.hash == const { word_hash("do") };
        self.negators = [self.negators[1], self.negators[2], negator];
        self.boosters = [self.boosters[1], self.boosters[2], booster];
    }

    /// The fixed lists' evidence for the rules.
    fn cue(&mut self, word: &Word, negated: bool, first: bool) {
        let c = word.cue;
        if first && c.imperative {
            self.cues.imperative = true;
        }
        // `no errors`, `nothing failed`: a negated alarm is no alarm.
        if !negated {
            self.cues.urgent += c.urgent;
            self.cues.warmth += c.warmth;
        }
        self.cues.apology += c.apology;
    }

    /// One sentiment word's valence, shifted as VADER shifts it.
    fn valence(&mut self, valence: f32, shouted: bool, negated: bool) {
        let sign = valence.signum();
        let mut v = valence;
        if shouted {
            v += sign * CAPS;
        }
        // Boosters one, two and three words back count fully, 0.95 and 0.9.
        for (b, scale) in self.boosters.iter().rev().zip([1.0, 0.95, 0.9]) {
            v += sign * b * BOOST * scale;
        }
        if negated {
            v *= -NEGATION.abs();
        }
        if self.after_but {
            v *= 1.5;
        }
        self.sum += v;
        if v > 0.0 {
            self.positive += v + 1.0;
        } else if v < 0.0 {
            self.negative += v - 1.0;
        } else {
            self.neutral_words += 1;
        }
    }

    fn dense(&self) -> Dense {
        // VADER's punctuation emphasis: up to four `!` and three `?` push the sum outward.
        let emphasis = (self.exclamations.min(4) as f32) * 0.292
            + if self.questions > 1 {
                (self.questions.min(3) as f32 * 0.18).min(0.96)
            } else {
                0.0
            };
        let mut sum = self.sum;
        let mut positive = self.positive;
        let mut negative = self.negative;
        if sum > 0.0 {
            sum += emphasis;
            positive += emphasis;
        } else if sum < 0.0 {
            sum -= emphasis;
            negative -= emphasis;
        }
        let compound = (sum / (sum * sum + ALPHA).sqrt()).clamp(-1.0, 1.0);
        let total = positive + negative.abs() + self.neutral_words as f32;
        let share = |x: f32| if total > 0.0 { x / total } else { 0.0 };
        Dense {
            positive: share(positive),
            negative: share(negative.abs()),
            neutral: if total > 0.0 {
                share(self.neutral_words as f32)
            } else {
                1.0
            },
            compound,
            exclamations: (self.exclamations.min(3) as f32) / 3.0,
            question_mark: f32::from(self.questions > 0),
            shouting: if self.long_words > 0 {
                self.shouting as f32 / self.long_words as f32
            } else {
                0.0
            },
        }
    }
}
