//! Replays a trace: a fresh core from the trace's config, each recorded input fed at its recorded
//! instant, and its outputs compared with the recorded ones, in order within each of the three
//! channels the shell serves: the client's bytes (`stdout`), jobs (`start`, `cancel`) and the log.
//! How the channels interleave within one input is not compared: the client, the workers and
//! stderr cannot observe it. Pure apart from reading the file and taking one base `Instant`.

use super::codec;
use super::config::{self, REPLAY_KEY};
use super::record::FORMAT;
use super::scrub::{AudioTable, Redactor};
use crate::core::{self, Server};
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How much of a value a divergence message shows.
const SHOWN: usize = 300;

/// Why a file could not be replayed at all.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file could not be read.
    Unreadable(String),
    /// A line is not what a trace holds.
    Invalid {
        /// 1-based line number.
        line: usize,
        /// What is wrong there.
        why: String,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(why) => f.write_str(why),
            Self::Invalid { line, why } => write!(
                f,
                "line {line}: {why} (a trace is what `mcp-elevenlabs serve --trace FILE` writes)"
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

/// Where the replay first differed from the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The input after which it happened.
    pub input: u64,
    /// That input, as recorded, and its time.
    pub input_value: Value,
    /// Nanoseconds after start.
    pub t_ns: u64,
    /// The channel: `stdout`, `jobs` or `log`.
    pub channel: &'static str,
    /// 1-based index among that input's outputs on the channel.
    pub output: usize,
    /// The recorded output (`None`: the trace has no more).
    pub expected: Option<Value>,
    /// The replayed output (`None`: the core produced no more).
    pub got: Option<Value>,
}

/// The outcome of a replay that could run.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Inputs fed.
    pub inputs: u64,
    /// Outputs compared (and equal).
    pub outputs: u64,
    /// The version that recorded the trace.
    pub version: String,
    /// Whether the trace has its last line (a trace without one was cut short).
    pub complete: bool,
    /// The first difference, if any.
    pub divergence: Option<Divergence>,
}

impl Replay {
    /// Every output was the same.
    pub fn is_identical(&self) -> bool {
        self.divergence.is_none()
    }
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let of = if self.version == core::VERSION {
            format!("trace of mcp-elevenlabs {}", self.version)
        } else {
            format!(
                "trace of mcp-elevenlabs {}, replayed with {}",
                self.version,
                core::VERSION
            )
        };
        let Some(d) = &self.divergence else {
            write!(
                f,
                "replay: {} inputs, {} outputs identical ({of})",
                self.inputs, self.outputs
            )?;
            if !self.complete {
                f.write_str("; the trace has no end line (the server stopped abruptly): the last input's outputs were compared as far as they were recorded")?;
            }
            return Ok(());
        };
        let show = |v: &Option<Value>, none: &str| v.as_ref().map_or(none.to_string(), shorten);
        writeln!(
            f,
            "replay: first divergence at input {} ({} output {}): expected {}, got {}",
            d.input,
            d.channel,
            d.output,
            show(&d.expected, "no further output"),
            show(&d.got, "no further output"),
        )?;
        write!(
            f,
            "  input {} at {:.6} s: {} ({of})",
            d.input,
            Duration::from_nanos(d.t_ns).as_secs_f64(),
            shorten(&d.input_value)
        )
    }
}

fn shorten(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}… ({} bytes)", &s[..at], s.len()),
        None => s,
    }
}

/// Replays the trace in `path`.
pub fn replay_file(path: &Path) -> Result<Replay, ReplayError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ReplayError::Unreadable(format!("cannot read the trace {}: {e}", path.display()))
    })?;
    replay_str(&text)
}

/// The input being compared, and what is known of its outputs.
struct Step {
    n: u64,
    t_ns: u64,
    input: Value,
    expected: Vec<Value>,
    got: Vec<Value>,
}

impl Step {
    /// The first difference; with `partial`, recorded outputs may stop early (the shell stopped
    /// polling, or the server died).
    fn compare(&self, partial: bool) -> Option<Divergence> {
        CHANNELS.iter().find_map(|&channel| {
            let on = |v: &&Value| channel_of(v) == channel;
            let expected: Vec<&Value> = self.expected.iter().filter(on).collect();
            let got: Vec<&Value> = self.got.iter().filter(on).collect();
            let len = if partial {
                expected.len()
            } else {
                expected.len().max(got.len())
            };
            (0..len).find_map(|i| {
                let (e, g) = (expected.get(i), got.get(i));
                (e != g).then(|| Divergence {
                    input: self.n,
                    input_value: self.input.clone(),
                    t_ns: self.t_ns,
                    channel,
                    output: i + 1,
                    expected: e.map(|v| (*v).clone()),
                    got: g.map(|v| (*v).clone()),
                })
            })
        })
    }
}

