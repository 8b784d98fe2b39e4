//! Trains the tone model embedded in `src/core/emotion/` (`model.bin`, `lexicon.bin`) on
//! `train.tsv`, with the same feature code the server runs. Deterministic: the same inputs give
//! the same bytes (the checksums are in `src/core/emotion/SOURCE.md`). Run it through
//! `scripts/emotion/train.sh`, which fetches the VADER lexicon and checks the result.
//!
//! ```text
//! train_emotion --train TRAIN.tsv --vader vader_lexicon.txt [--out DIR] [--validate]
//! ```
//! `--validate` holds out 100 rows per class and source of TRAIN.tsv, trains on the rest and prints the
//! held-out figures (how the settings below were chosen); nothing is written. Without it, it
//! trains on all of TRAIN.tsv and writes DIR/lexicon.bin and DIR/model.bin.

use std::error::Error;
use std::path::PathBuf;

use mcp_elevenlabs::core::emotion::features::{self, DENSE};
use mcp_elevenlabs::core::emotion::lexicon::{self, Lexicon};
use mcp_elevenlabs::core::emotion::model::{CLASSES, Model, Weights};
use mcp_elevenlabs::core::emotion::{Tone, analyze_with};

/// The training's settings (`--epochs`, `--rate`, `--l2`); the defaults are what made the
/// embedded model.
#[derive(Clone, Copy)]
struct Settings {
    /// Passes over the data.
    epochs: usize,
    /// The learning rate's start.
    rate: f32,
    /// The L2 penalty per row (sklearn's `C` is `1 / (l2 * rows)`).
    l2: f32,
    /// Added to the classes' biases after training, so that each class is predicted as often
    /// as it should be on data where every class and source counts equally (`--calibrate`
    /// finds them from out-of-fold predictions on the training data).
    offsets: [f32; CLASSES],
}

const SETTINGS: Settings = Settings {
    epochs: 20,
    rate: 0.1,
    l2: 1e-5,
    offsets: [0.0, -0.45, -0.1, 0.15],
};

/// Folds of `--calibrate`'s cross-validation.
const FOLDS: usize = 5;
/// The shuffle's seed.
const SEED: u64 = 0x005e_ed0f_700e;
/// Rows per class and source held out by `--validate`.
const HELD_OUT: usize = 100;

struct Row {
    text: String,
    label: usize,
    question: bool,
    /// 0 for GoEmotions (Reddit comments), 1 for XED (film subtitles).
    source: usize,
}

/// The data's sources.
const SOURCES: usize = 2;

