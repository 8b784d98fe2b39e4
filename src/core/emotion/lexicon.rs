//! Word lookups by hash: the VADER sentiment lexicon (MIT; generated into `lexicon.bin` by the
//! trainer from the `vaderSentiment` 3.3.2 package, see `SOURCE.md`) and the fixed lists of the
//! rules (VADER's negations and boosters; our urgency, apology, warmth and calm cues).

use super::features::{hash_word, word_hash};

/// What the lexicon and the lists say of a word.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Word {
    /// VADER's mean valence, -4 to 4 (0 when it has none).
    pub valence: f32,
    /// A negation (`not`, `never`, `don't`).
    pub negator: bool,
    /// 1 for a booster (`very`), -1 for a dampener (`slightly`).
    pub booster: f32,
    /// Its weight in the rules' cue lists.
    pub cue: Cue,
}

/// A word's weight in the rules' cue lists.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cue {
    /// Alarm (`error`, `evacuate`, `deadline`).
    pub urgent: f32,
    /// Apology (`sorry`, `unfortunately`).
    pub apology: f32,
    /// Warmth (`thanks`, `hello`, `congratulations`).
    pub warmth: f32,
    /// An urgent verb that opens a command (`stop`, `evacuate`).
    pub imperative: bool,
    /// What a prohibition can forbid without alarm (`don't worry`).
    pub calm: bool,
    /// A word that opens a prohibition (`don't`, `never`; `do` followed by `not`).
    pub prohibits: bool,
    /// A subject pronoun: after `don't` it makes a statement or a question, not a command
    /// (`don't you think`, `don't know`).
    pub subject: bool,
}

/// The embedded lexicon.
pub static EMBEDDED: Lexicon<'static> = Lexicon {
    vader: include_bytes!("lexicon.bin"),
};

/// Bytes per entry of the VADER table: the high half of the word's hash (little-endian u32),
/// then the valence times [`VALENCE_SCALE`] as an i8. Entries are sorted by key.
pub const ENTRY: usize = 5;
/// The valence's fixed-point scale (a step of 0.04).
pub const VALENCE_SCALE: f32 = 25.0;

/// A view of a VADER table and the fixed lists.
#[derive(Clone, Copy, Debug)]
pub struct Lexicon<'a> {
    vader: &'a [u8],
}

impl<'a> Lexicon<'a> {
    /// A table as [`encode`] writes it; `None` if its length is not whole entries.
    pub fn new(vader: &'a [u8]) -> Option<Self> {
        vader.len().is_multiple_of(ENTRY).then_some(Self { vader })
    }

    /// The number of words in the VADER table.
    pub fn len(&self) -> usize {
        self.vader.len() / ENTRY
    }

    /// Whether the VADER table is empty.
    pub fn is_empty(&self) -> bool {
        self.vader.is_empty()
    }

    /// What is known of the word with this [`word_hash`], if anything.
    pub fn get(&self, hash: u64) -> Option<Word> {
        let fixed = FIXED
            .binary_search_by_key(&hash, |&(h, _)| h)
            .ok()
            .map(|i| FIXED[i].1);
        let valence = self.valence(key(hash));
        if fixed.is_none() && valence.is_none() {
            return None;
        }
        let mut word = fixed.unwrap_or_default();
        word.valence = valence.unwrap_or(0.0);
        Some(word)
    }

    fn valence(&self, key: u32) -> Option<f32> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = &self.vader[mid * ENTRY..(mid + 1) * ENTRY];
            let k = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            match k.cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(f32::from(e[4] as i8) / VALENCE_SCALE),
            }
        }
        None
    }
}