/// The shell's output channels, each compared in order.
const CHANNELS: [&str; 3] = ["stdout", "jobs", "log"];

/// The channel of an encoded output.
fn channel_of(output: &Value) -> &'static str {
    match output
        .as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
    {
        Some("stdout") => "stdout",
        Some("log") => "log",
        _ => "jobs",
    }
}

/// Replays a trace given as text.
pub fn replay_str(text: &str) -> Result<Replay, ReplayError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let invalid = |line: usize, why: String| ReplayError::Invalid { line, why };
    let (first, head) = lines
        .next()
        .ok_or_else(|| invalid(1, "the file is empty".into()))?;
    let head: Value =
        serde_json::from_str(head).map_err(|e| invalid(first, format!("not JSON: {e}")))?;
    match head.get("trace").and_then(Value::as_u64) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(invalid(
                first,
                format!("trace format {other}; this binary reads format {FORMAT}"),
            ));
        }
        None => {
            return Err(invalid(
                first,
                "the first line has no `\"trace\": 1`".into(),
            ));
        }
    }
    let version = head["version"].as_str().unwrap_or("unknown").to_string();
    let config = config::decode_config(&head["config"]).map_err(|e| invalid(first, e))?;
    let redactor = Redactor::new(config.settings.api_key.as_ref().map(|_| REPLAY_KEY));
    let base = Instant::now();
    let mut server = Server::new(config, base);
    let mut audio = AudioTable::default();
    let drain = |server: &mut Server, audio: &mut AudioTable, n: u64| {
        let mut out = Vec::new();
        while let Some(o) = server.poll_output() {
            out.extend(codec::encode_output(&o, &redactor, &mut |mut v| {
                audio.scrub(n, &mut v);
                v
            }));
        }
        for v in &mut out {
            redactor.value(v);
        }
        out
    };
    let mut step = Step {
        n: 0,
        t_ns: 0,
        input: Value::Null,
        expected: Vec::new(),
        got: drain(&mut server, &mut audio, 0),
    };
    let (mut inputs, mut outputs, mut end) = (0u64, 0u64, None);
    let diverged = |d, inputs, outputs| Replay {
        inputs,
        outputs,
        version: version.clone(),
        complete: true,
        divergence: Some(d),
    };
    for (line, text) in lines {
        let v: Value =
            serde_json::from_str(text).map_err(|e| invalid(line, format!("not JSON: {e}")))?;
        if end.is_some() {
            return Err(invalid(line, "a line after the end line".into()));
        }
        if let Some(e) = v.get("end") {
            end = Some(e["drained"].as_bool().unwrap_or(true));
            continue;
        }
        let n = v["n"]
            .as_u64()
            .ok_or_else(|| invalid(line, "expected `n`, the input number".into()))?;
        if let Some(output) = v.get("output") {
            if n != step.n {
                let why = format!("an output of input {n} after input {}", step.n);
                return Err(invalid(line, why));
            }
            step.expected.push(output.clone());
            continue;
        }
        let Some(input) = v.get("input") else {
            return Err(invalid(line, "expected `input`, `output` or `end`".into()));
        };
        if n <= step.n {
            return Err(invalid(line, format!("input {n} after input {}", step.n)));
        }
        if let Some(d) = step.compare(false) {
            return Ok(diverged(d, inputs, outputs));
        }
        outputs += step.expected.len() as u64;
        let t_ns = v["t_ns"]
            .as_u64()
            .ok_or_else(|| invalid(line, "expected `t_ns`, nanoseconds since start".into()))?;
        let decoded = codec::decode_input(input, n).map_err(|e| invalid(line, e))?;
        let now = base + Duration::from_nanos(t_ns);
        match decoded {
            None => server.handle_timeout(now),
            Some(i) => {
                if let Some(bytes) = codec::input_audio(&i) {
                    audio.add(n, bytes);
                }
                server.handle_input(now, i);
            }
        }
        inputs += 1;
        step = Step {
            n,
            t_ns,
            input: input.clone(),
            expected: Vec::new(),
            got: drain(&mut server, &mut audio, n),
        };
    }
    let drained = end.unwrap_or(false);
    if let Some(d) = step.compare(!drained) {
        return Ok(diverged(d, inputs, outputs));
    }
    outputs += step.expected.len() as u64;
    Ok(Replay {
        inputs,
        outputs,
        version,
        complete: end.is_some(),
        divergence: None,
    })
}