struct Example {
    buckets: Vec<u32>,
    dense: [f32; DENSE],
    label: usize,
    source: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut train = None;
    let mut vader = None;
    let mut out = PathBuf::from("src/core/emotion");
    let mut validate = false;
    let mut calibrate_only = false;
    let mut settings = SETTINGS;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--train" => train = args.next().map(PathBuf::from),
            "--vader" => vader = args.next().map(PathBuf::from),
            "--out" => {
                out = args
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--out needs a directory")?
            }
            "--validate" => validate = true,
            "--calibrate" => calibrate_only = true,
            "--epochs" => settings.epochs = args.next().ok_or("--epochs N")?.parse()?,
            "--rate" => settings.rate = args.next().ok_or("--rate X")?.parse()?,
            "--l2" => settings.l2 = args.next().ok_or("--l2 X")?.parse()?,
            _ => return Err(format!("unknown argument {a:?}").into()),
        }
    }
    let train = read_tsv(&train.ok_or("--train FILE is required")?)?;
    let vader = std::fs::read_to_string(vader.ok_or("--vader FILE is required")?)?;
    let table = lexicon::encode(vader.lines().filter_map(|l| {
        let mut f = l.split('\t');
        Some((f.next()?, f.next()?.parse::<f32>().ok()?))
    }));
    let lex = Lexicon::new(&table).ok_or("bad lexicon table")?;
    eprintln!("lexicon: {} words", lex.len());

    if calibrate_only {
        let offsets = calibrate(&train, &lex, settings);
        println!("offsets: {offsets:?}");
        return Ok(());
    }
    let (fit, held): (Vec<&Row>, Vec<&Row>) = if validate {
        split(&train)
    } else {
        (train.iter().collect(), Vec::new())
    };
    let examples: Vec<Example> = fit.iter().map(|r| example(r, &lex)).collect();
    let mut weights = fit_model(&examples, settings);
    for (b, o) in weights.bias.iter_mut().zip(settings.offsets) {
        *b += o;
    }
    let bytes = weights.encode();
    let m = Model::new(&bytes).ok_or("encoded model has the wrong shape")?;
    if validate {
        report("held out, model only", &held, |t| {
            argmax(m.probabilities(t, &lex).0)
        });
        report("held out, model + rules", &held, |t| {
            analyze_with(&m, &lex, t).tone as usize
        });
        let q = held
            .iter()
            .filter(|r| mcp_elevenlabs::core::emotion::is_question(&r.text) == r.question)
            .count();
        eprintln!("question accuracy {:.3}", q as f64 / held.len() as f64);
    } else {
        report("train (fit)", &train.iter().collect::<Vec<_>>(), |t| {
            analyze_with(&m, &lex, t).tone as usize
        });
        std::fs::write(out.join("lexicon.bin"), &table)?;
        std::fs::write(out.join("model.bin"), &bytes)?;
        eprintln!(
            "wrote {} and {}",
            out.join("lexicon.bin").display(),
            out.join("model.bin").display()
        );
    }
    Ok(())
}

fn read_tsv(path: &PathBuf) -> Result<Vec<Row>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let [t, label, question, source, ..] = f[..] else {
            return Err(format!("{}:{}: fewer than 4 columns", path.display(), n + 1).into());
        };
        let label = Tone::parse(label)
            .ok_or_else(|| format!("{}:{}: unknown label {label:?}", path.display(), n + 1))?;
        rows.push(Row {
            text: unescape(t),
            label: label as usize,
            question: question == "1",
            source: usize::from(!source.starts_with("goemotions")),
        });
    }
    Ok(rows)
}

/// The TSV's backslash escapes undone.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// `HELD_OUT` rows of each class and source (chosen by the seeded shuffle) and the rest.
fn split(rows: &[Row]) -> (Vec<&Row>, Vec<&Row>) {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    shuffle(&mut order, &mut Rng(SEED ^ 0xdead));
    let mut taken = [[0usize; SOURCES]; CLASSES];
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for i in order {
        let r = &rows[i];
        if taken[r.label][r.source] < HELD_OUT {
            taken[r.label][r.source] += 1;
            held.push(r);
        } else {
            fit.push(r);
        }
    }
    (fit, held)
}

fn example(r: &Row, lex: &Lexicon<'_>) -> Example {
    let mut buckets = Vec::new();
    let scan = features::scan(&r.text, lex, |b| buckets.push(b));
    // Present or absent, as the model reads them.
    buckets.sort_unstable();
    buckets.dedup();
    Example {
        buckets,
        dense: scan.dense.to_array(),
        label: r.label,
        source: r.source,
    }
}