/// The key of a word in the VADER table.
fn key(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// A VADER table from `(word, valence)` pairs (the trainer's job). Words that do not tokenize
/// as one word here (`:)`, `( '}{' )`) can never be looked up and are left out; so are keys
/// that collide, keeping the first.
pub fn encode<'w>(words: impl IntoIterator<Item = (&'w str, f32)>) -> Vec<u8> {
    let mut entries: Vec<(u32, i8)> = words
        .into_iter()
        .filter(|(w, _)| is_one_word(w))
        .map(|(w, v)| {
            (
                key(hash_word(w)),
                (v * VALENCE_SCALE).round().clamp(-127.0, 127.0) as i8,
            )
        })
        .collect();
    entries.sort_by_key(|&(k, _)| k);
    entries.dedup_by_key(|e| e.0);
    let mut out = Vec::with_capacity(entries.len() * ENTRY);
    for (k, v) in entries {
        out.extend_from_slice(&k.to_le_bytes());
        out.push(v as u8);
    }
    out
}

/// Whether the scanner reads `w` as a single word.
fn is_one_word(w: &str) -> bool {
    let chars: Vec<char> = w.chars().collect();
    !chars.is_empty()
        && chars.iter().enumerate().all(|(i, &c)| {
            c.is_alphanumeric()
                || (c == '\'' && i > 0 && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()))
        })
}

const NEGATOR: Word = Word {
    valence: 0.0,
    negator: true,
    booster: 0.0,
    cue: Cue {
        urgent: 0.0,
        apology: 0.0,
        warmth: 0.0,
        imperative: false,
        calm: false,
        prohibits: false,
        subject: false,
    },
};

const fn booster(b: f32) -> Word {
    Word {
        booster: b,
        negator: false,
        ..NONE
    }
}

const NONE: Word = Word {
    negator: false,
    ..NEGATOR
};

const fn cue(urgent: f32, apology: f32, warmth: f32) -> Word {
    Word {
        cue: Cue {
            urgent,
            apology,
            warmth,
            imperative: false,
            calm: false,
            prohibits: false,
            subject: false,
        },
        ..NONE
    }
}

const fn imperative(urgent: f32) -> Word {
    Word {
        cue: Cue {
            imperative: true,
            ..cue(urgent, 0.0, 0.0).cue
        },
        ..NONE
    }
}

/// A negation that opens a prohibition.
const PROHIBITS: Word = Word {
    cue: Cue {
        prohibits: true,
        ..NEGATOR.cue
    },
    ..NEGATOR
};

const SUBJECT: Word = Word {
    cue: Cue {
        subject: true,
        ..NONE.cue
    },
    ..NONE
};

const CALM: Word = Word {
    cue: Cue {
        calm: true,
        ..NONE.cue
    },
    ..NONE
};

