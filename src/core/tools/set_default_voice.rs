//! `set_default_voice`: checks that a voice exists (by id, or by name with close matches), saves
//! it to the state file, and makes it `speak`'s default for every session of this process.

use super::super::event::Job;
use super::super::settings::Source;
use super::args::{Args, Kind, Param, req};
use super::voice::{Chosen, Lookup};
use super::{Call, Cx, Failure, Hints, Outcome, Reply, Step, Tool};
use serde_json::json;

pub(super) const TOOL: Tool = Tool {
    name: "set_default_voice",
    title: "Set default voice",
    description: "Check a voice exists and make it the default for speak. Persists across restarts.",
    params: PARAMS,
    hints: Hints {
        read_only: false,
        destructive: false,
        idempotent: true,
        open_world: true,
    },
    output_schema: None,
    start,
};

const PARAMS: &[Param] = &[req("voice", Kind::Str, "Voice id or name.")];

/// The state-file key it writes.
const KEY: &str = "elevenlabs.default_voice_id";

fn start(args: Args) -> Box<dyn Call> {
    let wanted = args.str("voice").unwrap_or_default();
    Box::new(SetDefaultVoice::Voice(Lookup::new(wanted)))
}

/// One `set_default_voice` call: what it waits for.
#[derive(Debug)]
enum SetDefaultVoice {
    /// The voice behind the name or id (asked for on start, again if the search widens).
    Voice(Lookup),
    /// The state file, being written with this voice.
    Saved(Chosen),
}

impl Call for SetDefaultVoice {
    fn tool(&self) -> &'static str {
        TOOL.name
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        match (&mut *self, reply) {
            (Self::Voice(lookup), None) => Ok(Step::http(lookup.request())),
            (Self::Voice(lookup), Some(reply)) => match lookup.absorb(&reply)? {
                None => Ok(Step::http(lookup.request())),
                Some(chosen) => {
                    let job = Job::WriteState {
                        key: KEY.to_string(),
                        value: chosen.0.clone().into(),
                    };
                    *self = Self::Saved(chosen);
                    Ok(Step::Job(job))
                }
            },
            (Self::Saved((voice_id, name)), Some(Reply::Written(result))) => {
                if let Err(why) = result {
                    return Err(Failure::Other(format!(
                        "Could not save the default voice to the state file: {why}."
                    )));
                }
                cx.memory.default_voice = Some(voice_id.clone());
                Ok(Step::Done(render(cx, voice_id, name.as_deref())))
            }
            (_, reply) => Err(Failure::unexpected(reply.as_ref())),
        }
    }
}

fn render(cx: &Cx<'_>, voice_id: &str, name: Option<&str>) -> Outcome {
    let who = name.map_or_else(|| voice_id.to_string(), |n| format!("{n} ({voice_id})"));
    let mut text = format!("The default voice is now {who}, saved to the state file.");
    if let Some(Source::Env(var)) = cx.config.sources.get(KEY) {
        text.push_str(&format!(" Note: {var} is set in the server's environment and wins over this choice on the next start; remove it to keep {who}."));
    }
    Outcome::ok(text, json!({"voice_id": voice_id, "name": name}))
}