/// Bias offsets that maximize macro-F1 (each class and source weighted equally) of out-of-fold
/// predictions: the model trained on four fifths of TRAIN predicts the fifth left out, five
/// times; then a coordinate search over each class's offset.
fn calibrate(rows: &[Row], lex: &Lexicon<'_>, s: Settings) -> [f32; CLASSES] {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    shuffle(&mut order, &mut Rng(SEED ^ 0xf01d));
    let mut logs = vec![[0.0f32; CLASSES]; rows.len()];
    for k in 0..FOLDS {
        let fit: Vec<Example> = order
            .iter()
            .enumerate()
            .filter(|(n, _)| n % FOLDS != k)
            .map(|(_, &i)| example(&rows[i], lex))
            .collect();
        let bytes = fit_model(&fit, s).encode();
        let m = Model::new(&bytes).expect("an encoded model");
        for (_, &i) in order.iter().enumerate().filter(|(n, _)| n % FOLDS == k) {
            logs[i] = m
                .probabilities(&rows[i].text, lex)
                .0
                .map(|p| p.max(1e-9).ln());
        }
    }
    let mut cells = [[0usize; SOURCES]; CLASSES];
    for r in rows {
        cells[r.label][r.source] += 1;
    }
    let weight = cells.map(|c| c.map(|n| 1.0 / n.max(1) as f64));
    let score = |offsets: &[f32; CLASSES]| {
        let mut confusion = [[0.0f64; CLASSES]; CLASSES];
        for (r, l) in rows.iter().zip(&logs) {
            let mut shifted = *l;
            for (x, o) in shifted.iter_mut().zip(offsets) {
                *x += o;
            }
            confusion[r.label][argmax(shifted)] += weight[r.label][r.source];
        }
        macro_f1(&confusion)
    };
    let mut best = [0.0f32; CLASSES];
    let mut best_score = score(&best);
    eprintln!("out-of-fold macro-F1 {best_score:.4} with no offsets");
    for _ in 0..3 {
        for c in 1..CLASSES {
            for step in -20..=20 {
                let mut o = best;
                o[c] = step as f32 * 0.05;
                let sc = score(&o);
                if sc > best_score + 1e-9 {
                    (best, best_score) = (o, sc);
                }
            }
        }
    }
    eprintln!("out-of-fold macro-F1 {best_score:.4} with offsets {best:?}");
    best
}

fn macro_f1(confusion: &[[f64; CLASSES]; CLASSES]) -> f64 {
    let mut sum = 0.0;
    for (c, row) in confusion.iter().enumerate() {
        let predicted: f64 = confusion.iter().map(|r| r[c]).sum();
        let actual: f64 = row.iter().sum();
        let (p, r) = (row[c] / predicted.max(1e-12), row[c] / actual.max(1e-12));
        sum += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    sum / CLASSES as f64
}

/// A xorshift generator: the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        v.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
}

/// Multinomial logistic regression with L2 regularization by stochastic gradient descent
/// (Bottou's schedule, the penalty applied to every weight through a shared scale), each class
/// and source weighted to count equally; the result is the mean of the weights after each epoch.
fn fit_model(examples: &[Example], s: Settings) -> Weights {
    // Every class, and within it every source, counts equally: in the data most fear comes from
    // subtitles and most joy from Reddit, which says nothing of tone.
    let mut counts = [[0usize; SOURCES]; CLASSES];
    for e in examples {
        counts[e.label][e.source] += 1;
    }
    let n = examples.len() as f32;
    let cell_weight = counts.map(|c| c.map(|c| n / ((CLASSES * SOURCES) as f32 * c.max(1) as f32)));
    let lambda = s.l2;
    // w = scale * v for the sparse and dense weights; the bias is not penalized.
    let mut v = Weights::zero();
    let mut scale = 1.0f32;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = Rng(SEED);
    let mut mean = Weights::zero();
    let mut snapshots = 0.0f32;
    let mut t = 0.0f32;
    for epoch in 0..s.epochs {
        shuffle(&mut order, &mut rng);
        let mut loss = 0.0f64;
        for &i in &order {
            let e = &examples[i];
            let eta = s.rate / (1.0 + lambda * s.rate * t);
            t += 1.0;
            let norm = if e.buckets.is_empty() {
                0.0
            } else {
                (e.buckets.len() as f32).sqrt().recip()
            };
            let mut logits = v.bias;
            for &b in &e.buckets {
                for (c, l) in logits.iter_mut().enumerate() {
                    *l += scale * v.sparse[b as usize * CLASSES + c] * norm;
                }
            }
            for (d, x) in e.dense.iter().enumerate() {
                for (c, l) in logits.iter_mut().enumerate() {
                    *l += scale * x * v.dense[d][c];
                }
            }
            let p = softmax(logits);
            let cw = cell_weight[e.label][e.source];
            loss -= f64::from(p[e.label].max(1e-9).ln() * cw);
            let g: [f32; CLASSES] =
                std::array::from_fn(|c| (p[c] - f32::from(u8::from(c == e.label))) * cw);
            scale *= 1.0 - eta * lambda;
            for &b in &e.buckets {
                for (c, gc) in g.iter().enumerate() {
                    v.sparse[b as usize * CLASSES + c] -= eta * gc * norm / scale;
                }
            }
            for (d, x) in e.dense.iter().enumerate() {
                for (c, gc) in g.iter().enumerate() {
                    v.dense[d][c] -= eta * gc * x / scale;
                }
            }
            for (c, gc) in g.iter().enumerate() {
                v.bias[c] -= eta * gc;
            }
            if scale < 1e-6 {
                rescale(&mut v, scale);
                scale = 1.0;
            }
        }
        eprintln!(
            "epoch {}: loss {:.4}",
            epoch + 1,
            loss / examples.len() as f64
        );
        rescale(&mut v, scale);
        scale = 1.0;
        if epoch >= 1 || s.epochs == 1 {
            snapshots += 1.0;
            add(&mut mean, &v);
        }
    }
    for x in mean
        .sparse
        .iter_mut()
        .chain(mean.dense.iter_mut().flatten())
        .chain(mean.bias.iter_mut())
    {
        *x /= snapshots;
    }
    mean
}