/// The fixed lists. VADER's negations and boosters (Hutto & Gilbert 2014, MIT), then the cues
/// of agent replies: alarms, deadlines and failures (urgent), apologies, greetings and thanks
/// (warmth), and what `don't` may calmly forbid.
#[rustfmt::skip]
const LISTS: &[(&str, Word)] = &[
    // Negations.
    ("not", NEGATOR), ("no", NEGATOR), ("never", PROHIBITS), ("none", NEGATOR), ("nothing", NEGATOR),
    ("nowhere", NEGATOR), ("neither", NEGATOR), ("nor", NEGATOR), ("nope", NEGATOR),
    ("without", NEGATOR), ("cannot", NEGATOR), ("rarely", NEGATOR), ("seldom", NEGATOR),
    ("despite", NEGATOR), ("ain't", NEGATOR), ("aint", NEGATOR), ("aren't", NEGATOR),
    ("arent", NEGATOR), ("can't", NEGATOR), ("cant", NEGATOR), ("couldn't", NEGATOR),
    ("couldnt", NEGATOR), ("didn't", NEGATOR), ("didnt", NEGATOR), ("doesn't", NEGATOR),
    ("doesnt", NEGATOR), ("don't", PROHIBITS), ("dont", PROHIBITS), ("hadn't", NEGATOR),
    ("hadnt", NEGATOR), ("hasn't", NEGATOR), ("hasnt", NEGATOR), ("haven't", NEGATOR),
    ("havent", NEGATOR), ("isn't", NEGATOR), ("isnt", NEGATOR), ("mightn't", NEGATOR),
    ("mustn't", NEGATOR), ("mustnt", NEGATOR), ("needn't", NEGATOR), ("neednt", NEGATOR),
    ("shan't", NEGATOR), ("shouldn't", NEGATOR), ("shouldnt", NEGATOR), ("wasn't", NEGATOR),
    ("wasnt", NEGATOR), ("weren't", NEGATOR), ("werent", NEGATOR), ("won't", NEGATOR),
    ("wont", NEGATOR), ("wouldn't", NEGATOR), ("wouldnt", NEGATOR), ("oughtn't", NEGATOR),
    // Boosters and dampeners.
    ("absolutely", booster(1.0)), ("amazingly", booster(1.0)), ("awfully", booster(1.0)),
    ("completely", booster(1.0)), ("considerably", booster(1.0)), ("decidedly", booster(1.0)),
    ("deeply", booster(1.0)), ("enormously", booster(1.0)), ("entirely", booster(1.0)),
    ("especially", booster(1.0)), ("exceptionally", booster(1.0)), ("extremely", booster(1.0)),
    ("fabulously", booster(1.0)), ("fully", booster(1.0)), ("greatly", booster(1.0)),
    ("hella", booster(1.0)), ("highly", booster(1.0)), ("hugely", booster(1.0)),
    ("incredibly", booster(1.0)), ("intensely", booster(1.0)), ("majorly", booster(1.0)),
    ("more", booster(1.0)), ("most", booster(1.0)), ("particularly", booster(1.0)),
    ("purely", booster(1.0)), ("quite", booster(1.0)), ("really", booster(1.0)),
    ("remarkably", booster(1.0)), ("so", booster(1.0)), ("substantially", booster(1.0)),
    ("thoroughly", booster(1.0)), ("totally", booster(1.0)), ("tremendously", booster(1.0)),
    ("unbelievably", booster(1.0)), ("unusually", booster(1.0)), ("utterly", booster(1.0)),
    ("very", booster(1.0)), ("super", booster(1.0)),
    ("almost", booster(-1.0)), ("barely", booster(-1.0)), ("hardly", booster(-1.0)),
    ("kinda", booster(-1.0)), ("less", booster(-1.0)), ("little", booster(-1.0)),
    ("marginally", booster(-1.0)), ("occasionally", booster(-1.0)), ("partly", booster(-1.0)),
    ("scarcely", booster(-1.0)), ("slightly", booster(-1.0)), ("somewhat", booster(-1.0)),
    ("sorta", booster(-1.0)),
    // Urgency: alarms, failures, deadlines.
    ("emergency", cue(1.0, 0.0, 0.0)), ("evacuate", imperative(1.0)), ("evacuation", cue(1.0, 0.0, 0.0)),
    ("danger", cue(1.0, 0.0, 0.0)), ("dangerous", cue(0.8, 0.0, 0.0)), ("urgent", cue(1.0, 0.0, 0.0)),
    ("urgently", cue(1.0, 0.0, 0.0)), ("immediately", cue(0.8, 0.0, 0.0)), ("asap", cue(0.8, 0.0, 0.0)),
    ("critical", cue(0.9, 0.0, 0.0)), ("fatal", cue(1.0, 0.0, 0.0)), ("alert", cue(0.9, 0.0, 0.0)),
    ("alarm", cue(0.8, 0.0, 0.0)), ("warning", cue(0.9, 0.0, 0.0)), ("warn", cue(0.6, 0.0, 0.0)),
    ("caution", cue(0.8, 0.0, 0.0)), ("beware", cue(0.9, 0.0, 0.0)), ("hazard", cue(0.9, 0.0, 0.0)),
    ("outage", cue(0.9, 0.0, 0.0)), ("breach", cue(0.9, 0.0, 0.0)), ("compromised", cue(0.8, 0.0, 0.0)),
    ("vulnerability", cue(0.7, 0.0, 0.0)), ("severe", cue(0.7, 0.0, 0.0)), ("error", cue(0.7, 0.0, 0.0)),
    ("errors", cue(0.7, 0.0, 0.0)), ("failed", cue(0.6, 0.0, 0.0)), ("failure", cue(0.7, 0.0, 0.0)),
    ("failing", cue(0.6, 0.0, 0.0)), ("fails", cue(0.5, 0.0, 0.0)), ("crash", cue(0.6, 0.0, 0.0)),
    ("crashed", cue(0.7, 0.0, 0.0)), ("corrupted", cue(0.7, 0.0, 0.0)), ("panic", cue(0.6, 0.0, 0.0)),
    ("exceeded", cue(0.5, 0.0, 0.0)), ("overdue", cue(0.7, 0.0, 0.0)), ("deadline", cue(0.6, 0.0, 0.0)),
    ("expires", cue(0.5, 0.0, 0.0)), ("expired", cue(0.6, 0.0, 0.0)), ("expiring", cue(0.6, 0.0, 0.0)),
    ("hurry", imperative(0.8)), ("quickly", cue(0.3, 0.0, 0.0)), ("now", cue(0.3, 0.0, 0.0)),
    ("must", cue(0.3, 0.0, 0.0)), ("attention", cue(0.4, 0.0, 0.0)), ("careful", cue(0.4, 0.0, 0.0)),
    ("stop", imperative(0.4)), ("unreachable", cue(0.6, 0.0, 0.0)), ("denied", cue(0.4, 0.0, 0.0)),
    ("leak", cue(0.5, 0.0, 0.0)), ("leaking", cue(0.6, 0.0, 0.0)), ("flood", cue(0.6, 0.0, 0.0)),
    ("fire", cue(0.4, 0.0, 0.0)), ("tornado", cue(0.8, 0.0, 0.0)), ("911", cue(0.8, 0.0, 0.0)),
    ("help", cue(0.3, 0.0, 0.0)), ("sos", cue(1.0, 0.0, 0.0)),
    // Apologies.
    ("sorry", cue(0.0, 1.0, 0.0)), ("apologize", cue(0.0, 1.0, 0.0)), ("apologise", cue(0.0, 1.0, 0.0)),
    ("apologies", cue(0.0, 1.0, 0.0)), ("unfortunately", cue(0.0, 0.8, 0.0)), ("regret", cue(0.0, 0.6, 0.0)),
    ("regrettably", cue(0.0, 0.8, 0.0)), ("afraid", Word { cue: Cue { calm: true, ..cue(0.0, 0.3, 0.0).cue }, ..NONE }),
    // Warmth: greetings, thanks, success.
    ("thanks", cue(0.0, 0.0, 1.0)), ("thank", cue(0.0, 0.0, 1.0)), ("welcome", cue(0.0, 0.0, 0.6)),
    ("hello", cue(0.0, 0.0, 0.8)), ("hi", cue(0.0, 0.0, 0.6)), ("hey", cue(0.0, 0.0, 0.5)),
    ("congratulations", cue(0.0, 0.0, 1.0)), ("congrats", cue(0.0, 0.0, 1.0)), ("glad", cue(0.0, 0.0, 0.8)),
    ("great", cue(0.0, 0.0, 0.6)), ("awesome", cue(0.0, 0.0, 0.7)), ("wonderful", cue(0.0, 0.0, 0.8)),
    ("excellent", cue(0.0, 0.0, 0.7)), ("perfect", cue(0.0, 0.0, 0.6)), ("success", cue(0.0, 0.0, 0.6)),
    ("successfully", cue(0.0, 0.0, 0.6)), ("succeeded", cue(0.0, 0.0, 0.6)), ("passed", cue(0.0, 0.0, 0.5)),
    ("enjoy", cue(0.0, 0.0, 0.6)), ("happy", cue(0.0, 0.0, 0.8)), ("delighted", cue(0.0, 0.0, 1.0)),
    ("pleased", cue(0.0, 0.0, 0.7)), ("nice", cue(0.0, 0.0, 0.5)), ("good", cue(0.0, 0.0, 0.4)),
    ("love", cue(0.0, 0.0, 0.6)), ("fantastic", cue(0.0, 0.0, 0.9)), ("yay", cue(0.0, 0.0, 1.0)),
    ("hooray", cue(0.0, 0.0, 1.0)),
    // What a prohibition may forbid calmly.
    ("worry", CALM), ("worried", CALM), ("panicking", CALM), ("fret", CALM), ("hesitate", CALM),
    ("stress", CALM), ("rush", CALM), ("mind", CALM), ("bother", CALM), ("forget", CALM),
    // Subjects: `don't you`, `don't know` (an elided `I`) are no commands.
    ("i", SUBJECT), ("you", SUBJECT), ("we", SUBJECT), ("they", SUBJECT), ("he", SUBJECT),
    ("she", SUBJECT), ("it", SUBJECT), ("know", SUBJECT), ("think", SUBJECT), ("want", SUBJECT),
    ("care", SUBJECT), ("need", SUBJECT), ("like", SUBJECT), ("get", SUBJECT), ("see", SUBJECT),
];

