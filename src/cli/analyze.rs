//! `analyze`: the tone, question and urgency the server reads from a text, and the voice
//! settings or `eleven_v3` tags `speak` would send for it, without calling ElevenLabs. One TEXT
//! is described (or printed as JSON); with no TEXT, stdin is read one text per line and one
//! JSON object is written per line, so a whole file can be scored.

use super::help::ANALYZE_HELP;
use super::{Command, load};
use lexopt::prelude::*;
use mcp_elevenlabs::core::emotion::plan::{self, Choice, Plan};
use mcp_elevenlabs::shell::files::Paths;
use serde_json::{Map, Value};
use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

/// The longest line read from stdin (bytes); a longer one gets an error object.
const MAX_LINE: u64 = 1 << 20;

/// `analyze [--json] [--model M] [--emotion E] [TEXT]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AnalyzeArgs {
    pub(crate) json: bool,
    pub(crate) model: Option<String>,
    pub(crate) emotion: Option<String>,
    /// None: one text per line on stdin.
    pub(crate) text: Option<String>,
}

pub(crate) fn parse(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut a = AnalyzeArgs::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(ANALYZE_HELP)),
            Long("json") => a.json = true,
            Long("model") => a.model = Some(parser.value()?.string()?),
            Long("emotion") => {
                let value = parser.value()?.string()?;
                if Choice::parse(&value).is_none() {
                    return Err(format!(
                        "--emotion takes auto, neutral, happy, sad, urgent or off (got {value:?})"
                    )
                    .into());
                }
                a.emotion = Some(value);
            }
            Value(v) if a.text.is_none() => a.text = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Analyze(a))
}

pub(crate) fn run(paths: &Paths, args: &AnalyzeArgs) -> ExitCode {
    let settings = load(paths).settings;
    let model = args.model.clone().unwrap_or(settings.model);
    // `speech.emotion: off` would send none of it; analyzing is still what was asked for.
    let configured = Choice::parse(&settings.emotion).filter(|c| *c != Choice::Off);
    let choice = match &args.emotion {
        Some(e) => Choice::parse(e).unwrap_or(Choice::Auto),
        None => configured.unwrap_or(Choice::Auto),
    };
    match &args.text {
        Some(text) => one(text, choice, &model, args.json),
        None => lines(choice, &model),
    }
}

/// The report of one text, as `speak` would put it in its result.
fn report(text: &str, choice: Choice, model: &str) -> (Option<Plan>, Value) {
    match plan::plan(text, choice, model) {
        Some(p) => {
            let mut r = p.report(text, &Map::new());
            if p.tags
                && let Value::Object(o) = &mut r
            {
                o.insert("text".into(), p.text(text).into());
            }
            (Some(p), r)
        }
        None => (None, serde_json::json!({"emotion": "off"})),
    }
}

fn one(text: &str, choice: Choice, model: &str, json: bool) -> ExitCode {
    let (plan, r) = report(text, choice, model);
    if json {
        say!("{r}");
        return ExitCode::SUCCESS;
    }
    let Some(plan) = plan else {
        say!("emotion: off (nothing is read from the text)");
        return ExitCode::SUCCESS;
    };
    let a = plan.whole;
    say!(
        "tone: {} (intensity {:.2}, urgency {:.2}), {}",
        a.tone.as_str(),
        a.intensity,
        a.urgency,
        if a.question {
            "a question"
        } else {
            "a statement"
        }
    );
    if let Some(Value::Object(s)) = r.get("voice_settings") {
        let list: Vec<String> = s.iter().map(|(k, v)| format!("{k} {v}")).collect();
        say!("voice settings: {}", list.join(", "));
    } else if plan.tags {
        say!("sent as: {}", plan.text(text));
    } else {
        say!("voice settings: none (the voice's own, for a neutral tone)");
    }
    if let Some(Value::Array(sentences)) = r.get("sentences") {
        say!("sentences:");
        for s in sentences {
            say!(
                "  [{} {}{}] {}",
                s["tone"].as_str().unwrap_or_default(),
                s["intensity"],
                if s["question"] == true {
                    ", question"
                } else {
                    ""
                },
                s["text"].as_str().unwrap_or_default()
            );
        }
    }
    ExitCode::SUCCESS
}

/// One JSON object per line of stdin; a line that is not UTF-8 or over [`MAX_LINE`] gets
/// `{"error": ...}` and the rest go on (exit 1 at the end).
fn lines(choice: Choice, model: &str) -> ExitCode {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut failed = false;
    let mut n = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        n += 1;
        let read = match input
            .by_ref()
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) => break,
            Ok(r) => r,
            Err(e) => {
                tell!("mcp-elevenlabs: cannot read stdin: {e}");
                return ExitCode::from(1);
            }
        };
        let line = if read as u64 > MAX_LINE && buf.last() != Some(&b'\n') {
            // Skip the rest of the line.
            let mut rest = Vec::new();
            let _ = input.read_until(b'\n', &mut rest);
            Err(format!("line {n} is longer than {MAX_LINE} bytes"))
        } else {
            let trimmed = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
            std::str::from_utf8(trimmed).map_err(|_| format!("line {n} is not UTF-8"))
        };
        let value = match line {
            Ok(text) => report(text, choice, model).1,
            Err(e) => {
                failed = true;
                serde_json::json!({"error": e})
            }
        };
        if writeln!(out, "{value}").is_err() {
            // stdout closed (`| head`): nothing more to do.
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