/// The penalized weights multiplied out by `k` (the bias has no scale).
fn rescale(w: &mut Weights, k: f32) {
    w.sparse
        .iter_mut()
        .chain(w.dense.iter_mut().flatten())
        .for_each(|x| *x *= k);
}

fn add(to: &mut Weights, w: &Weights) {
    for (a, b) in to.sparse.iter_mut().zip(&w.sparse) {
        *a += b;
    }
    for (a, b) in to.dense.iter_mut().flatten().zip(w.dense.iter().flatten()) {
        *a += b;
    }
    for (a, b) in to.bias.iter_mut().zip(&w.bias) {
        *a += b;
    }
}

/// The probabilities of logits, with the exact `exp` (the server's `model::softmax` uses an
/// approximation that needs no libm; the weights are trained with this one).
fn softmax(logits: [f32; CLASSES]) -> [f32; CLASSES] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp = logits.map(|l| (l - max).exp());
    let sum: f32 = exp.iter().sum();
    exp.map(|e| e / sum)
}

fn argmax(p: [f32; CLASSES]) -> usize {
    (0..CLASSES).fold(0, |b, i| if p[i] > p[b] { i } else { b })
}

/// Accuracy, macro-F1 and each class's precision and recall.
fn report(name: &str, rows: &[&Row], predict: impl Fn(&str) -> usize) {
    let mut confusion = [[0usize; CLASSES]; CLASSES];
    for r in rows {
        confusion[r.label][predict(&r.text)] += 1;
    }
    let mut right = 0;
    let mut f1s = 0.0;
    let mut lines = Vec::new();
    for (c, row) in confusion.iter().enumerate() {
        right += row[c];
        let tp = row[c] as f64;
        let predicted: usize = confusion.iter().map(|r| r[c]).sum();
        let actual: usize = row.iter().sum();
        let p = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let r = if actual > 0 { tp / actual as f64 } else { 0.0 };
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        f1s += f;
        lines.push(format!(
            "{:>8} precision {p:.3} recall {r:.3} f1 {f:.3}",
            Tone::ALL[c].as_str()
        ));
    }
    eprintln!(
        "{name}: {} rows, accuracy {:.3}, macro-F1 {:.3}",
        rows.len(),
        right as f64 / rows.len() as f64,
        f1s / CLASSES as f64
    );
    for l in lines {
        eprintln!("  {l}");
    }
}