/// [`LISTS`] keyed by hash, sorted for binary search (built at compile time).
static FIXED: [(u64, Word); LISTS.len()] = sorted();

const fn sorted() -> [(u64, Word); LISTS.len()] {
    let mut out = [(0u64, NONE); LISTS.len()];
    let mut i = 0;
    while i < LISTS.len() {
        out[i] = (word_hash(LISTS[i].0), LISTS[i].1);
        i += 1;
    }
    // Insertion sort: a few hundred entries, once, by the compiler.
    let mut i = 1;
    while i < out.len() {
        let mut j = i;
        while j > 0 && out[j - 1].0 > out[j].0 {
            let t = out[j - 1];
            out[j - 1] = out[j];
            out[j] = t;
            j -= 1;
        }
        i += 1;
    }
    // A word listed twice would shadow one of its entries.
    let mut i = 1;
    while i < out.len() {
        assert!(out[i - 1].0 != out[i].0, "a word is listed twice in LISTS");
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_agree_and_lists_are_found() {
        assert_eq!(hash_word("Don't"), word_hash("don't"));
        assert_eq!(hash_word("ÉCOLE"), hash_word("école"));
        let l = Lexicon::new(&[]).unwrap();
        assert!(l.get(word_hash("not")).unwrap().negator);
        assert_eq!(l.get(word_hash("very")).unwrap().booster, 1.0);
        assert!(l.get(word_hash("evacuate")).unwrap().cue.imperative);
        assert_eq!(l.get(word_hash("table")), None);
    }

    #[test]
    fn encoded_tables_are_looked_up() {
        let bytes = encode([("good", 1.9), ("bad", -2.5), (":)", 2.0), ("don't", 0.0)]);
        assert_eq!(bytes.len(), 3 * ENTRY, "`:)` is not a word here");
        let l = Lexicon::new(&bytes).unwrap();
        assert!((l.get(hash_word("GOOD")).unwrap().valence - 1.9).abs() <= 0.02);
        assert!((l.get(hash_word("bad")).unwrap().valence + 2.5).abs() <= 0.02);
        assert_eq!(l.get(hash_word("worse")), None);
        assert!(Lexicon::new(&bytes[1..]).is_none());
    }

    #[test]
    fn the_embedded_table_is_whole() {
        assert!(EMBEDDED.len() > 7_000, "{} words", EMBEDDED.len());
        assert!(EMBEDDED.get(hash_word("horrible")).unwrap().valence < -2.0);
    }
}
